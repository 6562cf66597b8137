"""POST /api/bookings: the public booking endpoint (spec page 23)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, Contact, EventType, OutboxMessage, User
from app.services.booking import bookings as booking_service
from app.services.scheduling import event_types as et_service

BERLIN = ZoneInfo("Europe/Berlin")


def next_week(weekday: int = 1, hour: int = 10) -> datetime:
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour), BERLIN).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host")


@pytest.fixture
def body(event_type):
    return {"eventTypeId": event_type.id, "inviteeName": "Jane Invitee", "inviteeEmail": "jane@example.com",
            "inviteeTimezone": "America/New_York", "startTime": iso(next_week())}


def post(client, payload, **headers):
    return client.post("/api/bookings", json=payload, headers=headers)


def nothing_stored():
    return Booking.select().count() == 0 and Contact.select().count() == 0


def test_booking_is_created_with_201_and_the_booking(client, body):
    response = post(client, {**body, "notes": "Hello"})
    assert response.status_code == 201
    data = response.get_json()
    booking = Booking.get()
    assert data["bookingId"] == booking.id
    assert data["booking"]["startTime"] == body["startTime"]
    assert data["booking"]["endTime"] == iso(next_week() + timedelta(minutes=30))
    assert data["booking"]["status"] == "CONFIRMED"
    assert data["booking"]["invitee"] == {"name": "Jane Invitee", "email": "jane@example.com",
                                          "timezone": "America/New_York"}
    assert data["booking"]["eventType"]["slug"] == "30-min"
    assert (booking.notes, booking.source, booking.invitee_timezone) == ("Hello", "public-api", "America/New_York")
    assert OutboxMessage.select().where(OutboxMessage.kind == "event").count() >= 1


def test_response_does_not_expose_what_only_the_host_sees(client, body):
    data = post(client, {**body, "notes": "private"}).get_json()["booking"]
    assert "notes" not in data and "meetingLink" not in data and "email" not in data["host"]


def test_start_time_with_an_offset_is_accepted(client, body):
    start = next_week().astimezone(BERLIN).isoformat()
    response = post(client, {**body, "startTime": start})
    assert response.status_code == 201 and Booking.get().start_at == next_week()


def test_optional_fields_phone_answers_duration_occurrences(client, event_type, body):
    et_service.update_event_type(event_type, et_service.EventTypeInput(
        location_type="phone_host_calls", extra_durations=[60],
        recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 3},
        questions=[{"label": "Company", "type": "text", "required": True}]))
    response = post(client, {**body, "phone": "+49 30 1234567", "answers": {"company": "Acme"}, "duration": 60,
                             "occurrences": 2})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert len(data["bookings"]) == 2 and data["booking"]["isRecurring"]
    first = Booking.get(Booking.id == data["bookingId"])
    assert first.end_at - first.start_at == timedelta(minutes=60)
    assert (first.invitee_phone, first.answers) == ("+49 30 1234567", {"company": "Acme"})


@pytest.mark.parametrize("change,field", [
    ({"eventTypeId": None}, "eventTypeId"),
    ({"eventTypeId": 42}, "eventTypeId"),
    ({"inviteeName": ""}, "inviteeName"),
    ({"inviteeName": None}, "inviteeName"),
    ({"inviteeName": "x" * 201}, "inviteeName"),
    ({"inviteeName": ["Jane"]}, "inviteeName"),
    ({"inviteeEmail": "not-an-email"}, "inviteeEmail"),
    ({"inviteeEmail": None}, "inviteeEmail"),
    ({"inviteeTimezone": "Mars/Olympus"}, "inviteeTimezone"),
    ({"inviteeTimezone": None}, "inviteeTimezone"),
    ({"startTime": "tomorrow at ten"}, "startTime"),
    ({"startTime": "2030-01-01T10:00:00"}, "startTime"),      # no zone: ambiguous
    ({"startTime": None}, "startTime"),
    ({"startTime": 1767261600}, "startTime"),
    ({"notes": "x" * 5001}, "notes"),
    ({"notes": 5}, "notes"),
    ({"phone": "call me maybe"}, "phone"),
    ({"duration": 45}, "duration"),
    ({"duration": "30"}, "duration"),
    ({"duration": True}, "duration"),
    ({"occurrences": 3}, "occurrences"),
    ({"occurrences": 1.5}, "occurrences"),
    ({"answers": ["a"]}, "answers"),
])
def test_every_invalid_field_is_400_with_details_and_nothing_stored(client, body, change, field):
    response = post(client, {**body, **change})
    assert response.status_code == 400
    data = response.get_json()
    assert data["error"] == "Invalid request data" and field in data["details"], data
    assert isinstance(data["details"][field], str) and data["details"][field]
    assert nothing_stored()


def test_invalid_answer_is_reported_under_its_question(client, event_type, body):
    et_service.update_event_type(event_type, et_service.EventTypeInput(
        questions=[{"label": "Size", "type": "select", "options": ["1-10", "11-50"], "required": True}]))
    response = post(client, {**body, "answers": {"size": "huge"}})
    assert response.status_code == 400 and "answers.size" in response.get_json()["details"]
    assert nothing_stored()


def test_all_invalid_fields_are_reported_together(client, body):
    response = post(client, {**body, "inviteeName": "", "inviteeEmail": "x", "inviteeTimezone": "Nope/Nope"})
    assert set(response.get_json()["details"]) == {"inviteeName", "inviteeEmail", "inviteeTimezone"}
    response = post(client, {**body, "inviteeName": 7, "inviteeEmail": "x", "duration": "30"})
    assert set(response.get_json()["details"]) == {"inviteeName", "inviteeEmail", "duration"}
    assert nothing_stored()


def test_unknown_event_type_with_invalid_fields_is_400(client, body):
    response = post(client, {**body, "eventTypeId": "nope", "inviteeName": 7})
    assert response.status_code == 400 and set(response.get_json()["details"]) == {"inviteeName"}


@pytest.mark.parametrize("raw,content_type", [
    (b"{not json", "application/json"),
    (b'["a list"]', "application/json"),
    (b"eventTypeId=1", "application/x-www-form-urlencoded"),
    (b"", "application/json"),
])
def test_malformed_body_is_400(client, body, raw, content_type):
    response = client.post("/api/bookings", data=raw, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request data" and response.get_json()["details"]
    assert nothing_stored()


def test_unknown_draft_or_disabled_event_type_is_404(client, event_type, body):
    assert post(client, {**body, "eventTypeId": "nope"}).status_code == 404
    et_service.update_event_type(event_type, et_service.EventTypeInput(status="draft"))
    response = post(client, body)
    assert response.status_code == 404 and response.get_json() == {"error": "Event type not found"}
    et_service.update_event_type(event_type, et_service.EventTypeInput(status="active"))
    User.update(is_disabled=True).where(User.id == event_type.user_id).execute()
    assert post(client, body).status_code == 404
    assert nothing_stored()


def test_secret_event_type_is_bookable(client, event_type, body):
    et_service.update_event_type(event_type, et_service.EventTypeInput(is_secret=True))
    assert post(client, body).status_code == 201


def test_taken_time_is_409_with_an_error(client, body):
    assert post(client, body).status_code == 201
    response = post(client, {**body, "inviteeEmail": "other@example.com"})
    assert response.status_code == 409 and "no longer available" in response.get_json()["error"]
    assert Booking.select().count() == 1


def test_time_outside_working_hours_is_409(client, body):
    response = post(client, {**body, "startTime": iso(next_week(6))})   # Sunday
    assert response.status_code == 409


def test_idempotency_key_returns_the_first_booking_with_200(client, body):
    first = post(client, body, **{"Idempotency-Key": "order-1"})
    again = post(client, body, **{"Idempotency-Key": "order-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["bookingId"] == again.get_json()["bookingId"]
    assert first.get_json()["booking"] == again.get_json()["booking"]
    # stored scoped to the sender (see tests/api/test_api_hardening.py), not as sent
    from app.api.public import scoped_key
    assert Booking.get().idempotency_key == scoped_key("order-1", "127.0.0.1")
    assert Booking.select().count() == 1


def test_identical_request_without_key_returns_the_same_booking_with_200(client, body):
    first = post(client, body)
    again = post(client, {**body, "inviteeEmail": "JANE@example.com"})
    assert again.status_code == 200 and again.get_json()["bookingId"] == first.get_json()["bookingId"]


def test_different_keys_for_the_same_time_do_not_double_book(client, body):
    post(client, body, **{"Idempotency-Key": "a"})
    response = post(client, {**body, "inviteeEmail": "b@example.com"}, **{"Idempotency-Key": "b"})
    assert response.status_code == 409


def test_overlong_idempotency_key_is_400(client, body):
    response = post(client, body, **{"Idempotency-Key": "k" * 201})
    assert response.status_code == 400 and "Idempotency-Key" in response.get_json()["details"]


def test_rate_limit_is_10_per_minute_per_ip_with_retry_after(client, body):
    for n in range(10):
        response = post(client, {**body, "inviteeName": ""})
        assert response.status_code == 400, n
    limited = post(client, body)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1 and "error" in limited.get_json()
    assert nothing_stored()
    elsewhere = client.post("/api/bookings", json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert elsewhere.status_code == 201


def test_endpoint_needs_no_csrf_token_or_session(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        host = make_user("hana")
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    response = app.test_client().post("/api/bookings", json={
        "eventTypeId": event_type.id, "inviteeName": "Jane", "inviteeEmail": "jane@example.com",
        "inviteeTimezone": "UTC", "startTime": iso(next_week())})
    assert response.status_code == 201


def test_other_methods_answer_a_json_error(client):
    response = client.get("/api/bookings")
    assert response.status_code in (404, 405) and "error" in response.get_json()
    assert client.put("/api/bookings", json={}).status_code == 405


def test_booking_made_through_the_api_blocks_the_page_slot(client, body, event_type):
    post(client, body)
    with pytest.raises(booking_service.SlotUnavailable):
        booking_service.create_booking(event_type, booking_service.BookingRequest(
            start=next_week(), invitee_name="X", invitee_email="x@example.com", invitee_timezone="UTC"))


def test_null_duration_and_occurrences_mean_the_defaults(client, body):
    response = post(client, {**body, "duration": None, "occurrences": None})
    assert response.status_code == 201, response.get_json()
