"""Outlook Calendar (Microsoft 365 / Outlook.com) as a connected calendar, end to end against the fake Microsoft
identity platform + Graph server: the OAuth redirect flow through the app, busy times, the booking's event,
token renewal, revoked access and disconnecting."""
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
from app.services.calendar_providers import CALENDAR_PROVIDERS
from app.services.calendar_providers.base import host_tz
from app.services.slots import available_slots
from tests.conftest import login
from tests.fakes.microsoft import MicrosoftFake
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

CALLBACK = callback("microsoft")
EMAIL = "grace@contoso.com"                             # the fake account
DEFAULT, HOLIDAYS = "AAMkCal1", "AAMkCal2"              # the fake's default (writable) and read-only calendars
TOKEN_PATH = "/common/oauth2/v2.0/token"


@pytest.fixture
def microsoft():
    with MicrosoftFake(email=EMAIL, redirect_uris=(CALLBACK,)) as fake:
        yield fake


def _settings(fake: MicrosoftFake) -> dict:
    return {"MICROSOFT_CLIENT_ID": fake.client_id, "MICROSOFT_CLIENT_SECRET": fake.client_secret,
            "MICROSOFT_AUTHORIZE_URL": fake.url + fake.authorize_path, "MICROSOFT_TOKEN_URL": fake.url + TOKEN_PATH,
            "MICROSOFT_API_URL": fake.url + "/v1.0", "INTEGRATION_HTTP_TIMEOUT": 5}


@pytest.fixture
def app(app_factory, microsoft):
    return app_factory(BASE_URL=BASE, CALENDAR_BUSY_WAIT=10, **_settings(microsoft))


def start(client) -> str:
    return flow.start(client, "microsoft")


def authorize(url: str) -> str:
    return flow.authorize(url, "microsoft")


def connect_web(client):
    return flow.connect_web(client, "microsoft")


def connect_service(host) -> Integration:
    return flow.connect_service("microsoft", host)


def renewals(fake: MicrosoftFake) -> list:
    return [c for c in fake.calls("POST", TOKEN_PATH) if c.form["grant_type"] == "refresh_token"]


def view_calls(fake: MicrosoftFake) -> list:
    return [c for c in fake.calls("GET") if c.path.endswith("/calendarView")]




# --- connecting ------------------------------------------------------------------------------------------------
def test_oauth_flow_connects_the_account_with_an_encrypted_token(app, client, host, microsoft):
    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert 'id="connect-microsoft"' in page and "Connect Outlook Calendar" in page
    url = start(client)
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(microsoft.url + "/common/oauth2/v2.0/authorize?")
    assert query["redirect_uri"] == CALLBACK and query["code_challenge_method"] == "S256"
    assert "offline_access" in query["scope"].split() and "Calendars.ReadWrite" in query["scope"].split()
    assert query["code_challenge"] not in client.get_cookie("linktime_session").value   # only the verifier's hash

    response = client.get("/settings/integrations/microsoft/callback?" + authorize(url))
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f"Connected Outlook Calendar “{EMAIL}”" in page
    assert 'id="calendar-list"' in page and "Holidays" in page

    with data(app):
        integration = Integration.get(Integration.provider == "microsoft")
        assert integration.account_email == EMAIL and integration.status == "connected"
        cals = {c.remote_id: c for c in IntegrationCalendar.select()}
        assert cals[DEFAULT].is_destination and cals[DEFAULT].writable and cals[DEFAULT].check_conflicts
        assert not cals[HOLIDAYS].writable and not cals[HOLIDAYS].is_destination
        token = stored_token(integration.id)
        assert token.refresh_token and token.expires_at > datetime.now(UTC)
        entry = AuditLog.get(AuditLog.action == "integration.connected")
        assert json.loads(entry.details)["service"] == "outlook_calendar"
        raw = _database_bytes()
        assert EMAIL.encode() in raw                    # the check does see what was stored
        assert token.access_token.encode() not in raw and token.refresh_token.encode() not in raw
    assert [c.form["grant_type"] for c in microsoft.calls("POST", TOKEN_PATH)] == ["authorization_code"]


def test_denied_consent_is_a_clear_message_and_stores_nothing(app, client, host, microsoft):
    login(client, host)
    microsoft.deny = True
    response = connect_web(client)
    assert response.status_code == 302
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "You did not allow LinkTime to use your Outlook Calendar" in page
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0


def test_wrong_or_missing_state_is_refused_and_stores_nothing(app, client, host, microsoft):
    login(client, host)
    args = dict(parse_qsl(authorize(start(client))))
    response = client.get("/settings/integrations/microsoft/callback",
                          query_string={**args, "state": "forged-" + args["state"]})
    assert response.status_code == 302
    assert "does not belong to a connection attempt" in client.get("/settings/integrations").get_data(as_text=True)
    assert client.get("/settings/integrations/microsoft/callback", query_string=args).status_code == 302
    assert "does not belong" in client.get("/settings/integrations").get_data(as_text=True)
    assert client.get("/settings/integrations/microsoft/callback").status_code == 302
    with data(app):
        assert Integration.select().count() == 0
    assert not microsoft.calls("POST", TOKEN_PATH)


def test_google_flow_state_does_not_finish_a_microsoft_callback(app, client, host, microsoft):
    login(client, host)
    args = dict(parse_qsl(authorize(start(client))))
    client.get("/settings/integrations/google/callback", query_string=args)      # the other provider's callback
    assert client.get("/settings/integrations/microsoft/callback", query_string=args).status_code == 302
    with data(app):
        assert Integration.get(Integration.provider == "microsoft").account_email == EMAIL


def test_without_client_id_there_is_no_button_and_the_route_explains(app_factory, make_user):
    other = app_factory(BASE_URL=BASE, MICROSOFT_CLIENT_ID="", MICROSOFT_CLIENT_SECRET="")
    client = other.test_client()
    login(client, make_user("hana"))
    assert 'id="connect-microsoft"' not in client.get("/settings/integrations").get_data(as_text=True)
    response = client.get("/settings/integrations/microsoft")
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    assert "Outlook Calendar is not set up on this server" in client.get(
        "/settings/integrations").get_data(as_text=True)


def test_connect_routes_need_sign_in(client):
    for path in ("/settings/integrations/microsoft", "/settings/integrations/microsoft/callback?code=a&state=b"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- busy times ------------------------------------------------------------------------------------------------
def test_event_in_outlook_blocks_that_slot(app, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        microsoft.add_event(DEFAULT, SLOT, SLOT + timedelta(hours=1))
        microsoft.add_event(HOLIDAYS, SLOT + timedelta(hours=3), SLOT + timedelta(hours=3, minutes=30))
        microsoft.add_event(DEFAULT, SLOT + timedelta(hours=4), SLOT + timedelta(hours=5), showAs="free")
        slots = available_slots(event_type, SLOT - timedelta(hours=1), SLOT + timedelta(hours=6), now=NOW)
        assert SLOT not in slots and SLOT + timedelta(minutes=30) not in slots
        assert SLOT - timedelta(minutes=30) in slots and SLOT + timedelta(hours=1) in slots
        assert SLOT + timedelta(hours=3) not in slots                  # the second (read-only) calendar counts too
        assert SLOT + timedelta(hours=4) in slots                      # "free" does not block
        assert {c.path for c in view_calls(microsoft)} == {f"/v1.0/me/calendars/{DEFAULT}/calendarView",
                                                           f"/v1.0/me/calendars/{HOLIDAYS}/calendarView"}
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []


def test_all_day_event_blocks_the_day_in_the_hosts_time_zone(app, host, microsoft):
    with data(app):
        integration = connect_service(host)
        day = datetime(2030, 1, 8, tzinfo=UTC)
        microsoft.add_event(DEFAULT, day, day + timedelta(days=1), isAllDay=True)
        cal = IntegrationCalendar.get(IntegrationCalendar.remote_id == DEFAULT)
        busy = CALENDAR_PROVIDERS["microsoft"].read_busy(integration, [cal], SLOT, SLOT + timedelta(days=3),
                                                         host_tz(host.id)).intervals
        berlin_midnight = day - timedelta(hours=1)                      # 00:00 in Berlin (UTC+1 in January)
        berlin_next_midnight = berlin_midnight + timedelta(days=1)
        assert busy[cal.id] == [(int(berlin_midnight.timestamp()), int(berlin_next_midnight.timestamp()))]


def test_unticked_outlook_calendar_is_not_checked(app, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        primary = IntegrationCalendar.get(IntegrationCalendar.remote_id == DEFAULT)
        calendars.save_selection(host, conflict_ids=[], destination_id=primary.id)
        microsoft.add_event(DEFAULT, SLOT, SLOT + timedelta(hours=1))
        assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        assert not view_calls(microsoft)


# --- the booking's event ---------------------------------------------------------------------------------------
def test_booking_creates_the_event_reschedule_moves_it_and_cancel_deletes_it(app, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        event_type.location_type, event_type.location_detail = "custom_link", "https://meet.example.com/hana"
        event_type.slot_interval = 15
        event_type.save()
        integration = connect_service(host)
        booking = svc.create_booking(event_type, request(notes="Bring the plan"), now=NOW).booking
        [event] = microsoft.events.values()
        assert event["_calendar"] == DEFAULT
        assert event["start"] == {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"}
        assert event["end"] == {"dateTime": "2030-01-07T09:30:00", "timeZone": "UTC"}
        assert event["attendees"] == [{"emailAddress": {"address": "ivan@example.com", "name": "Ivan Invitee"},
                                       "type": "required"}]
        assert event["location"] == {"displayName": "https://meet.example.com/hana"}
        assert "Ivan Invitee <ivan@example.com>" in event["body"]["content"]
        assert "Bring the plan" in event["body"]["content"]
        assert event["subject"].endswith("with Ivan Invitee")
        assert event["transactionId"] == booking.id and not event["isOnlineMeeting"]     # no Teams meeting
        mapping = BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
        assert mapping.href == event["id"] and mapping.integration_id == integration.id
        assert mapping.calendar_remote_id == DEFAULT

        # the booking's own event does not block moving it by 15 minutes (it is busy through the booking)
        refresh_busy(integration.id)
        assert SLOT not in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=15), reason=None, by="host", now=NOW)
        assert moved.start_at == SLOT + timedelta(minutes=15)
        [event2] = microsoft.events.values()
        assert event2["id"] == event["id"] and event2["start"]["dateTime"] == "2030-01-07T09:15:00"
        assert microsoft.calls("PATCH")

        svc.cancel_booking(moved, reason="ill", by="invitee")
        assert microsoft.events == {}
        assert [c.path for c in microsoft.calls("DELETE")] == [f"/v1.0/me/events/{event['id']}"]
        assert BookingCalendarEvent.select().count() == 0
        assert Integration.get_by_id(integration.id).status == "connected"


def test_event_deleted_in_outlook_is_added_again_on_reschedule(app, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        connect_service(host)
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        microsoft.events.clear()
        svc.reschedule_booking(booking, SLOT + timedelta(hours=2), reason=None, by="host", now=NOW)
        [event] = microsoft.events.values()
        assert event["start"]["dateTime"] == "2030-01-07T11:00:00" and event["_calendar"] == DEFAULT
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]


# --- tokens ----------------------------------------------------------------------------------------------------
def test_token_near_expiry_is_renewed_and_saved_before_use(app, host, microsoft):
    with data(app):
        integration = connect_service(host)
        first = stored_token(integration.id)
        assert oauth_connections.oauth_access_token(integration) == first.access_token     # valid: no renewal
        assert len(microsoft.calls("POST", TOKEN_PATH)) == 1
        old = set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=4))
        refresh_busy(integration.id)
        [renewal] = renewals(microsoft)
        assert renewal.form["refresh_token"] == old.refresh_token and "offline_access" in renewal.form["scope"]
        new = stored_token(integration.id)
        assert new.access_token != old.access_token and new.refresh_token
        assert new.expires_at > datetime.now(UTC) + timedelta(minutes=30)
        views = view_calls(microsoft)
        assert views and all(c.headers["Authorization"] == f"Bearer {new.access_token}" for c in views)
        raw = _database_bytes()
        assert new.access_token.encode() not in raw and new.refresh_token.encode() not in raw


def test_token_with_more_than_five_minutes_left_is_not_renewed(app, host, microsoft):
    with data(app):
        integration = connect_service(host)
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=6))
        refresh_busy(integration.id)
        assert renewals(microsoft) == []


def test_concurrent_uses_renew_the_token_once(app, host, microsoft):
    with data(app):
        integration = connect_service(host)
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=1))
    microsoft.slow(0.5, path=TOKEN_PATH)
    results: list[str] = []

    def use():
        with data(app):
            results.append(oauth_connections.oauth_access_token(integration.id))

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(renewals(microsoft)) == 1
    with data(app):
        assert len(results) == 3 and set(results) == {stored_token(integration.id).access_token}


def test_refused_access_token_is_renewed_once_and_the_call_retried(app, host, microsoft):
    with data(app):
        integration = connect_service(host)
        microsoft.expire_access_tokens()         # Graph says 401 although the stored expiry is far away
        microsoft.add_event(DEFAULT, SLOT, SLOT + timedelta(hours=1))
        refresh_busy(integration.id)
        assert len(renewals(microsoft)) == 1
        cal = IntegrationCalendar.get(IntegrationCalendar.remote_id == DEFAULT)
        assert Integration.get_by_id(integration.id).status == "connected"
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []
        assert cal.busy_cache.count() >= 1


def test_revoked_access_disconnects_cleanly_and_tells_the_user(app, client, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        integration = connect_service(host)
        refresh_busy(integration.id)
        microsoft.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=2))
        refresh_busy(integration.id)

        row = Integration.get_by_id(integration.id)
        assert row.status == "revoked" and row.credentials is None and "Microsoft no longer accepts" in row.last_error
        assert IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert entry.resource_id == integration.id and json.loads(entry.details)["service"] == "outlook_calendar"
        mails = [mailer.unseal(json.loads(m.payload))
                 for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]
        [mail] = [m for m in mails if "Outlook Calendar was disconnected" in m["subject"]]
        assert mail["to"] == [host.email] and "/settings/integrations" in mail["text"] and EMAIL in mail["text"]

        refresh_busy(integration.id)                 # nothing left to read; no second audit entry or email
        assert AuditLog.select().where(AuditLog.action == "integration.disconnected").count() == 1
        booking = svc.create_booking(event_type, request(), now=NOW).booking     # bookings carry on
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert BookingCalendarEvent.select().count() == 0

    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Access revoked" in page and "no longer accepts" in page and 'id="connect-microsoft"' in page

    connect_web(client)                              # connecting again restores the same connection
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.last_error is None and row.credentials
        assert Integration.select().count() == 1 and IntegrationCalendar.select().count() == 2


def test_revoked_access_found_while_syncing_a_booking_disconnects_too(app, host, microsoft):
    with data(app):
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        integration = connect_service(host)
        microsoft.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) - timedelta(minutes=1))
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert Integration.get_by_id(integration.id).status == "revoked"
        assert microsoft.events == {}


# --- disconnecting ---------------------------------------------------------------------------------------------
def test_disconnect_deletes_the_credentials(app, client, host, microsoft):
    login(client, host)
    connect_web(client)
    with data(app):
        integration = Integration.get(Integration.provider == "microsoft")
        refresh_token = stored_token(integration.id).refresh_token
        refresh_busy(integration.id)
    confirm = client.get(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    text = confirm.get_data(as_text=True)
    assert "deletes the stored access at once" in text and "Google" not in text
    response = client.post(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Its stored access was deleted" in response.get_data(as_text=True)
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert entry.resource_id == integration.id and json.loads(entry.details)["service"] == "outlook_calendar"
        assert refresh_token.encode() not in _database_bytes()
