"""Paid bookings against the local Stripe and PayPal fakes (issue 16): the hold, the signed webhook that confirms it
(once, however often it is delivered), forged and stale signatures, the window running out, a late payment
refunded, and PayPal's approve → capture."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Booking, Contact, EventType, OutboxMessage, Payment, PaymentEvent
from app.services.booking import bookings as svc
from app.services.booking import payments
from tests import factories
from tests.payment_fixtures import next_tuesday


@pytest.fixture
def paid(app_factory, stripe_fake, paypal_fake, make_user):
    app = app_factory(**stripe_fake.settings(), **paypal_fake.settings(), BASE_URL="http://localhost")
    with app.app_context():     # the test client's requests open and close their own connections
        host = make_user("hana", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        EventType.update(price_amount=5000, price_currency="usd", payment_providers=["stripe", "paypal"]) \
            .where(EventType.id == event_type.id).execute()
        yield app, EventType.get_by_id(event_type.id)


def hold(event_type, start, n=0):
    return svc.create_booking(event_type, factories.booking_request(start, email=f"guest{n}@example.com",
                                                                    name=f"Guest {n}")).booking


def checkout(booking, provider="stripe"):
    return payments.start_checkout(booking, provider, success_url="http://localhost/paid",
                                   cancel_url="http://localhost/back")


def events_named(name):
    return [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "event")
            if json.loads(m.payload)["event"] == name]


def stripe_post(app, fake, event, **sign):
    body = json.dumps(event).encode()
    return app.test_client().post("/api/webhooks/stripe", data=body, content_type="application/json",
                                  headers={"Stripe-Signature": fake.sign(body, **sign)})


def test_a_paid_booking_is_held_and_confirmed_once_by_the_signed_webhook(paid, stripe_fake):
    app, event_type = paid
    start = next_tuesday()
    booking = hold(event_type, start)
    assert booking.status == "PENDING_PAYMENT" and booking.held_until is not None
    assert not events_named("booking.created")                       # nobody hears of a held booking
    with pytest.raises(svc.SlotUnavailable):
        hold(event_type, start, n=1)                                  # its time is taken while it is paid for
    payment = checkout(booking)
    assert payment.checkout_url and payment.provider_ref.startswith("cs_")
    assert checkout(Booking.get_by_id(booking.id)).id == payment.id    # asked again: the same checkout
    assert stripe_fake.sessions[payment.provider_ref]["amount_total"] == 5000

    event = stripe_fake.complete(payment.provider_ref)
    answers = [stripe_post(app, stripe_fake, event) for _ in range(3)]  # the provider repeats itself
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get_json()["duplicate"] for a in answers] == [False, True, True]

    confirmed = Booking.get_by_id(booking.id)
    assert confirmed.status == "CONFIRMED" and confirmed.held_until is None
    [received] = events_named("payment.received")
    assert received["data"] == {"bookingId": booking.id, "amount": 5000, "currency": "usd", "paymentMethod": "card",
                                "transactionId": Payment.get_by_id(payment.id).transaction_id, "provider": "stripe"}
    assert len(events_named("booking.created")) == 1
    assert Contact.get(Contact.email == "guest0@example.com").source == "payment"
    assert AuditLog.select().where(AuditLog.action == "payment.received").count() == 1
    assert PaymentEvent.select().count() == 1


def test_forged_and_stale_signatures_are_refused_and_change_nothing(paid, stripe_fake):
    app, event_type = paid
    booking = hold(event_type, next_tuesday(11))
    payment = checkout(booking)
    event = stripe_fake.complete(payment.provider_ref)
    assert stripe_post(app, stripe_fake, event, secret="whsec_someone_else").status_code == 400
    assert stripe_post(app, stripe_fake, event, timestamp=stripe_fake.now() - 301).status_code == 400
    body = json.dumps(event).encode()
    other = json.dumps({**event, "id": "evt_other"}).encode()
    replayed = app.test_client().post("/api/webhooks/stripe", data=other, content_type="application/json",
                                      headers={"Stripe-Signature": stripe_fake.sign(body)})
    assert replayed.status_code == 400
    assert Booking.get_by_id(booking.id).status == "PENDING_PAYMENT" and PaymentEvent.select().count() == 0


def test_the_window_running_out_frees_the_slot(paid, stripe_fake):
    app, event_type = paid
    start = next_tuesday(12)
    booking = hold(event_type, start)
    payment = checkout(booking)
    assert payments.release_expired(datetime.now(UTC) + timedelta(minutes=16)) == 1
    released = Booking.get_by_id(booking.id)
    assert released.status == "CANCELLED" and released.cancelled_by == "system"
    assert Payment.get_by_id(payment.id).status == "expired"
    assert stripe_fake.sessions[payment.provider_ref]["status"] == "expired"   # the Session was expired too
    again = hold(event_type, start, n=2)                               # the slot is free again
    assert again.status == "PENDING_PAYMENT"


def test_a_payment_after_the_hold_is_refunded_in_full(paid, stripe_fake):
    app, event_type = paid
    booking = hold(event_type, next_tuesday(13))
    payment = checkout(booking)
    event = stripe_fake.complete(payment.provider_ref)                   # paid just as the window closes
    payments._release(booking.id, payments.EXPIRED_REASON, datetime.now(UTC))
    assert stripe_post(app, stripe_fake, event).status_code == 200
    late = Payment.get_by_id(payment.id)
    assert late.status == "refunded" and late.amount_refunded == 5000
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [5000]
    assert Booking.get_by_id(booking.id).status == "CANCELLED" and not events_named("payment.received")
    assert AuditLog.select().where(AuditLog.action == "payment.refunded").count() == 1


def test_paypal_approval_is_captured_and_confirms_the_booking(paid, paypal_fake):
    app, event_type = paid
    booking = hold(event_type, next_tuesday(14))
    payment = checkout(booking, "paypal")
    assert payment.checkout_url and paypal_fake.orders[payment.provider_ref]["status"] in ("CREATED",
                                                                                          "PAYER_ACTION_REQUIRED")
    paypal_fake.approve(payment.provider_ref)
    headers, body = paypal_fake.sign(paypal_fake.last_event("CHECKOUT.ORDER.APPROVED"))
    answer = app.test_client().post("/api/webhooks/paypal", data=body, content_type="application/json",
                                    headers=headers)
    assert answer.status_code == 200
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    paid_row = Payment.get_by_id(payment.id)
    assert paid_row.transaction_id and paypal_fake.orders[payment.provider_ref]["status"] == "COMPLETED"
    [received] = events_named("payment.received")
    assert received["data"]["provider"] == "paypal" and received["data"]["paymentMethod"] == "paypal"
    forged = dict(headers, **{"PAYPAL-TRANSMISSION-SIG": "AAAA"})
    refused = app.test_client().post("/api/webhooks/paypal", data=body, content_type="application/json",
                                     headers=forged)
    assert refused.status_code == 400


def test_an_unreachable_provider_releases_the_hold(paid, stripe_fake):
    app, event_type = paid
    start = next_tuesday(15)
    booking = hold(event_type, start)
    stripe_fake.fail(500, times=1)          # one failed call: the client itself does not retry
    with pytest.raises(payments.PaymentUnavailable):
        checkout(booking)
    assert Booking.get_by_id(booking.id).status == "CANCELLED"
    assert hold(event_type, start, n=3).status == "PENDING_PAYMENT"


def test_paid_event_types_are_booked_one_at_a_time(paid):
    app, event_type = paid
    EventType.update(recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4}) \
        .where(EventType.id == event_type.id).execute()
    with pytest.raises(svc.ValidationFailed) as refused:
        svc.create_booking(EventType.get_by_id(event_type.id),
                           factories.booking_request(next_tuesday(16), occurrences=2))
    assert "occurrences" in refused.value.errors



def test_a_refund_event_before_the_completion_is_noted_once_the_payment_is_known(paid, stripe_fake):
    from app.services import outbox

    app, event_type = paid
    booking = hold(event_type, next_tuesday(9))
    payment = checkout(booking)
    completed = stripe_fake.complete(payment.provider_ref)
    intent = completed["data"]["object"]["payment_intent"]
    stripe_fake.refunds["re_early"] = {"id": "re_early", "amount": 5000, "payment_intent": intent}
    stripe_fake.charges[next(iter(c for c, v in stripe_fake.charges.items() if v["payment_intent"] == intent))][
        "amount_refunded"] = 5000
    refund_first = stripe_fake.charge_refunded_event(intent)
    assert stripe_post(app, stripe_fake, refund_first).status_code == 200       # out of order: kept, not lost
    [waiting] = OutboxMessage.select().where((OutboxMessage.kind == "payment_event") & OutboxMessage.done_at.is_null())
    assert stripe_post(app, stripe_fake, completed).status_code == 200
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    later = datetime.now(UTC) + timedelta(hours=1)
    assert outbox.process(waiting.id, max_attempts=10, retry_delay=60, now=later) == "done"
    noted = Payment.get_by_id(payment.id)
    assert (noted.status, noted.amount_refunded) == ("refunded", 5000)
