"""No double holds of a priced slot through HTTP (issue 16): 30 simultaneous POST /api/bookings for one slot of a
priced event type, served by waitress with 16 threads (as `make run` serves) with Stripe pointed at the local fake,
give exactly one 201 (the booking held for its payment, with the Checkout URL) and 29 clean 409 answers, one held
booking and one Checkout Session; on SQLite and PostgreSQL."""
from __future__ import annotations

import threading

import pytest

from app.models import Booking, EventType, Payment
from tests.api.test_booking_race_http import body, next_week_10am, race
from tests.fakes.stripe import StripeFake

RACERS = 30


@pytest.fixture
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def paid_server(app_factory, stripe_fake):
    from waitress import wasyncore
    from waitress.server import create_server

    app = app_factory(RATELIMIT_PUBLIC_BOOKING="1000/minute", BASE_URL="http://localhost", **stripe_fake.settings())
    httpd = create_server(app, host="127.0.0.1", port=0, threads=16, ident="LinkTime-test")
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{httpd.effective_port}"
    finally:
        wasyncore.close_all(httpd._map)
        httpd.task_dispatcher.shutdown()
        thread.join(timeout=10)


def test_thirty_posts_for_one_priced_slot_hold_it_once_and_answer_29_conflicts(paid_server, stripe_fake, make_user):
    app, base = paid_server
    host = make_user("hana", timezone="Europe/Berlin")
    with app.app_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        EventType.update(price_amount=4500, price_currency="eur", payment_providers=["stripe"]) \
            .where(EventType.id == event_type.id).execute()
    start = next_week_10am()

    answers = race(base, [body(event_type.id, start, n) for n in range(RACERS)])

    assert sorted(r.status_code for r in answers) == [201] + [409] * (RACERS - 1)
    for answer in answers:
        assert answer.headers["Content-Type"].startswith("application/json")
        if answer.status_code == 409:
            assert set(answer.json()) <= {"error", "conflicts"} and answer.json()["error"]
    [won] = [r.json() for r in answers if r.status_code == 201]
    assert won["booking"]["status"] == "PENDING_PAYMENT"
    assert won["booking"]["payment"] == {"status": "pending", "amount": 4500, "currency": "eur",
                                         "provider": "stripe"}
    assert won["checkoutUrl"] and won["checkoutUrl"].startswith("http")
    with app.app_context():
        [held] = Booking.select().where(Booking.user == host)
        assert held.id == won["bookingId"] and held.status == "PENDING_PAYMENT" and held.held_until is not None
        [payment] = Payment.select()
        assert payment.booking_id == held.id and payment.checkout_url == won["checkoutUrl"]
    sessions = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert len(sessions) == 1 and list(stripe_fake.sessions) == [payment.provider_ref]
