"""Zoom meetings through ZoomClient, against the local Zoom fake."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.integrations.errors import (
    GrantRevoked,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.zoom import ZoomClient
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def zoom(zoom_fake):
    client = ZoomClient(zoom_fake.client_config())
    return client, connect(client)


def _meeting(client, token, **kwargs):
    args = {"topic": "Intro call with Bo", "start": T9, "duration_minutes": 30, "timezone": "Europe/Berlin",
            "agenda": "Booked with LinkTime", **kwargs}
    return client.create_meeting(token.access_token, **args)


def test_connect_authenticates_the_client_with_http_basic(zoom_fake):
    client = ZoomClient(zoom_fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert "scope" not in query and query["code_challenge_method"] == ["S256"]
    token = connect(client)
    call = zoom_fake.calls("POST", "/oauth/token")[-1]
    expected = base64.b64encode(f"{zoom_fake.client_id}:{zoom_fake.client_secret}".encode()).decode()
    assert call.headers["Authorization"] == f"Basic {expected}"
    assert "client_secret" not in call.form and call.form["code_verifier"]
    assert token.refresh_token and token.scope == "meeting:write user:read"
    assert client.get_email(token.access_token) == "lin@example.com"


def test_client_secret_in_the_body_is_refused(zoom_fake):
    class PostClient(ZoomClient):
        client_auth = "client_secret_post"

    with pytest.raises(PermanentError) as caught:
        connect(PostClient(zoom_fake.client_config()))
    assert caught.value.status == 401 and not isinstance(caught.value, GrantRevoked)


def test_refresh_rotates_the_refresh_token(zoom, zoom_fake):
    client, token = zoom
    renewed = client.refresh(token)
    assert renewed.refresh_token != token.refresh_token
    with pytest.raises(GrantRevoked):                 # the old refresh token died with the rotation
        client.refresh(token)
    assert client.refresh(renewed).access_token


def test_revoke_then_refresh_is_grant_revoked(zoom, zoom_fake):
    client, token = zoom
    assert client.revoke(token.refresh_token) is True
    assert zoom_fake.calls("POST", "/oauth/revoke")[0].headers["Authorization"].startswith("Basic ")
    with pytest.raises(GrantRevoked) as caught:
        client.refresh(token)
    assert caught.value.code == "invalid_grant"


def test_create_meeting_sends_the_documented_fields_and_returns_the_join_url(zoom, zoom_fake):
    client, token = zoom
    meeting = _meeting(client, token)
    sent = zoom_fake.calls("POST", "/v2/users/me/meetings")[0].json
    assert sent == {"topic": "Intro call with Bo", "type": 2, "start_time": "2026-03-10T09:00:00Z", "duration": 30,
                    "timezone": "Europe/Berlin", "agenda": "Booked with LinkTime",
                    "settings": {"host_video": True, "participant_video": True, "waiting_room": False}}
    stored = zoom_fake.meetings[int(meeting.id)]
    assert meeting.join_url == stored["join_url"] and meeting.join_url.startswith("https://")
    assert meeting.password == stored["password"]
    assert stored["settings"]["host_video"] and stored["settings"]["participant_video"]
    assert stored["settings"]["waiting_room"] is False


def test_long_topic_and_agenda_are_cut_to_zooms_limits(zoom, zoom_fake):
    client, token = zoom
    meeting = _meeting(client, token, topic="t" * 300, agenda="a" * 2500)
    stored = zoom_fake.meetings[int(meeting.id)]
    assert len(stored["topic"]) == 200 and len(stored["agenda"]) == 2000


def test_reschedule_patches_the_meeting_and_keeps_the_link(zoom, zoom_fake):
    client, token = zoom
    meeting = _meeting(client, token)
    assert client.update_meeting(token.access_token, meeting.id, start=T9 + timedelta(hours=2),
                                 duration_minutes=45) is None
    assert zoom_fake.calls("PATCH")[-1].json == {"start_time": "2026-03-10T11:00:00Z", "duration": 45}
    again = client.get_meeting(token.access_token, meeting.id)
    assert again.join_url == meeting.join_url
    assert again.raw["start_time"] == "2026-03-10T11:00:00Z" and again.raw["duration"] == 45


def test_cancel_deletes_the_meeting_and_a_second_delete_is_harmless(zoom, zoom_fake):
    client, token = zoom
    meeting = _meeting(client, token)
    assert client.delete_meeting(token.access_token, meeting.id) is True
    assert not zoom_fake.meetings
    assert client.delete_meeting(token.access_token, meeting.id) is False
    with pytest.raises(ValueError):
        client.delete_meeting(token.access_token, "../users/me")


def test_errors_are_classified(zoom, zoom_fake):
    client, token = zoom
    zoom_fake.fail(500, path="/v2/users/me/meetings")
    with pytest.raises(TransientError):
        _meeting(client, token)
    slow = ZoomClient(zoom_fake.client_config(timeout=0.3))
    zoom_fake.slow(1.5, path="/v2/users/me/meetings")
    with pytest.raises(TransientError):
        _meeting(slow, token)
    zoom_fake.expire_access_tokens()
    with pytest.raises(Unauthorized) as caught:
        _meeting(client, token)
    assert caught.value.code == "124"


def test_fake_refuses_malformed_meetings_wrong_paths_and_auth(zoom, zoom_fake):
    _, token = zoom
    api = zoom_fake.url + "/v2"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    good = {"topic": "x", "type": 2, "start_time": "2026-03-10T09:00:00Z", "duration": 30,
            "settings": {"host_video": True}}
    assert requests.post(api + "/users/me/meetings", headers=auth, json=good, timeout=5).status_code == 201
    for bad in ({**good, "duration": "30"}, {**good, "type": True}, {**good, "start_time": "10 March"},
                {**good, "start_time": "2026-03-10T09:00:00"}, {**good, "settings": {"host_video": "yes"}},
                {**good, "waiting_room": False}):
        answer = requests.post(api + "/users/me/meetings", headers=auth, json=bad, timeout=5)
        assert answer.status_code == 400 and answer.json()["code"] == 300, bad
    assert requests.put(api + "/users/me/meetings", headers=auth, json=good, timeout=5).status_code == 405
    assert requests.post(api + "/users/me/meeting", headers=auth, json=good, timeout=5).status_code == 404
    answer = requests.post(api + "/users/me/meetings", json=good, timeout=5)
    assert answer.status_code == 401 and answer.json()["code"] == 124
