"""Throttling of password guesses (issue 12, 18): exponential back-off per account and client, a looser cap per
account that the owner's usual browser is exempt from, the same for the current password in settings, and a
limit on sign-up attempts per client."""
from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD, login

WRONG = "not the password at all"


@pytest.fixture
def app(app_factory):
    # the per-IP limit is tested elsewhere; here it must not interfere
    return app_factory(RATELIMIT_LOGIN="1000/minute", RATELIMIT_LOGIN_ACCOUNT="1000/hour")


def _from(app, ip: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _attempt(client, email, password=WRONG):
    return client.post("/login", data={"email": email, "password": password})


def _wait_until_allowed(client, email, deadline=30.0):
    """Poll with a wrong password until the back-off lets this client try again (that try is a failure too)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        response = _attempt(client, email)
        if response.status_code != 429:
            return response
        time.sleep(0.2)
    raise AssertionError("the back-off never ended")


def test_failures_past_the_fifth_make_the_client_wait_twice_as_long_each_time(app, make_user):
    alice = make_user("alice")
    attacker = _from(app, "203.0.113.9")
    for _ in range(5):
        assert _attempt(attacker, alice.email).status_code == 401
    assert _attempt(attacker, alice.email).status_code == 401  # the sixth failure: wait 1 s
    first = _attempt(attacker, alice.email, PASSWORD)  # even the right password waits its turn
    assert first.status_code == 429 and int(first.headers["Retry-After"]) == 1
    assert _wait_until_allowed(attacker, alice.email).status_code == 401  # the seventh failure: wait 2 s
    second = _attempt(attacker, alice.email)
    assert second.status_code == 429 and int(second.headers["Retry-After"]) == 2


def test_an_attacker_backing_off_does_not_lock_out_the_owner(app, make_user):
    alice = make_user("alice")
    attacker = _from(app, "203.0.113.9")
    for _ in range(7):
        _attempt(attacker, alice.email)
    assert _attempt(attacker, alice.email, PASSWORD).status_code == 429
    owner = _from(app, "198.51.100.7")
    assert _attempt(owner, alice.email, PASSWORD).status_code == 302
    assert owner.get("/dashboard").status_code == 200


def test_success_forgets_the_failures(app, make_user):
    alice = make_user("alice")
    browser = _from(app, "198.51.100.7")
    for _ in range(5):
        _attempt(browser, alice.email)
    login(browser, alice)
    browser.post("/logout")
    for _ in range(5):  # five free failures again, no waiting
        assert _attempt(browser, alice.email).status_code == 401


def test_back_off_is_per_address_even_for_accounts_that_do_not_exist(app):
    prober = _from(app, "203.0.113.9")
    for _ in range(6):
        assert _attempt(prober, "nobody@example.com").status_code == 401
    assert _attempt(prober, "nobody@example.com").status_code == 429  # the same as for a real account
    assert _attempt(prober, "someone-else@example.com").status_code == 401


def test_many_addresses_guessing_one_account_hit_its_cap_but_the_owners_browser_gets_in(app_factory, make_user):
    app = app_factory(RATELIMIT_LOGIN="1000/minute", RATELIMIT_LOGIN_ACCOUNT="4/hour")
    alice = make_user("alice")
    usual_browser = _from(app, "198.51.100.7")
    login(usual_browser, alice)  # the owner signed in here before: this browser is remembered
    usual_browser.post("/logout")
    for n in range(4):  # a botnet: every guess from another address
        assert _attempt(_from(app, f"203.0.113.{n + 1}"), alice.email).status_code == 401
    capped = _attempt(_from(app, "203.0.113.50"), alice.email, PASSWORD)
    assert capped.status_code == 429 and b"Too many failed sign-ins to this account" in capped.data
    assert _from(app, "203.0.113.50").get("/dashboard").status_code == 302
    assert _attempt(usual_browser, alice.email, PASSWORD).status_code == 302
    assert usual_browser.get("/dashboard").status_code == 200


def test_a_forged_device_cookie_earns_no_exemption(app_factory, make_user):
    app = app_factory(RATELIMIT_LOGIN="1000/minute", RATELIMIT_LOGIN_ACCOUNT="2/hour")
    alice = make_user("alice")
    for n in range(2):
        _attempt(_from(app, f"203.0.113.{n + 1}"), alice.email)
    forger = _from(app, "203.0.113.77")
    forger.set_cookie("linktime_device", '{"d":"x","a":["anything"]}')
    assert _attempt(forger, alice.email, PASSWORD).status_code == 429


def test_guessing_the_current_password_in_settings_backs_off(app, make_user):
    alice = make_user("alice")
    stolen, owners = app.test_client(), app.test_client()
    login(stolen, alice)
    login(owners, alice)

    def change(client, current):
        return client.post("/settings/password", data={"current_password": current, "new_password": "another long one",
                                                       "new_password_confirm": "another long one"})
    for _ in range(6):
        assert change(stolen, WRONG).status_code == 422
    waiting = change(stolen, PASSWORD)
    assert waiting.status_code == 429 and int(waiting.headers["Retry-After"]) >= 1
    assert change(owners, PASSWORD).status_code == 302  # the owner's session is not slowed down


def test_sign_up_attempts_are_limited_per_client(app_factory, make_user):
    app = app_factory(RATELIMIT_SIGNUP="3/hour")
    make_user("first")
    prober = _from(app, "203.0.113.9")
    for n in range(3):  # each answer tells whether an address has an account: at most three per hour
        answer = prober.post("/signup", data={"name": "X", "email": f"victim{n}@example.com", "username": "x",
                                              "timezone": "UTC", "password": "a long passphrase 9"})
        assert answer.status_code == 422
    limited = prober.post("/signup", data={"name": "X", "email": "victim9@example.com"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    other = _from(app, "198.51.100.7").post("/signup", data={"name": "Y", "email": "y@example.com", "username": "yyy",
                                                              "timezone": "UTC", "password": "a long passphrase 9"})
    assert other.status_code == 302


def test_a_password_change_forgets_the_browsers_remembered_before(app_factory, make_user):
    """Issue 12, 11/18: a browser that signed in before (perhaps a thief's, or one the owner gave away) no longer
    passes the account's cap once the password changed; the browser the change was made in still does."""
    app = app_factory(RATELIMIT_LOGIN="1000/minute", RATELIMIT_LOGIN_ACCOUNT="4/hour")
    alice = make_user("alice")
    old_browser, owners = _from(app, "198.51.100.7"), _from(app, "198.51.100.8")
    login(old_browser, alice)
    old_browser.post("/logout")
    login(owners, alice)
    new_password = "a brand new passphrase 42"
    changed = owners.post("/settings/password", data={"current_password": PASSWORD, "new_password": new_password,
                                                       "new_password_confirm": new_password})
    assert changed.status_code == 302
    owners.post("/logout")
    for n in range(4):
        assert _attempt(_from(app, f"203.0.113.{n + 1}"), alice.email).status_code == 401
    assert _attempt(old_browser, alice.email, new_password).status_code == 429
    assert _attempt(owners, alice.email, new_password).status_code == 302


def test_a_password_reset_by_link_signs_the_owner_in_and_lets_that_browser_past_the_cap(app_factory, make_user,
                                                                                        smtp_server):
    """Issue 12, 18: an attacker ran the account into its cap from many addresses; the owner, in a browser never
    used before, resets the password by the emailed link: that signs them in and the browser is theirs from then."""
    import re
    app = app_factory(RATELIMIT_LOGIN="1000/minute", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    alice = make_user("alice")
    for n in range(30):
        assert _attempt(_from(app, f"203.0.113.{n % 6 + 1}"), alice.email).status_code in (401, 429)
    new_browser = _from(app, "198.51.100.7")
    assert _attempt(new_browser, alice.email, PASSWORD).status_code == 429  # the owner is capped out too
    assert new_browser.post("/password/forgot", data={"email": alice.email}).status_code == 200
    [msg] = smtp_server.wait_for(1)
    path = re.search(r"/password/reset/\S+", msg.get_body(("plain",)).get_content()).group(0)
    new_password = "a brand new passphrase 42"
    done = new_browser.post(path, data={"password": new_password, "password_confirm": new_password})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    assert new_browser.get("/dashboard").status_code == 200
    new_browser.post("/logout")
    assert new_browser.get("/dashboard").status_code == 302
    assert _attempt(new_browser, alice.email, new_password).status_code == 302
    assert new_browser.get("/dashboard").status_code == 200
    assert _attempt(_from(app, "203.0.113.99"), alice.email, new_password).status_code == 429  # the cap holds
