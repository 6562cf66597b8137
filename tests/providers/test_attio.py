"""Attio people and notes through AttioClient, against the local Attio fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app import net
from app.integrations import attio
from app.integrations.attio import AttioClient
from app.integrations.errors import (
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.oauth import needs_refresh
from tests.fakes.attio import AttioFake
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect


@pytest.fixture
def fake():
    with AttioFake() as server:
        yield server


@pytest.fixture
def workspace(fake):
    client = AttioClient(fake.client_config())
    return client, connect(client).access_token


def test_defaults_are_attios_hosts_and_settings_map_onto_the_config():
    client = AttioClient({"client_id": "id", "client_secret": "secret"})
    assert client.config["authorize_url"] == "https://app.attio.com/authorize"
    assert client.config["token_url"] == "https://app.attio.com/oauth/token"
    assert client.config["api_url"] == "https://api.attio.com"
    assert client.allow_private is False and client.scopes == attio.SCOPES
    config = attio.config_from_settings({"ATTIO_CLIENT_ID": "id", "ATTIO_CLIENT_SECRET": "s",
                                         "ATTIO_API_BASE": "http://127.0.0.1:9", "ATTIO_APP_BASE": "http://127.0.0.1:8"})
    assert config == {"client_id": "id", "client_secret": "s", "api_base": "http://127.0.0.1:9",
                      "app_base": "http://127.0.0.1:8"}
    local = AttioClient(config)
    assert client.session is net.session(False) and local.session is net.session(True)   # the guarded sessions
    assert local.config["token_url"] == "http://127.0.0.1:8/oauth/token" and local.allow_private is True
    client.config["api_url"] = "https://127.0.0.1:9"    # the guard is on for Attio's own hosts: no loopback
    with pytest.raises(PermanentError) as caught:
        client.workspace_name("t")
    assert "not allowed" in str(caught.value)


def test_connect_sends_no_scope_and_gets_a_token_that_never_expires(fake):
    client = AttioClient(fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert "scope" not in query and query["response_type"] == ["code"] and query["state"]
    token = connect(client)
    call = fake.calls("POST", "/oauth/token")[-1]
    assert call.form["client_secret"] == fake.client_secret and call.form["grant_type"] == "authorization_code"
    assert token.refresh_token is None and token.expires_at is None
    assert not needs_refresh(token, datetime.now(UTC) + timedelta(days=3650))
    assert client.workspace_name(token.access_token) == "Example Ltd"
    with pytest.raises(GrantRevoked):                  # nothing to refresh with
        client.refresh(token)


def test_assert_person_sends_the_documented_values_and_never_duplicates(workspace, fake):
    client, token = workspace
    first = client.assert_person(token, "Bo@Example.com", "Bo", "Ek", "+46701234567")
    call = fake.calls("PUT", "/v2/objects/people/records")[0]
    assert call.args == {"matching_attribute": "email_addresses"}
    assert call.json == {"data": {"values": {
        "email_addresses": ["Bo@Example.com"],
        "name": [{"first_name": "Bo", "last_name": "Ek", "full_name": "Bo Ek"}],
        "phone_numbers": [{"original_phone_number": "+46701234567"}]}}}
    again = client.assert_person(token, "bo@example.com", "Bo", "Ekström", "0701 23 45 67")
    assert again == first and len(fake.people) == 1
    assert fake.calls("PUT")[-1].json["data"]["values"].keys() == {"email_addresses", "name"}   # not E.164: left out
    stored = fake.person("bo@example.com")["values"]
    assert stored["name"][0]["full_name"] == "Bo Ekström" and stored["phone_numbers"][0]["original_phone_number"]
    other = client.assert_person(token, "cher@example.com", "", "Cher")
    assert other != first and fake.calls("PUT")[-1].json["data"]["values"]["name"] == [
        {"first_name": "", "last_name": "Cher", "full_name": "Cher"}]
    client.assert_person(token, "anon@example.com")
    assert fake.calls("PUT")[-1].json == {"data": {"values": {"email_addresses": ["anon@example.com"]}}}
    with pytest.raises(ValueError):
        client.assert_person(token, "nobody")


def test_add_note_puts_a_plaintext_note_on_the_person(workspace, fake):
    client, token = workspace
    person = client.assert_person(token, "bo@example.com", "Bo", "Ek")
    note_id = client.add_note(token, person, "Intro call with Bo Ek",
                              "Tue 10 March 2026, 09:00-09:30 UTC\nBooked via LinkTime")
    assert fake.calls("POST", "/v2/notes")[0].json == {"data": {
        "parent_object": "people", "parent_record_id": person, "title": "Intro call with Bo Ek",
        "format": "plaintext", "content": "Tue 10 March 2026, 09:00-09:30 UTC\nBooked via LinkTime"}}
    note = fake.notes[note_id]
    assert note["parent_record_id"] == person and note["content_plaintext"].endswith("Booked via LinkTime")
    client.add_note(token, person, "[CANCELLED] Intro call with Bo Ek", "Reason: travel")
    assert len(fake.notes) == 2
    with pytest.raises(NotFound):                      # the person was deleted in Attio
        client.add_note(token, "5b1c2c5e-0000-4000-8000-000000000000", "t", "c")
    with pytest.raises(ValueError):
        client.add_note(token, "../objects", "t", "c")


def test_rate_limits_carry_retry_after_from_an_http_date_or_seconds(workspace, fake):
    client, token = workspace
    fake.rate_limit(format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True))
    with pytest.raises(TransientError) as caught:
        client.assert_person(token, "bo@example.com", "Bo", "Ek")
    assert caught.value.status == 429 and caught.value.code == "rate_limit_exceeded"
    assert 15 <= caught.value.retry_after <= 21
    fake.rate_limit("3", path="/v2/notes")
    with pytest.raises(TransientError) as caught:
        client.add_note(token, "5b1c2c5e-0000-4000-8000-000000000000", "t", "c")
    assert caught.value.retry_after == 3.0
    fake.rate_limit(None)
    with pytest.raises(TransientError) as caught:
        client.workspace_name(token)
    assert caught.value.retry_after is None


def test_server_errors_timeouts_and_revoked_tokens_are_classified(fake):
    client = AttioClient(fake.client_config())
    token = connect(client).access_token
    fake.fail(500, path="/v2/objects")
    with pytest.raises(TransientError):
        client.assert_person(token, "bo@example.com", "Bo", "Ek")
    slow = AttioClient(fake.client_config(timeout=0.3))
    fake.slow(1.5, path="/v2/notes")
    with pytest.raises(TransientError):
        slow.add_note(token, "5b1c2c5e-0000-4000-8000-000000000000", "t", "c")
    fake.fail(401, path="/v2/objects")
    with pytest.raises(Unauthorized) as caught:
        client.assert_person(token, "bo@example.com", "Bo", "Ek")
    assert caught.value.code == "unauthorized" and token not in str(caught.value)
    assert client.revoke(token) is True
    assert fake.calls("POST", "/oauth/revoke")[0].form["client_secret"] == fake.client_secret
    with pytest.raises(Unauthorized):
        client.assert_person(token, "bo@example.com", "Bo", "Ek")
    with pytest.raises(Unauthorized) as caught:         # /v2/self: active false
        client.workspace_name(token)
    assert caught.value.code == "inactive_token"


def test_missing_scopes_are_a_permanent_error(fake):
    narrow = AttioFake(granted_scopes={"record_permission:read-write", "object_configuration:read"})
    with narrow:
        client = AttioClient(narrow.client_config())
        token = connect(client).access_token
        person = client.assert_person(token, "bo@example.com", "Bo", "Ek")
        with pytest.raises(PermanentError) as caught:
            client.add_note(token, person, "t", "c")
        assert caught.value.status == 403 and not isinstance(caught.value, Unauthorized)


def test_the_fake_checks_bodies_and_paths(workspace, fake):
    client, token = workspace
    person = client.assert_person(token, "bo@example.com", "Bo", "Ek")
    api = fake.url + "/v2"
    auth = {"Authorization": f"Bearer {token}"}
    people = api + "/objects/people/records?matching_attribute=email_addresses"
    for bad in ({"values": {"email_addresses": ["a@b.co"]}},
                {"data": {"values": {"name": [{"first_name": "A"}]}}},
                {"data": {"values": {"email_addresses": ["not an email"]}}},
                {"data": {"values": {"email_addresses": ["a@b.co"], "name": [{"first": "A"}]}}},
                {"data": {"values": {"email_addresses": ["a@b.co"], "phone_numbers": [{"original_phone_number":
                                                                                         "0701"}]}}},
                {"data": {"values": {"email_addresses": ["a@b.co"], "favourite_colour": "blue"}}}):
        answer = requests.put(people, headers=auth, json=bad, timeout=5)
        assert answer.status_code == 400 and answer.json()["type"] == "invalid_request_error", bad
    good = {"data": {"values": {"email_addresses": ["a@b.co"]}}}
    assert requests.put(api + "/objects/people/records?matching_attribute=name", headers=auth, json=good,
                        timeout=5).status_code == 400
    note = {"data": {"parent_object": "people", "parent_record_id": person, "title": "t", "format": "plaintext",
                     "content": "c"}}
    assert requests.post(api + "/notes", headers=auth, json=note, timeout=5).status_code == 200
    for change in ({"parent_object": "companies"}, {"format": "html"}, {"title": "two\nlines"}, {"content": 5},
                   {"colour": "red"}):
        answer = requests.post(api + "/notes", headers=auth, json={"data": {**note["data"], **change}}, timeout=5)
        assert answer.status_code == 400, change
    assert requests.post(api + "/notes", json=note, timeout=5).status_code == 401
    assert requests.post(api + "/objects/people/records", headers=auth, json=good, timeout=5).status_code == 405
    query = {"client_id": fake.client_id, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": "s",
             "code_challenge": "a" * 43, "code_challenge_method": "S256", "scope": "note:read-write"}
    answer = requests.get(fake.url + "/authorize", params=query, allow_redirects=False, timeout=5)
    assert "error=invalid_scope" in answer.headers["Location"]
