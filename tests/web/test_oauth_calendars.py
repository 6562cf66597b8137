"""Google Calendar and Outlook Calendar as connected calendars: the behaviour both share, end to end against each
provider's fake (OAuth + calendar API) and run once per provider: the OAuth redirect flow through the app, busy
times, the booking's event, token renewal and revoked access. What only one provider does is tested in
test_google_calendar.py (disconnect revokes at Google, Google Meet) and test_outlook_calendar.py (all-day events,
the callbacks kept apart, disconnect without revocation)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.models import (
    AuditLog,
    Booking,
    BookingCalendarEvent,
    Integration,
    IntegrationCalendar,
    OutboxMessage,
)
from app.services import mailer
from app.services.booking import bookings as svc
from app.services.integrations import calendars, oauth_connections
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.conftest import login
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.test_security import _database_bytes
from tests.web import oauth_flow as flow
from tests.web import test_google_calendar as g
from tests.web import test_outlook_calendar as o
from tests.web.conftest import data
from tests.web.oauth_flow import BASE, NOW, SLOT, refresh_busy, request, set_expiry, stored_token


@dataclass(frozen=True)
class Provider:
    """What differs between the two providers in the tests below."""
    name: str                                   # in the routes: /settings/integrations/<name>
    module: object                              # the provider's own test module (fake settings, constants)
    title: str                                  # what the pages call it
    service: str                                # the audit log's name for it
    email: str                                  # the fake account
    primary: str                                # remote id of the writable calendar that receives bookings
    secondary: str                              # remote id of the read-only calendar
    secondary_name: str
    authorize_path: str
    token_path: str
    free: dict                                  # the fields that make an event "free"
    asks_offline_calendar_access: Callable[[list[str], dict], bool]   # (scopes, authorization query)
    revoked_error: str                          # in last_error once the provider refused the grant

    @property
    def google(self) -> bool:
        return self.name == "google"

    def settings(self, fake) -> dict:
        return self.module._settings(fake)

    def events(self, fake) -> list[dict]:
        """The events the fake holds (Google: those of the primary calendar)."""
        return list(fake.events[self.primary].values()) if self.google else list(fake.events.values())

    def clear_events(self, fake) -> None:
        """The host deletes the events in their calendar app."""
        (fake.events[self.primary] if self.google else fake.events).clear()

    def calendar_of(self, event: dict) -> str:
        return self.primary if self.google else event["_calendar"]

    def time(self, event: dict, key: str = "start"):
        """An event's start or end as the provider writes it (compare with ``utc``)."""
        return event[key]["dateTime"] if self.google else event[key]

    def utc(self, local: str):
        """``local`` (ISO without zone, UTC) as the provider's events carry it."""
        return local + "Z" if self.google else {"dateTime": local, "timeZone": "UTC"}

    def attendee(self, name: str, email: str) -> dict:
        if self.google:
            return {"email": email, "displayName": name}
        return {"emailAddress": {"address": email, "name": name}, "type": "required"}

    def location(self, text: str):
        return text if self.google else {"displayName": text}

    def body(self, event: dict) -> str:
        return event["description"] if self.google else event["body"]["content"]

    def title_of(self, event: dict) -> str:
        return event["summary"] if self.google else event["subject"]

    def busy_calls(self, fake) -> list:
        """The requests that read busy times (Google: freeBusy; Graph: one calendarView per calendar)."""
        if self.google:
            return fake.calls("POST", "/calendar/v3/freeBusy")
        return [c for c in fake.calls("GET") if c.path.endswith("/calendarView")]

    def renewals(self, fake) -> list:
        return [c for c in fake.calls("POST", self.token_path) if c.form["grant_type"] == "refresh_token"]


PROVIDERS = {
    "google": Provider(
        "google", g, "Google Calendar", "google_calendar", g.EMAIL, g.EMAIL, "team@group.calendar.google.com",
        "Team", "/o/oauth2/v2/auth", "/token", {"transparency": "transparent"},
        lambda scopes, query: query["access_type"] == "offline" and "calendar.events" in query["scope"],
        "no longer accepts"),
    "microsoft": Provider(
        "microsoft", o, "Outlook Calendar", "outlook_calendar", o.EMAIL, o.DEFAULT, o.HOLIDAYS, "Holidays",
        "/common/oauth2/v2.0/authorize", o.TOKEN_PATH, {"showAs": "free"},
        lambda scopes, query: "offline_access" in scopes and "Calendars.ReadWrite" in scopes,
        "Microsoft no longer accepts"),
}


@pytest.fixture(params=list(PROVIDERS))
def spec(request) -> Provider:
    return PROVIDERS[request.param]


@pytest.fixture
def fake(spec):
    fake_class = GoogleFake if spec.google else MicrosoftFake
    with fake_class(email=spec.email, redirect_uris=(flow.callback(spec.name),)) as server:
        yield server


@pytest.fixture
def app(app_factory, spec, fake):
    return app_factory(BASE_URL=BASE, CALENDAR_BUSY_WAIT=10, **spec.settings(fake))


# --- connecting ------------------------------------------------------------------------------------------------
def test_oauth_flow_connects_the_account_with_an_encrypted_token(app, client, host, spec, fake):
    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f'id="connect-{spec.name}"' in page and f"Connect {spec.title}" in page
    url = flow.start(client, spec.name)
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(fake.url + spec.authorize_path + "?")
    assert query["redirect_uri"] == flow.callback(spec.name) and query["code_challenge_method"] == "S256"
    assert spec.asks_offline_calendar_access(query["scope"].split(), query)
    assert query["code_challenge"] not in client.get_cookie("linktime_session").value   # only the verifier's hash

    response = client.get(f"/settings/integrations/{spec.name}/callback?" + flow.authorize(url, spec.name))
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f"Connected {spec.title} “{spec.email}”" in page and spec.title in page
    assert 'id="calendar-list"' in page and spec.secondary_name in page

    with data(app):
        integration = Integration.get(Integration.provider == spec.name)
        assert integration.account_email == spec.email and integration.status == "connected"
        cals = {c.remote_id: c for c in IntegrationCalendar.select()}
        primary, secondary = cals[spec.primary], cals[spec.secondary]
        assert primary.is_destination and primary.writable and primary.check_conflicts
        assert not secondary.writable and not secondary.is_destination
        token = stored_token(integration.id)
        assert token.refresh_token and token.expires_at > datetime.now(UTC)
        entry = AuditLog.get(AuditLog.action == "integration.connected")
        assert json.loads(entry.details)["service"] == spec.service
        raw = _database_bytes()
        assert spec.email.encode() in raw               # the check does see what was stored
        assert token.access_token.encode() not in raw and token.refresh_token.encode() not in raw
    assert [c.form["grant_type"] for c in fake.calls("POST", spec.token_path)] == ["authorization_code"]


def test_denied_consent_is_a_clear_message_and_stores_nothing(app, client, host, spec, fake):
    login(client, host)
    fake.deny = True
    response = flow.connect_web(client, spec.name)
    assert response.status_code == 302
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f"You did not allow LinkTime to use your {spec.title}" in page
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0


def test_wrong_or_missing_state_is_refused_and_stores_nothing(app, client, host, spec, fake):
    login(client, host)
    callback = f"/settings/integrations/{spec.name}/callback"
    args = dict(parse_qsl(flow.authorize(flow.start(client, spec.name), spec.name)))
    response = client.get(callback, query_string={**args, "state": "forged-" + args["state"]})
    assert response.status_code == 302
    assert "does not belong to a connection attempt" in client.get("/settings/integrations").get_data(as_text=True)
    # the attempt is used up: even the right answer is refused now, as is a callback nobody started
    assert client.get(callback, query_string=args).status_code == 302
    assert "does not belong" in client.get("/settings/integrations").get_data(as_text=True)
    assert client.get(callback + "?code=x&state=y").status_code == 302
    assert client.get(callback).status_code == 302
    with data(app):
        assert Integration.select().count() == 0
    assert not fake.calls("POST", spec.token_path)


def test_without_client_id_there_is_no_button_and_the_route_explains(app_factory, make_user, spec):
    prefix = spec.name.upper()
    other = app_factory(BASE_URL=BASE, **{f"{prefix}_CLIENT_ID": "", f"{prefix}_CLIENT_SECRET": ""})
    client = other.test_client()
    login(client, make_user("hana"))
    assert f'id="connect-{spec.name}"' not in client.get("/settings/integrations").get_data(as_text=True)
    response = client.get(f"/settings/integrations/{spec.name}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    assert f"{spec.title} is not set up on this server" in client.get(
        "/settings/integrations").get_data(as_text=True)


def test_connect_routes_need_sign_in(client, spec):
    for path in (f"/settings/integrations/{spec.name}", f"/settings/integrations/{spec.name}/callback?code=a&state=b"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- busy times ------------------------------------------------------------------------------------------------
def test_event_in_the_calendar_blocks_that_slot(app, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        flow.connect_service(spec.name, host)
        fake.add_event(spec.primary, SLOT, SLOT + timedelta(hours=1))
        fake.add_event(spec.secondary, SLOT + timedelta(hours=3), SLOT + timedelta(hours=3, minutes=30))
        fake.add_event(spec.primary, SLOT + timedelta(hours=4), SLOT + timedelta(hours=5), **spec.free)
        slots = available_slots(event_type, SLOT - timedelta(hours=1), SLOT + timedelta(hours=6), now=NOW)
        assert SLOT not in slots and SLOT + timedelta(minutes=30) not in slots
        assert SLOT - timedelta(minutes=30) in slots and SLOT + timedelta(hours=1) in slots
        assert SLOT + timedelta(hours=3) not in slots                  # the second (read-only) calendar counts too
        assert SLOT + timedelta(hours=4) in slots                      # "free" does not block
        calls = spec.busy_calls(fake)
        if spec.google:                                                # one freeBusy query per calendar
            assert calls and all(len(c.json["items"]) == 1 for c in calls)
        else:                                                          # one calendarView per calendar
            assert {c.path for c in calls} == {f"/v1.0/me/calendars/{spec.primary}/calendarView",
                                               f"/v1.0/me/calendars/{spec.secondary}/calendarView"}
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []


def test_unticked_calendar_is_not_checked(app, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        flow.connect_service(spec.name, host)
        primary = IntegrationCalendar.get(IntegrationCalendar.remote_id == spec.primary)
        calendars.save_selection(host, conflict_ids=[], destination_id=primary.id)
        fake.add_event(spec.primary, SLOT, SLOT + timedelta(hours=1))
        assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        assert not spec.busy_calls(fake)


# --- the booking's event ---------------------------------------------------------------------------------------
def test_booking_creates_the_event_reschedule_moves_it_and_cancel_deletes_it(app, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        event_type.location_type, event_type.location_detail = "custom_link", "https://meet.example.com/hana"
        event_type.slot_interval = 15
        event_type.save()
        integration = flow.connect_service(spec.name, host)
        booking = svc.create_booking(event_type, request(notes="Bring the plan"), now=NOW).booking
        [event] = spec.events(fake)
        assert spec.calendar_of(event) == spec.primary
        assert spec.time(event, "start") == spec.utc("2030-01-07T09:00:00")
        assert spec.time(event, "end") == spec.utc("2030-01-07T09:30:00")
        assert event["attendees"] == [spec.attendee("Ivan Invitee", "ivan@example.com")]
        assert event["location"] == spec.location("https://meet.example.com/hana")
        assert "Ivan Invitee <ivan@example.com>" in spec.body(event) and "Bring the plan" in spec.body(event)
        assert spec.title_of(event).endswith("with Ivan Invitee")
        if spec.google:
            # the host's dashboard page, not the invitee's manage link (whoever sees the calendar could cancel)
            assert f"{BASE}/dashboard/bookings/{booking.id}" in event["description"]
            from app.services.booking.notifications import invitee_links
            assert invitee_links(booking)["view"] not in event["description"]
            assert all(c.args.get("sendUpdates") == "none" for c in fake.calls("POST") if "/events" in c.path)
        else:
            assert event["transactionId"] == booking.id and not event["isOnlineMeeting"]     # no Teams meeting
        mapping = BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
        assert mapping.href == event["id"] and mapping.integration_id == integration.id
        assert mapping.calendar_remote_id == spec.primary

        # the booking's own event does not block moving it by 15 minutes (it is busy through the booking)
        refresh_busy(integration.id)
        assert SLOT not in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
        moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=15), reason=None, by="host", now=NOW)
        assert moved.start_at == SLOT + timedelta(minutes=15)
        [event2] = spec.events(fake)
        assert event2["id"] == event["id"] and spec.time(event2) == spec.utc("2030-01-07T09:15:00")
        assert fake.calls("PATCH")

        svc.cancel_booking(moved, reason="ill", by="invitee")
        assert spec.events(fake) == []
        if spec.google:
            assert (spec.primary, event["id"]) in fake.deleted
        else:
            assert fake.events == {}
            assert [c.path for c in fake.calls("DELETE")] == [f"/v1.0/me/events/{event['id']}"]
        assert BookingCalendarEvent.select().count() == 0
        assert Integration.get_by_id(integration.id).status == "connected"


def test_event_deleted_in_the_calendar_is_added_again_on_reschedule(app, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        flow.connect_service(spec.name, host)
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        spec.clear_events(fake)
        svc.reschedule_booking(booking, SLOT + timedelta(hours=2), reason=None, by="host", now=NOW)
        [event] = spec.events(fake)
        assert spec.time(event) == spec.utc("2030-01-07T11:00:00") and spec.calendar_of(event) == spec.primary
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]


# --- tokens ----------------------------------------------------------------------------------------------------
def test_token_near_expiry_is_renewed_and_saved_before_use(app, host, spec, fake):
    with data(app):
        integration = flow.connect_service(spec.name, host)
        first = stored_token(integration.id)
        assert oauth_connections.oauth_access_token(integration) == first.access_token     # valid: no renewal
        assert len(fake.calls("POST", spec.token_path)) == 1
        old = set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=4))
        refresh_busy(integration.id)
        [renewal] = spec.renewals(fake)
        assert renewal.form["refresh_token"] == old.refresh_token
        new = stored_token(integration.id)
        assert new.access_token != old.access_token and new.refresh_token
        if spec.google:                                  # Google keeps the refresh token
            assert new.refresh_token == old.refresh_token
        else:                                            # Microsoft wants the scopes again and sends a new one
            assert "offline_access" in renewal.form["scope"]
        assert new.expires_at > datetime.now(UTC) + timedelta(minutes=30)
        calls = spec.busy_calls(fake)
        assert calls and all(c.headers["Authorization"] == f"Bearer {new.access_token}" for c in calls)
        raw = _database_bytes()
        assert new.access_token.encode() not in raw and new.refresh_token.encode() not in raw


def test_token_with_more_than_five_minutes_left_is_not_renewed(app, host, spec, fake):
    with data(app):
        integration = flow.connect_service(spec.name, host)
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=6))
        refresh_busy(integration.id)
        assert spec.renewals(fake) == []


def test_concurrent_uses_renew_the_token_once(app, host, spec, fake):
    with data(app):
        integration = flow.connect_service(spec.name, host)
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=1))
    fake.slow(0.5, path=spec.token_path)
    results: list[str] = []

    def use():
        with data(app):
            results.append(oauth_connections.oauth_access_token(integration.id))

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(spec.renewals(fake)) == 1
    with data(app):
        assert len(results) == 3 and set(results) == {stored_token(integration.id).access_token}


def test_refused_access_token_is_renewed_once_and_the_call_retried(app, host, spec, fake):
    with data(app):
        integration = flow.connect_service(spec.name, host)
        fake.expire_access_tokens()              # the provider says 401 although the stored expiry is far away
        fake.add_event(spec.primary, SLOT, SLOT + timedelta(hours=1))
        refresh_busy(integration.id)
        assert len(spec.renewals(fake)) == 1
        cal = IntegrationCalendar.get(IntegrationCalendar.remote_id == spec.primary)
        assert Integration.get_by_id(integration.id).status == "connected"
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=1)) == []
        assert cal.busy_cache.count() >= 1


def test_revoked_access_disconnects_cleanly_and_tells_the_user(app, client, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        integration = flow.connect_service(spec.name, host)
        refresh_busy(integration.id)
        fake.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) + timedelta(minutes=2))
        refresh_busy(integration.id)

        row = Integration.get_by_id(integration.id)
        assert row.status == "revoked" and row.credentials is None and spec.revoked_error in row.last_error
        assert IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert entry.resource_id == integration.id and json.loads(entry.details)["service"] == spec.service
        mails = [mailer.unseal(json.loads(m.payload))
                 for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]
        [mail] = [m for m in mails if f"{spec.title} was disconnected" in m["subject"]]
        assert mail["to"] == [host.email] and "/settings/integrations" in mail["text"] and spec.email in mail["text"]

        refresh_busy(integration.id)                 # nothing left to read; no second audit entry or email
        assert AuditLog.select().where(AuditLog.action == "integration.disconnected").count() == 1
        booking = svc.create_booking(event_type, request(), now=NOW).booking     # bookings carry on
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert BookingCalendarEvent.select().count() == 0

    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Access revoked" in page and "no longer accepts" in page and f'id="connect-{spec.name}"' in page

    flow.connect_web(client, spec.name)              # connecting again restores the same connection
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.last_error is None and row.credentials
        assert Integration.select().count() == 1 and IntegrationCalendar.select().count() == 2


def test_revoked_access_found_while_syncing_a_booking_disconnects_too(app, host, spec, fake):
    with data(app):
        event_type = factories.event_type(host)
        integration = flow.connect_service(spec.name, host)
        fake.revoke_grants()
        set_expiry(integration.id, datetime.now(UTC) - timedelta(minutes=1))
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert Integration.get_by_id(integration.id).status == "revoked"
        assert spec.events(fake) == []
