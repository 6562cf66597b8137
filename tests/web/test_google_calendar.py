"""Google Calendar as a connected calendar, end to end against the fake Google OAuth + Calendar API server:
the OAuth redirect flow through the app, busy times, the booking's event, token renewal, revoked access and
disconnecting."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

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
from app.services import bookings as svc
from app.services import calendars, mailer, oauth_connections
from app.services.slots import available_slots
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
    set_expiry,
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
def test_oauth_flow_connects_the_account_with_an_encrypted_token(app, client, host, google):
    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert 'id="connect-google"' in page and "Connect Google Calendar" in page
    url = start(client)
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(google.url + "/o/oauth2/v2/auth?")
    assert query["redirect_uri"] == CALLBACK and query["code_challenge_method"] == "S256"
    assert query["access_type"] == "offline" and "calendar.events" in query["scope"]
    assert query["code_challenge"] not in client.get_cookie("linktime_session").value   # only the verifier's hash

    response = client.get("/settings/integrations/google/callback?" + authorize(url))
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Connected Google Calendar “ada@example.com”" in page and "Google Calendar" in page
    assert 'id="calendar-list"' in page and "Team" in page

    with data(app):
        integration = Integration.get(Integration.provider == "google")
        assert integration.account_email == EMAIL and integration.status == "connected"
        cals = {c.remote_id: c for c in IntegrationCalendar.select()}
        assert cals[EMAIL].is_destination and cals[EMAIL].writable and cals[EMAIL].check_conflicts
        assert not cals["team@group.calendar.google.com"].writable
        assert not cals["team@group.calendar.google.com"].is_destination
        token = stored_token(integration.id)
        assert token.refresh_token and token.expires_at > datetime.now(UTC)
        entry = AuditLog.get(AuditLog.action == "integration.connected")
        assert json.loads(entry.details)["service"] == "google_calendar"
        raw = _database_bytes()
        assert EMAIL.encode() in raw                    # the check does see what was stored
        assert token.access_token.encode() not in raw and token.refresh_token.encode() not in raw
    assert [c.form["grant_type"] for c in google.calls("POST", "/token")] == ["authorization_code"]


def test_google_meet_card_asks_for_google_calendar_then_says_ready(app, client, host, google):
    login(client, host)
    html = client.get("/settings/integrations").get_data(as_text=True)
    assert 'id="integration-google-meet"' in html and "connect Google Calendar above" in html
    assert 'id="status-google-meet">Not connected' in html
    connect_web(client)
    html = client.get("/settings/integrations").get_data(as_text=True)
    assert "Ready: choose “Google Meet”" in html and "connect Google Calendar above" not in html


def test_denied_consent_is_a_clear_message_and_stores_nothing(app, client, host, google):
    login(client, host)
    google.deny = True
    response = connect_web(client)
    assert response.status_code == 302
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "You did not allow LinkTime to use your Google Calendar" in page
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0


def test_wrong_or_missing_state_is_refused_and_stores_nothing(app, client, host, google):
    login(client, host)
    args = dict(parse_qsl(authorize(start(client))))
    response = client.get("/settings/integrations/google/callback",
                          query_string={**args, "state": "forged-" + args["state"]})
    assert response.status_code == 302
    assert "does not belong to a connection attempt" in client.get("/settings/integrations").get_data(as_text=True)
    # the attempt is used up: even the right answer is refused now, as is a callback nobody started
    assert client.get("/settings/integrations/google/callback", query_string=args).status_code == 302
    assert "does not belong" in client.get("/settings/integrations").get_data(as_text=True)
    assert client.get("/settings/integrations/google/callback?code=x&state=y").status_code == 302
    assert client.get("/settings/integrations/google/callback").status_code == 302
    with data(app):
        assert Integration.select().count() == 0
    assert not google.calls("POST", "/token")


def test_without_client_id_there_is_no_button_and_the_route_explains(app_factory, make_user):
    other = app_factory(BASE_URL=BASE, GOOGLE_CLIENT_ID="", GOOGLE_CLIENT_SECRET="")
    client = other.test_client()
    login(client, make_user("hana"))
    assert 'id="connect-google"' not in client.get("/settings/integrations").get_data(as_text=True)
    response = client.get("/settings/integrations/google")
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    assert "Google Calendar is not set up on this server" in client.get("/settings/integrations").get_data(as_text=True)


def test_connect_routes_need_sign_in(client):
    for path in ("/settings/integrations/google", "/settings/integrations/google/callback?code=a&state=b"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- busy times ------------------------------------------------------------------------------------------------
def test_event_in_google_blocks_that_slot(app, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        google.add_event(EMAIL, SLOT, SLOT + timedelta(hours=1))
        google.add_event("team@group.calendar.google.com", SLOT + timedelta(hours=3),
                         SLOT + timedelta(hours=3, minutes=30))
        slots = available_slots(event_type, SLOT - timedelta(hours=1), SLOT + timedelta(hours=6), now=NOW)
        assert SLOT not in slots and SLOT + timedelta(minutes=30) not in slots
        assert SLOT - timedelta(minutes=30) in slots and SLOT + timedelta(hours=1) in slots
        assert SLOT + timedelta(hours=3) not in slots                  # the second (read-only) calendar counts too
        freebusy = google.calls("POST", "/calendar/v3/freeBusy")
        assert freebusy and all(len(c.json["items"]) == 1 for c in freebusy)
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []


def test_unticked_google_calendar_is_not_checked(app, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        primary = IntegrationCalendar.get(IntegrationCalendar.remote_id == EMAIL)
        calendars.save_selection(host, conflict_ids=[], destination_id=primary.id)
        google.add_event(EMAIL, SLOT, SLOT + timedelta(hours=1))
        assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        assert not google.calls("POST", "/calendar/v3/freeBusy")


# --- the booking's event ---------------------------------------------------------------------------------------
def test_booking_creates_the_event_reschedule_moves_it_and_cancel_deletes_it(app, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        event_type.location_type, event_type.location_detail = "custom_link", "https://meet.example.com/hana"
        event_type.slot_interval = 15
        event_type.save()
        integration = connect_service(host)
        booking = svc.create_booking(event_type, request(notes="Bring the plan"), now=NOW).booking
        [event] = google.events[EMAIL].values()
        assert event["start"]["dateTime"] == "2030-01-07T09:00:00Z"
        assert event["end"]["dateTime"] == "2030-01-07T09:30:00Z"
        assert event["attendees"] == [{"email": "ivan@example.com", "displayName": "Ivan Invitee"}]
        assert event["location"] == "https://meet.example.com/hana"
        assert "Ivan Invitee <ivan@example.com>" in event["description"] and "Bring the plan" in event["description"]
        # the host's dashboard page, not the invitee's manage link (whoever sees the calendar could cancel)
        assert f"{BASE}/dashboard/bookings/{booking.id}" in event["description"]
        from app.services.notifications import invitee_links
        assert invitee_links(booking)["view"] not in event["description"]
        assert event["summary"].endswith("with Ivan Invitee")
        assert all(c.args.get("sendUpdates") == "none" for c in google.calls("POST") if "/events" in c.path)
        mapping = BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
        assert mapping.href == event["id"] and mapping.integration_id == integration.id
        assert mapping.calendar_remote_id == EMAIL

        # the booking's own event does not block moving it by 15 minutes (it is busy through the booking)
        refresh_busy(integration.id)
        assert SLOT not in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=15), reason=None, by="host", now=NOW)
        assert moved.start_at == SLOT + timedelta(minutes=15)
        [event2] = google.events[EMAIL].values()
        assert event2["id"] == event["id"] and event2["start"]["dateTime"] == "2030-01-07T09:15:00Z"
        assert google.calls("PATCH")

        svc.cancel_booking(moved, reason="ill", by="invitee")
        assert google.events[EMAIL] == {} and (EMAIL, event["id"]) in google.deleted
        assert BookingCalendarEvent.select().count() == 0
        assert Integration.get_by_id(integration.id).status == "connected"


def test_event_deleted_in_google_is_added_again_on_reschedule(app, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        google.events[EMAIL].clear()
        svc.reschedule_booking(booking, SLOT + timedelta(hours=2), reason=None, by="host", now=NOW)
        [event] = google.events[EMAIL].values()
        assert event["start"]["dateTime"] == "2030-01-07T11:00:00Z"
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]


# --- tokens ----------------------------------------------------------------------------------------------------
def test_token_near_expiry_is_renewed_and_saved_before_use(app, host, google):
    with data(app):
        integration = connect_service(host)
        first = stored_token(integration.id)
        assert oauth_connections.oauth_access_token(integration) == first.access_token     # valid: no renewal
        assert len(google.calls("POST", "/token")) == 1
        old = set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=4))
        refresh_busy(integration.id)
        renewals = [c for c in google.calls("POST", "/token") if c.form["grant_type"] == "refresh_token"]
        assert len(renewals) == 1 and renewals[0].form["refresh_token"] == old.refresh_token
        new = stored_token(integration.id)
        assert new.access_token != old.access_token and new.refresh_token == old.refresh_token
        assert new.expires_at > datetime.now(UTC) + timedelta(minutes=30)
        freebusy = google.calls("POST", "/calendar/v3/freeBusy")
        assert freebusy and all(c.headers["Authorization"] == f"Bearer {new.access_token}" for c in freebusy)
        assert new.access_token.encode() not in _database_bytes()


def test_concurrent_uses_renew_the_token_once(app, host, google):
    with data(app):
        integration = connect_service(host)
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=1))
    google.slow(0.5, path="/token")
    results: list[str] = []

    def use():
        with data(app):
            results.append(oauth_connections.oauth_access_token(integration.id))

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    renewals = [c for c in google.calls("POST", "/token") if c.form["grant_type"] == "refresh_token"]
    assert len(renewals) == 1
    with data(app):
        assert len(results) == 3 and set(results) == {stored_token(integration.id).access_token}


def test_refused_access_token_is_renewed_once_and_the_call_retried(app, host, google):
    with data(app):
        integration = connect_service(host)
        google.expire_access_tokens()            # Google says 401 although the stored expiry is far away
        google.add_event(EMAIL, SLOT, SLOT + timedelta(hours=1))
        refresh_busy(integration.id)
        assert len([c for c in google.calls("POST", "/token") if c.form["grant_type"] == "refresh_token"]) == 1
        cal = IntegrationCalendar.get(IntegrationCalendar.remote_id == EMAIL)
        assert Integration.get_by_id(integration.id).status == "connected"
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []
        assert cal.busy_cache.count() >= 1


def test_revoked_access_disconnects_cleanly_and_tells_the_user(app, client, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        integration = connect_service(host)
        refresh_busy(integration.id)
        google.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=2))
        refresh_busy(integration.id)

        row = Integration.get_by_id(integration.id)
        assert row.status == "revoked" and row.credentials is None and "no longer accepts" in row.last_error
        assert IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert entry.resource_id == integration.id and json.loads(entry.details)["service"] == "google_calendar"
        mails = [mailer.unseal(json.loads(m.payload))
                 for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]
        [mail] = [m for m in mails if "Google Calendar was disconnected" in m["subject"]]
        assert mail["to"] == [host.email] and "/settings/integrations" in mail["text"]

        refresh_busy(integration.id)                 # nothing left to read; no second audit entry or email
        assert AuditLog.select().where(AuditLog.action == "integration.disconnected").count() == 1
        booking = svc.create_booking(event_type, request(), now=NOW).booking     # bookings carry on
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert BookingCalendarEvent.select().count() == 0

    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Access revoked" in page and "no longer accepts" in page and 'id="connect-google"' in page

    connect_web(client)                              # connecting again restores the same connection
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.last_error is None and row.credentials
        assert Integration.select().count() == 1 and IntegrationCalendar.select().count() == 2


def test_revoked_access_found_while_syncing_a_booking_disconnects_too(app, host, google):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        integration = connect_service(host)
        google.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) - timedelta(minutes=1))
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert Integration.get_by_id(integration.id).status == "revoked"
        assert google.events[EMAIL] == {}


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
    from app.services import meetings

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
