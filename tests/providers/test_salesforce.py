"""Salesforce Contacts and Events through SalesforceClient / SalesforceApi, against the local Salesforce fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.integrations.errors import (
    AuthRevoked,
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.salesforce import (
    SalesforceClient,
    SalesforceToken,
    record_id,
    soql_quote,
    split_name,
)
from tests.fakes.oauth_server import REDIRECT_URI
from tests.fakes.salesforce import ORG_ID, USER_ID, SalesforceFake

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def sf_fake():
    with SalesforceFake() as fake:
        yield fake


@pytest.fixture
def sf(sf_fake):
    client = SalesforceClient(sf_fake.client_config())
    token = connect(client)
    renewed: list[SalesforceToken] = []
    return client, token, client.api(token, on_token=renewed.append), renewed


def test_connect_asks_for_id_api_refresh_token_and_keeps_the_instance(sf_fake):
    client = SalesforceClient(sf_fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    assert query["scope"] == ["id api refresh_token"] and query["code_challenge_method"] == ["S256"]
    assert urlsplit(client.config["authorize_url"]).path == "/services/oauth2/authorize"
    before = datetime.now(UTC)
    token = connect(client)
    call = sf_fake.calls("POST", "/services/oauth2/token")[-1]
    assert call.form["client_id"] == sf_fake.client_id and call.form["client_secret"] == sf_fake.client_secret
    assert call.form["code_verifier"] and "Authorization" not in call.headers
    assert isinstance(token, SalesforceToken) and token.refresh_token
    assert token.instance_url == sf_fake.url
    assert token.identity_url == f"{sf_fake.url}/id/{ORG_ID}/{USER_ID}"
    # no expires_in in the answer: issued_at + the two-hour session timeout
    two_hours = timedelta(hours=2)
    assert before + two_hours - timedelta(seconds=2) <= token.expires_at <= datetime.now(UTC) + two_hours
    stored = SalesforceToken.from_dict(token.to_dict())
    assert stored == token and token.access_token not in repr(token) and token.access_token not in repr(stored)


def test_without_the_refresh_token_scope_there_is_no_refresh_token(sf_fake):
    client = SalesforceClient(sf_fake.client_config(scopes=("id", "api")))
    token = connect(client)
    assert token.refresh_token is None
    with pytest.raises(GrantRevoked):
        client.refresh(token)


def test_org_name_and_identity(sf, sf_fake):
    _, _, api, _ = sf
    assert api.org_name() == "Acme Widgets"
    assert sf_fake.queries[-1] == "SELECT Name FROM Organization LIMIT 1"
    identity = api.identity()
    assert identity["organization_id"] == ORG_ID and identity["user_id"] == USER_ID


def test_soql_quote_escapes_backslash_quotes_and_control_characters():
    assert soql_quote("bo@example.com") == "'bo@example.com'"
    assert soql_quote("o'neil@example.com") == "'o\\'neil@example.com'"
    assert soql_quote("a\\b") == "'a\\\\b'"
    assert soql_quote("x' OR Email != '") == "'x\\' OR Email != \\''"
    assert soql_quote('q"\n\t') == "'q\\\"\\n\\t'"
    with pytest.raises(TypeError):
        soql_quote(None)


def test_a_contact_whose_email_has_a_quote_is_found_through_an_escaped_query(sf, sf_fake):
    _, token, api, _ = sf
    email = "o'neil@example.com"
    contact_id = api.upsert_contact(email, "Pat", "O'Neil", "+4930123456")
    assert sf_fake.queries[0] == ("SELECT Id, FirstName, LastName FROM Contact WHERE Email = "
                                  "'o\\'neil@example.com' LIMIT 1")
    assert api.find_contact(email) == {"Id": contact_id, "FirstName": "Pat", "LastName": "O'Neil"}
    assert api.find_contact("O'NEIL@example.com")["Id"] == contact_id        # Salesforce compares case-insensitively
    assert api.find_contact("neil@example.com") is None
    # the fake refuses the query a careless client would build
    url = f"{sf_fake.url}/services/data/v60.0/query"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    bad = f"SELECT Id FROM Contact WHERE Email = '{email}' LIMIT 1"
    answer = requests.get(url, params={"q": bad}, headers=auth, timeout=5)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "MALFORMED_QUERY"
    injected = "SELECT Id FROM Contact WHERE Email = 'x' OR Email != '' LIMIT 1"
    assert requests.get(url, params={"q": injected}, headers=auth, timeout=5).status_code == 400


def test_upsert_creates_then_updates_only_first_name_and_phone(sf, sf_fake):
    _, _, api, _ = sf
    contact_id = api.upsert_contact("bo@example.com", "Bo", "Berg", None)
    assert sf_fake.calls("POST", "/services/data/v60.0/sobjects/Contact")[0].json == {
        "Email": "bo@example.com", "FirstName": "Bo", "LastName": "Berg"}
    sf_fake.contacts[contact_id]["LastName"] = "Berg-Sales"          # the sales team's edit
    assert api.upsert_contact("bo@example.com", "Bodil", "Berg", "+46 8 123") == contact_id
    patch = sf_fake.calls("PATCH")[-1]
    assert patch.path == f"/services/data/v60.0/sobjects/Contact/{contact_id}"
    assert patch.json == {"FirstName": "Bodil", "Phone": "+46 8 123"}
    assert sf_fake.contacts[contact_id] == {"Id": contact_id, "Email": "bo@example.com", "FirstName": "Bodil",
                                           "LastName": "Berg-Sales", "Phone": "+46 8 123"}
    assert api.upsert_contact("bo@example.com", "", "", None) == contact_id   # nothing to change: no PATCH
    assert len(sf_fake.calls("PATCH")) == 1 and len(sf_fake.contacts) == 1


def test_a_single_name_is_the_last_name():
    assert split_name("Bo") == ("", "Bo")
    assert split_name("  Anna  Maria Berg ") == ("Anna Maria", "Berg")
    assert split_name("") == ("", "")


def test_events_are_created_on_the_contact_rescheduled_and_cancelled(sf, sf_fake):
    _, _, api, _ = sf
    who = api.upsert_contact("bo@example.com", "Bo", "Berg")
    event_id = api.create_event(who, "Intro call with Bo Berg", T9, T9 + timedelta(minutes=30), None)
    assert sf_fake.calls("POST", "/services/data/v60.0/sobjects/Event")[0].json == {
        "Subject": "Intro call with Bo Berg", "StartDateTime": "2026-03-10T09:00:00Z",
        "EndDateTime": "2026-03-10T09:30:00Z", "Description": "Booked via LinkTime", "WhoId": who}
    api.update_event(event_id, start=T9 + timedelta(days=1), end=T9 + timedelta(days=1, minutes=30),
                     description="Rescheduled from 2026-03-10 09:00 UTC")
    api.update_event(event_id, subject="[Cancelled] Intro call with Bo Berg")
    stored = sf_fake.events[event_id]
    assert stored["StartDateTime"] == "2026-03-11T09:00:00Z" and stored["EndDateTime"] == "2026-03-11T09:30:00Z"
    assert stored["Subject"] == "[Cancelled] Intro call with Bo Berg" and stored["WhoId"] == who
    with pytest.raises(ValueError):
        api.create_event(who, "x", T9, T9 - timedelta(minutes=1))
    with pytest.raises(ValueError):
        api.update_event("../sobjects/Contact", subject="x")
    with pytest.raises(NotFound):
        api.update_event("00U000000000000AAA", subject="gone")
    with pytest.raises(PermanentError) as caught:                # a WhoId that is no Contact
        api.create_event("003000000000000AAA", "x", T9, T9 + timedelta(minutes=5))
    assert caught.value.code == "FIELD_INTEGRITY_EXCEPTION"
    assert record_id("003000000000000") == "003000000000000"


def test_the_token_is_refreshed_from_five_minutes_before_it_expires(sf_fake):
    client = SalesforceClient(sf_fake.client_config())
    token = connect(client)
    renewed: list[SalesforceToken] = []
    now = [token.expires_at - timedelta(minutes=6)]
    api = client.api(token, on_token=renewed.append, clock=lambda: now[0])
    api.find_contact("bo@example.com")
    assert not renewed and not sf_fake.calls("POST", "/services/oauth2/token")[1:]
    now[0] = token.expires_at - timedelta(minutes=4)
    api.find_contact("bo@example.com")
    assert len(renewed) == 1 and api.token is renewed[0]
    assert renewed[0].access_token != token.access_token
    assert renewed[0].refresh_token == token.refresh_token and renewed[0].instance_url == token.instance_url
    assert sf_fake.calls("POST", "/services/oauth2/token")[-1].form["grant_type"] == "refresh_token"
    assert sf_fake.calls("GET")[-1].headers["Authorization"] == f"Bearer {renewed[0].access_token}"


def test_invalid_session_id_refreshes_once_then_a_revoked_grant_is_reported(sf, sf_fake):
    _, _, api, renewed = sf
    sf_fake.expire_access_tokens()                      # an org with a shorter session timeout
    assert api.find_contact("bo@example.com") is None
    assert len(renewed) == 1
    sf_fake.reject("INVALID_SESSION_ID", times=2)        # refused even with a fresh token
    with pytest.raises(Unauthorized) as caught:
        api.find_contact("bo@example.com")
    assert caught.value.code == "INVALID_SESSION_ID" and len(renewed) == 2
    sf_fake.revoke_grants()                              # the admin revoked the Connected App
    with pytest.raises(GrantRevoked):
        api.find_contact("bo@example.com")


@pytest.mark.parametrize(("code", "kind", "words"), [
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", PermanentError, "Validation Rules"),
    ("INSUFFICIENT_ACCESS_OR_READONLY", PermanentError, "Create and Edit"),
    ("INSUFFICIENT_PERMISSIONS", PermanentError, "Profile"),
    ("DUPLICATES_DETECTED", PermanentError, "Alert instead of"),
    ("REQUIRED_FIELD_MISSING", PermanentError, "requires a field"),
    ("API_DISABLED_FOR_ORG", PermanentError, "API Enabled"),
    ("REQUEST_LIMIT_EXCEEDED", TransientError, "API request limit"),
])
def test_salesforce_error_codes_say_what_to_fix(sf, sf_fake, code, kind, words):
    _, _, api, _ = sf
    sf_fake.reject(code, path="/services/data/v60.0/sobjects/Contact", fields=["LastName"])
    with pytest.raises(kind) as caught:
        api.upsert_contact("bo@example.com", "Bo", "Berg")
    error = caught.value
    assert type(error) is kind and error.code == code and words in error.message
    assert not isinstance(error, AuthRevoked) and "injected" not in error.message


def test_outages_and_slowness_are_transient(sf_fake):
    client = SalesforceClient(sf_fake.client_config(timeout=0.3))
    api = client.api(connect(client))
    sf_fake.fail(500, path="/services/data/")
    with pytest.raises(TransientError) as caught:
        api.find_contact("bo@example.com")
    assert caught.value.code == "UNKNOWN_EXCEPTION"
    sf_fake.fail(429, path="/services/data/", headers={"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        api.find_contact("bo@example.com")
    assert caught.value.retry_after == 7
    sf_fake.slow(1.5, path="/services/data/")
    with pytest.raises(TransientError) as caught:
        api.find_contact("bo@example.com")
    assert "did not answer" in caught.value.message


def test_the_api_version_is_pinned(sf_fake):
    client = SalesforceClient(sf_fake.client_config(api_version="59.0"))
    with pytest.raises(NotFound):
        client.api(connect(client)).find_contact("bo@example.com")
    with pytest.raises(ValueError):
        SalesforceClient(sf_fake.client_config(api_version="60.0/../x"))


def test_revoke_ends_the_refresh_token_and_its_access_tokens(sf, sf_fake):
    client, token, api, _ = sf
    assert client.revoke(token.refresh_token) is True
    assert sf_fake.calls("POST", "/services/oauth2/revoke")[0].form == {"token": token.refresh_token}
    with pytest.raises(GrantRevoked) as caught:
        client.refresh(token)
    assert caught.value.code == "invalid_grant"
    with pytest.raises(GrantRevoked):                    # 401, then the refresh is refused too
        api.find_contact("bo@example.com")


def test_the_real_login_hosts_are_https_and_guarded():
    client = SalesforceClient({"client_id": "id", "client_secret": "secret"})
    assert client.config["token_url"] == "https://login.salesforce.com/services/oauth2/token"
    assert client.allow_private is False
    sandbox = SalesforceClient({"client_id": "id", "client_secret": "secret",
                                "login_url": "https://test.salesforce.com"})
    assert sandbox.config["revoke_url"] == "https://test.salesforce.com/services/oauth2/revoke"
    assert sandbox.allow_private is False
    with pytest.raises(PermanentError):
        client._request("GET", "http://127.0.0.1:9/services/data/v60.0/query")
    with pytest.raises(ValueError):
        client.api(SalesforceToken("a", "r", None))      # no instance_url
