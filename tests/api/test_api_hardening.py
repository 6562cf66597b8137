"""API requests that used to answer 500 or say too much (issue 12): deeply nested JSON, a start time before the
first instant, names with line breaks, email fields naming two recipients, and an ``Idempotency-Key`` reused by
another request or another client."""
from __future__ import annotations

import pytest

from app.models import Booking, Contact
from tests.api.conftest import event_type_of, future_slots, in_db, new_key
from tests.api.test_api_v1 import booking_body, iso

NESTED_DEEP = "[" * 100_000 + "]" * 100_000          # json.loads: RecursionError
NESTED_33 = '{"a":' * 33 + "1" + "}" * 33             # parses, deeper than the 32 levels allowed
INVALID = "Invalid request data"


@pytest.fixture
def thirty(app, pro_host):
    return event_type_of(app, pro_host)


def public_body(event_type, start, **overrides):
    body = {"eventTypeId": event_type.id, "inviteeName": "Jane Invitee", "inviteeEmail": "jane@example.com",
            "inviteeTimezone": "America/New_York", "startTime": iso(start)}
    return {**body, **overrides}


def post_public(client, payload, ip="203.0.113.1", **headers):
    return client.post("/api/bookings", json=payload, headers=headers, environ_base={"REMOTE_ADDR": ip})


# --- nested JSON ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [NESTED_DEEP, NESTED_33])
def test_deeply_nested_json_on_the_public_booking_endpoint_is_400(client, raw):
    response = client.post("/api/bookings", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": INVALID,
                                   "details": {"body": "The JSON is nested too deeply (at most 32 levels)."}}


@pytest.mark.parametrize("raw", [NESTED_DEEP, NESTED_33])
@pytest.mark.parametrize("path", ["/api/zapier/subscribe", "/api/zapier/unsubscribe"])
def test_deeply_nested_json_on_zapier_is_400(app, client, pro_host, raw, path):
    key = new_key(app, pro_host)
    response = client.post(path, data=raw, content_type="application/json", headers={"X-API-Key": key})
    assert response.status_code == 400
    assert response.get_json()["details"] == {"body": "The JSON is nested too deeply (at most 32 levels)."}
    unauthenticated = client.post(path, data=raw, content_type="application/json")
    assert unauthenticated.status_code == 401 and "error" in unauthenticated.get_json()


@pytest.mark.parametrize("raw", [NESTED_DEEP, NESTED_33])
def test_deeply_nested_json_on_api_v1_is_400(api, raw):
    response = api.post("/api/v1/bookings", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["details"] == {"body": "The JSON is nested too deeply (at most 32 levels)."}


def test_ordinary_nesting_still_works(api, app, thirty):
    start = future_slots(app, thirty, 1)[0]
    response = api.post("/api/v1/bookings", json=booking_body(start, answers={"a": {"b": {"c": [[1]]}}}))
    assert response.status_code == 201


# --- start times ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "0001-01-01T00:00:00Z", "2026-03-01T10:00:00"])
def test_a_start_time_out_of_range_is_400_on_the_public_api(client, app, thirty, start):
    response = post_public(client, public_body(thirty, future_slots(app, thirty, 1)[0], startTime=start))
    assert response.status_code == 400
    assert set(response.get_json()["details"]) == {"startTime"}


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_start_time_out_of_range_is_400_on_api_v1(api, app, thirty, start):
    response = api.post("/api/v1/bookings", json={**booking_body(future_slots(app, thirty, 1)[0]), "startTime": start})
    assert response.status_code == 400 and set(response.get_json()["details"]) == {"startTime"}
    booking = api.post("/api/v1/bookings", json=booking_body(future_slots(app, thirty, 1)[0])).get_json()
    moved = api.post(f"/api/v1/bookings/{booking['bookingId']}/reschedule", json={"newStartTime": start})
    assert moved.status_code == 400 and set(moved.get_json()["details"]) == {"newStartTime"}


# --- names and email addresses ----------------------------------------------------------------------------------------
CONTROL_NAMES = ["Jane\nBcc: x@evil.test", "Jane\r\nInvitee", "Jane\x00", "Jane\x1b[31m"]
ADDRESS_LISTS = ["postmaster,attacker@evil.test", "a@example.com;b@evil.test", "Jane <jane@example.com>",
                 "jane@example.com\r\nBcc: x@evil.test"]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_a_name_with_a_control_character_is_400_on_the_public_api(client, app, thirty, name):
    response = post_public(client, public_body(thirty, future_slots(app, thirty, 1)[0], inviteeName=name))
    assert response.status_code == 400 and "inviteeName" in response.get_json()["details"]
    assert in_db(app, Booking.select().count) == 0


@pytest.mark.parametrize("email", ADDRESS_LISTS)
def test_an_email_naming_two_recipients_is_400_on_the_public_api(client, app, thirty, email):
    response = post_public(client, public_body(thirty, future_slots(app, thirty, 1)[0], inviteeEmail=email))
    assert response.status_code == 400
    assert response.get_json()["details"] == {"inviteeEmail": "Enter a valid email address."}


@pytest.mark.parametrize("field,value", [("inviteeName", CONTROL_NAMES[0]), ("inviteeEmail", ADDRESS_LISTS[0])])
def test_names_and_emails_are_checked_on_api_v1_bookings(api, app, thirty, field, value):
    response = api.post("/api/v1/bookings", json=booking_body(future_slots(app, thirty, 1)[0], **{field: value}))
    assert response.status_code == 400 and field in response.get_json()["details"]


@pytest.mark.parametrize("field,value", [("name", CONTROL_NAMES[0]), ("email", ADDRESS_LISTS[0]),
                                         ("company", "Acme\nInc")])
def test_names_and_emails_are_checked_on_api_v1_contacts(api, app, field, value):
    body = {"name": "Jane", "email": "jane@example.com", field: value}
    response = api.post("/api/v1/contacts", json=body)
    assert response.status_code == 400 and field in response.get_json()["details"]
    assert in_db(app, Contact.select().count) == 0


# --- Idempotency-Key: scoped to the sender and the body -----------------------------------------------------------
def test_a_reused_key_with_another_invitee_is_422_and_reveals_nothing(client, app, thirty):
    one, two = future_slots(app, thirty, 2)
    first = post_public(client, public_body(thirty, one), **{"Idempotency-Key": "order-1"})
    assert first.status_code == 201
    again = post_public(client, public_body(thirty, two, inviteeName="Mallory", inviteeEmail="m@evil.test",
                                            inviteeTimezone="UTC"), **{"Idempotency-Key": "order-1"})
    assert again.status_code == 422
    assert again.get_json() == {"error": "Invalid request data",
                                "details": {"Idempotency-Key": "Already used with a different request: "
                                                               "use a new key for a new booking."}}
    text = again.get_data(as_text=True)
    assert "Jane" not in text and "jane@example.com" not in text and "America/New_York" not in text
    assert in_db(app, Booking.select().count) == 1


def test_the_same_key_and_body_again_is_the_same_booking(client, app, thirty):
    start = future_slots(app, thirty, 1)[0]
    first = post_public(client, public_body(thirty, start), **{"Idempotency-Key": "order-1"})
    again = post_public(client, public_body(thirty, start), **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["bookingId"] == first.get_json()["bookingId"]


def test_another_client_with_the_same_key_makes_its_own_booking(client, app, thirty):
    one, two = future_slots(app, thirty, 2)
    first = post_public(client, public_body(thirty, one), ip="203.0.113.1", **{"Idempotency-Key": "order-1"})
    other = post_public(client, public_body(thirty, two, inviteeName="Bob", inviteeEmail="bob@example.com"),
                        ip="198.51.100.7", **{"Idempotency-Key": "order-1"})
    assert (first.status_code, other.status_code) == (201, 201)
    data = other.get_json()
    assert data["bookingId"] != first.get_json()["bookingId"]
    assert data["booking"]["invitee"] == {"name": "Bob", "email": "bob@example.com", "timezone": "America/New_York"}
    assert in_db(app, Booking.select().count) == 2


def test_knowing_an_invitees_address_and_their_time_does_not_reveal_their_booking(client, app, thirty):
    start = future_slots(app, thirty, 1)[0]
    first = post_public(client, public_body(thirty, start), **{"Idempotency-Key": "order-1"})
    assert first.status_code == 201
    # another sender, no key or a fresh one, the same address and time but other details: the slot is taken
    for headers in ({}, {"Idempotency-Key": "guess-2"}):
        probe = post_public(client, public_body(thirty, start, inviteeName="Mallory", inviteeTimezone="UTC"),
                            ip="198.51.100.7", **headers)
        assert probe.status_code == 409, probe.get_data(as_text=True)
        text = probe.get_data(as_text=True)
        assert first.get_json()["bookingId"] not in text and "Jane" not in text and "America/New_York" not in text
    # the same request sent again without a key is still recognised as a repeat
    again = post_public(client, public_body(thirty, start))
    assert again.status_code == 200 and again.get_json()["bookingId"] == first.get_json()["bookingId"]
    assert in_db(app, Booking.select().count) == 1


def test_the_key_is_stored_as_a_hash_of_sender_and_key(client, app, thirty):
    from app.api.public import scoped_key
    post_public(client, public_body(thirty, future_slots(app, thirty, 1)[0]), **{"Idempotency-Key": "order-1"})
    stored = in_db(app, lambda: Booking.get().idempotency_key)
    assert stored == scoped_key("order-1", "203.0.113.1") != scoped_key("order-1", "198.51.100.7")
    assert "order-1" not in stored and len(stored) <= 200


@pytest.mark.parametrize("notes", ["a\x00b", "esc\x1b[2J"])
def test_control_characters_in_notes_are_400_on_the_public_api(client, app, thirty, notes):
    """PostgreSQL cannot store a NUL (it was a 500 there); line breaks and tabs in notes stay fine."""
    start = future_slots(app, thirty, 1)[0]
    response = post_public(client, public_body(thirty, start, notes=notes))
    assert response.status_code == 400
    assert response.get_json()["details"] == {"notes": "Must not contain control characters (NUL, escape ...)."}
    fine = post_public(client, public_body(thirty, start, notes="line one\r\nline two\tend"))
    assert fine.status_code == 201


def test_control_characters_in_contact_notes_are_400_on_api_v1(api, app):
    response = api.post("/api/v1/contacts", json={"name": "Jane", "email": "jane@example.com", "notes": "a\x00b"})
    assert response.status_code == 400 and "notes" in response.get_json()["details"]
