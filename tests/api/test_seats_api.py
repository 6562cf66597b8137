"""Seats (issue 23) through the APIs: the event type's ``seats`` fields, seats booked through ``POST /api/v1/bookings``
and the public ``POST /api/bookings`` until the slot is full (then 409), one seat per email, and the ``seat`` object
of a booking."""
from __future__ import annotations

from tests.api.conftest import add_event_type, future_slots, in_db


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def body(event_type, start, n, **more):
    return {"eventTypeId": event_type.id, "startTime": iso(start), "inviteeName": f"Guest {n}",
            "inviteeEmail": f"guest{n}@example.com", "inviteeTimezone": "UTC", **more}


def test_the_event_type_shows_its_seats(app, api, pro_host):
    seated = add_event_type(app, pro_host, name="Class", slug="class", duration=60, seats=5,
                            seats_show_remaining=True)
    answer = api.get(f"/api/v1/event-types/{seated.id}")
    assert answer.status_code == 200
    assert (answer.json["seats"], answer.json["seatsShowRemaining"]) == (5, True)
    plain = api.get("/api/v1/event-types").json["data"]
    assert {row["slug"]: row["seats"] for row in plain} == {"30-min": None, "class": 5}


def test_seats_are_booked_until_full_each_with_the_seat_object(app, api, pro_host):
    seated = add_event_type(app, pro_host, name="Class", slug="class", duration=60, seats=2)
    [start] = future_slots(app, seated, 1)
    first = api.post("/api/v1/bookings", json=body(seated, start, 1))
    second = api.post("/api/v1/bookings", json=body(seated, start, 2))
    assert (first.status_code, second.status_code) == (201, 201), (first.json, second.json)
    assert first.json["bookingId"] != second.json["bookingId"]
    third = api.post("/api/v1/bookings", json=body(seated, start, 3))
    assert third.status_code == 409 and "error" in third.json
    detail = api.get(f"/api/v1/bookings/{first.json['bookingId']}").json
    assert detail["seat"] == {"seatsTotal": 2, "seatsTaken": 2}
    listed = {row["id"]: row for row in api.get("/api/v1/bookings").json["data"]}
    assert listed[second.json["bookingId"]]["seat"] == {"seatsTotal": 2, "seatsTaken": 2}


def test_the_public_endpoint_books_seats_and_refuses_a_second_seat_for_one_email(app, client, pro_host):
    seated = add_event_type(app, pro_host, name="Class", slug="class", duration=60, seats=3)
    [start] = future_slots(app, seated, 1)
    first = client.post("/api/bookings", json=body(seated, start, 1))
    assert first.status_code == 201
    again = client.post("/api/bookings", json=body(seated, start, 1))          # the same request: the same seat
    assert again.status_code == 200 and again.json["bookingId"] == first.json["bookingId"]
    other = client.post("/api/bookings", json=body(seated, start, 1, inviteeName="Someone Else"))
    assert other.status_code == 409 and "already has a seat" in other.json["error"]
    assert client.post("/api/bookings", json=body(seated, start, 2)).status_code == 201


def test_a_one_to_one_booking_has_no_seat_object(app, api, pro_host):
    from app.models import EventType
    plain = in_db(app, EventType.get, (EventType.user == pro_host.id) & (EventType.slug == "30-min"))
    [start] = future_slots(app, plain, 1)
    made = api.post("/api/v1/bookings", json=body(plain, start, 1))
    assert made.status_code == 201
    assert "seat" not in api.get(f"/api/v1/bookings/{made.json['bookingId']}").json
