"""Additional guests in the JSON APIs (issue 23, point 1): ``guests`` accepted by ``POST /api/bookings`` and
``POST /api/v1/bookings`` (400 with ``details.guests`` for bad ones), the bookings' ``guests`` array (detail, list),
the event types' ``maxGuests``, the OpenAPI document, and ``POST /api/v1/bookings/{id}/no-show`` with a ``guest``."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking
from app.models.guests import BookingGuest
from app.services.scheduling import event_types as et_service
from tests import factories
from tests.api.conftest import bearer, event_type_of, future_slots, in_db, new_key


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def slot(app, pro_host):
    return future_slots(app, event_type_of(app, pro_host), 1)[0]


def v1_body(start, **extra) -> dict:
    return {"eventTypeSlug": "30-min", "startTime": iso(start), "inviteeName": "Sarah Chen",
            "inviteeEmail": "sarah@example.com", "inviteeTimezone": "America/New_York", **extra}


def guests_in_db(app) -> list[str]:
    return in_db(app, lambda: [g.email for g in BookingGuest.select().order_by(BookingGuest.position)])


# --- /api/v1 -----------------------------------------------------------------------------------------------------
def test_v1_books_guests_and_shows_them_on_the_booking_and_in_the_list(app, api, slot):
    answer = api.post("/api/v1/bookings", json=v1_body(slot, guests=["Lee@example.com", "sam@example.com"]))
    assert answer.status_code == 201, answer.json
    booking_id = answer.json["bookingId"]
    assert guests_in_db(app) == ["lee@example.com", "sam@example.com"]
    expected = [{"email": "lee@example.com", "noShow": False, "noShowMarkedAt": None},
                {"email": "sam@example.com", "noShow": False, "noShowMarkedAt": None}]
    assert api.get(f"/api/v1/bookings/{booking_id}").json["guests"] == expected
    [listed] = [b for b in api.get("/api/v1/bookings").json["data"] if b["id"] == booking_id]
    assert listed["guests"] == expected


def test_v1_booking_without_guests_has_an_empty_list(api, slot):
    booking_id = api.post("/api/v1/bookings", json=v1_body(slot)).json["bookingId"]
    assert api.get(f"/api/v1/bookings/{booking_id}").json["guests"] == []


@pytest.mark.parametrize(("guests", "message"), [
    (["lee@example.com", "nope"], "“nope” is not one"),
    (["SARAH@example.com"], "Leave out your own email address"),
    ("lee@example.com", "list of email addresses"),
    ([{"email": "lee@example.com"}], "list of email addresses"),
])
def test_v1_bad_guests_are_400_with_details(app, api, slot, guests, message):
    answer = api.post("/api/v1/bookings", json=v1_body(slot, guests=guests))
    assert answer.status_code == 400
    assert answer.json["error"] == "Invalid request data" and message in answer.json["details"]["guests"]
    assert in_db(app, Booking.select().count) == 0


def test_v1_more_guests_than_the_event_type_takes_is_400(app, api, pro_host, slot):
    in_db(app, lambda: et_service.update_event_type(event_type_of(app, pro_host),
                                                    et_service.EventTypeInput(max_guests=1)))
    answer = api.post("/api/v1/bookings", json=v1_body(slot, guests=["a@example.com", "b@example.com"]))
    assert answer.status_code == 400 and answer.json["details"] == {"guests": "Add at most 1 guest."}


def test_event_types_show_max_guests(app, api, pro_host):
    in_db(app, lambda: et_service.update_event_type(event_type_of(app, pro_host),
                                                    et_service.EventTypeInput(max_guests=4)))
    [item] = [et for et in api.get("/api/v1/event-types").json["data"] if et["slug"] == "30-min"]
    assert item["maxGuests"] == 4
    assert api.get(f"/api/v1/event-types/{item['id']}").json["maxGuests"] == 4


# --- the public endpoint ----------------------------------------------------------------------------------------
def public_body(event_type, start, **extra) -> dict:
    return {"eventTypeId": event_type.id, "inviteeName": "Jane Invitee", "inviteeEmail": "jane@example.com",
            "inviteeTimezone": "America/New_York", "startTime": iso(start), **extra}


def test_the_public_endpoint_books_guests(app, client, pro_host, slot):
    event_type = event_type_of(app, pro_host)
    answer = client.post("/api/bookings", json=public_body(event_type, slot, guests=["lee@example.com"]))
    assert answer.status_code == 201, answer.json
    assert guests_in_db(app) == ["lee@example.com"]
    assert "guests" not in answer.json["booking"]     # the public answer shows only what the sender knows


def test_the_public_endpoint_reports_bad_guests_with_the_other_problems(app, client, pro_host, slot):
    event_type = event_type_of(app, pro_host)
    body = public_body(event_type, slot, guests=["jane@example.com"], inviteeName="", phone=5)
    answer = client.post("/api/bookings", json=body)
    assert answer.status_code == 400
    details = answer.json["details"]
    assert "own email" in details["guests"] and "inviteeName" in details and "phone" in details
    answer = client.post("/api/bookings", json=public_body(event_type, slot, guests=[""] + ["x"] * 2))
    assert answer.status_code == 400 and "“x” is not one" in answer.json["details"]["guests"]
    assert in_db(app, Booking.select().count) == 0


# --- guest no-shows -----------------------------------------------------------------------------------------------
@pytest.fixture
def past(app, pro_host):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def make():
        row = factories.booking_row(event_type_of(app, pro_host), start, guest_count=2)
        BookingGuest.create(booking=row.id, email="lee@example.com", position=0)
        BookingGuest.create(booking=row.id, email="sam@example.com", position=1)
        return row
    return in_db(app, make)


def test_a_guest_is_marked_and_the_invitee_is_not(app, api, past):
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True, "guest": "LEE@example.com"})
    assert answer.status_code == 200, answer.json
    assert answer.json["noShow"] is False
    lee, sam = answer.json["guests"]
    assert lee["email"] == "lee@example.com" and lee["noShow"] is True and lee["noShowMarkedAt"].endswith("Z")
    assert sam["noShow"] is False
    undone = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": False, "guest": "lee@example.com"})
    assert undone.status_code == 200 and undone.json["guests"][0]["noShow"] is False
    # without ``guest`` the invitee is marked, as before
    invitee = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True})
    assert invitee.json["noShow"] is True and not any(g["noShow"] for g in invitee.json["guests"])


@pytest.mark.parametrize(("guest", "status"), [("ivan@example.com", 400), ("", 400), (7, 400)])
def test_an_address_that_is_not_a_guest_is_400(app, api, past, guest, status):
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True, "guest": guest})
    assert answer.status_code == status and "guest" in answer.json["details"]
    assert not any(in_db(app, lambda: [g.no_show for g in BookingGuest.select()]))


def test_a_guest_before_the_start_is_409_and_another_accounts_booking_404(app, client, api, pro_host, make_user):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    def make():
        row = factories.booking_row(event_type_of(app, pro_host), start, guest_count=1)
        BookingGuest.create(booking=row.id, email="lee@example.com")
        return row
    future = in_db(app, make)
    answer = api.post(f"/api/v1/bookings/{future.id}/no-show", json={"noShow": True, "guest": "lee@example.com"})
    assert answer.status_code == 409 and "not started" in answer.json["error"]
    other = new_key(app, make_user("otto", plan="PRO"))
    answer = client.post(f"/api/v1/bookings/{future.id}/no-show", json={"noShow": True, "guest": "lee@example.com"},
                         headers=bearer(other))
    assert answer.status_code == 404


def test_the_openapi_document_describes_guests(client):
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert schemas["CreateBookingRequest"]["properties"]["guests"]["type"] == "array"
    assert schemas["PublicBookingRequest"]["properties"]["guests"]["items"]["format"] == "email"
    assert "guests" in schemas["Booking"]["required"]
    assert "maxGuests" in schemas["EventType"]["properties"]
    assert "guest" in schemas["NoShowRequest"]["properties"]
