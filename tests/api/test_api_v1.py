"""REST API v1 (spec page 23): every endpoint's happy path, its validation errors, and ownership (404)."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, Contact, OutboxMessage
from app.services.booking import bookings as bookings_service
from app.services.events import iso
from app.services.scheduling.slots import available_slots
from tests.api.conftest import (
    add_contact,
    add_event_type,
    bearer,
    book,
    event_type_of,
    future_slots,
    in_db,
    new_key,
)

NY = ZoneInfo("America/New_York")


def events_named(app, name):
    def load():
        payloads = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "event")]
        return [p for p in payloads if p["event"] == name]
    return in_db(app, load)


def stored(app, model, object_id):
    return in_db(app, model.get_or_none, model.id == object_id)


@pytest.fixture
def thirty(app, pro_host):
    return event_type_of(app, pro_host)


@pytest.fixture
def stranger(make_user):
    return make_user("sam", plan="PRO", timezone="Europe/London")


# --- user ----------------------------------------------------------------------------------------------
def test_me_returns_the_key_owners_profile_and_plans(api, pro_host):
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json == {"id": pro_host.id, "email": "hana@example.com", "name": "Hana", "username": "hana",
                             "plan": "PRO", "effectivePlan": "PRO", "timezone": "America/New_York",
                             "createdAt": iso(pro_host.created_at)}
    assert response.headers["Cache-Control"] == "no-store"


# --- bookings: list --------------------------------------------------------------------------------------
def test_bookings_list_pages_latest_start_first_with_pagination_totals(app, api, thirty):
    starts = future_slots(app, thirty, 3)
    made = [book(app, thirty, s, email=f"g{i}@example.com") for i, s in enumerate(starts)]
    first = api.get("/api/v1/bookings?limit=2")
    assert first.status_code == 200
    assert first.json["pagination"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    assert [b["id"] for b in first.json["data"]] == [made[2].id, made[1].id]
    second = api.get("/api/v1/bookings?limit=2&page=2")
    assert [b["id"] for b in second.json["data"]] == [made[0].id]
    assert api.get("/api/v1/bookings?page=9").json["data"] == []


def test_bookings_list_defaults_to_twenty_per_page(app, api, thirty):
    book(app, thirty, future_slots(app, thirty, 1)[0])
    assert api.get("/api/v1/bookings").json["pagination"] == {"page": 1, "limit": 20, "total": 1, "totalPages": 1}


def test_booking_list_items_carry_the_invitee_event_type_and_times(app, api, thirty, pro_host):
    start = future_slots(app, thirty, 1)[0]
    booking = book(app, thirty, start, email="Ivan@Example.com", name="Ivan Invitee")
    [item] = api.get("/api/v1/bookings").json["data"]
    assert item["id"] == booking.id
    assert item["status"] == "CONFIRMED"
    assert item["startTime"] == iso(start) and item["startTime"].endswith("Z")
    assert item["endTime"] == iso(start + timedelta(minutes=30))
    assert (item["inviteeName"], item["inviteeEmail"], item["inviteeTimezone"]) == (
        "Ivan Invitee", "ivan@example.com", "Europe/Berlin")
    assert item["eventType"] == {"id": thirty.id, "name": "30 Minute Meeting", "slug": "30-min", "duration": 30}
    assert item["host"] == {"id": pro_host.id, "name": "Hana", "email": "hana@example.com"}


def test_bookings_list_filters_by_status(app, api, thirty):
    starts = future_slots(app, thirty, 3)
    made = [book(app, thirty, s, email=f"g{i}@example.com") for i, s in enumerate(starts)]
    in_db(app, bookings_service.cancel_booking, made[0], reason="x", by="host")

    def ids(status):
        return {b["id"] for b in api.get(f"/api/v1/bookings?status={status}").json["data"]}

    assert ids("CANCELLED") == {made[0].id}
    assert ids("CONFIRMED") == {made[1].id, made[2].id}
    assert ids("all") == {b.id for b in made}


def test_bookings_list_filters_by_from_and_to(app, api, thirty):
    days = {}
    for start in future_slots(app, thirty, 200):
        days.setdefault(start.date(), start)
    first, second, third = sorted(days)[:3]
    made = {d: book(app, thirty, days[d], email=f"{d}@example.com") for d in (first, second, third)}

    def ids(query):
        response = api.get(f"/api/v1/bookings?{query}")
        assert response.status_code == 200, response.json
        return {b["id"] for b in response.json["data"]}
    assert ids(f"from={second}") == {made[second].id, made[third].id}
    assert ids(f"to={second}") == {made[first].id, made[second].id}   # a date includes its whole day
    assert ids(f"from={second}&to={second}") == {made[second].id}
    exact = iso(days[second])
    assert ids(f"from={exact}&to={exact}") == {made[second].id}      # date-times are exact bounds


def test_bookings_list_shows_only_the_key_owners_bookings(app, api, stranger):
    theirs = event_type_of(app, stranger)
    book(app, theirs, future_slots(app, theirs, 1)[0])
    assert api.get("/api/v1/bookings").json["pagination"]["total"] == 0


@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("page=abc", "page"), ("page=1.5", "page"), ("page=99999999999999999999999", "page"),
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=-3", "limit"),
    ("status=WAITING", "status"), ("status=confirmed", "status"),
    ("from=yesterday", "from"), ("from=2026-13-01", "from"), ("to=0001-01-01", "to"), ("from=%00", "from"),
    ("from=2026-03-02&to=2026-03-01", "to"),
])
def test_bookings_list_rejects_invalid_parameters_with_details(api, query, field):
    response = api.get(f"/api/v1/bookings?{query}")
    assert response.status_code == 400
    assert response.json["error"] == "Invalid request data"
    assert field in response.json["details"]


# --- bookings: detail --------------------------------------------------------------------------------------
def test_booking_detail_has_event_type_contact_and_email_logs(app, api, thirty):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0], email="ivan@example.com")
    response = api.get(f"/api/v1/bookings/{booking.id}")
    assert response.status_code == 200
    data = response.json
    assert data["id"] == booking.id and data["status"] == "CONFIRMED" and data["inviteeName"] == "Ivan Invitee"
    assert data["eventType"]["id"] == thirty.id and data["eventType"]["durationMinutes"] == 30
    assert data["contact"]["email"] == "ivan@example.com" and data["contactId"] == data["contact"]["id"]
    kinds = [log["kind"] for log in data["emailLogs"]]
    assert kinds[0] == "created" and "email" in kinds   # the confirmation emails were queued
    assert all(set(log) == {"id", "kind", "message", "createdAt"} for log in data["emailLogs"])


def test_booking_detail_of_unknown_or_malformed_id_is_404(api):
    for booking_id in ("cnotthere00000000000000000", "%00", "a" * 300, "..%2F..%2Fetc"):
        response = api.get(f"/api/v1/bookings/{booking_id}")
        assert response.status_code == 404
        assert response.json == {"error": "Booking not found"} or booking_id.startswith("..")


# --- bookings: create --------------------------------------------------------------------------------------
def booking_body(start, **overrides):
    body = {"eventTypeSlug": "30-min", "startTime": iso(start), "inviteeName": "Sarah Chen",
            "inviteeEmail": "sarah@example.com", "inviteeTimezone": "America/New_York", "notes": "Optional"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_create_booking_by_slug_answers_201_with_the_booking_id(app, api, thirty, pro_host):
    start = future_slots(app, thirty, 1)[0]
    response = api.post("/api/v1/bookings", json=booking_body(start))
    assert response.status_code == 201
    assert set(response.json) == {"bookingId"}
    booking = stored(app, Booking, response.json["bookingId"])
    assert (booking.user_id, booking.event_type_id, booking.start_at, booking.source) == (
        pro_host.id, thirty.id, start, "api")
    assert (booking.invitee_email, booking.notes, booking.status) == ("sarah@example.com", "Optional", "CONFIRMED")
    assert [e["data"]["id"] for e in events_named(app, "booking.created")] == [booking.id]


def test_create_booking_accepts_an_offset_start_time(app, api, thirty):
    start = future_slots(app, thirty, 1)[0]
    response = api.post("/api/v1/bookings", json=booking_body(start, startTime=start.astimezone(NY).isoformat()))
    assert response.status_code == 201
    assert stored(app, Booking, response.json["bookingId"]).start_at == start


def test_create_booking_repeated_identically_answers_200_with_the_same_booking(app, api, thirty):
    start = future_slots(app, thirty, 1)[0]
    first = api.post("/api/v1/bookings", json=booking_body(start))
    again = api.post("/api/v1/bookings", json=booking_body(start))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["bookingId"] == first.json["bookingId"]
    assert in_db(app, Booking.select().count) == 1


def test_create_booking_with_the_same_idempotency_key_returns_the_first_booking(app, api, thirty):
    one = future_slots(app, thirty, 1)[0]
    first = api.post("/api/v1/bookings", json=booking_body(one), headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/bookings", json=booking_body(one), headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["bookingId"] == first.json["bookingId"]


def test_the_same_idempotency_key_with_another_body_is_422(app, api, thirty):
    one, two = future_slots(app, thirty, 2)
    first = api.post("/api/v1/bookings", json=booking_body(one), headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/bookings", json=booking_body(two), headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 422)
    assert again.json["details"] == {
        "Idempotency-Key": "Already used with a different request: use a new key for a new booking."}
    assert in_db(app, Booking.select().count) == 1


def test_create_booking_on_a_taken_time_is_409(app, api, thirty):
    start = future_slots(app, thirty, 1)[0]
    book(app, thirty, start, email="first@example.com")
    response = api.post("/api/v1/bookings", json=booking_body(start))
    assert response.status_code == 409
    assert "no longer available" in response.json["error"]


def test_create_booking_outside_working_hours_is_409(app, api, thirty):
    start = future_slots(app, thirty, 1)[0]
    night = start.astimezone(NY).replace(hour=3, minute=0).astimezone(UTC)
    assert api.post("/api/v1/bookings", json=booking_body(night)).status_code == 409


@pytest.mark.parametrize("overrides, field", [
    ({"eventTypeSlug": ...}, "eventTypeSlug"),
    ({"startTime": ...}, "startTime"),
    ({"inviteeName": ...}, "inviteeName"),
    ({"inviteeName": "   "}, "inviteeName"),
    ({"inviteeEmail": ...}, "inviteeEmail"),
    ({"inviteeTimezone": ...}, "inviteeTimezone"),
    ({"startTime": "2026-03-01"}, "startTime"),
    ({"startTime": "2026-03-01T14:00:00"}, "startTime"),          # no offset: ambiguous
    ({"startTime": "next tuesday"}, "startTime"),
    ({"startTime": "9999-12-31T23:59:00Z"}, "startTime"),
    ({"startTime": 1767225600}, "startTime"),
    ({"inviteeEmail": "not-an-email"}, "inviteeEmail"),
    ({"inviteeTimezone": "Mars/Olympus"}, "inviteeTimezone"),
    ({"inviteeName": ["Sarah"]}, "inviteeName"),
    ({"inviteeName": "Sarah\x00Chen"}, "inviteeName"),
    ({"notes": 5}, "notes"),
    ({"notes": "x" * 5001}, "notes"),
    ({"duration": "30"}, "duration"),
    ({"duration": 45}, "duration"),
    ({"duration": True}, "duration"),
    ({"occurrences": 3}, "occurrences"),
    ({"answers": ["a"]}, "answers"),
])
def test_create_booking_rejects_invalid_fields_with_details(app, api, thirty, overrides, field):
    start = future_slots(app, thirty, 1)[0]
    response = api.post("/api/v1/bookings", json=booking_body(start, **overrides))
    assert response.status_code == 400, response.json
    assert response.json["error"] == "Invalid request data"
    assert field in response.json["details"]
    assert in_db(app, Booking.select().count) == 0


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"), ("", "application/json"), ("[1, 2]", "application/json"),
    ("null", "application/json"), ('"text"', "application/json"), ("[" * 100000, "application/json"),
    (b"\xff\xfe\x00", "application/json"), ("name=x", "application/x-www-form-urlencoded"),
])
def test_create_booking_with_a_body_that_is_not_a_json_object_is_400(api, data, content_type):
    response = api.post("/api/v1/bookings", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.json["error"] == "Invalid request data" and "body" in response.json["details"]


def test_create_booking_for_an_unknown_draft_or_another_users_slug_is_404(app, api, pro_host, stranger):
    add_event_type(app, pro_host, name="Draft", slug="draft", duration=30, status="draft")
    add_event_type(app, stranger, name="Theirs", slug="theirs", duration=30)
    start = future_slots(app, event_type_of(app, pro_host), 1)[0]
    for slug in ("nope", "draft", "theirs"):
        response = api.post("/api/v1/bookings", json=booking_body(start, eventTypeSlug=slug))
        assert response.status_code == 404
        assert response.json == {"error": "Event type not found"}


# --- bookings: cancel --------------------------------------------------------------------------------------
def test_cancel_booking_with_a_reason_cancels_it_and_fires_side_effects(app, api, thirty):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0])
    response = api.post(f"/api/v1/bookings/{booking.id}/cancel", json={"reason": "Schedule conflict"})
    assert response.status_code == 200 and response.json == {"success": True}
    fresh = stored(app, Booking, booking.id)
    assert (fresh.status, fresh.cancel_reason, fresh.cancelled_by) == ("CANCELLED", "Schedule conflict", "host")
    assert [e["data"]["cancelReason"] for e in events_named(app, "booking.cancelled")] == ["Schedule conflict"]


def test_cancel_booking_without_a_body_or_reason_works_and_repeating_it_changes_nothing(app, api, thirty):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0])
    assert api.post(f"/api/v1/bookings/{booking.id}/cancel").json == {"success": True}
    assert api.post(f"/api/v1/bookings/{booking.id}/cancel", json={"reason": None}).status_code == 200
    assert stored(app, Booking, booking.id).status == "CANCELLED"
    assert len(events_named(app, "booking.cancelled")) == 1


@pytest.mark.parametrize("body", [{"reason": 42}, {"reason": ["a"]}, "{oops", "[]"])
def test_cancel_booking_with_an_invalid_body_is_400_and_keeps_it(app, api, thirty, body):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0])
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body, "content_type": "application/json"}
    response = api.post(f"/api/v1/bookings/{booking.id}/cancel", **kwargs)
    assert response.status_code == 400 and response.json["error"] == "Invalid request data"
    assert stored(app, Booking, booking.id).status == "CONFIRMED"


# --- bookings: reschedule ------------------------------------------------------------------------------------
def test_reschedule_booking_moves_it_and_keeps_its_length(app, api, thirty):
    old, new = future_slots(app, thirty, 2)
    booking = book(app, thirty, old)
    response = api.post(f"/api/v1/bookings/{booking.id}/reschedule",
                        json={"newStartTime": iso(new), "reason": "Conflict"})
    assert response.status_code == 200 and response.json == {"success": True}
    fresh = stored(app, Booking, booking.id)
    assert (fresh.start_at, fresh.end_at, fresh.previous_start_at) == (new, new + timedelta(minutes=30), old)
    assert [e["data"]["previousStartTime"] for e in events_named(app, "booking.rescheduled")] == [iso(old)]


def test_reschedule_to_a_taken_time_is_409(app, api, thirty):
    one, two = future_slots(app, thirty, 2)
    booking = book(app, thirty, one)
    book(app, thirty, two, email="other@example.com")
    response = api.post(f"/api/v1/bookings/{booking.id}/reschedule", json={"newStartTime": iso(two)})
    assert response.status_code == 409
    assert stored(app, Booking, booking.id).start_at == one


@pytest.mark.parametrize("body, field", [
    ({}, "newStartTime"), ({"newStartTime": None}, "newStartTime"), ({"newStartTime": "tomorrow"}, "newStartTime"),
    ({"newStartTime": "2026-03-01T10:00:00"}, "newStartTime"), ({"newStartTime": 3}, "newStartTime"),
    ({"newStartTime": "2026-03-01T10:00:00Z", "reason": {}}, "reason"),
])
def test_reschedule_with_invalid_fields_is_400(app, api, thirty, body, field):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0])
    response = api.post(f"/api/v1/bookings/{booking.id}/reschedule", json=body)
    assert response.status_code == 400 and field in response.json["details"]


def test_reschedule_of_a_cancelled_booking_is_400(app, api, thirty):
    one, two = future_slots(app, thirty, 2)
    booking = book(app, thirty, one)
    in_db(app, bookings_service.cancel_booking, booking, reason=None, by="host")
    response = api.post(f"/api/v1/bookings/{booking.id}/reschedule", json={"newStartTime": iso(two)})
    assert response.status_code == 400 and "booking" in response.json["details"]


# --- contacts ------------------------------------------------------------------------------------------------
def test_contacts_list_searches_name_email_and_company_with_meeting_counts(app, api, pro_host, thirty):
    add_contact(app, pro_host, "Jane Doe", "jane@example.com", company="Acme")
    add_contact(app, pro_host, "Bob Roe", "bob@globex.com", company="Globex")
    book(app, thirty, future_slots(app, thirty, 1)[0], email="jane@example.com", name="Jane Doe")
    everyone = api.get("/api/v1/contacts").json
    assert [c["name"] for c in everyone["data"]] == ["Bob Roe", "Jane Doe"]
    assert everyone["pagination"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    assert {c["name"]: c["meetingCount"] for c in everyone["data"]} == {"Bob Roe": 0, "Jane Doe": 1}
    assert [c["name"] for c in api.get("/api/v1/contacts?search=acme").json["data"]] == ["Jane Doe"]
    assert [c["name"] for c in api.get("/api/v1/contacts?search=globex.com").json["data"]] == ["Bob Roe"]
    assert [c["name"] for c in api.get("/api/v1/contacts?search=roe").json["data"]] == ["Bob Roe"]
    paged = api.get("/api/v1/contacts?limit=1&page=2").json
    assert [c["name"] for c in paged["data"]] == ["Jane Doe"] and paged["pagination"]["totalPages"] == 2


@pytest.mark.parametrize("query, field", [("limit=500", "limit"), ("page=-1", "page"),
                                          ("search=" + "x" * 201, "search"), ("search=%00", "search")])
def test_contacts_list_rejects_invalid_parameters(api, query, field):
    response = api.get(f"/api/v1/contacts?{query}")
    assert response.status_code == 400 and field in response.json["details"]


def test_create_contact_answers_201_and_fires_contact_created(app, api, pro_host):
    response = api.post("/api/v1/contacts", json={"name": "Jane Doe", "email": "Jane@Example.com",
                                                  "phone": "+1 555 0100", "company": "Acme", "notes": "VIP"})
    assert response.status_code == 201
    data = response.json
    assert {k: data[k] for k in ("name", "email", "phone", "company", "notes", "source")} == {
        "name": "Jane Doe", "email": "jane@example.com", "phone": "+1 555 0100", "company": "Acme",
        "notes": "VIP", "source": "api"}
    contact = stored(app, Contact, data["id"])
    assert contact.user_id == pro_host.id
    assert [e["data"]["id"] for e in events_named(app, "contact.created")] == [contact.id]


def test_create_contact_with_a_taken_email_is_409(app, api, pro_host):
    add_contact(app, pro_host, "Jane Doe", "jane@example.com")
    response = api.post("/api/v1/contacts", json={"name": "Other Jane", "email": "JANE@example.com"})
    assert response.status_code == 409
    assert response.json == {"error": "A contact with this email already exists."}


def test_create_contact_may_reuse_an_email_another_user_has(app, api, stranger):
    add_contact(app, stranger, "Jane Doe", "jane@example.com")
    assert api.post("/api/v1/contacts", json={"name": "Jane", "email": "jane@example.com"}).status_code == 201


@pytest.mark.parametrize("body, field", [
    ({"email": "jane@example.com"}, "name"), ({"name": "Jane"}, "email"),
    ({"name": "Jane", "email": "nope"}, "email"), ({"name": 7, "email": "jane@example.com"}, "name"),
    ({"name": "Jane", "email": "jane@example.com", "phone": "call me"}, "phone"),
    ({"name": "J" * 201, "email": "jane@example.com"}, "name"),
    ({"name": "Jane\x00", "email": "jane@example.com"}, "name"),
])
def test_create_contact_with_invalid_fields_is_400(app, api, body, field):
    response = api.post("/api/v1/contacts", json=body)
    assert response.status_code == 400 and field in response.json["details"]
    assert in_db(app, Contact.select().count) == 0


def test_contact_detail_lists_upcoming_and_past_meetings(app, api, pro_host, thirty):
    contact = add_contact(app, pro_host, "Ivan Invitee", "ivan@example.com")
    past_now = datetime.now(UTC) - timedelta(days=30)
    past = book(app, thirty, future_slots(app, thirty, 1, now=past_now)[0], now=past_now)
    upcoming = [book(app, thirty, s) for s in future_slots(app, thirty, 2)]
    cancelled = book(app, thirty, future_slots(app, thirty, 3)[2])
    in_db(app, bookings_service.cancel_booking, cancelled, reason=None, by="host")
    response = api.get(f"/api/v1/contacts/{contact.id}")
    assert response.status_code == 200
    data = response.json
    assert data["id"] == contact.id and data["name"] == "Ivan Invitee"
    assert [b["id"] for b in data["upcomingMeetings"]] == [b.id for b in upcoming]
    assert [b["id"] for b in data["pastMeetings"]] == [past.id]
    assert data["meetingCount"] == 3
    assert data["upcomingMeetings"][0]["eventType"]["slug"] == "30-min"


def test_update_contact_changes_only_the_fields_sent(app, api, pro_host):
    contact = add_contact(app, pro_host, "Jane Doe", "jane@example.com", company="Acme", phone="+1 555 0100")
    response = api.patch(f"/api/v1/contacts/{contact.id}", json={"name": "Jane Smith", "company": "NewCo"})
    assert response.status_code == 200
    assert (response.json["name"], response.json["company"], response.json["phone"], response.json["email"]) == (
        "Jane Smith", "NewCo", "+1 555 0100", "jane@example.com")
    fresh = stored(app, Contact, contact.id)
    assert (fresh.name, fresh.company, fresh.phone) == ("Jane Smith", "NewCo", "+1 555 0100")
    assert api.patch(f"/api/v1/contacts/{contact.id}", json={"phone": None}).json["phone"] is None


def test_update_contact_to_a_taken_email_is_409_and_to_its_own_email_is_fine(app, api, pro_host):
    jane = add_contact(app, pro_host, "Jane Doe", "jane@example.com")
    add_contact(app, pro_host, "Bob Roe", "bob@example.com")
    assert api.patch(f"/api/v1/contacts/{jane.id}", json={"email": "BOB@example.com"}).status_code == 409
    assert api.patch(f"/api/v1/contacts/{jane.id}", json={"email": "JANE@example.com"}).status_code == 200
    assert stored(app, Contact, jane.id).email == "jane@example.com"


@pytest.mark.parametrize("body, field", [({"email": "nope"}, "email"), ({"name": ""}, "name"),
                                         ({"name": None}, "name"), ({"company": 3}, "company"),
                                         ([], "body"), ("oops", "body")])
def test_update_contact_with_invalid_fields_is_400(app, api, pro_host, body, field):
    contact = add_contact(app, pro_host, "Jane Doe", "jane@example.com")
    kwargs = {"json": body} if not isinstance(body, str) else {"data": body, "content_type": "application/json"}
    response = api.patch(f"/api/v1/contacts/{contact.id}", **kwargs)
    assert response.status_code == 400 and field in response.json["details"]
    assert stored(app, Contact, contact.id).name == "Jane Doe"


def test_delete_contact_removes_it_and_keeps_its_bookings(app, api, pro_host, thirty):
    booking = book(app, thirty, future_slots(app, thirty, 1)[0], email="ivan@example.com")
    contact = in_db(app, Contact.get, Contact.email == "ivan@example.com")
    response = api.delete(f"/api/v1/contacts/{contact.id}")
    assert response.status_code == 200 and response.json == {"success": True}
    assert stored(app, Contact, contact.id) is None
    assert stored(app, Booking, booking.id).contact_id is None
    assert api.get(f"/api/v1/contacts/{contact.id}").status_code == 404


# --- event types ------------------------------------------------------------------------------------------
def test_event_types_list_shows_active_ones_in_camel_case(app, api, pro_host):
    consult = add_event_type(app, pro_host, name="Consultation", slug="consult", duration=60, buffer_before=5,
                             buffer_after=10, minimum_notice=120)
    add_event_type(app, pro_host, name="Draft", slug="draft", duration=15, status="draft")
    response = api.get("/api/v1/event-types")
    assert response.status_code == 200
    assert [e["slug"] for e in response.json["data"]] == ["30-min", "consult"]
    assert response.json["pagination"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    item = response.json["data"][1]
    assert item["id"] == consult.id
    assert (item["durationMinutes"], item["bufferBefore"], item["bufferAfter"], item["minimumNotice"]) == (
        60, 5, 10, 120)
    assert (item["status"], item["isActive"]) == ("ACTIVE", True)
    assert item["bookingUrl"].endswith("/hana/consult")
    assert item["bookingWindow"] == {"type": "rolling", "days": 60, "startDate": None, "endDate": None}


def test_event_type_detail_includes_drafts_and_scheduling_config(app, api, pro_host):
    draft = add_event_type(app, pro_host, name="Draft", slug="draft", duration=15, status="draft",
                           slot_interval=10, max_per_day=3)
    response = api.get(f"/api/v1/event-types/{draft.id}")
    assert response.status_code == 200
    assert (response.json["status"], response.json["slotInterval"], response.json["maxPerDay"]) == ("DRAFT", 10, 3)


def test_event_types_list_rejects_a_bad_limit(api):
    response = api.get("/api/v1/event-types?limit=1000")
    assert response.status_code == 400 and "limit" in response.json["details"]


# --- availability ---------------------------------------------------------------------------------------------
def test_availability_lists_the_engines_slots_in_the_requested_zone(app, api, thirty):
    tz = ZoneInfo("Asia/Tokyo")
    today = datetime.now(tz).date()
    start_day, end_day = today + timedelta(days=1), today + timedelta(days=3)
    response = api.get(f"/api/v1/availability/30-min?timezone=Asia/Tokyo&startDate={start_day}&endDate={end_day}")
    assert response.status_code == 200
    body = response.json
    assert body["timezone"] == "Asia/Tokyo"
    assert (body["startDate"], body["endDate"]) == (start_day.isoformat(), end_day.isoformat())
    assert body["eventType"] == {"id": thirty.id, "name": "30 Minute Meeting", "slug": "30-min",
                                 "durationMinutes": 30}
    first = datetime.combine(start_day, datetime.min.time(), tz)
    expected = in_db(app, available_slots, thirty, first, first + timedelta(days=3))
    assert [datetime.fromisoformat(s["startTime"]) for s in body["data"]] == expected
    assert expected
    for slot in body["data"]:
        local = datetime.fromisoformat(slot["startTime"])
        assert local.utcoffset() == timedelta(hours=9)
        assert (slot["date"], slot["time"]) == (local.date().isoformat(), local.strftime("%H:%M"))
        assert datetime.fromisoformat(slot["endTime"]) - local == timedelta(minutes=30)


def test_availability_defaults_to_today_and_the_next_seven_days(api):
    body = api.get("/api/v1/availability/30-min?timezone=Europe/Paris").json
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    assert (body["startDate"], body["endDate"]) == (today.isoformat(), (today + timedelta(days=7)).isoformat())
    assert body["data"] and all(today.isoformat() <= s["date"] <= body["endDate"] for s in body["data"])


def test_availability_leaves_out_booked_times(app, api, thirty):
    start = future_slots(app, thirty, 1)[0]
    url = f"/api/v1/availability/30-min?timezone=UTC&startDate={start.date()}&endDate={start.date()}"
    assert iso(start) .replace("Z", "+00:00") in {s["startTime"] for s in api.get(url).json["data"]}
    book(app, thirty, start)
    assert iso(start).replace("Z", "+00:00") not in {s["startTime"] for s in api.get(url).json["data"]}


@pytest.mark.parametrize("query, field", [
    ("", "timezone"), ("timezone=Mars/Base", "timezone"), ("timezone=UTC&startDate=soon", "startDate"),
    ("timezone=UTC&endDate=2026-02-30", "endDate"),
    ("timezone=UTC&startDate=2026-03-10&endDate=2026-03-09", "endDate"),
    ("timezone=UTC&startDate=2026-03-01&endDate=2026-04-02", "endDate"),        # 32 days
    ("timezone=UTC&startDate=0001-01-01", "startDate"), ("timezone=%00", "timezone"),
])
def test_availability_rejects_invalid_parameters(api, query, field):
    response = api.get(f"/api/v1/availability/30-min?{query}")
    assert response.status_code == 400 and field in response.json["details"]


def test_availability_allows_a_range_of_31_days(api):
    start = date.today() + timedelta(days=1)
    end = start + timedelta(days=31)
    assert api.get(f"/api/v1/availability/30-min?timezone=UTC&startDate={start}&endDate={end}").status_code == 200


def test_availability_of_an_unknown_draft_or_another_users_slug_is_404(app, api, pro_host, stranger):
    add_event_type(app, pro_host, name="Draft", slug="draft", duration=15, status="draft")
    add_event_type(app, stranger, name="Theirs", slug="theirs", duration=30)
    for slug in ("nope", "draft", "theirs", "bad%00slug"):
        response = api.get(f"/api/v1/availability/{slug}?timezone=UTC")
        assert response.status_code == 404 and response.json == {"error": "Event type not found"}


# --- ownership: another user's objects are 404 everywhere ----------------------------------------------------
def test_another_users_objects_answer_404_on_every_endpoint_and_stay_unchanged(app, api, stranger, pro_host):
    theirs = event_type_of(app, stranger)
    one, two = future_slots(app, theirs, 2)
    booking = book(app, theirs, one)
    contact = add_contact(app, stranger, "Their Contact", "their@example.com")
    calls = [
        ("get", f"/api/v1/bookings/{booking.id}", None, "Booking not found"),
        ("post", f"/api/v1/bookings/{booking.id}/cancel", {"reason": "x"}, "Booking not found"),
        ("post", f"/api/v1/bookings/{booking.id}/reschedule", {"newStartTime": iso(two)}, "Booking not found"),
        ("get", f"/api/v1/contacts/{contact.id}", None, "Contact not found"),
        ("patch", f"/api/v1/contacts/{contact.id}", {"name": "Mine now"}, "Contact not found"),
        ("delete", f"/api/v1/contacts/{contact.id}", None, "Contact not found"),
        ("get", f"/api/v1/event-types/{theirs.id}", None, "Event type not found"),
        ("get", "/api/v1/availability/30-min?timezone=UTC", None, None),   # the slug means *my* 30-min
    ]
    for method, path, body, message in calls:
        response = getattr(api, method)(path, json=body) if body else getattr(api, method)(path)
        if message is None:
            assert response.json["eventType"]["id"] == event_type_of(app, pro_host).id
            continue
        assert (response.status_code, response.json) == (404, {"error": message}), (method, path)
    fresh = stored(app, Booking, booking.id)
    assert (fresh.status, fresh.start_at) == ("CONFIRMED", one)
    assert stored(app, Contact, contact.id).name == "Their Contact"
    assert in_db(app, Booking.select().where(Booking.user == stranger).count) == 1


def test_keys_of_two_users_see_only_their_own_data(app, client, pro_host, stranger):
    mine, theirs = new_key(app, pro_host), new_key(app, stranger)
    add_contact(app, stranger, "Their Contact", "their@example.com")
    assert client.get("/api/v1/contacts", headers=bearer(mine)).json["data"] == []
    assert [c["name"] for c in client.get("/api/v1/contacts", headers=bearer(theirs)).json["data"]] == [
        "Their Contact"]
    assert client.get("/api/v1/me", headers=bearer(theirs)).json["username"] == "sam"
