"""OAuth connections when things go wrong around them: a slow token endpoint while others write, a disconnect or
reconnect during a renewal, a refused renewal that arrives after a reconnect, stored credentials that cannot be
decrypted any more, malformed answers at the callback, and the "access revoked" email per kind of service.
Driven against the local Google and Zoom fakes."""
from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import request as fake_request

from app.integrations.errors import GrantRevoked, PermanentError
from app.integrations.oauth import TokenSet
from app.models import (
    AuditLog,
    Booking,
    EventType,
    Integration,
    IntegrationCalendar,
    OutboxMessage,
)
from app.security import Encryptor
from app.services import mailer
from app.services.booking import bookings as svc
from app.services.integrations import calendars, connections, oauth_connections
from tests.conftest import login
from tests.fakes.google import GoogleFake
from tests.fakes.zoom import ZoomFake
from tests.web import oauth_flow as flow
from tests.web.conftest import data
from tests.web.oauth_flow import BASE, NOW, SLOT, authorize, callback, stored_token

EMAIL = "ada@example.com"
HOLD = 30          # seconds a held renewal waits at most (longer than SQLite's 10 s busy timeout)


class RefreshGate:
    """Holds the fake's refresh-token requests (once armed) until the test releases them; the request is
    recorded by the fake before it waits here."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self):
        if (self.armed and fake_request.path == "/token"
                and fake_request.form.get("grant_type") == "refresh_token"):
            self.entered.set()
            self.released.wait(HOLD)

    def arm(self) -> None:
        self.armed = True

    def release(self) -> None:
        self.released.set()


def hold_a_renewal(app, gate: RefreshGate, integration_id: str):
    """Start renewing the connection's token in another thread; return once the fake holds its request."""
    gate.arm()
    renewal = Renewal(app, integration_id)
    assert gate.entered.wait(10)
    return renewal


@pytest.fixture
def gate():
    return RefreshGate()


@pytest.fixture
def google(gate):
    fake = GoogleFake(email=EMAIL, redirect_uris=(callback("google"),))
    fake.app.before_request(gate)
    fake.start()
    yield fake
    gate.release()
    fake.stop()


@pytest.fixture
def zoom():
    with ZoomFake(redirect_uris=(callback("zoom"),)) as fake:
        yield fake


@pytest.fixture
def app(app_factory, google, zoom):
    settings = {"GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
                "GOOGLE_AUTHORIZE_URL": google.url + "/o/oauth2/v2/auth", "GOOGLE_TOKEN_URL": google.url + "/token",
                "GOOGLE_REVOKE_URL": google.url + "/revoke", "GOOGLE_USERINFO_URL": google.url + "/v1/userinfo",
                "GOOGLE_API_URL": google.url + "/calendar/v3", "INTEGRATION_HTTP_TIMEOUT": HOLD + 10}
    settings |= {f"ZOOM_{key.upper()}": value for key, value in zoom.client_config().items()}
    return app_factory(BASE_URL=BASE, CALENDAR_BUSY_WAIT=5, **settings)


def connect_service(host, provider: str = "google") -> Integration:
    return flow.connect_service(provider, host)


def connect_web(client, provider: str = "google"):
    """The browser's way: the connect button, the provider's approval, the callback; the page it lands on."""
    start = client.get(f"/settings/integrations/{provider}")
    assert start.status_code == 302
    response = client.get(f"/settings/integrations/{provider}/callback?"
                          + authorize(start.headers["Location"], provider))
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    return client.get("/settings/integrations").get_data(as_text=True)


def expire_soon(integration_id: str) -> TokenSet:
    token = stored_token(integration_id)
    values = {**token.to_dict(), "expires_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    Integration.update(credentials=connections.sealed({"token": values})).where(
        Integration.id == integration_id).execute()
    return token


def renewals(fake) -> list:
    return [c for c in fake.calls("POST", "/token") if c.form.get("grant_type") == "refresh_token"]


def emails() -> list[dict]:
    return [mailer.unseal(json.loads(m.payload)) for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]


def booking_request():
    return svc.BookingRequest(start=SLOT, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
                              invitee_timezone="Europe/Berlin")


class Renewal:
    """``oauth_access_token`` in a thread of its own (a queue task, another request)."""

    def __init__(self, app, integration_id: str) -> None:
        self.result: str | None = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(app, integration_id), daemon=True)
        self.thread.start()

    def _run(self, app, integration_id: str) -> None:
        with data(app):
            try:
                self.result = oauth_connections.oauth_access_token(integration_id)
            except Exception as exc:  # noqa: BLE001 (handed to the test)
                self.error = exc

    def join(self) -> None:
        self.thread.join(HOLD + 15)
        assert not self.thread.is_alive()


# --- a slow token endpoint -------------------------------------------------------------------------------------
def test_a_slow_token_renewal_does_not_hold_other_writes_back(app, host, make_user, google, gate):
    other = make_user("otto")
    with data(app):
        integration = connect_service(host)
        old = expire_soon(integration.id)
    renewal = hold_a_renewal(app, gate, integration.id)   # the renewal is waiting for Google's answer
    try:
        with data(app):                                    # meanwhile another host is booked
            event_type = EventType.get((EventType.user == other) & (EventType.slug == "30-min"))
            booking = svc.create_booking(event_type, booking_request(), now=NOW).booking
            assert Booking.get_by_id(booking.id).status == "CONFIRMED"
            connections.record_error(integration.id, "a write to the renewing connection's row")
        assert renewal.thread.is_alive()                   # ... and both wrote while Google had not answered
    finally:
        gate.release()
    renewal.join()
    assert renewal.error is None and len(renewals(google)) == 1
    with data(app):
        new = stored_token(integration.id)
        assert renewal.result == new.access_token != old.access_token
        assert Integration.get_by_id(integration.id).last_error == "a write to the renewing connection's row"


def test_threads_waiting_for_a_slow_renewal_use_its_result(app, host, google):
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
    google.slow(0.5, path="/token")
    threads = [Renewal(app, integration.id) for _ in range(4)]
    for renewal in threads:
        renewal.join()
    assert len(renewals(google)) == 1
    with data(app):
        assert {r.result for r in threads} == {stored_token(integration.id).access_token}
        assert all(r.error is None for r in threads)


def test_disconnecting_during_a_renewal_is_not_undone_by_it(app, client, host, google, gate):
    login(client, host)
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
    renewal = hold_a_renewal(app, gate, integration.id)
    try:
        response = client.post(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
        assert response.status_code == 200 and "Disconnected Google Calendar" in response.get_data(as_text=True)
    finally:
        gate.release()
    renewal.join()
    assert isinstance(renewal.error, GrantRevoked) and renewal.error.code == "disconnected"
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0


def test_reconnecting_during_a_renewal_keeps_the_new_connection(app, host, google, gate):
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
    renewal = hold_a_renewal(app, gate, integration.id)
    try:
        with data(app):
            again = connect_service(host)
            assert again.id == integration.id
            reconnected = Integration.get_by_id(integration.id).credentials
    finally:
        gate.release()
    renewal.join()
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.credentials == reconnected and row.status == "connected"     # the renewal did not overwrite it
        assert renewal.error is None and renewal.result == stored_token(integration.id).access_token


# --- a refused renewal after a reconnect ---------------------------------------------------------------------
def test_a_late_refused_renewal_does_not_disconnect_a_fresh_reconnect(app, host, google, gate):
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
    google.revoke_grants()                        # the user removed LinkTime at Google ...
    renewal = hold_a_renewal(app, gate, integration.id)   # ... a renewal asks with the dead refresh token ...
    try:
        with data(app):
            connect_service(host)                 # ... and the user connects again before Google answers
            reconnected = Integration.get_by_id(integration.id).credentials
    finally:
        gate.release()
    renewal.join()
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.credentials == reconnected and row.last_error is None
        assert IntegrationCalendar.select().where(IntegrationCalendar.integration == row).count() == 2
        assert renewal.error is None and renewal.result == stored_token(integration.id).access_token
        assert not AuditLog.select().where(AuditLog.action == "integration.disconnected").exists()
        assert not [m for m in emails() if "was disconnected" in m["subject"]]


def test_revoking_with_credentials_that_were_replaced_meanwhile_does_nothing(app, host, google):
    with data(app):
        integration = connect_service(host)
        refused = Integration.get_by_id(integration.id).credentials
        connect_service(host)                                       # connected again: new credentials
        assert oauth_connections.revoke_oauth(integration.id, refused=refused) is False
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.credentials and row.credentials != refused
        assert IntegrationCalendar.select().count() == 2
        assert oauth_connections.revoke_oauth(integration.id, refused=row.credentials) is True   # still the same
        assert Integration.get_by_id(integration.id).status == "revoked"


def test_a_refused_renewal_of_the_current_credentials_still_disconnects(app, host, google):
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
        google.revoke_grants()
        with pytest.raises(GrantRevoked):
            oauth_connections.oauth_access_token(integration.id)
        row = Integration.get_by_id(integration.id)
        assert row.status == "revoked" and row.credentials is None


# --- credentials that cannot be decrypted ----------------------------------------------------------------------
def _unreadable(kind: str) -> str:
    if kind == "garbage":
        return "this is not an encrypted value"
    if kind == "old key":       # ENCRYPTION_KEY rotated without keeping the key this was sealed with
        return Encryptor("b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleSE=").encrypt('{"token": {}}')
    return connections.sealed({"token": {}})[:-6] + "AAAAAA"        # tampered with


@pytest.mark.parametrize("kind", ["garbage", "old key", "tampered"])
def test_undecryptable_credentials_can_still_be_disconnected(app, client, host, google, kind, caplog):
    login(client, host)
    connect_web(client)
    with data(app):
        integration = Integration.get(Integration.provider == "google")
        value = _unreadable(kind)
        Integration.update(credentials=value).where(Integration.id == integration.id).execute()
    caplog.set_level(logging.WARNING)
    page = client.get(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    assert page.status_code == 200
    response = client.post(f"/settings/integrations/{integration.id}/disconnect", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Disconnected Google Calendar" in response.get_data(as_text=True)
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0
        assert AuditLog.get(AuditLog.action == "integration.disconnected").resource_id == integration.id
    assert not google.calls("POST", "/revoke")              # nothing readable to revoke
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    assert all(value not in r.getMessage() for r in caplog.records)


def test_undecryptable_credentials_mark_the_card_as_needing_a_new_connection(app, client, host, google, caplog):
    login(client, host)
    connect_web(client)
    with data(app):
        integration = Integration.get(Integration.provider == "google")
        Integration.update(credentials=_unreadable("old key")).where(Integration.id == integration.id).execute()
        calendars.refresh_integration(integration.id, [w.isoformat() for w in calendars.windows(SLOT, SLOT)])
        with pytest.raises(PermanentError) as failure:
            oauth_connections.oauth_access_token(integration.id)
        assert failure.value.message == connections.UNREADABLE_MESSAGE
        row = Integration.get_by_id(integration.id)
        assert row.status == "error" and "encryption key" in row.last_error
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Needs attention" in page and "can no longer read the stored access" in page
    assert not renewals(google)


# --- malformed answers at the callback -------------------------------------------------------------------------
@pytest.mark.parametrize("extra, message", [
    ({"expires_in": 10 ** 30}, "malformed expires_in"),
    ({"expires_in": 10 ** 12}, "malformed expires_in"),          # beyond the year 9999
    ({"expires_in": -10 ** 30}, "malformed expires_in"),
    ({"scope": ["https://www.googleapis.com/auth/calendar.events"]}, "malformed scope"),
    ({"scope": 42}, "malformed scope"),
])
def test_malformed_token_answer_at_the_callback_is_a_clear_message(app, client, host, google, extra, message):
    google.token_extra = lambda: extra
    login(client, host)
    page = connect_web(client)
    assert "We could not connect Google Calendar" in page and message in page
    with data(app):
        assert Integration.select().count() == 0


@pytest.mark.parametrize("email", [12345, ["ada@example.com"], {"address": "ada@example.com"}, "   "])
def test_account_email_that_is_not_text_is_a_clear_message(app, client, host, google, zoom, email):
    google.email = email
    zoom.email = email
    login(client, host)
    for provider, name, company in (("google", "Google Calendar", "Google"), ("zoom", "Zoom", "Zoom")):
        page = connect_web(client, provider)
        assert f"We could not connect {name}: {company} answered an account email address that is not text" in page
    with data(app):
        assert Integration.select().count() == 0


def test_malformed_expiry_on_renewal_keeps_the_connection(app, host, google):
    with data(app):
        integration = connect_service(host)
        old = expire_soon(integration.id)
        google.token_extra = lambda: {"expires_in": float("inf")}   # not JSON; the fake sends Infinity
        with pytest.raises(PermanentError):
            oauth_connections.oauth_access_token(integration.id)
        row = Integration.get_by_id(integration.id)
        assert row.status != "revoked" and stored_token(integration.id).refresh_token == old.refresh_token


# --- the "access revoked" email ----------------------------------------------------------------------------------
def test_revoked_email_of_a_calendar_talks_about_conflicts(app, host, google):
    with data(app):
        integration = connect_service(host)
        expire_soon(integration.id)
        google.revoke_grants()
        with pytest.raises(GrantRevoked):
            oauth_connections.oauth_access_token(integration.id)
        [mail] = [m for m in emails() if m["subject"] == "Google Calendar was disconnected from LinkTime"]
    for body in (" ".join(mail["text"].split()), " ".join(mail["html"].split())):
        assert "checked for conflicts" in body and "new bookings are not added to it" in body
        assert "meeting link" not in body and EMAIL in body and "/settings/integrations" in body


def test_revoked_email_of_a_video_service_talks_about_meeting_links(app, host, zoom):
    with data(app):
        integration = connect_service(host, "zoom")
        expire_soon(integration.id)
        zoom.revoke_grants()
        with pytest.raises(GrantRevoked):
            oauth_connections.oauth_access_token(integration.id)
        [mail] = [m for m in emails() if m["subject"] == "Zoom was disconnected from LinkTime"]
    for body in (" ".join(mail["text"].split()), " ".join(mail["html"].split())):
        assert "get no Zoom meeting link" in body and "Bookings made before keep their links" in body
        assert "conflict" not in body and "calendar" not in body.lower()
        assert zoom.email in body and "/settings/integrations" in body
