"""Refunds of paid bookings against the local Stripe fake (issue 16): a host's cancellation refunds in full unless
the event type says otherwise, an invitee's only when it comes early enough, the host refunds part by hand, and a
refund task that runs again never refunds twice. The emails say what was paid and what is refunded."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.db import transaction
from app.models import AuditLog, Booking, EventType, Payment, Refund
from app.services import audit
from app.services.booking import bookings as svc
from app.services.booking import payments
from app.services.errors import ValidationFailed
from tests import factories
from tests.payment_fixtures import next_tuesday


@pytest.fixture
def paid(app_factory, stripe_fake, make_user, smtp_server):
    app = app_factory(**stripe_fake.settings(), BASE_URL="http://localhost", SMTP_HOST="127.0.0.1",
                      SMTP_PORT=smtp_server.port)
    with app.app_context():     # the test client's requests open and close their own connections
        host = make_user("hana", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        EventType.update(price_amount=5000, price_currency="usd", payment_providers=["stripe"]) \
            .where(EventType.id == event_type.id).execute()
        yield app, EventType.get_by_id(event_type.id)


def set_rules(event_type, **rules):
    EventType.update(**rules).where(EventType.id == event_type.id).execute()


def stripe_post(app, fake, event):
    body = json.dumps(event).encode()
    return app.test_client().post("/api/webhooks/stripe", data=body, content_type="application/json",
                                  headers={"Stripe-Signature": fake.sign(body)})


def paid_booking(app, fake, event_type, start, n=0) -> tuple[Booking, Payment]:
    """A booking held, paid through the fake's Checkout and confirmed by its signed webhook."""
    held = svc.create_booking(event_type, factories.booking_request(
        start, email=f"guest{n}@example.com", name=f"Guest {n}")).booking
    payment = payments.start_checkout(held, "stripe", success_url="http://localhost/paid",
                                      cancel_url="http://localhost/back")
    assert stripe_post(app, fake, fake.complete(payment.provider_ref)).status_code == 200
    booking = Booking.get_by_id(held.id)
    assert booking.status == "CONFIRMED"
    return booking, Payment.get_by_id(payment.id)


def refunds_at_fake(fake, payment: Payment) -> list[int]:
    return [r["amount"] for r in fake.refunds.values() if r["payment_intent"] == payment.transaction_id]


def refunded_audits() -> list[dict]:
    return [row.details if isinstance(row.details, dict) else json.loads(row.details)
            for row in AuditLog.select().where(AuditLog.action == "payment.refunded")]


def mails(smtp_server, count: int, to: str) -> list[tuple[str, str]]:
    """(subject, plain text) of the emails to ``to`` once ``count`` of them arrived."""
    def mine():
        return [m for m in smtp_server.messages if m["To"] == to]
    with smtp_server.event:
        smtp_server.event.wait_for(lambda: len(mine()) >= count, timeout=10)
    return [(m["Subject"], m.get_body(("plain",)).get_content().replace("\r\n", "\n")) for m in mine()]


def test_a_host_cancel_refunds_in_full_and_tells_the_invitee(paid, stripe_fake, smtp_server):
    app, event_type = paid
    booking, payment = paid_booking(app, stripe_fake, event_type, next_tuesday())
    [(subject, confirmed)] = mails(smtp_server, 1, "guest0@example.com")
    assert subject.startswith("Confirmed") and "Paid: 50.00 USD by card (Stripe)" in confirmed
    host_mail = mails(smtp_server, 1, "hana@example.com")
    assert any("Paid: 50.00 USD by card (Stripe)" in text for _, text in host_mail)

    svc.cancel_booking(booking, reason="I am ill", by="host")

    assert refunds_at_fake(stripe_fake, payment) == [5000]
    after = Payment.get_by_id(payment.id)
    assert after.status == "refunded" and after.amount_refunded == 5000
    [row] = Refund.select().where(Refund.payment == payment.id)
    assert row.reason == "host_cancel" and row.status == "succeeded"
    [details] = refunded_audits()
    assert details["amount"] == 5000 and details["reason"] == "host_cancel"
    texts = dict(mails(smtp_server, 3, "guest0@example.com"))
    cancelled = next(text for subject, text in texts.items() if subject.startswith("Cancelled"))
    assert "Refund: 50.00 USD of the 50.00 USD you paid is refunded" in cancelled
    refund_mail = next(text for subject, text in texts.items() if subject.startswith("Refund"))
    assert "50.00 USD" in refund_mail and "the host cancelled the meeting" in refund_mail


def test_no_refund_on_host_cancel_when_the_event_type_says_so(paid, stripe_fake, smtp_server):
    app, event_type = paid
    set_rules(event_type, refund_on_host_cancel=False)
    booking, payment = paid_booking(app, stripe_fake, EventType.get_by_id(event_type.id), next_tuesday(11))
    svc.cancel_booking(booking, reason="Double-booked", by="host")
    assert Booking.get_by_id(booking.id).status == "CANCELLED"
    assert refunds_at_fake(stripe_fake, payment) == [] and not Refund.select().exists()
    assert Payment.get_by_id(payment.id).status == "paid" and refunded_audits() == []
    texts = dict(mails(smtp_server, 2, "guest0@example.com"))
    cancelled = next(text for subject, text in texts.items() if subject.startswith("Cancelled"))
    assert "Refund: none." in cancelled


@pytest.mark.parametrize(("hours_before", "refunded"), [(48, [5000]), (2, [])])
def test_an_invitee_cancel_refunds_only_before_the_cut_off(paid, stripe_fake, hours_before, refunded):
    app, event_type = paid
    set_rules(event_type, refund_invitee_hours=24)
    start = next_tuesday(12)
    booking, payment = paid_booking(app, stripe_fake, EventType.get_by_id(event_type.id), start)
    svc.cancel_booking(booking, reason=None, by="invitee", now=start - timedelta(hours=hours_before))
    assert Booking.get_by_id(booking.id).status == "CANCELLED"
    assert refunds_at_fake(stripe_fake, payment) == refunded
    assert [row.reason for row in Refund.select()] == (["invitee_cancel"] if refunded else [])
    assert Payment.get_by_id(payment.id).amount_refunded == sum(refunded)


def test_a_partial_refund_then_the_rest(paid, stripe_fake):
    app, event_type = paid
    booking, payment = paid_booking(app, stripe_fake, event_type, next_tuesday(13))
    with transaction():
        payments.refund(payment, amount=2000, reason="manual")
    partly = Payment.get_by_id(payment.id)
    assert partly.status == "partially_refunded" and partly.amount_refunded == 2000
    assert payments.refundable(partly) == 3000
    with transaction():
        payments.refund(partly, reason="manual")                     # no amount: what is left
    assert refunds_at_fake(stripe_fake, payment) == [2000, 3000]
    done = Payment.get_by_id(payment.id)
    assert done.status == "refunded" and done.amount_refunded == 5000 and payments.refundable(done) == 0
    assert [d["amount"] for d in refunded_audits()] == [2000, 3000]
    svc.cancel_booking(booking, reason="Sorry", by="host")        # nothing left: no third refund
    assert refunds_at_fake(stripe_fake, payment) == [2000, 3000] and Refund.select().count() == 2


def test_a_refund_of_more_than_is_left_is_refused(paid, stripe_fake):
    app, event_type = paid
    _booking, payment = paid_booking(app, stripe_fake, event_type, next_tuesday(14))
    with transaction():
        payments.refund(payment, amount=4000, reason="manual")
    with pytest.raises(ValidationFailed) as refused:
        payments.refund(Payment.get_by_id(payment.id), amount=1001, reason="manual")
    assert "10.00 USD" in refused.value.errors["amount"]
    assert refunds_at_fake(stripe_fake, payment) == [4000] and Refund.select().count() == 1


def test_a_queued_refund_counts_against_what_is_left(paid, stripe_fake, monkeypatch):
    """While a refund waits for its task, a cancellation refunds only the rest."""
    app, event_type = paid
    booking, payment = paid_booking(app, stripe_fake, event_type, next_tuesday(15))
    add = payments.outbox.add
    monkeypatch.setattr(payments.outbox, "add",                       # the refund tasks do not run
                        lambda kind, *args, **kwargs: None if kind == "payment_refund" else add(kind, *args, **kwargs))
    with transaction():
        payments.refund(payment, amount=2000, reason="manual")
    assert payments.refundable(Payment.get_by_id(payment.id)) == 3000
    svc.cancel_booking(booking, reason="Sorry", by="host")
    assert sorted((row.amount, row.reason) for row in Refund.select()) == [(2000, "manual"), (3000, "host_cancel")]
    assert refunds_at_fake(stripe_fake, payment) == []


def test_a_retried_refund_task_never_refunds_twice(paid, stripe_fake, monkeypatch):
    app, event_type = paid
    _booking, payment = paid_booking(app, stripe_fake, event_type, next_tuesday(16))

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died after the provider's answer")
    monkeypatch.setattr(audit, "record", crash)
    with transaction():
        row = payments.refund(payment, amount=2000, reason="manual")
    # the provider refunded, but nothing of it was kept here
    assert refunds_at_fake(stripe_fake, payment) == [2000]
    assert Refund.get_by_id(row.id).status == "pending" and Payment.get_by_id(payment.id).amount_refunded == 0
    monkeypatch.undo()

    payments._issue_refund({"refund_id": row.id})      # the retry: the same idempotency key, the same refund
    payments._issue_refund({"refund_id": row.id})      # and once more after it succeeded: nothing happens
    assert refunds_at_fake(stripe_fake, payment) == [2000]
    after = Payment.get_by_id(payment.id)
    assert after.amount_refunded == 2000 and after.status == "partially_refunded"
    assert Refund.get_by_id(row.id).status == "succeeded" and len(refunded_audits()) == 1
