"""Google Calendar as a connected calendar, end to end against the fake Google OAuth + Calendar API server: what
only Google does (the Google Meet card and Meet conferences on the booking's event, disconnecting revokes the
grant at Google). What Google and Outlook share is in test_oauth_calendars.py; the constants and helpers here
are used there too."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.models import (
    AuditLog,
    Booking,
    BookingCalendarEvent,
    EventType,
    Integration,
    IntegrationCalendar,
    OutboxMessage,
)
from app.services import mailer
from app.services.booking import bookings as svc
from tests.conftest import login
from tests.fakes.google import GoogleFake
from tests.test_security import _database_bytes
from tests.web import oauth_flow as flow
from tests.web.conftest import data
from tests.web.oauth_flow import (
    BASE,
    NOW,
    SLOT,
    callback,
    refresh_busy,
    request,
    stored_token,
)

CALLBACK = callback("google")
EMAIL = "ada@example.com"                               # the fake account; also its primary calendar id


@pytest.fixture
def google():
    with GoogleFake(email=EMAIL, redirect_uris=(CALLBACK,)) as fake:
        yield fake


def _settings(fake: GoogleFake) -> dict:
    return {"GOOGLE_CLIENT_ID": fake.client_id, "GOOGLE_CLIENT_SECRET": fake.client_secret,
            "GOOGLE_AUTHORIZE_URL": fake.url + "/o/oauth2/v2/auth", "GOOGLE_TOKEN_URL": fake.url + "/token",
            "GOOGLE_REVOKE_URL": fake.url + "/revoke", "GOOGLE_USERINFO_URL": fake.url + "/v1/userinfo",
            "GOOGLE_API_URL": fake.url + "/calendar/v3", "INTEGRATION_HTTP_TIMEOUT": 5}


@pytest.fixture
def app(app_factory, google):
    return app_factory(BASE_URL=BASE, CALENDAR_BUSY_WAIT=10, **_settings(google))


def start(client) -> str:
    return flow.start(client, "google")


def authorize(url: str) -> str:
    return flow.authorize(url, "google")


def connect_web(client):
    return flow.connect_web(client, "google")


def connect_service(host) -> Integration:
    return flow.connect_service("google", host)


# --- connecting ------------------------------------------------------------------------------------------------
def test_google_meet_card_asks_for_google_calendar_then_says_ready(app, client, host, google):
    login(client, host)
    html = client.get("/settings/integrations").get_data(as_text=True)
    assert 'id="integration-google-meet"' in html and "connect Google Calendar above" in html
    assert 'id="status-google-meet">Not connected' in html
    connect_web(client)
    html = client.get("/settings/integrations").get_data(as_text=True)
    assert "Ready: choose “Google Meet”" in html and "connect Google Calendar above" not in html


# --- disconnecting ---------------------------------------------------------------------------------------------
def test_disconnect_deletes_the_credentials_and_revokes_the_token(app, client, host, google):
    login(client, host)
    connect_web(client)
    with data(app):
        integration = Integration.get(Integration.provider == "google")
        refresh_token = stored_token(integration.id).refresh_token
        refresh_busy(integration.id)
    assert google.refresh_token_state(refresh_token) == "active"
    confirm = client.get(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    assert "revokes it at Google" in confirm.get_data(as_text=True)
    response = client.post(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "revoked at Google" in response.get_data(as_text=True)
    assert google.refresh_token_state(refresh_token) == "revoked"
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert entry.resource_id == integration.id
        assert refresh_token.encode() not in _database_bytes()


def test_disconnect_says_so_when_google_could_not_revoke_the_token(app, client, host, google):
    login(client, host)
    connect_web(client)
    with data(app):
        integration = Integration.get(Integration.provider == "google")
    google.fail(503, path="/revoke")
    response = client.post(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Disconnected" in page and "revoked at Google" not in page
    with data(app):
        assert Integration.select().count() == 0


# --- Google Meet -------------------------------------------------------------------------------------------------
def test_google_meet_location_creates_the_event_with_a_meet_link_moves_and_deletes_it(app, client, host, google):
    from app.models import BookingMeeting
    from app.services.integrations import meetings

    login(client, host)
    assert '<option value="google_meet"' not in client.get("/dashboard/event-types/new").get_data(as_text=True)
    with data(app):
        connect_service(host)
        assert meetings.available_locations(host) == {"google_meet"}
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        event_type.location_type, event_type.location_detail = "google_meet", ""
        event_type.save()
        booking = svc.create_booking(event_type, request(), now=NOW).booking

        [event] = google.events[EMAIL].values()          # one event: the Meet is its conference
        [insert] = [c for c in google.calls("POST") if c.path.endswith("/events")]
        assert insert.args["conferenceDataVersion"] == "1" and insert.args["sendUpdates"] == "none"
        create = insert.json["conferenceData"]["createRequest"]
        assert create["conferenceSolutionKey"] == {"type": "hangoutsMeet"} and create["requestId"]
        booking = Booking.get_by_id(booking.id)
        assert booking.meeting_link == event["hangoutLink"] and booking.meeting_link.startswith("https://meet.google.com/")
        assert BookingMeeting.get(BookingMeeting.booking == booking).status == "created"
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]
        mails = [mailer.unseal(json.loads(m.payload))
                 for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]
        confirmations = [m for m in mails if m["subject"].startswith(("Confirmed:", "New booking:"))]
        assert len(confirmations) == 2 and all(booking.meeting_link in m["text"] for m in confirmations)

        moved = svc.reschedule_booking(booking, SLOT + timedelta(hours=1), reason=None, by="host", now=NOW)
        [event2] = google.events[EMAIL].values()
        assert event2["start"]["dateTime"] == "2030-01-07T10:00:00Z" and event2["hangoutLink"] == event["hangoutLink"]
        assert Booking.get_by_id(booking.id).meeting_link == event["hangoutLink"]
        svc.cancel_booking(moved, reason=None, by="invitee")
        assert google.events[EMAIL] == {}
    assert '<option value="google_meet"' in client.get("/dashboard/event-types/new").get_data(as_text=True)


def test_google_meet_goes_ahead_without_a_link_when_google_fails(app, host, google):
    from app.models import BookingMeeting

    with data(app):
        connect_service(host)
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        event_type.location_type, event_type.location_detail = "google_meet", ""
        event_type.save()
        google.fail(503, path=f"/calendar/v3/calendars/{EMAIL}/events")
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        meeting = BookingMeeting.get(BookingMeeting.booking == booking)
        assert meeting.status == "failed" and "try again" in meeting.error
        assert google.events[EMAIL] == {}                 # the retry makes the event (with its Meet) later
        [message] = OutboxMessage.select().where(OutboxMessage.kind == "meeting")
        assert outbox_process(message) == "done"
        [event] = google.events[EMAIL].values()
        assert Booking.get_by_id(booking.id).meeting_link == event["hangoutLink"]


def meet_event_type(host) -> EventType:
    event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    event_type.location_type, event_type.location_detail = "google_meet", ""
    event_type.save()
    return event_type


def test_meet_turned_off_then_on_the_hosts_retry_adds_the_meet_to_the_existing_event(app, client, host, google):
    from app.models import BookingMeeting

    with data(app):
        connect_service(host)
        google.meet_disabled = True
        booking = svc.create_booking(meet_event_type(host), request(), now=NOW).booking
        meeting = BookingMeeting.get(BookingMeeting.booking == booking)
        assert meeting.status == "failed" and "Meet" in meeting.error
        [event] = google.events[EMAIL].values()           # the booking's event, written without a conference
        assert "hangoutLink" not in event and Booking.get_by_id(booking.id).meeting_link is None
        google.meet_disabled = False
    login(client, host)
    response = client.post(f"/dashboard/bookings/{booking.id}/meeting", data={"csrf_token": "x"},
                           follow_redirects=True)
    assert response.status_code == 200
    with data(app):
        [event] = google.events[EMAIL].values()           # still one event: the conference was added to it
        link = Booking.get_by_id(booking.id).meeting_link
        assert link and link == event["hangoutLink"]
        [patch] = [c for c in google.calls("PATCH") if "conferenceData" in (c.json or {})]
        assert patch.args["conferenceDataVersion"] == "1" and patch.args["sendUpdates"] == "none"
        assert BookingMeeting.get(BookingMeeting.booking == booking).status == "created"
        assert link in event["description"] and event["location"] == link   # the event was updated with it
        assert any(link in m["text"] and "link" in m["subject"].lower()
                   for m in (mailer.unseal(json.loads(o.payload)) for o in OutboxMessage.select().where(
                       OutboxMessage.kind == "email")))


def test_meet_event_deleted_in_google_is_made_again_with_a_new_link_on_reschedule(app, host, google):
    with data(app):
        connect_service(host)
        booking = svc.create_booking(meet_event_type(host), request(), now=NOW).booking
        old_link = Booking.get_by_id(booking.id).meeting_link
        assert old_link
        google.events[EMAIL].clear()                      # the host deleted it in Google Calendar
        svc.reschedule_booking(Booking.get_by_id(booking.id), SLOT + timedelta(hours=2), reason=None, by="host",
                               now=NOW)
        [event] = google.events[EMAIL].values()
        new_link = Booking.get_by_id(booking.id).meeting_link
        assert event["start"]["dateTime"] == "2030-01-07T11:00:00Z"
        assert new_link == event["hangoutLink"] and new_link != old_link
        assert new_link in event["description"]
        mails = [mailer.unseal(json.loads(o.payload)) for o in OutboxMessage.select().where(
            OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)]
        assert len([m for m in mails if new_link in m["text"] and "link" in m["subject"].lower()]) == 2


def outbox_process(message) -> str:
    from app.services import outbox

    return outbox.process(message.id, max_attempts=8, retry_delay=60,
                          now=OutboxMessage.get_by_id(message.id).next_attempt_at + timedelta(seconds=1))
