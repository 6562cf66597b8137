"""What the CRM connection tests share: the four CRM fakes, the settings that point the app at them, the OAuth
redirect flow (through the service or through the app's routes) and reading the stored token set."""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import requests

from app.integrations import oauth
from app.models import Integration, OutboxMessage
from app.services import mailer
from app.services.integrations import connections, crm_connections
from tests.fakes.attio import AttioFake
from tests.fakes.close import CloseFake
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.salesforce import SalesforceFake

BASE = "http://linktime.test"
CRMS = ("hubspot", "attio", "salesforce", "close")
FAKES = {"hubspot": HubSpotFake, "attio": AttioFake, "salesforce": SalesforceFake, "close": CloseFake}
NAMES = {"hubspot": "HubSpot", "attio": "Attio", "salesforce": "Salesforce", "close": "Close"}
LABELS = {"hubspot": "Portal 62515", "attio": "Example Ltd", "salesforce": "Acme Widgets", "close": "Acme Sales"}
TOKEN_PATHS = {"hubspot": "/oauth/2026-03/token", "attio": "/oauth/token", "salesforce": "/services/oauth2/token",
               "close": "/oauth2/token/"}
REVOKE_PATHS = {"hubspot": "/oauth/2026-03/token/revoke", "attio": "/oauth/revoke",
                "salesforce": "/services/oauth2/revoke", "close": "/oauth2/revoke/"}
REFRESHING = ("hubspot", "salesforce", "close")        # Attio's tokens are long-lived, without a refresh token
SANDBOX_ORG = "Acme Sandbox"


def callback(provider: str) -> str:
    """The redirect URI LinkTime sends: Salesforce's is the path of spec page 05."""
    if provider == "salesforce":
        return BASE + "/api/integrations/salesforce/callback"
    return f"{BASE}/settings/integrations/{provider}/callback"


def make_fake(provider: str, **kwargs):
    """The CRM's fake, accepting LinkTime's redirect URI (a context manager: ``with make_fake(p) as fake``)."""
    return FAKES[provider](redirect_uris=(callback(provider),), **kwargs)


def settings_for(provider: str, fake, sandbox=None) -> dict:
    """The app settings that offer ``provider`` against ``fake`` (Salesforce: ``sandbox`` as the sandbox host)."""
    prefix = provider.upper()
    settings = {f"{prefix}_CLIENT_ID": fake.client_id, f"{prefix}_CLIENT_SECRET": fake.client_secret,
                "INTEGRATION_HTTP_TIMEOUT": 2, "BASE_URL": BASE}
    if provider == "salesforce":
        settings["SALESFORCE_LOGIN_URL"] = fake.url
        if sandbox is not None:
            settings["SALESFORCE_SANDBOX_LOGIN_URL"] = sandbox.url
    else:
        settings[f"{prefix}_API_BASE"] = fake.url
        settings[f"{prefix}_APP_BASE"] = fake.url
    return settings


def authorize(url: str, provider: str) -> str:
    """What the browser does at the CRM: approve; the query of the redirect back to LinkTime is returned."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(callback(provider) + "?"), location
    return urlsplit(location).query


def connect_service(user, provider: str, *, sandbox: bool = False) -> Integration:
    """The whole flow through the service (inside an app context)."""
    auth = crm_connections.start_connect(user, provider, callback(provider), sandbox=sandbox)
    args = dict(parse_qsl(authorize(auth.url, provider)))
    return crm_connections.finish_connect(user, provider, args, expected_state=auth.state,
                                          code_verifier=auth.code_verifier, redirect_uri=callback(provider),
                                          sandbox=sandbox)


def connect_web(client, provider: str, *, query: str = ""):
    """Click "Connect", approve at the fake, come back: the callback's response."""
    response = client.get(f"/settings/integrations/{provider}{query}")
    assert response.status_code == 302, response.data[:300]
    back = authorize(response.headers["Location"], provider)
    return client.get(urlsplit(callback(provider)).path + "?" + back)


def stored_token(integration_id: str) -> oauth.TokenSet:
    row = Integration.get_by_id(integration_id)
    return oauth.token_class(row.provider).from_dict(connections.credentials(row)["token"])


def set_expiry(integration_id: str, expires_at: datetime) -> oauth.TokenSet:
    """Make the stored token expire at ``expires_at``; the token as it was is returned."""
    token = stored_token(integration_id)
    values = {**token.to_dict(), "expires_at": expires_at.isoformat()}
    Integration.update(credentials=connections.sealed({"token": values})).where(
        Integration.id == integration_id).execute()
    return token


def token_refreshes(fake, provider: str) -> list:
    return [c for c in fake.calls("POST", TOKEN_PATHS[provider]) if c.form.get("grant_type") == "refresh_token"]


def issued_secrets(fake) -> list[str]:
    """Every access and refresh token the fake handed out, and the client secret."""
    with fake.lock:
        return [*fake._access, *fake._refresh, fake.client_secret]


def emails() -> list[dict]:
    return [mailer.unseal(json.loads(m.payload))
            for m in OutboxMessage.select().where(OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)]
