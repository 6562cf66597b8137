"""Email verification: a signed link confirms the address; unverified accounts work but see a banner."""
from __future__ import annotations

import re

from tests.conftest import PASSWORD, login

SIGNUP = {"name": "Bob", "email": "Bob@Example.com", "username": "bob", "timezone": "Europe/Berlin",
          "password": "a long and good passphrase"}
BANNER = b'id="verify-email-banner"'


def _link(msg) -> str:
    text = msg.get_body(("plain",)).get_content()
    return re.search(r"http://\S+/verify-email/\S+", text).group(0).split("127.0.0.1:5000", 1)[1]


def _user(app, email):
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.get(User.email == email)


def test_sign_up_sends_a_link_that_verifies_the_address(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("first")  # the instance's first account
    client = app.test_client()
    assert client.post("/signup", data=SIGNUP).status_code == 302
    assert _user(app, "bob@example.com").email_verified_at is None
    assert BANNER in client.get("/dashboard").data  # the account works, with a banner
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "bob@example.com" and "Confirm your email address" in msg["Subject"]
    page = client.get(_link(msg))  # opening the link only shows the button
    assert page.status_code == 200 and b"Confirm my email address" in page.data
    assert _user(app, "bob@example.com").email_verified_at is None
    confirmed = client.post(_link(msg))
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/dashboard"
    assert _user(app, "bob@example.com").email_verified_at is not None
    page = client.get("/dashboard")
    assert BANNER not in page.data and b"bob@example.com is confirmed" in page.data


def test_the_link_works_without_being_signed_in(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("first")
    app.test_client().post("/signup", data=SIGNUP)
    [msg] = smtp_server.wait_for(1)
    answer = app.test_client().post(_link(msg))
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert _user(app, "bob@example.com").email_verified_at is not None


def test_the_first_account_counts_as_verified_and_gets_no_mail(app_factory, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    client = app.test_client()
    assert client.post("/signup", data=SIGNUP).status_code == 302
    assert _user(app, "bob@example.com").email_verified_at is not None
    assert BANNER not in client.get("/dashboard").data
    assert smtp_server.messages == []


def test_forged_expired_or_stale_links_are_refused(app, client, make_user):
    from app.db import db
    from app.models import User
    from app.services.account import accounts
    make_user("first")
    bob = make_user("bob")
    secret = app.config["SECRET_KEY"]
    with app.app_context(), db.connection_context():
        token = accounts.make_verify_token(bob, secret)
        assert accounts.user_for_verify_token(token, secret, max_age=-1) is None
        assert accounts.user_for_verify_token(token, "another secret") is None
        User.update(email="bob2@example.com").where(User.id == bob.id).execute()  # the address changed since
    for method in (client.get, client.post):
        assert method(f"/verify-email/{token}").status_code == 400
        assert method("/verify-email/garbage").status_code == 400
    assert _user(app, "bob2@example.com").email_verified_at is None


def test_the_banner_sends_the_link_again(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("first")
    bob = make_user("bob")
    client = app.test_client()
    login(client, bob, PASSWORD)
    answer = client.post("/verify-email/resend")
    assert answer.status_code == 302
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "bob@example.com"
    assert client.post(_link(msg)).status_code == 302
    assert _user(app, "bob@example.com").email_verified_at is not None


def test_opening_the_link_verifies_nothing_only_the_button_does(app_factory, make_user, smtp_server):
    """Issue 12, 13: a mail scanner following every link (or the owner opening a squatter's confirmation mail)
    must not verify the account: only the page's button, a POST with the form's CSRF token, does."""
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port, WTF_CSRF_ENABLED=True)
    make_user("first")
    bob = make_user("bob")
    from app.db import db
    from app.web.auth import send_verification_email
    with app.test_request_context(), db.connection_context():
        send_verification_email(bob)
    [msg] = smtp_server.wait_for(1)
    scanner = app.test_client()
    for _ in range(3):
        page = scanner.get(_link(msg))
        assert page.status_code == 200
    assert scanner.head(_link(msg)).status_code == 200
    assert _user(app, "bob@example.com").email_verified_at is None
    browser = app.test_client()
    page = browser.get(_link(msg)).get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)">\s*<input[^>]*name="csrf_token"[^>]*value="([^"]+)"',
                     page)
    assert form is not None, page
    assert browser.post(form.group(1)).status_code == 400  # no CSRF token: refused, nothing verified
    assert _user(app, "bob@example.com").email_verified_at is None
    answer = browser.post(form.group(1), data={"csrf_token": form.group(2)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert _user(app, "bob@example.com").email_verified_at is not None
