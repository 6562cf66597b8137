"""REST API v1 authentication and limits: Bearer keys, 401 variants, 403 for Free, per-key and pre-auth
rate limits with Retry-After, CSRF exemption."""
from __future__ import annotations

import pytest

from app.db import db
from app.models import ApiKey, User
from app.services.developer import api_keys
from tests.api.conftest import bearer, in_db, new_key

ME = "/api/v1/me"


def from_ip(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def assert_401(response):
    assert response.status_code == 401
    assert response.is_json and set(response.json) == {"error"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- 401 -----------------------------------------------------------------------------------------------
def test_a_request_without_a_key_is_401_with_a_json_message(client):
    response = client.get(ME)
    assert_401(response)
    assert "Authorization: Bearer" in response.json["error"]


@pytest.mark.parametrize("header", [
    "lt_live_" + "a" * 64,                 # no scheme
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer    ",
    "Token lt_live_" + "a" * 64,
    "Bearer lt_test_" + "a" * 64,          # wrong prefix
    "Bearer lt_live_short",
    "Bearer lt_live_" + "a" * 63 + "!",     # not alphanumeric
    "Bearer " + "x" * 5000,
])
def test_a_malformed_authorization_header_is_401(client, header):
    assert_401(client.get(ME, headers={"Authorization": header}))


def test_an_unknown_well_formed_key_is_401(client, pro_host):
    assert_401(client.get(ME, headers=bearer(api_keys.generate_key())))


def test_a_deleted_key_is_401(app, client, pro_host):
    raw = new_key(app, pro_host)
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    key = in_db(app, ApiKey.get, ApiKey.user == pro_host)
    in_db(app, api_keys.delete_api_key, pro_host, key.id)
    response = client.get(ME, headers=bearer(raw))
    assert_401(response)
    assert "Invalid API key" in response.json["error"]


def test_the_key_of_a_disabled_account_is_401(app, client, pro_host):
    raw = new_key(app, pro_host)
    in_db(app, lambda: User.update(is_disabled=True).where(User.id == pro_host.id).execute())
    assert_401(client.get(ME, headers=bearer(raw)))


def test_the_scheme_is_case_insensitive(client, pro_key):
    assert client.get(ME, headers={"Authorization": f"bearer {pro_key}"}).status_code == 200


def test_every_api_v1_endpoint_requires_a_key(client):
    paths = [("get", "/api/v1/bookings"), ("post", "/api/v1/bookings"), ("get", "/api/v1/bookings/x"),
             ("post", "/api/v1/bookings/x/cancel"), ("post", "/api/v1/bookings/x/reschedule"),
             ("get", "/api/v1/contacts"), ("post", "/api/v1/contacts"), ("get", "/api/v1/contacts/x"),
             ("patch", "/api/v1/contacts/x"), ("delete", "/api/v1/contacts/x"), ("get", "/api/v1/event-types"),
             ("get", "/api/v1/event-types/x"), ("get", "/api/v1/availability/30-min?timezone=UTC")]
    for method, path in paths:
        assert_401(getattr(client, method)(path, **from_ip(f"10.1.0.{len(path)}")))


def test_the_openapi_document_needs_no_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json["openapi"].startswith("3.1")


def test_a_successful_request_records_when_the_key_was_last_used(app, client, pro_host):
    raw = new_key(app, pro_host)
    assert in_db(app, ApiKey.get, ApiKey.user == pro_host).last_used_at is None
    client.get(ME, headers=bearer(raw))
    assert in_db(app, ApiKey.get, ApiKey.user == pro_host).last_used_at is not None


# --- plans ---------------------------------------------------------------------------------------------
def test_a_free_accounts_key_is_403_with_a_clear_message(app, client, make_user):
    free = make_user("frida", plan="FREE")
    response = client.get(ME, headers=bearer(new_key(app, free)))
    assert response.status_code == 403
    assert response.json["error"].startswith("The REST API requires a Pro plan or higher")


def test_free_accounts_are_refused_on_writes_too_and_nothing_changes(app, client, make_user):
    free = make_user("frida", plan="FREE")
    response = client.post("/api/v1/contacts", json={"name": "Jane", "email": "jane@example.com"},
                           headers=bearer(new_key(app, free)))
    assert response.status_code == 403
    from app.models import Contact
    assert in_db(app, Contact.select().count) == 0


@pytest.mark.parametrize("plan", ["PRO", "BUSINESS", "ORGANIZATION"])
def test_pro_and_higher_plans_may_use_the_api(app, client, make_user, plan):
    user = make_user("paula", plan=plan)
    response = client.get(ME, headers=bearer(new_key(app, user)))
    assert response.status_code == 200 and response.json["effectivePlan"] == plan


# --- rate limits ---------------------------------------------------------------------------------------
def test_each_key_is_limited_to_its_configured_rate_with_retry_after(app_factory, make_user):
    app = app_factory(RATELIMIT_API_KEY="3/minute")
    client = app.test_client()
    user = make_user("hana", plan="PRO")
    first, second = new_key(app, user, "one"), new_key(app, user, "two")
    assert [client.get(ME, headers=bearer(first)).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get(ME, headers=bearer(first))
    assert limited.status_code == 429
    assert limited.is_json and "error" in limited.json
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert client.get(ME, headers=bearer(second)).status_code == 200   # the limit is per key


def test_the_default_key_limit_is_60_requests_a_minute(app, client, pro_key):
    assert app.config["RATELIMIT_API_KEY"] == "60/minute"
    statuses = [client.get(ME, headers=bearer(pro_key)).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60
    assert statuses[60] == 429


def test_five_failed_authentications_lock_the_address_out_even_with_a_valid_key(app, client, pro_key):
    assert app.config["RATELIMIT_API_PREAUTH"] == "5/minute"
    bad = bearer(api_keys.generate_key())
    assert [client.get(ME, headers=bad).status_code for _ in range(5)] == [401] * 5
    locked = client.get(ME, headers=bearer(pro_key))
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert "failed authentication" in locked.json["error"]
    # another address is not affected
    assert client.get(ME, headers=bearer(pro_key), **from_ip("10.9.9.9")).status_code == 200


def test_only_failed_authentications_count_toward_the_address_limit(app, client, pro_key):
    for _ in range(20):
        assert client.get(ME, headers=bearer(pro_key)).status_code == 200
    bad = bearer(api_keys.generate_key())
    assert [client.get(ME, headers=bad).status_code for _ in range(4)] == [401] * 4
    assert client.get(ME, headers=bearer(pro_key)).status_code == 200   # 4 failures: still allowed


def test_missing_and_malformed_headers_count_as_failures(app, client, pro_key):
    for headers in ({}, {"Authorization": "Basic x"}, {"Authorization": "Bearer nope"}, {}, {}):
        assert client.get(ME, headers=headers).status_code == 401
    assert client.get(ME, headers=bearer(pro_key)).status_code == 429


def test_a_locked_out_address_is_refused_before_any_key_lookup(app_factory, make_user, monkeypatch):
    app = app_factory(RATELIMIT_API_PREAUTH="2/minute")
    client = app.test_client()
    key = new_key(app, make_user("hana", plan="PRO"))
    for _ in range(2):
        assert client.get(ME, headers=bearer(api_keys.generate_key())).status_code == 401
    looked_up = []
    monkeypatch.setattr(api_keys, "authenticate", lambda raw: looked_up.append(raw))
    assert client.get(ME, headers=bearer(key)).status_code == 429
    assert looked_up == []


def test_a_free_accounts_403_does_not_count_as_a_failed_authentication(app, client, make_user, pro_key):
    free_key = new_key(app, make_user("frida", plan="FREE"))
    assert [client.get(ME, headers=bearer(free_key)).status_code for _ in range(6)] == [403] * 6
    assert client.get(ME, headers=bearer(pro_key)).status_code == 200


# --- CSRF ----------------------------------------------------------------------------------------------
def test_api_writes_need_no_csrf_token(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    key = new_key(app, make_user("hana", plan="PRO"))
    response = client.post("/api/v1/contacts", json={"name": "Jane", "email": "jane@example.com"}, headers=bearer(key))
    assert response.status_code == 201
    with app.app_context(), db.connection_context():
        assert response.json["id"]
