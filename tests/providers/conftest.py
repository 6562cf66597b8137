"""Fixtures for the OAuth provider clients: one fake server per provider on loopback, fresh for each test."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from app.integrations.oauth import OAuthClient, TokenSet
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.fakes.oauth_server import REDIRECT_URI
from tests.fakes.webex import WebexFake
from tests.fakes.zoom import ZoomFake


@pytest.fixture
def google_fake():
    with GoogleFake() as fake:
        yield fake


@pytest.fixture
def microsoft_fake():
    with MicrosoftFake() as fake:
        yield fake


@pytest.fixture
def zoom_fake():
    with ZoomFake() as fake:
        yield fake


@pytest.fixture
def webex_fake():
    with WebexFake() as fake:
        yield fake


def follow_authorization(url: str) -> dict[str, str]:
    """What a browser does: open the authorization URL; the fake approves and redirects back. The query of
    the redirect back to LinkTime is returned."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


def connect(client: OAuthClient, now=None) -> TokenSet:
    """The whole authorization-code flow: URL with state and PKCE -> approval -> callback check -> exchange."""
    auth = client.authorization_request(REDIRECT_URI)
    args = follow_authorization(auth.url)
    code = client.parse_callback(args, expected_state=auth.state)
    return client.exchange_code(code, redirect_uri=REDIRECT_URI, code_verifier=auth.code_verifier, now=now)
