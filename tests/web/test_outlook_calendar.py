"""Outlook Calendar (Microsoft 365 / Outlook.com) as a connected calendar, end to end against the fake Microsoft
identity platform + Graph server: what only Outlook does (its callback kept apart from Google's, all-day events,
disconnecting without a revocation endpoint). What Google and Outlook share is in test_oauth_calendars.py; the
constants and helpers here are used there too."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest

from app.models import (
    AuditLog,
    Integration,
    IntegrationCalendar,
)
from app.services.integrations.calendar_providers import CALENDAR_PROVIDERS
from app.services.integrations.calendar_providers.base import host_tz
from tests.conftest import login
from tests.fakes.microsoft import MicrosoftFake
from tests.test_security import _database_bytes
from tests.web import oauth_flow as flow
from tests.web.conftest import data
from tests.web.oauth_flow import (
    BASE,
    SLOT,
    callback,
    refresh_busy,
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


# --- connecting ------------------------------------------------------------------------------------------------
def test_google_flow_state_does_not_finish_a_microsoft_callback(app, client, host, microsoft):
    login(client, host)
    args = dict(parse_qsl(authorize(start(client))))
    client.get("/settings/integrations/google/callback", query_string=args)      # the other provider's callback
    assert client.get("/settings/integrations/microsoft/callback", query_string=args).status_code == 302
    with data(app):
        assert Integration.get(Integration.provider == "microsoft").account_email == EMAIL


# --- busy times ------------------------------------------------------------------------------------------------
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
