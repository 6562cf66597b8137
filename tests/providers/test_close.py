"""Close scheduling links through CloseClient / CloseApi, against the local Close fake."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.integrations.close_crm import CloseClient, CloseToken
from app.integrations.errors import (
    GrantRevoked,
    PermanentError,
    TransientError,
    Unauthorized,
)
from tests.fakes.close import ORG_ID, USER_ID, CloseFake
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

LINK = "https://linktime.example/lin/intro"


@pytest.fixture
def close_fake():
    with CloseFake() as fake:
        yield fake


@pytest.fixture
def close(close_fake):
    client = CloseClient(close_fake.client_config())
    token = connect(client)
    renewed: list[CloseToken] = []
    return client, token, client.api(token, on_token=renewed.append), renewed


def test_connect_sends_no_scope_and_authenticates_in_the_form(close_fake):
    client = CloseClient(close_fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert "scope" not in query and query["response_type"] == ["code"] and query["client_id"] == ["linktime-client"]
    token = connect(client)
    call = close_fake.calls("POST", "/oauth2/token/")[-1]
    assert call.form["client_secret"] == close_fake.client_secret and "Authorization" not in call.headers
    assert isinstance(token, CloseToken) and token.refresh_token and token.expires_at
    assert token.organization_id == ORG_ID and token.user_id == USER_ID
    assert token.scope == "all.full_access offline_access"
    assert CloseToken.from_dict(token.to_dict()) == token and token.access_token not in repr(token)


def test_organization_name_is_the_granted_one(close):
    _, _, api, _ = close
    assert api.organization_name() == "Acme Sales"          # not the user's other organization


def test_create_update_and_delete_a_scheduling_link(close, close_fake):
    _, _, api, _ = close
    link_id = api.create_link("Intro call", LINK, "30 minutes to get to know each other", "evt-42", 30)
    sent = close_fake.calls("POST", "/api/v1/scheduling_link/integration/")[0]
    assert sent.json == {"name": "Intro call", "url": LINK, "description": "30 minutes to get to know each other",
                         "source_id": "evt-42", "source_type": "LinkTime", "duration_in_minutes": 30}
    assert sent.headers["Authorization"].startswith("Bearer ")
    stored = close_fake.links["evt-42"]
    assert stored["id"] == link_id and stored["source"] == "THIRD_PARTY"
    assert api.update_link("evt-42", name="Intro call (45)", url=LINK + "-45", duration=45) == link_id
    assert len(close_fake.links) == 1
    assert close_fake.links["evt-42"]["name"] == "Intro call (45)"
    assert close_fake.links["evt-42"]["duration_in_minutes"] == 45
    assert api.delete_link("evt-42") is True and not close_fake.links
    assert close_fake.calls("DELETE")[0].path == "/api/v1/scheduling_link/integration/evt-42/"
    assert api.delete_link("evt-42") is False


def test_bad_links_are_refused_before_and_by_close(close, close_fake):
    client, token, api, _ = close
    for bad in ({"url": "javascript:alert(1)"}, {"name": " "}, {"duration": 0}, {"source_id": ""}):
        args = {"name": "Intro", "url": LINK, "description": None, "source_id": "evt-1", "duration": 30, **bad}
        with pytest.raises(ValueError):
            api.create_link(**args)
    assert not close_fake.calls("POST", "/api/v1/scheduling_link/integration/")
    url = close_fake.url + "/api/v1/scheduling_link/integration/"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    good = {"name": "Intro", "url": LINK, "source_id": "evt-1"}
    for bad in ({**good, "url": "not a url"}, {**good, "duration_in_minutes": "30"}, {**good, "color": "red"},
                {"name": "Intro", "url": LINK}):
        answer = requests.post(url, json=bad, headers=auth, timeout=5)
        assert answer.status_code == 400 and answer.json()["field-errors"], bad
    close_fake.fail(400, path="/api/v1/scheduling_link/", body={"errors": [], "field-errors": {"url": "Bad URL"}})
    with pytest.raises(PermanentError) as caught:
        api.create_link("Intro", LINK, None, "evt-1", 30)
    assert caught.value.code == "field_errors" and "url: Bad URL" in caught.value.message
    answer = requests.post(url.rstrip("/"), json=good, headers=auth, timeout=5, allow_redirects=False)
    assert answer.status_code == 308                        # Close's paths end with a slash


def test_refresh_rotates_and_a_401_refreshes_once(close, close_fake):
    client, token, api, renewed = close
    close_fake.expire_access_tokens()
    assert api.organization_name() == "Acme Sales"
    assert len(renewed) == 1 and renewed[0].refresh_token != token.refresh_token
    assert renewed[0].organization_id == ORG_ID
    with pytest.raises(GrantRevoked):                        # the old refresh token died with the rotation
        client.refresh(token)
    close_fake.fail(401, times=2, path="/api/v1/")
    with pytest.raises(Unauthorized):
        api.organization_name()
    assert len(renewed) == 2


def test_the_token_is_refreshed_from_five_minutes_before_it_expires(close_fake):
    client = CloseClient(close_fake.client_config())
    token = connect(client)
    now = [token.expires_at - timedelta(minutes=6)]
    renewed: list[CloseToken] = []
    api = client.api(token, on_token=renewed.append, clock=lambda: now[0])
    api.organization_name()
    assert not renewed
    now[0] = token.expires_at - timedelta(minutes=4)
    api.organization_name()
    assert len(renewed) == 1 and api.token is renewed[0]


def test_rate_limits_outages_and_slowness_are_transient(close_fake):
    client = CloseClient(close_fake.client_config(timeout=0.3))
    api = client.api(connect(client))
    close_fake.rate_limit(reset=3)
    with pytest.raises(TransientError) as caught:
        api.create_link("Intro", LINK, None, "evt-1", 30)
    assert caught.value.status == 429 and caught.value.retry_after == 3
    close_fake.fail(429, path="/api/v1/")                    # no Retry-After: Close's rate_reset
    with pytest.raises(TransientError) as caught:
        api.organization_name()
    assert caught.value.retry_after == 1.5
    close_fake.fail(500, path="/api/v1/")
    with pytest.raises(TransientError):
        api.delete_link("evt-1")
    close_fake.slow(1.5, path="/api/v1/")
    with pytest.raises(TransientError):
        api.organization_name()


def test_revoke_sends_the_client_credentials_and_ends_the_grant(close, close_fake):
    client, token, api, _ = close
    assert client.revoke(token.refresh_token) is True
    form = close_fake.calls("POST", "/oauth2/revoke/")[0].form
    assert form == {"client_id": close_fake.client_id, "client_secret": close_fake.client_secret,
                    "token": token.refresh_token}
    with pytest.raises(GrantRevoked):
        client.refresh(token)
    with pytest.raises(GrantRevoked):
        api.organization_name()


def test_the_real_hosts_are_the_defaults_and_guarded():
    client = CloseClient({"client_id": "id", "client_secret": "secret"})
    assert client.config["authorize_url"] == "https://app.close.com/oauth2/authorize/"
    assert client.config["token_url"] == "https://api.close.com/oauth2/token/"
    assert client.url("api_url", "/me/") == "https://api.close.com/api/v1/me/"
    assert client.allow_private is False
    with pytest.raises(PermanentError):
        client._request("GET", "http://127.0.0.1:9/api/v1/me/")
