"""Sign in with Google / Microsoft (OpenID Connect) against a real provider on loopback.

The browser's part is played by hand: the test client asks LinkTime for /login/<provider>, ``requests``
opens the provider's authorization URL, and the callback URL the provider redirects to is fed back to the
test client. LinkTime itself fetches discovery, JWKS and tokens from the provider over real HTTP.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests import factories
from tests.conftest import login
from tests.fakes.oidc_provider import (
    Client,
    Identity,
    OIDCProvider,
    SigningKey,
    s256_challenge,
)

CLIENT_ID = "linktime-test"
CLIENT_SECRET = "s3cret"
BASE_URL = "http://localhost"
CALLBACKS = tuple(f"{BASE_URL}/login/{name}/callback" for name in ("google", "microsoft"))


# --- fixtures and helpers -----------------------------------------------------------------------------------
@pytest.fixture
def fake():
    with OIDCProvider(clients=[Client(CLIENT_ID, CLIENT_SECRET, CALLBACKS)]) as provider:
        yield provider


def oidc_config(provider: OIDCProvider, *names: str) -> dict:
    cfg = {"BASE_URL": BASE_URL}
    for name in names or ("google",):
        prefix = name.upper()
        cfg.update({f"{prefix}_CLIENT_ID": CLIENT_ID, f"{prefix}_CLIENT_SECRET": CLIENT_SECRET,
                    f"{prefix}_DISCOVERY_URL": provider.discovery_url})
    return cfg


@pytest.fixture
def oidc_app(app_factory, fake):
    return app_factory(**oidc_config(fake, "google", "microsoft"))


@pytest.fixture
def web(oidc_app):
    return oidc_app.test_client()


def db_call(app, fn):
    from app.db import db
    with app.app_context(), db.connection_context():
        return fn()


def counts(app) -> tuple[int, int]:
    """(users, linked identities)."""
    from app.models import OAuthIdentity, User
    return db_call(app, lambda: (User.select().count(), OAuthIdentity.select().count()))


def identities(app) -> list[tuple[str, str, str]]:
    from app.models import OAuthIdentity
    return db_call(app, lambda: sorted((i.provider, i.subject, i.user.username) for i in OAuthIdentity.select()))


def start(client, provider="google") -> str:
    """Ask LinkTime to start sign-in; return the provider's authorization URL."""
    response = client.get(f"/login/{provider}")
    assert response.status_code == 302, response.data[:300]
    return response.headers["Location"]


def at_provider(authorization_url: str) -> str:
    """The browser at the provider: open the authorization URL and return where it redirects to."""
    response = requests.get(authorization_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def sign_in(client, provider="google"):
    """Run the whole redirect dance; return LinkTime's answer to the callback."""
    callback = at_provider(start(client, provider))
    assert callback.startswith(f"{BASE_URL}/login/{provider}/callback?"), callback
    return client.get(callback)


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def signed_in(client) -> bool:
    return client.get("/dashboard").status_code == 200


def complete_signup(client, username="grace", timezone="America/New_York", name="Grace Hopper"):
    return client.post("/signup/complete", data={"name": name, "username": username, "timezone": timezone})


GRACE = Identity(sub="google-sub-100", email="Grace@Example.com", email_verified=True, name="Grace Hopper")


# --- buttons ------------------------------------------------------------------------------------------------
def test_sign_in_buttons_appear_only_for_providers_with_a_client_id(app_factory, fake):
    plain = app_factory(BASE_URL=BASE_URL).test_client()
    for page in ("/login", "/signup"):
        html = plain.get(page).data
        assert b"/login/google" not in html and b"/login/microsoft" not in html and b"Continue with" not in html
    assert plain.get("/login/google").status_code == 404

    google_only = app_factory(**oidc_config(fake, "google")).test_client()
    for page in ("/login", "/signup"):
        html = google_only.get(page).data
        assert b'href="/login/google"' in html and b"Continue with Google" in html
        assert b"/login/microsoft" not in html
    assert google_only.get("/login/microsoft").status_code == 404
    assert google_only.get("/login/microsoft/callback?code=x&state=y").status_code == 404

    both = app_factory(**oidc_config(fake, "google", "microsoft")).test_client()
    html = both.get("/signup").data
    assert b'href="/login/google"' in html and b'href="/login/microsoft"' in html
    assert b"Continue with Microsoft" in html


def test_sign_in_start_sends_state_nonce_and_s256_pkce_to_the_provider(web, fake):
    query = parse_qs(urlsplit(start(web)).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{BASE_URL}/login/google/callback"]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 16 and len(query["nonce"][0]) >= 16


# --- new, returning and linked identities ---------------------------------------------------------------------
def test_new_identity_chooses_username_and_time_zone_and_gets_a_passwordless_account(web, oidc_app, fake):
    fake.identity = GRACE
    response = sign_in(web)
    assert response.status_code == 302 and response.headers["Location"] == "/signup/complete"
    assert counts(oidc_app) == (0, 0)  # nothing is created before the person confirms
    assert not signed_in(web)

    page = web.get("/signup/complete")
    assert page.status_code == 200
    assert b"You signed in with Google as <strong>grace@example.com</strong>" in page.data
    assert b'value="grace"' in page.data and b'value="Grace Hopper"' in page.data

    done = complete_signup(web, username="grace-h", timezone="America/New_York")
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    dashboard = web.get("/dashboard")
    assert dashboard.status_code == 200 and b"Welcome, Grace Hopper" in dashboard.data

    from app.models import User
    user = db_call(oidc_app, lambda: User.get(User.username == "grace-h"))
    assert user.email == "grace@example.com" and user.timezone == "America/New_York"
    assert user.password_hash is None
    assert identities(oidc_app) == [("google", "google-sub-100", "grace-h")]
    assert fake.token_request_count == 1
    assert fake.token_requests[0].auth_method == "client_secret_basic" and fake.token_requests[0].status == 200
    # the finished sign-up is not repeatable
    assert web.get("/signup/complete").headers["Location"] == "/dashboard"


def test_returning_identity_signs_straight_in(web, oidc_app, fake):
    fake.identity = GRACE
    sign_in(web)
    complete_signup(web)
    web.post("/logout")
    assert not signed_in(web)

    # The provider now reports another name and email: the stable subject decides who this is.
    fake.identity = Identity(sub=GRACE.sub, email="grace@navy.example", name="Rear Admiral Hopper")
    response = sign_in(web)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    page = web.get("/dashboard")
    assert page.status_code == 200 and b"Welcome, Grace Hopper" in page.data
    assert counts(oidc_app) == (1, 1)
    assert fake.token_request_count == 2


@pytest.mark.parametrize("provider,verification", [
    ("google", {"email_verified": True}),
    ("microsoft", {"email_verified": None, "xms_edov": True}),
])
def test_existing_password_account_with_the_same_verified_email_is_linked_and_signed_in(
        web, oidc_app, fake, make_user, provider, verification):
    ada = make_user("ada", email="ada@example.com")
    fake.identity = Identity(sub="sub-ada", email="ADA@example.com", name="Ada",
                             email_verified=verification.get("email_verified"),
                             extra_claims={k: v for k, v in verification.items() if k != "email_verified"})
    response = sign_in(web, provider)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert signed_in(web)
    assert counts(oidc_app) == (1, 1)
    assert identities(oidc_app) == [(provider, "sub-ada", "ada")]
    web.post("/logout")
    login(web, ada)  # the password keeps working
    assert signed_in(web)


@pytest.mark.parametrize("provider,verification", [
    ("google", {"email_verified": False}),
    ("google", {"email_verified": None}),
    ("google", {"email_verified": "false"}),
    ("microsoft", {"email_verified": None}),   # Microsoft's usual answer: no claim at all
    ("microsoft", {"email_verified": None, "xms_edov": False}),
])
def test_unverified_email_matching_an_existing_account_is_refused(web, oidc_app, fake, make_user, provider,
                                                                  verification):
    make_user("ada", email="ada@example.com")
    fake.identity = Identity(sub="attacker", email="ada@example.com", name="Not Ada",
                             email_verified=verification["email_verified"],
                             extra_claims={k: v for k, v in verification.items() if k != "email_verified"})
    response = sign_in(web, provider)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    page = web.get("/login")
    assert b"has not confirmed that ada@example.com is your address" in page.data
    assert not signed_in(web)
    assert counts(oidc_app) == (1, 0)


def test_unverified_email_cannot_start_a_new_account(web, oidc_app, fake):
    fake.identity = Identity(sub="sub-x", email="victim@example.com", email_verified=False)
    response = sign_in(web)
    assert response.headers["Location"] == "/login"
    assert web.get("/signup/complete").headers["Location"] == "/signup"
    assert complete_signup(web, username="victim").headers["Location"] == "/signup"
    assert counts(oidc_app) == (0, 0)


# --- refusals -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["tampered", "missing", "replayed-in-another-browser", "other-provider"])
def test_callback_with_a_tampered_or_missing_state_is_refused_without_creating_anything(
        web, oidc_app, fake, how):
    fake.identity = GRACE
    callback = at_provider(start(web))
    client = web
    if how == "tampered":
        callback = with_query(callback, state=secrets.token_urlsafe(20))
    elif how == "missing":
        callback = with_query(callback, state=None)
    elif how == "replayed-in-another-browser":  # login CSRF: an attacker's code pushed into a victim's browser
        client = oidc_app.test_client()
    else:
        callback = callback.replace("/login/google/", "/login/microsoft/")
    response = client.get(callback)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert b"did not complete" in client.get("/login").data
    assert fake.token_request_count == 0  # the code was never redeemed
    assert client.get("/signup/complete").headers["Location"] == "/signup"
    assert not signed_in(client)
    assert counts(oidc_app) == (0, 0)


def test_callback_cannot_be_replayed_after_success(web, oidc_app, fake, make_user):
    make_user("grace", email="grace@example.com")
    fake.identity = GRACE
    callback = at_provider(start(web))
    assert web.get(callback).headers["Location"] == "/dashboard"
    web.post("/logout")
    replay = web.get(callback)
    assert replay.headers["Location"] == "/login" and not signed_in(web)
    assert fake.token_request_count == 1


def test_provider_denial_shows_a_message_and_signs_nobody_in(web, oidc_app, fake):
    fake.deny = True
    callback = at_provider(start(web))
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    response = web.get(callback)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert b"Sign-in with Google was cancelled." in web.get("/login").data
    assert not signed_in(web)
    assert fake.token_request_count == 0 and counts(oidc_app) == (0, 0)


@pytest.mark.parametrize("linked", [True, False])
def test_disabled_account_cannot_sign_in_with_a_provider(web, oidc_app, fake, make_user, linked):
    from app.models import User
    from app.services.account import accounts

    fake.identity = GRACE
    if linked:
        sign_in(web)
        complete_signup(web, username="grace")
        web.post("/logout")
    else:
        make_user("grace", email="grace@example.com")
    db_call(oidc_app, lambda: accounts.set_disabled(User.get(User.username == "grace"), True))

    response = sign_in(web)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert b"This account is disabled." in web.get("/login").data
    assert not signed_in(web)
    assert counts(oidc_app) == (1, 1 if linked else 0)  # a disabled account gets no new sign-in identity


@pytest.mark.parametrize("username,message", [
    ("ab", "Use 3–30 characters"),
    ("Bad Name", "Use 3–30 characters"),
    ("dashboard", "This username is reserved."),
    ("taken", "This username is taken."),
])
def test_invalid_username_on_signup_complete_shows_inline_error_and_creates_nothing(
        web, oidc_app, fake, make_user, username, message):
    make_user("taken", email="someone-else@example.com")
    fake.identity = GRACE
    sign_in(web)
    response = complete_signup(web, username=username)
    assert response.status_code == 422
    assert message.encode() in response.data and b'aria-invalid="true"' in response.data
    assert b"grace@example.com" in response.data
    assert not signed_in(web)
    assert counts(oidc_app) == (1, 0)
    # the pending sign-in survives the mistake
    assert complete_signup(web, username="grace").headers["Location"] == "/dashboard"
    assert identities(oidc_app) == [("google", GRACE.sub, "grace")]


def test_invalid_time_zone_on_signup_complete_is_refused(web, oidc_app, fake):
    fake.identity = GRACE
    sign_in(web)
    response = complete_signup(web, timezone="Mars/Olympus")
    assert response.status_code == 422 and b"Choose a time zone from the list." in response.data
    assert counts(oidc_app) == (0, 0)


def test_email_taken_while_the_sign_up_was_pending_is_refused_on_complete(web, oidc_app, fake, make_user):
    fake.identity = GRACE
    sign_in(web)
    make_user("grace", email="grace@example.com")  # signed up with a password in the meantime
    response = complete_signup(web, username="grace-h")
    assert response.status_code == 422
    assert b"An account with this email already exists." in response.data
    assert counts(oidc_app) == (1, 0) and not signed_in(web)


def test_signed_in_user_starting_provider_sign_in_goes_to_the_dashboard(web, oidc_app, fake, make_user):
    login(web, make_user("ada"))
    response = web.get("/login/google")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert web.get("/signup/complete").headers["Location"] == "/dashboard"


def test_signup_complete_without_a_provider_sign_in_goes_to_signup(web, oidc_app):
    assert web.get("/signup/complete").headers["Location"] == "/signup"
    assert complete_signup(web).headers["Location"] == "/signup"
    assert counts(oidc_app) == (0, 0)


def test_new_identity_is_refused_when_sign_up_is_closed(app_factory, fake, make_user):
    make_user("owner", email="owner@example.com")
    closed = app_factory(SIGNUP_OPEN=False, **oidc_config(fake, "google"))
    client = closed.test_client()
    fake.identity = GRACE
    response = sign_in(client)
    assert response.status_code == 403 and b"Sign-up is closed" in response.data
    assert complete_signup(client).headers["Location"] == "/signup"
    assert counts(closed) == (1, 0)


# --- both providers, audit ------------------------------------------------------------------------------------
def test_google_and_microsoft_both_sign_in_against_the_same_provider(web, oidc_app, fake):
    fake.identity = GRACE
    sign_in(web, "google")
    assert complete_signup(web, username="grace").headers["Location"] == "/dashboard"
    web.post("/logout")

    fake.identity = Identity(sub="microsoft-oid-7", email="grace@example.com", name="Grace H.")
    response = sign_in(web, "microsoft")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert b"Welcome, Grace Hopper" in web.get("/dashboard").data
    assert identities(oidc_app) == [("google", GRACE.sub, "grace"), ("microsoft", "microsoft-oid-7", "grace")]
    assert counts(oidc_app) == (1, 2)


def test_sign_in_with_google_writes_an_auth_login_audit_entry(web, oidc_app, fake, make_user):
    from app.models import AuditLog

    grace = make_user("grace", email="grace@example.com")
    fake.identity = GRACE
    assert sign_in(web).headers["Location"] == "/dashboard"
    entries = db_call(oidc_app, lambda: list(AuditLog.select().where(AuditLog.action == "auth.login")))
    assert len(entries) == 1
    entry = entries[0]
    assert json.loads(entry.details) == {"method": "google"}
    assert entry.user_id == grace.id and entry.actor_id == grace.id and entry.category == "auth"
    from app.models import User
    assert db_call(oidc_app, lambda: User.get_by_id(grace.id).last_login_at) is not None


def test_new_account_from_microsoft_is_audited_as_a_microsoft_sign_up(web, oidc_app, fake):
    from app.models import AuditLog

    fake.identity = Identity(sub="ms-1", email="lin@example.com", name="Lin")
    sign_in(web, "microsoft")
    complete_signup(web, username="lin", name="Lin")
    entry = db_call(oidc_app, lambda: AuditLog.get(AuditLog.action == "auth.signup"))
    assert json.loads(entry.details)["method"] == "microsoft"


# --- ID token checks ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", [
    "audience-of-another-client", "another-issuer", "expired", "forged-nonce", "unknown-signing-key", "no-subject",
])
def test_id_token_that_fails_validation_is_refused(web, oidc_app, fake, problem):
    fake.identity = GRACE
    now = int(time.time())
    if problem == "audience-of-another-client":  # Authlib alone would accept this because azp names us
        fake.id_token_overrides = {"aud": "another-client", "azp": CLIENT_ID}
    elif problem == "another-issuer":
        fake.id_token_overrides = {"iss": "https://accounts.evil.example"}
    elif problem == "expired":
        fake.id_token_overrides = {"iat": now - 7200, "exp": now - 3600}
    elif problem == "forged-nonce":
        fake.id_token_overrides = {"nonce": "not-the-one-we-sent"}
    elif problem == "unknown-signing-key":
        fake.id_token_signer = SigningKey()
    else:
        fake.id_token_overrides = {"sub": None}
    response = sign_in(web)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert b"did not complete" in web.get("/login").data
    assert fake.token_request_count == 1
    assert web.get("/signup/complete").headers["Location"] == "/signup"
    assert not signed_in(web) and counts(oidc_app) == (0, 0)


def test_email_missing_from_the_id_token_is_read_from_userinfo(web, oidc_app, fake):
    fake.identity = GRACE
    fake.id_token_overrides = {"email": None, "email_verified": None}
    response = sign_in(web)
    assert response.headers["Location"] == "/signup/complete"
    assert fake.userinfo_request_count == 1
    assert b"grace@example.com" in web.get("/signup/complete").data


def test_userinfo_about_another_subject_is_refused(web, oidc_app, fake):
    fake.identity = GRACE
    fake.id_token_overrides = {"sub": "someone-else", "email": None, "email_verified": None}
    response = sign_in(web)
    assert response.headers["Location"] == "/login"
    assert fake.userinfo_request_count == 1
    assert counts(oidc_app) == (0, 0) and web.get("/signup/complete").headers["Location"] == "/signup"


def test_microsoft_multi_tenant_issuer_template_is_completed_with_the_token_tenant(app_factory):
    clients = [Client(CLIENT_ID, CLIENT_SECRET, CALLBACKS)]
    with OIDCProvider(clients=clients, tenant_id="9188040d-6c67-4c5b-b112-36a304b66dad") as ms:
        assert "{tenantid}" in requests.get(ms.discovery_url, timeout=5).json()["issuer"]
        client = app_factory(**oidc_config(ms, "microsoft")).test_client()
        ms.identity = Identity(sub="ms-sub", email="lin@example.com")
        assert sign_in(client, "microsoft").headers["Location"] == "/signup/complete"

        other = app_factory(**oidc_config(ms, "microsoft")).test_client()
        ms.id_token_overrides = {"iss": f"{ms.url}/another-tenant/v2.0"}
        assert sign_in(other, "microsoft").headers["Location"] == "/login"
        assert other.get("/signup/complete").headers["Location"] == "/signup"


# --- the fake provider enforces the protocol (so the tests above prove the app follows it) ----------------
def _authorize(fake, **overrides) -> requests.Response:
    verifier = overrides.pop("_verifier", "v" * 50)
    params = {"client_id": CLIENT_ID, "redirect_uri": CALLBACKS[0], "response_type": "code",
              "scope": "openid email profile", "state": "st-1", "nonce": "n-1",
              "code_challenge": s256_challenge(verifier), "code_challenge_method": "S256", **overrides}
    return requests.get(fake.url + "/authorize", params={k: v for k, v in params.items() if v is not None},
                        allow_redirects=False, timeout=5)


def _code(fake, verifier="v" * 50) -> str:
    response = _authorize(fake, _verifier=verifier)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _basic(client_id=CLIENT_ID, secret=CLIENT_SECRET) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.mark.parametrize("overrides,error", [
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"scope": "email profile"}, "invalid_scope"),
    ({"state": None}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
def test_fake_provider_redirects_protocol_errors_back_to_the_client(fake, overrides, error):
    response = _authorize(fake, **overrides)
    assert response.status_code == 302 and response.headers["Location"].startswith(CALLBACKS[0] + "?")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == [error] and "code" not in query


@pytest.mark.parametrize("overrides", [{"client_id": "stranger"}, {"redirect_uri": "https://evil.example/cb"},
                                       {"redirect_uri": None}])
def test_fake_provider_never_redirects_for_an_unknown_client_or_redirect_uri(fake, overrides):
    response = _authorize(fake, **overrides)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_fake_provider_token_endpoint_checks_client_pkce_and_single_use_codes(fake):
    token_url = fake.url + "/token"
    verifier = secrets.token_urlsafe(40)
    form = {"grant_type": "authorization_code", "redirect_uri": CALLBACKS[0], "code_verifier": verifier}

    code = _code(fake, verifier)
    bad_secret = requests.post(token_url, data={**form, "code": code}, headers=_basic(secret="nope"), timeout=5)
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    assert "Basic" in bad_secret.headers["WWW-Authenticate"]
    no_auth = requests.post(token_url, data={**form, "code": code}, timeout=5)
    assert no_auth.status_code == 401 and no_auth.json()["error"] == "invalid_client"
    no_grant = requests.post(token_url, data={"code": code}, headers=_basic(), timeout=5)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    odd_grant = requests.post(token_url, data={"grant_type": "password"}, headers=_basic(), timeout=5)
    assert odd_grant.status_code == 400 and odd_grant.json()["error"] == "unsupported_grant_type"
    wrong_verifier = requests.post(token_url, data={**form, "code": code, "code_verifier": "w" * 50},
                                   headers=_basic(), timeout=5)
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error"] == "invalid_grant"
    burnt = requests.post(token_url, data={**form, "code": code}, headers=_basic(), timeout=5)
    assert burnt.status_code == 400 and burnt.json()["error"] == "invalid_grant"

    code = _code(fake, verifier)
    other_redirect = requests.post(token_url, data={**form, "code": code, "redirect_uri": CALLBACKS[1]},
                                   headers=_basic(), timeout=5)
    assert other_redirect.status_code == 400 and other_redirect.json()["error"] == "invalid_grant"

    code = _code(fake, verifier)  # client_secret_post works as well as client_secret_basic
    ok = requests.post(token_url, data={**form, "code": code, "client_id": CLIENT_ID,
                                        "client_secret": CLIENT_SECRET}, timeout=5)
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"
    body = ok.json()
    assert body["token_type"] == "Bearer"
    keys = KeySet.import_key_set(requests.get(fake.url + "/jwks", timeout=5).json())
    claims = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["iss"] == fake.url and claims["aud"] == CLIENT_ID and claims["nonce"] == "n-1"
    assert claims["sub"] == fake.identity.sub and claims["email_verified"] is True
    assert claims["exp"] > claims["iat"]

    bearer = {"Authorization": "Bearer " + body["access_token"]}
    assert requests.get(fake.url + "/userinfo", headers=bearer, timeout=5).json()["email"] == fake.identity.email
    replay = requests.post(token_url, data={**form, "code": code, "client_id": CLIENT_ID,
                                            "client_secret": CLIENT_SECRET}, timeout=5)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    revoked = requests.get(fake.url + "/userinfo", headers=bearer, timeout=5)  # replay revokes the tokens
    assert revoked.status_code == 401 and "invalid_token" in revoked.headers["WWW-Authenticate"]
    assert fake.token_request_count == 9
    assert [r.auth_method for r in fake.token_requests[-2:]] == ["client_secret_post", "client_secret_post"]


def test_fake_provider_refresh_token_grant_when_enabled():
    with OIDCProvider(clients=[Client(CLIENT_ID, CLIENT_SECRET, CALLBACKS)], issue_refresh_tokens=True) as fake:
        verifier = "r" * 60
        first = requests.post(fake.url + "/token", headers=_basic(), timeout=5, data={
            "grant_type": "authorization_code", "code": _code(fake, verifier), "redirect_uri": CALLBACKS[0],
            "code_verifier": verifier}).json()
        again = requests.post(fake.url + "/token", headers=_basic(), timeout=5,
                              data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert again.status_code == 200 and again.json()["access_token"] != first["access_token"]
        bogus = requests.post(fake.url + "/token", headers=_basic(), timeout=5,
                              data={"grant_type": "refresh_token", "refresh_token": "bogus"})
        assert bogus.status_code == 400 and bogus.json()["error"] == "invalid_grant"


def test_fake_provider_userinfo_needs_a_bearer_token(fake):
    assert requests.get(fake.url + "/userinfo", timeout=5).status_code == 401
    bad = requests.get(fake.url + "/userinfo", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_pre_hijacked_account_loses_the_squatters_password_and_sessions_when_the_owner_signs_in(
        web, oidc_app, fake, make_user):
    """Issue 12, 13: someone signs up first with the victim's address (never verified); the victim later
    arrives with Google, which vouches for the address. The account becomes the victim's alone."""
    make_user("first-account")  # the instance's first account counts as verified: the squatter's must not be
    squatter = make_user("squatter", email="grace@example.com", password="hidden in plain sight 7")
    assert squatter.email_verified_at is None
    squatters_browser = oidc_app.test_client()
    login(squatters_browser, squatter, password="hidden in plain sight 7")
    fake.identity = GRACE
    response = sign_in(web)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert signed_in(web)
    assert not signed_in(squatters_browser)
    refused = squatters_browser.post("/login", data={"email": squatter.email, "password": "hidden in plain sight 7"})
    assert refused.status_code == 401
    from app.models import AuditLog, User
    account = db_call(oidc_app, lambda: User.get_by_id(squatter.id))
    assert account.password_hash is None and account.email_verified_at is not None
    entry = db_call(oidc_app, lambda: AuditLog.get(AuditLog.action == "auth.identity_linked"))
    assert json.loads(entry.details)["passwordRemoved"] is True


def test_pre_hijacked_account_loses_the_squatters_api_keys_webhooks_and_connections_when_the_owner_signs_in(
        web, oidc_app, fake, make_user):
    """Issue 12, 13: a squatter who set up an API key, a webhook, a Zapier subscription and a connected calendar
    would go on receiving the owner's bookings after the takeover guard took only the password."""
    from app.models import ApiKey, AuditLog, Integration, IntegrationCalendar, Webhook
    from app.services.developer import api_keys

    make_user("first-account")
    squatter = make_user("squatter", email="grace@example.com", password="hidden in plain sight 7")

    def plant():
        _, raw = api_keys.create_api_key(squatter, "exfiltration")
        for label in (None, "Zapier"):
            Webhook.create(user=squatter.id, url="https://squatter.example/hook", events=["booking.created"],
                           secret="sealed", label=label)
        factories.connection(squatter.id, provider="caldav", label="squatter's calendar",
                             calendars=[{"remote_id": "https://dav.example/c", "name": "Work"}])
        return raw
    raw_key = db_call(oidc_app, plant)
    api = oidc_app.test_client()
    assert api.get("/api/zapier/me", headers={"X-API-Key": raw_key}).status_code == 200

    fake.identity = GRACE
    assert sign_in(web).headers["Location"] == "/dashboard"

    assert api.get("/api/zapier/me", headers={"X-API-Key": raw_key}).status_code == 401
    left = db_call(oidc_app, lambda: [model.select().where(model.user == squatter.id).count()
                                      for model in (ApiKey, Webhook, Integration, IntegrationCalendar)])
    assert left == [0, 0, 0, 0]
    entry = db_call(oidc_app, lambda: AuditLog.get(AuditLog.action == "auth.identity_linked"))
    assert json.loads(entry.details)["removed"] == {"apiKeys": 1, "webhooks": 2, "integrations": 1}


def test_linking_to_a_verified_account_keeps_its_api_keys(web, oidc_app, fake, make_user):
    make_user("first-account")
    ada = make_user("ada", email="grace@example.com")
    from app.services.account import accounts
    from app.services.developer import api_keys

    def prepare():
        accounts.verify_email(ada)
        return api_keys.create_api_key(ada, "mine")[1]
    raw_key = db_call(oidc_app, prepare)
    fake.identity = GRACE
    assert sign_in(web).headers["Location"] == "/dashboard"
    assert oidc_app.test_client().get("/api/zapier/me", headers={"X-API-Key": raw_key}).status_code == 200


def test_linking_to_a_verified_account_keeps_its_password(web, oidc_app, fake, make_user):
    make_user("first-account")
    ada = make_user("ada", email="grace@example.com")
    from app.db import db
    from app.services.account import accounts
    with oidc_app.app_context(), db.connection_context():
        accounts.verify_email(ada)
    other_browser = oidc_app.test_client()
    login(other_browser, ada)
    fake.identity = GRACE
    assert sign_in(web).headers["Location"] == "/dashboard"
    assert signed_in(other_browser)  # the owner's other session goes on
    web.post("/logout")
    login(web, ada)
