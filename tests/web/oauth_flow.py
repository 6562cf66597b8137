"""What the calendar and video connection tests share: the OAuth redirect flow through the app against a local
fake provider, and reading or ageing the stored (encrypted) token set."""
from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import requests

from app.integrations.oauth import TokenSet
from app.models import Integration
from app.services.booking import bookings as svc
from app.services.integrations import calendars, connections, oauth_connections

BASE = "http://linktime.test"
NOW = datetime(2030, 1, 4, 8, 0, tzinfo=UTC)            # Friday
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)           # Monday 10:00 Berlin


def callback(provider: str) -> str:
    return f"{BASE}/settings/integrations/{provider}/callback"


def start(client, provider: str) -> str:
    """Click "Connect ...": the URL the browser is sent to."""
    response = client.get(f"/settings/integrations/{provider}")
    assert response.status_code == 302, response.data[:300]
    return response.headers["Location"]


def authorize(url: str, provider: str) -> str:
    """What the browser does at the provider: approve; the query of the redirect back to LinkTime is returned."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(callback(provider) + "?")
    return urlsplit(location).query


def connect_web(client, provider: str):
    return client.get(f"/settings/integrations/{provider}/callback?" + authorize(start(client, provider), provider))


def connect_service(provider: str, host) -> Integration:
    """The same flow without the browser session (inside an app context)."""
    auth = oauth_connections.oauth_authorization(provider, callback(provider))
    args = dict(parse_qsl(authorize(auth.url, provider)))
    return oauth_connections.connect_oauth(provider, host, args, expected_state=auth.state,
                                           code_verifier=auth.code_verifier, redirect_uri=callback(provider))


def stored_token(integration_id: str) -> TokenSet:
    return TokenSet.from_dict(connections.credentials(Integration.get_by_id(integration_id))["token"])


def set_expiry(integration_id: str, expires_at: datetime) -> TokenSet:
    """Make the stored token expire at ``expires_at``; the token as it was is returned."""
    token = stored_token(integration_id)
    values = {**token.to_dict(), "expires_at": expires_at.isoformat()}
    Integration.update(credentials=connections.sealed({"token": values})).where(
        Integration.id == integration_id).execute()
    return token


def refresh_busy(integration_id: str) -> None:
    calendars.refresh_integration(integration_id, [w.isoformat() for w in calendars.windows(SLOT, SLOT)])


def request(start=SLOT, **kw) -> svc.BookingRequest:
    values = {"invitee_name": "Ivan Invitee", "invitee_email": "ivan@example.com", "invitee_timezone": "Europe/Berlin"}
    values.update(kw)
    return svc.BookingRequest(start=start, **values)
