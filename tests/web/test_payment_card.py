"""The booking detail's "Payment" card and the host's partial refund (issue 16), over HTTP against the Stripe fake:
what was paid and refunded, a refund by plain post and by htmx, inline errors, CSRF, and a 404 for anyone but the
booking's host. Also the invitee's cancel page saying whether cancelling refunds."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from app.models import Booking, EventType, Payment, Refund
from app.services.booking import bookings as svc
from app.services.booking import notifications, payments
from tests import factories
from tests.conftest import login
from tests.payment_fixtures import next_tuesday

HTMX = {"HX-Request": "true"}


def setup_paid(app, fake, make_user):
    host = make_user("hana", timezone="Europe/Berlin")
    event_type = factories.new_event_type(host, name="Coaching", duration=60)
    EventType.update(price_amount=5000, price_currency="usd", payment_providers=["stripe"]) \
        .where(EventType.id == event_type.id).execute()
    held = svc.create_booking(EventType.get_by_id(event_type.id),
                              factories.booking_request(next_tuesday(), email="ivan@example.com", name="Ivan")).booking
    payment = payments.start_checkout(held, "stripe", success_url="http://localhost/paid",
                                      cancel_url="http://localhost/back")
    body = json.dumps(fake.complete(payment.provider_ref)).encode()
    answer = app.test_client().post("/api/webhooks/stripe", data=body, content_type="application/json",
                                    headers={"Stripe-Signature": fake.sign(body)})
    assert answer.status_code == 200 and Booking.get_by_id(held.id).status == "CONFIRMED"
    return host, Booking.get_by_id(held.id), Payment.get_by_id(payment.id)


@pytest.fixture
def paid(app_factory, stripe_fake, make_user):
    app = app_factory(**stripe_fake.settings(), BASE_URL="http://localhost")
    with app.app_context():     # the test client's requests open and close their own connections
        host, booking, payment = setup_paid(app, stripe_fake, make_user)
        client = app.test_client()
        login(client, host)
        yield app, client, booking, payment


def text(response) -> str:
    return response.get_data(as_text=True)


def at_fake(fake, payment) -> list[int]:
    return [r["amount"] for r in fake.refunds.values() if r["payment_intent"] == payment.transaction_id]


def card(page: str) -> str:
    match = re.search(r'<section class="card"[^>]*id="payment-card">.*?</section>', page, re.DOTALL)
    assert match, "no payment card"
    return match.group(0)


def test_the_detail_shows_the_payment(paid):
    app, client, booking, payment = paid
    page = client.get(f"/dashboard/bookings/{booking.id}")
    assert page.status_code == 200
    shown = card(text(page))
    assert 'id="payment-amount">50.00 USD<' in shown
    assert 'id="payment-provider">Card (Stripe)<' in shown
    assert payment.transaction_id and payment.transaction_id in shown
    assert 'id="payment-status">Paid<' in shown and 'id="payment-refunded">0.00 USD<' in shown
    assert 'id="refund-form"' in shown and "At most 50.00 USD" in shown


def test_a_free_booking_has_no_payment_card(paid):
    app, client, booking, _payment = paid
    free = factories.booking(factories.event_type(booking.user), next_tuesday(14), now=datetime.now(UTC))
    page = client.get(f"/dashboard/bookings/{free.id}")
    assert page.status_code == 200 and 'id="payment-card"' not in text(page)


def test_a_partial_refund_then_the_rest_by_htmx(paid, stripe_fake):
    app, client, booking, payment = paid
    answer = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": "20.00"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/dashboard/bookings/{booking.id}")
    assert at_fake(stripe_fake, payment) == [2000]
    shown = card(text(client.get(f"/dashboard/bookings/{booking.id}")))
    assert 'id="payment-status">Partly refunded<' in shown and 'id="payment-refunded">20.00 USD<' in shown
    assert "20.00 USD · by hand" in shown and "At most 30.00 USD" in shown

    partial = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": "30"}, headers=HTMX)
    assert partial.status_code == 200
    body = text(partial)
    assert "<html" not in body and body.lstrip().startswith("<section")          # only the card
    assert 'id="payment-status">Refunded<' in body and 'id="payment-refunded">50.00 USD<' in body
    assert "A refund of 30.00 USD to Ivan is on its way." in body and 'id="refund-form"' not in body
    assert at_fake(stripe_fake, payment) == [2000, 3000]
    assert [(r.amount, r.reason) for r in Refund.select().order_by(Refund.amount)] == [(2000, "manual"),
                                                                                      (3000, "manual")]


@pytest.mark.parametrize(("typed", "says"), [
    ("60.00", "between 0.01 USD and 50.00 USD"),
    ("0", "between 0.01 USD and 50.00 USD"),
    ("20.001", "decimal"),
    ("abc", ""),
    ("", "Enter the amount to refund."),
])
def test_a_wrong_amount_is_refused_inline(paid, stripe_fake, typed, says):
    app, client, booking, payment = paid
    plain = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": typed})
    assert plain.status_code == 422
    shown = card(text(plain))
    error = re.search(r'<p class="error" id="e-refund-amount">([^<]+)</p>', shown)
    assert error and says in error.group(1)
    assert f'value="{typed}"' in shown and 'aria-invalid="true"' in shown
    partial = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": typed}, headers=HTMX)
    assert partial.status_code == 422 and "<html" not in text(partial) and 'id="e-refund-amount"' in text(partial)
    assert at_fake(stripe_fake, payment) == [] and not Refund.select().exists()


def test_another_host_gets_a_404(paid, make_user, stripe_fake):
    app, _client, booking, payment = paid
    other = make_user("olga")
    client = app.test_client()
    login(client, other)
    assert client.get(f"/dashboard/bookings/{booking.id}").status_code == 404
    assert client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": "10"}).status_code == 404
    assert at_fake(stripe_fake, payment) == []


def test_the_refund_form_needs_its_csrf_token(app_factory, stripe_fake, make_user):
    app = app_factory(**stripe_fake.settings(), BASE_URL="http://localhost", WTF_CSRF_ENABLED=True)
    with app.app_context():
        host, booking, payment = setup_paid(app, stripe_fake, make_user)
    # outside the app context: each request has its own ``g`` (Flask-WTF keeps the session's token there)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)
    client.post("/login", data={"email": host.email, "password": factories.PASSWORD, "csrf_token": token})
    page = text(client.get(f"/dashboard/bookings/{booking.id}"))
    form_token = re.search(r'id="refund-form".*?name="csrf_token" value="([^"]+)"', page, re.DOTALL).group(1)
    refused = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": "10"})
    assert refused.status_code == 400 and at_fake(stripe_fake, payment) == []
    done = client.post(f"/dashboard/bookings/{booking.id}/refund", data={"amount": "10", "csrf_token": form_token})
    assert done.status_code == 302
    assert at_fake(stripe_fake, payment) == [1000]


def test_the_invitee_cancel_page_says_whether_cancelling_refunds(paid, stripe_fake):
    app, _client, booking, payment = paid
    url = f"/booking/{notifications.link_token(booking)}/cancel"
    invitee = app.test_client()
    notice = re.search(r'id="refund-notice">([^<]+)<', text(invitee.get(url)))
    assert notice and "cancelling now refunds 50.00 USD" in notice.group(1)
    EventType.update(refund_invitee_hours=24 * 60).where(EventType.id == booking.event_type_id).execute()
    notice = re.search(r'id="refund-notice">([^<]+)<', text(invitee.get(url)))
    assert notice and "not refunded when you cancel less than 1440 hours before the start" in notice.group(1)
    assert invitee.post(url, data={"reason": ""}).status_code == 302
    assert Booking.get_by_id(booking.id).status == "CANCELLED" and at_fake(stripe_fake, payment) == []
