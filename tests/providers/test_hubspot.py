"""HubSpot contacts and meetings through HubSpotClient, against the local HubSpot fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app import net
from app.integrations import hubspot
from app.integrations.errors import (
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.hubspot import HubSpotClient
from app.integrations.oauth import needs_refresh
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
T930 = T9 + timedelta(minutes=30)


@pytest.fixture
def fake():
    with HubSpotFake() as server:
        yield server


@pytest.fixture
def hub(fake):
    client = HubSpotClient(fake.client_config())
    return client, connect(client).access_token


def _booked(client, token, email="bo@example.com"):
    contact = client.upsert_contact(token, email, "Bo", "Ek", "+46701234567")
    meeting = client.create_meeting(token, contact, "Intro call with Bo Ek", T9, T930, "Booked via LinkTime")
    return contact, meeting


def test_defaults_are_hubspots_hosts_and_settings_map_onto_the_config():
    client = HubSpotClient({"client_id": "id", "client_secret": "secret"})
    assert client.config["authorize_url"] == "https://app.hubspot.com/oauth/authorize"
    assert client.config["token_url"] == "https://api.hubapi.com/oauth/2026-03/token"
    assert client.config["introspect_url"] == "https://api.hubapi.com/oauth/2026-03/token/introspect"
    assert client.config["revoke_url"] == "https://api.hubapi.com/oauth/2026-03/token/revoke"
    assert client.config["api_url"] == "https://api.hubapi.com"
    assert client.allow_private is False and client.scopes == hubspot.SCOPES
    config = hubspot.config_from_settings({"HUBSPOT_CLIENT_ID": "id", "HUBSPOT_CLIENT_SECRET": "s",
                                           "HUBSPOT_API_BASE": "http://127.0.0.1:9", "HUBSPOT_APP_BASE": "",
                                           "INTEGRATION_HTTP_TIMEOUT": "4"})
    assert config == {"client_id": "id", "client_secret": "s", "api_base": "http://127.0.0.1:9", "timeout": 4.0}
    local = HubSpotClient(config)
    assert client.session is net.session(False) and local.session is net.session(True)   # the guarded sessions
    assert local.config["token_url"] == "http://127.0.0.1:9/oauth/2026-03/token" and local.allow_private is True
    client.config["introspect_url"] = "http://127.0.0.1:9"   # the guard is on for HubSpot's own hosts: https only,
    with pytest.raises(PermanentError):                 # and never a private or loopback address
        client.portal_id("t")
    client.config["introspect_url"] = "https://127.0.0.1:9"
    with pytest.raises(PermanentError) as caught:
        client.portal_id("t")
    assert "not allowed" in str(caught.value)


def test_connect_asks_for_the_contact_scopes_and_sends_the_secret_in_the_form(fake):
    client = HubSpotClient(fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert query["scope"] == ["crm.objects.contacts.read crm.objects.contacts.write"]
    token = connect(client)
    call = fake.calls("POST", "/oauth/2026-03/token")[-1]
    assert call.form["client_secret"] == fake.client_secret and "Authorization" not in call.headers
    assert call.form["grant_type"] == "authorization_code"
    assert token.refresh_token and token.expires_at is not None
    assert needs_refresh(token, datetime.now(UTC) + timedelta(minutes=26))     # 30-minute tokens
    assert client.portal_id(token.access_token) == "62515"
    introspect = fake.calls("POST", "/oauth/2026-03/token/introspect")[-1]
    assert introspect.form["token"] == token.access_token and introspect.form["client_secret"] == fake.client_secret
    assert not introspect.args and token.access_token not in introspect.path        # never in the URL


def test_refresh_keeps_working_and_revoke_kills_the_grant(fake):
    client = HubSpotClient(fake.client_config())
    token = connect(client)
    renewed = client.refresh(token)
    assert renewed.access_token != token.access_token
    assert fake.calls("POST", "/oauth/2026-03/token")[-1].form["grant_type"] == "refresh_token"
    assert client.revoke(token.refresh_token) is True
    call = fake.calls("POST", "/oauth/2026-03/token/revoke")[0]
    assert call.form["token"] == token.refresh_token and call.form["client_id"] == fake.client_id
    assert client.revoke(token.refresh_token) is True               # RFC 7009: revoking twice is harmless
    with pytest.raises(GrantRevoked) as caught:
        client.refresh(token)
    assert caught.value.code == "invalid_grant"


def test_upsert_sends_one_input_by_email_and_never_duplicates(hub, fake):
    client, token = hub
    first = client.upsert_contact(token, "Bo@Example.com", "Bo", "Ek", "+46701234567")
    sent = fake.calls("POST", "/crm/v3/objects/contacts/batch/upsert")[0].json
    assert sent == {"inputs": [{"idProperty": "email", "id": "Bo@Example.com",
                                "properties": {"firstname": "Bo", "lastname": "Ek", "phone": "+46701234567"}}]}
    again = client.upsert_contact(token, "bo@example.com", "Bo", "Ekström")
    assert again == first and len(fake.contacts) == 1
    stored = fake.contact("bo@example.com")["properties"]
    assert stored["lastname"] == "Ekström" and stored["phone"] == "+46701234567"   # no phone: left as it was
    client.upsert_contact(token, "cher@example.com", "", "Cher", None)
    assert fake.calls("POST", "/crm/v3/objects/contacts/batch/upsert")[-1].json["inputs"][0]["properties"] == {
        "lastname": "Cher"}
    assert len(fake.contacts) == 2
    with pytest.raises(ValueError):
        client.upsert_contact(token, "not-an-address", "A", "B")


def test_create_meeting_logs_the_booking_on_the_contact(hub, fake):
    client, token = hub
    contact, meeting_id = _booked(client, token)
    sent = fake.calls("POST", "/crm/v3/objects/meetings")[0].json
    assert sent == {
        "properties": {"hs_timestamp": "2026-03-10T09:00:00Z", "hs_meeting_start_time": "2026-03-10T09:00:00Z",
                       "hs_meeting_end_time": "2026-03-10T09:30:00Z", "hs_meeting_body": "Booked via LinkTime",
                       "hs_meeting_outcome": "SCHEDULED", "hs_meeting_title": "Intro call with Bo Ek"},
        "associations": [{"to": {"id": contact},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]}
    stored = fake.meetings[meeting_id]
    assert stored["associations"] == [{"to": contact, "type": 200}]
    assert stored["properties"]["hs_meeting_outcome"] == "SCHEDULED"


def test_reschedule_and_cancel_update_the_same_meeting(hub, fake):
    client, token = hub
    _, meeting_id = _booked(client, token)
    later = T9 + timedelta(days=1)
    assert client.update_meeting(token, meeting_id, start=later, end=later + timedelta(minutes=45),
                                 outcome="RESCHEDULED") is None
    assert fake.calls("PATCH")[-1].json == {"properties": {
        "hs_timestamp": "2026-03-11T09:00:00Z", "hs_meeting_start_time": "2026-03-11T09:00:00Z",
        "hs_meeting_end_time": "2026-03-11T09:45:00Z", "hs_meeting_outcome": "RESCHEDULED"}}
    client.update_meeting(token, meeting_id, outcome="CANCELED")
    assert fake.calls("PATCH")[-1].json == {"properties": {"hs_meeting_outcome": "CANCELED"}}
    properties = fake.meetings[meeting_id]["properties"]
    assert properties["hs_meeting_outcome"] == "CANCELED" and properties["hs_meeting_end_time"].startswith("2026-03-11")
    assert len(fake.meetings) == 1                       # never deleted: it stays on the timeline
    calls = len(fake.requests)
    client.update_meeting(token, meeting_id)             # nothing to change: no call
    assert len(fake.requests) == calls


def test_bad_arguments_are_refused_before_any_call(hub, fake):
    client, token = hub
    contact = client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    calls = len(fake.requests)
    with pytest.raises(ValueError):
        client.create_meeting(token, contact, "x", T930, T9, "body")
    with pytest.raises(ValueError):
        client.create_meeting(token, contact, "x", T9, T930, "body", outcome="CANCELLED")
    with pytest.raises(ValueError):
        client.update_meeting(token, "../contacts/1", outcome="CANCELED")
    with pytest.raises(ValueError):
        client.create_meeting(token, contact, "x", T9.replace(tzinfo=None), T930, "body")
    assert len(fake.requests) == calls


def test_a_meeting_deleted_in_hubspot_is_not_found(hub):
    client, token = hub
    with pytest.raises(NotFound) as caught:
        client.update_meeting(token, "999999", outcome="CANCELED")
    assert caught.value.code == "OBJECT_NOT_FOUND"


def test_rate_limits_carry_retry_after_in_seconds_or_as_a_date(hub, fake):
    client, token = hub
    fake.rate_limit("7", path="/crm/v3/objects/contacts")
    with pytest.raises(TransientError) as caught:
        client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    assert caught.value.status == 429 and caught.value.retry_after == 7.0 and caught.value.code == "RATE_LIMITS"
    fake.rate_limit(format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))
    with pytest.raises(TransientError) as caught:
        client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    assert 25 <= caught.value.retry_after <= 31
    fake.rate_limit(None)
    with pytest.raises(TransientError) as caught:
        client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    assert caught.value.retry_after is None


def test_server_errors_timeouts_and_expired_tokens_are_classified(hub, fake):
    client, token = hub
    contact = client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    fake.fail(502, path="/crm/v3/objects/meetings")
    with pytest.raises(TransientError):
        client.create_meeting(token, contact, "t", T9, T930, "b")
    fake.fail(503, body=b"<html>bad gateway</html>")
    with pytest.raises(TransientError):
        client.portal_id(token)
    slow = HubSpotClient(fake.client_config(timeout=0.3))
    fake.slow(1.5, path="/crm/v3/objects/meetings")
    with pytest.raises(TransientError):
        slow.create_meeting(token, contact, "t", T9, T930, "b")
    fake.expire_access_tokens()
    with pytest.raises(Unauthorized) as caught:
        client.create_meeting(token, contact, "t", T9, T930, "b")
    assert caught.value.status == 401 and caught.value.code == "EXPIRED_AUTHENTICATION"
    assert token not in str(caught.value)


def test_a_revoked_grant_answers_401_then_grant_revoked(fake):
    client = HubSpotClient(fake.client_config())
    token = connect(client)
    fake.revoke_grants()
    with pytest.raises(Unauthorized):
        client.upsert_contact(token.access_token, "bo@example.com", "Bo", "Ek")
    with pytest.raises(GrantRevoked):
        client.refresh(token)


def test_the_fake_checks_bodies_scopes_and_paths(hub, fake):
    client, token = hub
    contact = client.upsert_contact(token, "bo@example.com", "Bo", "Ek")
    api = fake.url + "/crm/v3/objects"
    auth = {"Authorization": f"Bearer {token}"}
    good = {"properties": {"hs_timestamp": "2026-03-10T09:00:00Z", "hs_meeting_title": "x"},
            "associations": [{"to": {"id": contact},
                              "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]}
    assert requests.post(api + "/meetings", headers=auth, json=good, timeout=5).status_code == 201
    bad_type = {**good, "associations": [{"to": {"id": contact}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}]}
    for bad in ({"properties": {"hs_meeting_title": "no timestamp"}},
                {**good, "properties": {"hs_timestamp": "10 March"}},
                {**good, "properties": {"hs_timestamp": "2026-03-10T10:00:00+01:00"}},
                {**good, "properties": {"hs_timestamp": "2026-03-10T09:00:00Z", "hs_meeting_outcome": "CANCELLED"}},
                {**good, "properties": {"hs_timestamp": "2026-03-10T09:00:00Z", "hs_meeting_duration": 30}},
                {**good, "associations": [{"to": {"id": "424242"}, "types": good["associations"][0]["types"]}]},
                bad_type, {**good, "extra": 1}):
        answer = requests.post(api + "/meetings", headers=auth, json=bad, timeout=5)
        assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR", bad
    for bad in ({"inputs": []}, {"inputs": [{"idProperty": "hs_object_id", "id": "1", "properties": {}}]},
                {"inputs": [{"idProperty": "email", "id": "a@b.co", "properties": {"firstname": 1}}]},
                {"inputs": [{"idProperty": "email", "id": "a@b.co", "properties": {"favourite": "x"}}]}):
        answer = requests.post(api + "/contacts/batch/upsert", headers=auth, json=bad, timeout=5)
        assert answer.status_code == 400, bad
    answer = requests.post(api + "/meetings", json=good, timeout=5)
    assert answer.status_code == 401 and answer.json()["status"] == "error"
    assert requests.put(api + "/meetings", headers=auth, json=good, timeout=5).status_code == 405
    read_only = HubSpotFake(granted_scopes={"crm.objects.contacts.read"})
    with read_only:
        other = connect(HubSpotClient(read_only.client_config())).access_token
        with pytest.raises(PermanentError) as caught:
            HubSpotClient(read_only.client_config()).upsert_contact(other, "bo@example.com", "Bo", "Ek")
        assert caught.value.status == 403 and caught.value.code == "MISSING_SCOPES"
