"""The provider-agnostic OAuth layer: authorization URL, callback, code exchange, refresh, error classes."""
from __future__ import annotations

import base64
import hashlib
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.integrations.errors import (
    AuthorizationFailed,
    GrantRevoked,
    PermanentError,
    TransientError,
    retry_after_seconds,
)
from app.integrations.google import GoogleClient
from app.integrations.microsoft import MicrosoftClient
from app.integrations.oauth import (
    PROVIDERS,
    TokenSet,
    client_for,
    config_from_settings,
    needs_refresh,
    parse_instant,
    token_class,
    utc_iso,
)
from app.integrations.webex import WebexClient
from app.integrations.zoom import ZoomClient
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect, follow_authorization

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_authorization_url_carries_state_and_an_s256_challenge_of_the_verifier(google_fake):
    client = GoogleClient(google_fake.client_config())
    first = client.authorization_request(REDIRECT_URI)
    second = client.authorization_request(REDIRECT_URI)
    query = parse_qs(urlsplit(first.url).query)
    assert first.url.startswith(google_fake.url + "/o/oauth2/v2/auth?")
    assert query["response_type"] == ["code"] and query["client_id"] == [google_fake.client_id]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["state"] == [first.state]
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [_s256(first.code_verifier)]
    assert 43 <= len(first.code_verifier) <= 128
    assert "%20" in first.url and "+" not in urlsplit(first.url).query      # scopes joined by encoded spaces
    assert first.state != second.state and first.code_verifier != second.code_verifier


def test_callback_with_another_state_is_refused(google_fake):
    client = GoogleClient(google_fake.client_config())
    auth = client.authorization_request(REDIRECT_URI)
    args = follow_authorization(auth.url)
    with pytest.raises(AuthorizationFailed) as caught:
        client.parse_callback(args, expected_state="some-other-flow")
    assert caught.value.code == "state_mismatch"
    with pytest.raises(AuthorizationFailed):
        client.parse_callback({"state": auth.state}, expected_state=auth.state)     # no code


def test_user_declining_at_the_provider_is_an_authorization_failure(google_fake):
    google_fake.deny = True
    client = GoogleClient(google_fake.client_config())
    auth = client.authorization_request(REDIRECT_URI)
    args = follow_authorization(auth.url)
    with pytest.raises(AuthorizationFailed) as caught:
        client.parse_callback(args, expected_state=auth.state)
    assert caught.value.code == "access_denied"


def test_exchange_with_the_wrong_verifier_is_invalid_grant(google_fake):
    client = GoogleClient(google_fake.client_config())
    auth = client.authorization_request(REDIRECT_URI)
    code = client.parse_callback(follow_authorization(auth.url), expected_state=auth.state)
    other = client.authorization_request(REDIRECT_URI).code_verifier
    with pytest.raises(GrantRevoked) as caught:
        client.exchange_code(code, redirect_uri=REDIRECT_URI, code_verifier=other)
    assert caught.value.code == "invalid_grant" and caught.value.status == 400


def test_a_code_works_once(google_fake):
    client = GoogleClient(google_fake.client_config())
    auth = client.authorization_request(REDIRECT_URI)
    code = client.parse_callback(follow_authorization(auth.url), expected_state=auth.state)
    client.exchange_code(code, redirect_uri=REDIRECT_URI, code_verifier=auth.code_verifier)
    with pytest.raises(GrantRevoked):
        client.exchange_code(code, redirect_uri=REDIRECT_URI, code_verifier=auth.code_verifier)


def test_wrong_client_secret_is_permanent_not_a_revoked_grant(google_fake):
    client = GoogleClient(google_fake.client_config(client_secret="wrong"))
    with pytest.raises(PermanentError) as caught:
        connect(client)
    assert not isinstance(caught.value, GrantRevoked)
    assert caught.value.status == 401 and caught.value.code == "invalid_client"


def test_token_set_expiry_comes_from_expires_in_and_survives_storage(google_fake):
    token = connect(GoogleClient(google_fake.client_config()), now=NOW)
    assert token.expires_at == NOW + timedelta(seconds=3600)
    assert token.refresh_token and token.access_token
    assert TokenSet.from_dict(token.to_dict()) == token
    assert token.access_token not in repr(token) and token.refresh_token not in repr(token)


def test_needs_refresh_from_five_minutes_before_expiry():
    token = TokenSet("a", "r", NOW + timedelta(hours=1))
    assert not needs_refresh(token, NOW)
    assert not needs_refresh(token, NOW + timedelta(minutes=54, seconds=59))
    assert needs_refresh(token, NOW + timedelta(minutes=55))
    assert needs_refresh(token, NOW + timedelta(hours=2))
    assert not needs_refresh(TokenSet("a", "r", None), NOW + timedelta(days=999))


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client, now=NOW)
    renewed = client.refresh(token, now=NOW + timedelta(minutes=56))
    assert renewed.refresh_token == token.refresh_token
    assert renewed.access_token != token.access_token
    assert renewed.expires_at == NOW + timedelta(minutes=56, seconds=3600)


@pytest.mark.parametrize("field, value", [
    ("expires_in", 10 ** 30), ("expires_in", -10 ** 30), ("expires_in", 10 ** 12),   # timedelta / year 9999
    ("expires_in", float("inf")), ("expires_in", float("nan")), ("expires_in", True), ("expires_in", "soon"),
    ("expires_in", [3600]), ("scope", ["calendar"]), ("scope", 42), ("scope", {"a": 1}),
    ("refresh_token", 12345), ("refresh_token", {"value": "r"}),
])
def test_malformed_token_answers_are_permanent_errors(field, value):
    with pytest.raises(PermanentError, match=f"malformed {field}"):
        TokenSet.from_response({"access_token": "a", "expires_in": 3600, field: value}, NOW)


def test_well_formed_token_answers_still_read():
    token = TokenSet.from_response({"access_token": "a", "expires_in": "3600", "scope": "x y"}, NOW, "old")
    assert token.expires_at == NOW + timedelta(hours=1) and token.scope == "x y" and token.refresh_token == "old"
    assert TokenSet.from_response({"access_token": "a", "expires_in": 60.5}, NOW).expires_at == NOW + timedelta(
        seconds=60)
    assert TokenSet.from_response({"access_token": "a", "expires_in": None, "scope": None}, NOW).expires_at is None


def test_refresh_answering_an_overflowing_expires_in_is_a_permanent_error(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client, now=NOW)
    google_fake.token_extra = lambda: {"expires_in": 10 ** 40}
    with pytest.raises(PermanentError, match="malformed expires_in") as caught:
        client.refresh(token)
    assert not isinstance(caught.value, GrantRevoked)


def test_revoked_grant_message_does_not_contain_the_token(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client)
    google_fake.revoke_grants()
    with pytest.raises(GrantRevoked) as caught:
        client.refresh(token)
    assert token.refresh_token not in str(caught.value)
    assert caught.value.provider == "google"


def test_token_endpoint_500_is_transient(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client)
    google_fake.fail(500, path="/token")
    with pytest.raises(TransientError) as caught:
        client.refresh(token)
    assert caught.value.status == 500
    assert client.refresh(token).access_token          # the next attempt works


def test_token_endpoint_timeout_is_transient(google_fake):
    client = GoogleClient(google_fake.client_config(timeout=0.3))
    token = connect(client)
    google_fake.slow(1.5, path="/token")
    with pytest.raises(TransientError, match="did not answer within 0.3 s"):
        client.refresh(token)


def test_temporarily_unavailable_and_429_are_transient_with_retry_after(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client)
    google_fake.fail(400, path="/token", body={"error": "temporarily_unavailable"})
    with pytest.raises(TransientError):
        client.refresh(token)
    google_fake.fail(429, path="/token", body={"error": "rate_limited"}, headers={"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        client.refresh(token)
    assert caught.value.retry_after == 7


def test_unreachable_provider_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ZoomClient({"client_id": "i", "client_secret": "s", "token_url": f"http://127.0.0.1:{port}/t"})
    with pytest.raises(TransientError, match="could not be reached"):
        client.refresh("r")


def test_an_html_answer_is_transient_even_with_200(google_fake):
    client = GoogleClient(google_fake.client_config())
    token = connect(client)
    google_fake.fail(502, path="/token", body=b"<html>Bad gateway</html>")
    with pytest.raises(TransientError) as caught:
        client.refresh(token)
    assert caught.value.status == 502
    google_fake.fail(200, path="/token", body=b"<html>Sign in to the hotel wifi</html>")
    with pytest.raises(TransientError, match="not JSON"):
        client.refresh(token)


def test_clients_need_credentials_and_default_to_the_real_endpoints():
    with pytest.raises(ValueError, match="client_id"):
        GoogleClient({"client_secret": "s"})
    google = GoogleClient({"client_id": "i", "client_secret": "s"})
    assert google.url("token_url") == "https://oauth2.googleapis.com/token"
    assert google.url("api_url", "/freeBusy") == "https://www.googleapis.com/calendar/v3/freeBusy"
    assert google.timeout == 10
    microsoft = MicrosoftClient({"client_id": "i", "client_secret": "s", "timeout": 3})
    assert microsoft.url("authorize_url") == "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    assert microsoft.timeout == 3
    assert ZoomClient({"client_id": "i", "client_secret": "s"}).url("api_url") == "https://api.zoom.us/v2"
    assert WebexClient({"client_id": "i", "client_secret": "s"}).url("token_url") == \
        "https://webexapis.com/v1/access_token"


def test_settings_map_onto_client_config_and_the_registry_builds_clients():
    settings = {"ZOOM_CLIENT_ID": "zid", "ZOOM_CLIENT_SECRET": "zs", "ZOOM_API_URL": "http://127.0.0.1:1/v2",
                "ZOOM_TOKEN_URL": "", "INTEGRATION_HTTP_TIMEOUT": "4"}
    config = config_from_settings(settings, "zoom")
    assert config == {"client_id": "zid", "client_secret": "zs", "api_url": "http://127.0.0.1:1/v2", "timeout": 4.0}
    client = client_for("zoom", config)
    assert isinstance(client, ZoomClient)
    assert client.url("token_url") == "https://zoom.us/oauth/token"       # empty setting: the default
    assert {name: info.category for name, info in PROVIDERS.items()} == {
        "google": "calendar", "microsoft": "calendar", "zoom": "video", "webex": "video", "teams": "video",
        "hubspot": "crm", "attio": "crm", "salesforce": "crm", "close": "crm"}
    teams = client_for("teams", config_from_settings({"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET": "s"},
                                                     "teams"))
    assert teams.client_id == "m" and teams.scopes == ("offline_access", "User.Read", "OnlineMeetings.ReadWrite")
    assert PROVIDERS["google"].video_locations == ("google_meet",)
    # a CRM builds its config with its own settings hook, and stores its own kind of token set
    hubspot = client_for("hubspot", config_from_settings({"HUBSPOT_CLIENT_ID": "h", "HUBSPOT_CLIENT_SECRET": "s",
                                                          "HUBSPOT_API_BASE": "http://127.0.0.1:9"}, "hubspot"))
    assert hubspot.url("token_url") == "http://127.0.0.1:9/oauth/2026-03/token"
    assert hubspot.scopes == ("crm.objects.contacts.read", "crm.objects.contacts.write")
    salesforce = client_for("salesforce", config_from_settings(
        {"SALESFORCE_CLIENT_ID": "c", "SALESFORCE_CLIENT_SECRET": "s", "SALESFORCE_LOGIN_URL": ""}, "salesforce"))
    assert salesforce.url("token_url") == "https://login.salesforce.com/services/oauth2/token"
    close = client_for("close", config_from_settings({"CLOSE_CLIENT_ID": "c", "CLOSE_CLIENT_SECRET": "s",
                                                      "CLOSE_API_BASE": "http://127.0.0.1:9/"}, "close"))
    assert (close.url("token_url"), close.url("api_url")) == ("http://127.0.0.1:9/oauth2/token/",
                                                              "http://127.0.0.1:9/api/v1")
    assert token_class("salesforce").__name__ == "SalesforceToken" and token_class("google") is TokenSet
    assert "offline_access" in PROVIDERS["microsoft"].scopes


def test_time_helpers_refuse_naive_datetimes_and_read_offsets():
    assert utc_iso(datetime(2026, 3, 10, 10, 30, tzinfo=UTC) + timedelta(microseconds=5)) == "2026-03-10T10:30:00Z"
    with pytest.raises(ValueError):
        utc_iso(datetime(2026, 3, 10, 10, 30))
    assert parse_instant("2026-03-10T10:30:00+01:00") == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert parse_instant("2026-03-10T09:30:00.0000000") == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0 and retry_after_seconds("-5") == 0.0
    assert retry_after_seconds("Sun, 06 Dec 2026 03:01:30 GMT", now=now) == 90.0
    assert retry_after_seconds("Sun, 06 Dec 2026 02:00:00 GMT", now=now) == 0.0      # in the past: at once
    assert [retry_after_seconds(v) for v in (None, "", "soon", "Sun, 99 Foo")] == [None] * 4
