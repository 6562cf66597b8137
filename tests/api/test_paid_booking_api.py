"""Paid bookings in the JSON API (issue 16), with Stripe pointed at the local fake: a priced event type's price and
providers, its booking held with a ``checkoutUrl`` (``POST /api/v1/bookings`` and the public ``POST /api/bookings``),
the ``payment`` object and the ``PENDING_PAYMENT`` status filter, a provider not offered (400) and a provider that
cannot be reached (409, the hold released)."""
from __future__ import annotations

import json

import pytest

from app.models import Booking, EventType, Payment
from tests.api.conftest import event_type_of, future_slots, in_db
from tests.fakes.stripe import StripeFake

PENDING = {"status": "pending", "amount": 12000, "currency": "usd", "provider": "stripe", "amountRefunded": 0,
           "transactionId": None}


@pytest.fixture
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def app(app_factory, stripe_fake):
    return app_factory(BASE_URL="http://localhost", **stripe_fake.settings())


@pytest.fixture
def priced(app, pro_host):
    event_type = event_type_of(app, pro_host)
    in_db(app, lambda: EventType.update(price_amount=12000, price_currency="usd",
                                        payment_providers=["stripe", "paypal"])
          .where(EventType.id == event_type.id).execute())
    return in_db(app, EventType.get_by_id, event_type.id)


def v1_body(start, **extra) -> dict:
    return {"eventTypeSlug": "30-min", "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "inviteeName": "Pia Payer",
            "inviteeEmail": "pia@example.com", "inviteeTimezone": "America/New_York", **extra}


def public_body(event_type, start, **extra) -> dict:
    return {"eventTypeId": event_type.id, "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "inviteeName": "Pia Payer", "inviteeEmail": "pia@example.com", "inviteeTimezone": "America/New_York",
            **extra}


def bookings_in_db(app) -> list[tuple[str, str]]:
    return in_db(app, lambda: [(b.id, b.status) for b in Booking.select().order_by(Booking.created_at)])


def test_an_api_booking_of_a_priced_event_type_is_held_with_its_checkout_and_confirmed_by_the_webhook(
        app, api, priced, stripe_fake, client):
    shown = api.get(f"/api/v1/event-types/{priced.id}").get_json()
    assert shown["price"] == {"amount": 12000, "currency": "usd"}
    assert shown["paymentProviders"] == ["stripe"]                  # PayPal has no settings here: not offered
    [start] = future_slots(app, priced, 1)

    answer = api.post("/api/v1/bookings", json=v1_body(start))
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    booking_id = created["bookingId"]
    assert created["booking"]["id"] == booking_id and created["booking"]["status"] == "PENDING_PAYMENT"
    assert created["booking"]["payment"] == PENDING
    [session] = stripe_fake.sessions.values()
    assert created["checkoutUrl"] == session["url"]
    assert session["amount_total"] == 12000 and session["currency"] == "usd"

    listed = api.get("/api/v1/bookings?status=PENDING_PAYMENT").get_json()
    assert [(b["id"], b["status"], b["payment"]) for b in listed["data"]] == [(booking_id, "PENDING_PAYMENT",
                                                                              PENDING)]
    assert api.get("/api/v1/bookings?status=CONFIRMED").get_json()["data"] == []

    event = json.dumps(stripe_fake.complete(session["id"])).encode()
    delivered = client.post("/api/webhooks/stripe", data=event, content_type="application/json",
                            headers={"Stripe-Signature": stripe_fake.sign(event)})
    assert delivered.status_code == 200
    detail = api.get(f"/api/v1/bookings/{booking_id}").get_json()
    transaction = in_db(app, lambda: Payment.get(Payment.booking == booking_id).transaction_id)
    assert transaction and detail["status"] == "CONFIRMED"
    assert detail["payment"] == {**PENDING, "status": "paid", "transactionId": transaction}
    assert detail["eventType"]["price"] == {"amount": 12000, "currency": "usd"}
    [listed] = api.get("/api/v1/bookings?status=CONFIRMED").get_json()["data"]
    assert listed["payment"]["status"] == "paid"


def test_a_free_booking_has_no_payment_and_a_free_event_type_no_price(app, api, pro_host):
    event_type = event_type_of(app, pro_host)
    shown = api.get(f"/api/v1/event-types/{event_type.id}").get_json()
    assert (shown["price"], shown["paymentProviders"]) == (None, [])
    [start] = future_slots(app, event_type, 1)
    created = api.post("/api/v1/bookings", json=v1_body(start)).get_json()
    assert set(created) == {"bookingId"}                             # the free booking's answer is unchanged
    assert api.get(f"/api/v1/bookings/{created['bookingId']}").get_json()["payment"] is None
    assert api.get("/api/v1/bookings").get_json()["data"][0]["payment"] is None


def test_the_public_endpoint_holds_a_priced_slot_and_answers_where_to_pay(app, client, priced, stripe_fake):
    [start] = future_slots(app, priced, 1)
    answer = client.post("/api/bookings", json=public_body(priced, start, paymentProvider="stripe"))
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    assert created["booking"]["status"] == "PENDING_PAYMENT"
    assert created["booking"]["payment"] == {"status": "pending", "amount": 12000, "currency": "usd",
                                             "provider": "stripe"}
    assert created["checkoutUrl"] == stripe_fake.sessions[in_db(
        app, lambda: Payment.get(Payment.booking == created["bookingId"]).provider_ref)]["url"]
    again = client.post("/api/bookings", json=public_body(priced, start))     # the same request again
    assert again.status_code == 200 and again.get_json()["checkoutUrl"] == created["checkoutUrl"]
    assert len(stripe_fake.sessions) == 1


def test_a_provider_that_is_not_offered_is_a_400_and_holds_nothing(app, api, client, priced):
    [start] = future_slots(app, priced, 1)
    v1 = api.post("/api/v1/bookings", json=v1_body(start, paymentProvider="paypal"))
    public = client.post("/api/bookings", json=public_body(priced, start, paymentProvider="bitcoin"))
    for answer in (v1, public):
        assert answer.status_code == 400
        body = answer.get_json()
        assert body["error"] == "Invalid request data" and set(body["details"]) == {"paymentProvider"}
        assert "stripe" in body["details"]["paymentProvider"]
    assert bookings_in_db(app) == []


@pytest.mark.parametrize("endpoint", ["v1", "public"])
def test_a_provider_that_cannot_be_reached_is_a_409_and_the_hold_is_released(app, api, client, priced, stripe_fake,
                                                                             endpoint):
    [start] = future_slots(app, priced, 1)

    def post():
        if endpoint == "v1":
            return api.post("/api/v1/bookings", json=v1_body(start))
        return client.post("/api/bookings", json=public_body(priced, start))

    stripe_fake.fail(500, path="/v1/checkout/sessions")
    refused = post()
    assert refused.status_code == 409
    assert set(refused.get_json()) == {"error"} and "nothing was booked or charged" in refused.get_json()["error"]
    [(first, status)] = bookings_in_db(app)
    assert status == "CANCELLED"                                     # the hold is released: the slot is free
    retried = post()
    assert retried.status_code == 201 and retried.get_json()["checkoutUrl"]
    assert [s for _, s in bookings_in_db(app)] == ["CANCELLED", "PENDING_PAYMENT"]
