"""Sign-up, sign-in, sign-out, password reset and change through the test client."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, login

VALID = {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada", "password": "analytical engine 1843",
         "timezone": "Europe/London"}


def _count_users(app):
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.select().count()


def test_index_shows_sign_in_and_sign_up_to_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/signup"' in response.data and b'href="/login"' in response.data


def test_signup_creates_account_signs_in_and_shows_dashboard(client, app):
    response = client.post("/signup", data=VALID)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200 and b"Welcome, Ada Lovelace" in page.data
    assert client.get("/").headers["Location"] == "/dashboard"


def test_first_account_becomes_administrator_and_later_ones_do_not(client, app, make_user):
    client.post("/signup", data=VALID)
    second = make_user("bob")
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        assert User.get(User.username == "ada").is_admin
        assert not User.get_by_id(second.id).is_admin


@pytest.mark.parametrize("field,value,message", [
    ("email", "not-an-email", b"Enter a valid email address."),
    ("username", "ab", b"Use 3\xe2\x80\x9330 characters"),
    ("username", "Bad Name", b"Use 3\xe2\x80\x9330 characters"),
    ("username", "dashboard", b"This username is reserved."),
    ("username", "api", b"This username is reserved."),
    ("password", "short", b"Use at least 10 characters."),
    ("password", "password123", b"too easy to guess"),
    ("password", "ada-is-my-password", b"must not contain your username"),
    ("timezone", "Mars/Olympus", b"Choose a time zone from the list."),
    ("name", "", b"Enter your name."),
])
def test_invalid_signup_shows_inline_error_and_creates_nothing(client, app, field, value, message):
    response = client.post("/signup", data={**VALID, field: value})
    assert response.status_code == 422
    assert message in response.data
    assert b'aria-invalid="true"' in response.data
    assert _count_users(app) == 0


def test_duplicate_email_and_username_are_refused(client, app, make_user):
    make_user("ada", email="ada@example.com")
    response = client.post("/signup", data={**VALID, "email": "ADA@example.com", "username": "ada2"})
    assert response.status_code == 422 and b"An account with this email already exists." in response.data
    response = client.post("/signup", data={**VALID, "email": "other@example.com"})
    assert response.status_code == 422 and b"This username is taken." in response.data
    assert _count_users(app) == 1


def test_signup_form_keeps_values_but_never_the_password(client):
    response = client.post("/signup", data={**VALID, "username": "x"})
    assert b'value="ada@example.com"' in response.data
    assert b"analytical engine 1843" not in response.data


def test_login_with_wrong_password_fails_and_right_one_succeeds(client, make_user):
    user = make_user("alice")
    bad = client.post("/login", data={"email": user.email, "password": "wrong password!"})
    assert bad.status_code == 401 and b"The email or password is not correct." in bad.data
    login(client, user)
    assert client.get("/dashboard").status_code == 200


def test_dashboard_requires_sign_in(client):
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/dashboard")


def test_login_redirect_ignores_offsite_next(client, make_user):
    user = make_user("alice")
    response = client.post("/login?next=//evil.example/x", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/dashboard"


def test_logout_ends_the_session(client, make_user):
    login(client, make_user("alice"))
    assert client.post("/logout").status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_login_rotates_the_session(client, make_user):
    user = make_user("alice")
    with client.session_transaction() as sess:
        sess["planted"] = "by attacker"
    login(client, user)
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess["uid"] == user.id


def test_login_attempts_are_limited_per_ip(client, make_user):
    user = make_user("alice")
    for _ in range(5):
        assert client.post("/login", data={"email": user.email, "password": "nope nope nope"}).status_code == 401
    limited = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_disabled_user_cannot_sign_in_and_is_signed_out(client, app, make_user):
    user = make_user("alice")
    login(client, user)
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        User.update(is_disabled=True).where(User.id == user.id).execute()
    assert client.get("/dashboard").status_code == 302
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401


def _reset_link(text: str) -> str:
    return re.search(r"http://\S+/password/reset/\S+", text).group(0)


def test_password_reset_by_email_is_single_use(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    client = app.test_client()
    user = make_user("alice")
    assert client.post("/password/forgot", data={"email": "ALICE@example.com"}).status_code == 200
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == user.email and "Reset your LinkTime password" in msg["Subject"]
    link = _reset_link(msg.get_body(("plain",)).get_content())
    path = link.split("127.0.0.1:5000", 1)[1]
    assert client.get(path).status_code == 200
    mismatch = client.post(path, data={"password": "a brand new secret", "password_confirm": "other"})
    assert mismatch.status_code == 422
    done = client.post(path, data={"password": "a brand new secret", "password_confirm": "a brand new secret"})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200  # the link proved the mailbox: signed in
    assert client.get(path).status_code == 400  # used once: gone
    client.post("/logout")
    login(client, user, password="a brand new secret")


def test_password_reset_for_unknown_email_sends_nothing_but_answers_the_same(app_factory, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    response = app.test_client().post("/password/forgot", data={"email": "nobody@example.com"})
    assert response.status_code == 200 and b"If an account exists" in response.data
    assert smtp_server.messages == []


def test_expired_or_forged_reset_token_is_refused(client, app, make_user):
    from app.db import db
    from app.services.account import accounts
    user = make_user("alice")
    with app.app_context(), db.connection_context():
        token = accounts.make_reset_token(user, app.config["SECRET_KEY"])
        assert accounts.user_for_reset_token(token, app.config["SECRET_KEY"], max_age=-1) is None
        assert accounts.user_for_reset_token(token, "another secret") is None
    assert client.get("/password/reset/garbage").status_code == 400


def test_change_password_signs_out_other_sessions(app, make_user):
    user = make_user("alice")
    first, second = app.test_client(), app.test_client()
    login(first, user)
    login(second, user)
    bad = first.post("/settings/password", data={"current_password": "wrong", "new_password": "another long secret",
                                                 "new_password_confirm": "another long secret"})
    assert bad.status_code == 422 and b"The current password is not correct." in bad.data
    ok = first.post("/settings/password", data={"current_password": PASSWORD, "new_password": "another long secret",
                                                "new_password_confirm": "another long secret"})
    assert ok.status_code == 302
    assert first.get("/dashboard").status_code == 200
    assert second.get("/dashboard").status_code == 302
