"""Webex meetings through WebexClient, against the local Webex fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.integrations.errors import (
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.oauth import Attendee, needs_refresh
from app.integrations.webex import WebexClient
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def webex(webex_fake):
    client = WebexClient(webex_fake.client_config())
    return client, connect(client, now=datetime.now(UTC))


def _meeting(client, token, **kwargs):
    args = {"title": "Intro call with Bo", "start": T9, "end": T9 + timedelta(minutes=30),
            "timezone": "Europe/Berlin", "agenda": "Booked with LinkTime",
            "invitees": [Attendee("bo@example.org", "Bo")], **kwargs}
    return client.create_meeting(token.access_token, **args)


def test_connect_asks_for_meeting_scopes_and_reads_the_email(webex_fake):
    client = WebexClient(webex_fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert set(query["scope"][0].split()) == {"spark:kms", "spark:people_read", "meeting:schedules_read",
                                              "meeting:schedules_write"}
    token = connect(client)
    form = webex_fake.calls("POST", "/v1/access_token")[-1].form
    assert form["client_id"] == webex_fake.client_id and form["client_secret"] == webex_fake.client_secret
    assert token.expires_at > datetime.now(UTC) + timedelta(days=13)       # Webex access tokens live 14 days
    assert client.get_email(token.access_token) == "kim@example.com"


def test_http_basic_client_authentication_is_refused(webex_fake):
    class BasicClient(WebexClient):
        client_auth = "client_secret_basic"

    with pytest.raises(PermanentError) as caught:
        connect(BasicClient(webex_fake.client_config()))
    assert caught.value.status == 401


def test_refresh_before_expiry_and_revoked_grant(webex, webex_fake):
    client, token = webex
    assert needs_refresh(token, token.expires_at - timedelta(minutes=1))
    renewed = client.refresh(token)
    assert renewed.access_token != token.access_token and renewed.refresh_token == token.refresh_token
    assert client.get_email(renewed.access_token)
    webex_fake.revoke_grants()
    with pytest.raises(GrantRevoked):
        client.refresh(renewed)
    assert client.revoke(token.refresh_token) is False      # no public revocation endpoint


def test_create_meeting_sends_title_start_end_and_returns_the_web_link(webex, webex_fake):
    client, token = webex
    meeting = _meeting(client, token)
    sent = webex_fake.calls("POST", "/v1/meetings")[0].json
    assert sent == {"title": "Intro call with Bo", "start": "2026-03-10T09:00:00Z", "end": "2026-03-10T09:30:00Z",
                    "timezone": "Europe/Berlin", "agenda": "Booked with LinkTime", "enabledJoinBeforeHost": False,
                    "sendEmail": False, "invitees": [{"email": "bo@example.org", "displayName": "Bo"}]}
    assert meeting.join_url == webex_fake.meetings[meeting.id]["webLink"]
    assert meeting.join_url.startswith("https://") and meeting.password


def test_reschedule_puts_the_full_meeting_back(webex, webex_fake):
    client, token = webex
    meeting = _meeting(client, token)
    moved = client.update_meeting(token.access_token, meeting.id, start=T9 + timedelta(hours=1),
                                  end=T9 + timedelta(hours=1, minutes=30))
    put = webex_fake.calls("PUT")[-1].json
    assert put["title"] == "Intro call with Bo" and put["password"] == meeting.password
    assert put["start"] == "2026-03-10T10:00:00Z" and put["end"] == "2026-03-10T10:30:00Z"
    assert put["agenda"] == "Booked with LinkTime" and put["timezone"] == "Europe/Berlin"
    assert "webLink" not in put and "id" not in put
    assert moved.join_url == meeting.join_url
    assert webex_fake.meetings[meeting.id]["start"] == "2026-03-10T10:00:00Z"


def test_cancel_deletes_the_meeting_and_a_second_delete_is_harmless(webex, webex_fake):
    client, token = webex
    meeting = _meeting(client, token)
    assert client.delete_meeting(token.access_token, meeting.id) is True
    assert webex_fake.calls("DELETE")[-1].args == {"sendEmail": "false"}
    assert client.delete_meeting(token.access_token, meeting.id) is False
    with pytest.raises(NotFound):
        client.update_meeting(token.access_token, meeting.id, title="x")


def test_errors_are_classified(webex, webex_fake):
    client, token = webex
    webex_fake.fail(500, path="/v1/meetings")
    with pytest.raises(TransientError):
        _meeting(client, token)
    webex_fake.fail(429, path="/v1/meetings", headers={"Retry-After": "20"})
    with pytest.raises(TransientError) as caught:
        _meeting(client, token)
    assert caught.value.retry_after == 20
    slow = WebexClient(webex_fake.client_config(timeout=0.3))
    webex_fake.slow(1.5, path="/v1/meetings")
    with pytest.raises(TransientError):
        _meeting(slow, token)
    webex_fake.expire_access_tokens()
    with pytest.raises(Unauthorized):
        _meeting(client, token)


def test_fake_refuses_a_partial_put_and_malformed_bodies(webex, webex_fake):
    client, token = webex
    meeting = _meeting(client, token)
    url = f"{webex_fake.url}/v1/meetings/{meeting.id}"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    partial = {"title": "x", "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T10:30:00Z"}
    answer = requests.put(url, headers=auth, json=partial, timeout=5)
    assert answer.status_code == 400 and answer.json()["errors"][0]["description"] == "password is required"
    assert requests.patch(url, headers=auth, json=partial, timeout=5).status_code == 405
    create = webex_fake.url + "/v1/meetings"
    for bad in ({"title": "x", "start": "2026-03-10T10:00:00Z"},
                {**partial, "end": "2026-03-10T09:00:00Z"},
                {**partial, "sendEmail": "no"},
                {**partial, "title": "t" * 129},
                {**partial, "invitees": [{"email": "not-an-email"}]}):
        assert requests.post(create, headers=auth, json=bad, timeout=5).status_code == 400, bad
    assert requests.post(create, json=partial, timeout=5).status_code == 401
    assert requests.get(webex_fake.url + "/v1/person/me", headers=auth, timeout=5).status_code == 404
