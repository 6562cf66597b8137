"""Server-side sessions: revocable, not re-issued, bounded in time, listed in settings, and written key by key."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from tests.conftest import PASSWORD, login

COOKIE = "linktime_session"
HTMX = {"HX-Request": "true"}


def _cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def _browser(app, cookie: str):
    """Another browser holding a copy of ``cookie``."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other


def _rows(app, user=None):
    from app.db import db
    from app.models import WebSession
    with app.app_context(), db.connection_context():
        query = WebSession.select()
        if user is not None:
            query = query.where(WebSession.user == user.id)
        return list(query)


def _shift(app, user, **ago):
    """Move the account's sessions into the past: ``created_at=timedelta(...)``, ``last_seen_at=...``."""
    from app.db import db
    from app.models import WebSession
    from app.models.base import utcnow
    with app.app_context(), db.connection_context():
        WebSession.update(**{k: utcnow() - v for k, v in ago.items()}).where(WebSession.user == user.id).execute()


def test_a_cookie_copied_before_sign_out_opens_nothing_afterwards(app, client, make_user):
    login(client, make_user("alice"))
    copied = _cookie(client)
    assert _browser(app, copied).get("/dashboard").status_code == 200
    assert client.post("/logout").status_code == 302
    assert _browser(app, copied).get("/dashboard").status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_the_cookie_is_set_at_sign_in_and_not_reissued_on_every_request(client, make_user):
    response = login(client, make_user("alice"))
    assert any(h.startswith(COOKIE + "=") for h in response.headers.getlist("Set-Cookie"))
    for path in ("/dashboard", "/settings/profile", "/settings/sessions"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Set-Cookie" not in answer.headers, path


def test_only_a_hash_of_the_token_is_stored(app, client, make_user):
    alice = make_user("alice")
    login(client, alice)
    token = _cookie(client)
    (row,) = _rows(app, alice)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.data or "") and row.id != token


def test_a_session_ends_after_its_idle_time(app_factory, make_user):
    app = app_factory(SESSION_IDLE_DAYS=14, SESSION_MAX_DAYS=30)
    client = app.test_client()
    alice = make_user("alice")
    login(client, alice)
    _shift(app, alice, last_seen_at=timedelta(days=13))
    assert client.get("/dashboard").status_code == 200  # and this request counts as use
    _shift(app, alice, last_seen_at=timedelta(days=15))
    assert client.get("/dashboard").status_code == 302
    assert _rows(app, alice) == []


def test_a_session_ends_at_its_absolute_lifetime_even_when_used_every_day(app_factory, make_user):
    app = app_factory(SESSION_IDLE_DAYS=14, SESSION_MAX_DAYS=30)
    client = app.test_client()
    alice = make_user("alice")
    login(client, alice)
    _shift(app, alice, created_at=timedelta(days=29), last_seen_at=timedelta(hours=1))
    assert client.get("/dashboard").status_code == 200
    _shift(app, alice, created_at=timedelta(days=31), last_seen_at=timedelta(minutes=5))
    assert client.get("/dashboard").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(app, client, make_user):
    alice = make_user("alice")
    login(client, alice)
    _shift(app, alice, last_seen_at=timedelta(seconds=30))
    (before,) = _rows(app, alice)
    client.get("/dashboard")
    (unchanged,) = _rows(app, alice)
    assert unchanged.last_seen_at == before.last_seen_at
    _shift(app, alice, last_seen_at=timedelta(minutes=5))
    client.get("/dashboard", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
    (touched,) = _rows(app, alice)
    assert touched.last_seen_at > before.last_seen_at and "Firefox" in touched.user_agent


def test_a_password_reset_ends_every_session(app, client, make_user):
    from app.db import db
    from app.services.account import accounts
    alice = make_user("alice")
    login(client, alice)
    with app.app_context(), db.connection_context():
        accounts.reset_password(alice, "a brand new passphrase")
    assert client.get("/dashboard").status_code == 302


def test_a_password_change_keeps_this_browser_with_a_new_token_and_ends_the_others(app, make_user):
    alice = make_user("alice")
    first, second = app.test_client(), app.test_client()
    login(first, alice)
    login(second, alice)
    old = _cookie(first)
    changed = first.post("/settings/password", data={"current_password": PASSWORD,
                                                     "new_password": "another long secret",
                                                     "new_password_confirm": "another long secret"})
    assert changed.status_code == 302
    assert first.get("/dashboard").status_code == 200
    assert _cookie(first) != old
    assert _browser(app, old).get("/dashboard").status_code == 302
    assert second.get("/dashboard").status_code == 302


def test_disabling_an_account_ends_its_sessions_for_good(app, make_user):
    admin = make_user("root-admin", email="admin@example.com")
    bob = make_user("bob")
    admin_client, bobs_browser = app.test_client(), app.test_client()
    login(admin_client, admin)
    login(bobs_browser, bob)
    assert admin_client.post(f"/admin/users/{bob.id}/disable", data={"disabled": "1"}).status_code in (200, 302)
    assert _rows(app, bob) == []
    assert admin_client.post(f"/admin/users/{bob.id}/disable", data={"disabled": "0"}).status_code in (200, 302)
    assert bobs_browser.get("/dashboard").status_code == 302  # re-enabling does not revive the old session


def test_settings_list_the_sessions_and_mark_this_device(app, make_user):
    alice = make_user("alice")
    laptop, phone = app.test_client(), app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/130.0"
    phone.environ_base["HTTP_USER_AGENT"] = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                             "AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
    login(laptop, alice)
    login(phone, alice)
    page = laptop.get("/settings/sessions").get_data(as_text=True)
    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert page.count('id="this-device"') == 1
    laptop_row = next(r for r in _rows(app, alice) if "Firefox" in r.user_agent)
    start = page.index(f'id="session-{laptop_row.id}"')
    assert 'id="this-device"' in page[start:page.index("</tr>", start)]


def test_sign_out_everywhere_else_keeps_this_browser(app, make_user):
    alice = make_user("alice")
    laptop, phone, tablet = app.test_client(), app.test_client(), app.test_client()
    for browser in (laptop, phone, tablet):
        login(browser, alice)
    answer = laptop.post("/settings/sessions/end-others", headers=HTMX)
    assert answer.status_code == 200 and "Signed out 2 other sessions." in answer.get_data(as_text=True)
    assert "<html" not in answer.get_data(as_text=True)  # only the panel
    assert laptop.get("/dashboard").status_code == 200
    assert phone.get("/dashboard").status_code == 302 and tablet.get("/dashboard").status_code == 302
    assert len(_rows(app, alice)) == 1


def test_signing_out_one_other_session(app, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    laptop, phone, bobs = app.test_client(), app.test_client(), app.test_client()
    login(laptop, alice)
    login(phone, alice)
    login(bobs, bob)
    phone_row = next(r for r in _rows(app, alice) if r.token_hash == hashlib.sha256(
        _cookie(phone).encode()).hexdigest())
    (bob_row,) = _rows(app, bob)
    assert laptop.post(f"/settings/sessions/{bob_row.id}/end", headers=HTMX).status_code == 200
    assert bobs.get("/dashboard").status_code == 200  # nobody ends another account's session
    assert laptop.post(f"/settings/sessions/{phone_row.id}/end", headers=HTMX).status_code == 200
    assert phone.get("/dashboard").status_code == 302
    assert laptop.get("/dashboard").status_code == 200


def test_signing_out_this_devices_own_row_ends_only_this_session(app, make_user):
    """Issue 12, 11: "Sign out" on the row marked as this device signs this browser out, not every browser."""
    alice = make_user("alice")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, alice)
    login(phone, alice)
    laptop_row = next(r for r in _rows(app, alice) if r.token_hash == hashlib.sha256(
        _cookie(laptop).encode()).hexdigest())
    answer = laptop.post(f"/settings/sessions/{laptop_row.id}/end", headers=HTMX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/login"
    assert laptop.get("/dashboard").status_code == 302
    assert phone.get("/dashboard").status_code == 200
    assert [r.id for r in _rows(app, alice)] != [] and laptop_row.id not in [r.id for r in _rows(app, alice)]


def test_sign_out_everywhere_ends_this_browser_too(app, make_user):
    alice = make_user("alice")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, alice)
    login(phone, alice)
    answer = laptop.post("/settings/sessions/end-all", headers=HTMX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/login"
    assert laptop.get("/dashboard").status_code == 302 and phone.get("/dashboard").status_code == 302
    assert _rows(app, alice) == []
    plain = app.test_client()
    login(plain, alice)
    assert plain.post("/settings/sessions/end-all").headers["Location"] == "/login"


def _open(app, cookie: str | None):
    from werkzeug.http import dump_cookie
    headers = {"Cookie": dump_cookie(COOKIE, cookie).split(";")[0]} if cookie else {}
    return app.test_request_context("/dashboard", headers=headers)


def _save(app, client):
    """Finish the current request's session as Flask does, and hand its cookie (if any) to ``client``."""
    from flask import session
    response = app.response_class()
    app.session_interface.save_session(app, session, response)
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            client.set_cookie(COOKIE, rest.split(";")[0])


def test_a_slow_request_does_not_wipe_what_a_concurrent_one_stored(app, client, make_user):
    """Issue 12, 9a: an htmx request that loaded the session before the OAuth redirect stored the state, and
    finished after it, must not take the state away."""
    from flask import flash, session

    login(client, make_user("alice"))
    cookie = _cookie(client)
    # (each request context opens the database itself and releases it when it ends, as a request does)
    slow = _open(app, cookie)
    slow.push()
    try:
        assert session.get("oauth_zoom") is None  # loaded before the OAuth start
        with _open(app, cookie):  # the OAuth start, finished meanwhile
            session["oauth_zoom"] = {"state": "s-123"}
            _save(app, client)
        flash("Saved.", "success")  # the slow request writes something of its own
        _save(app, client)
    finally:
        slow.pop()
    with _open(app, _cookie(client)):
        assert session.get("oauth_zoom") == {"state": "s-123"}
        assert session.get("_flashes") == [("success", "Saved.")]
        assert session.get("uid")


def test_a_request_finishing_after_sign_out_does_not_revive_the_session(app, client, make_user):
    from flask import session

    login(client, make_user("alice"))
    cookie = _cookie(client)
    with _open(app, cookie):
        assert session.get("uid")
        assert client.post("/logout").status_code == 302
        session["late"] = 1
        _save(app, app.test_client())
    assert _browser(app, cookie).get("/dashboard").status_code == 302


def test_a_forged_or_unknown_cookie_opens_nothing_and_is_not_deleted(app):
    """Issue 12, 11: the request is a visitor's; the cookie is left alone (see the next test for why)."""
    for cookie in ("x" * 43, "not a token", "eyJ4IjoxfQ.forged.signature"):
        response = _browser(app, cookie).get("/dashboard")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        assert COOKIE not in response.headers.get("Set-Cookie", "")


def test_a_late_answer_to_a_request_sent_with_the_old_cookie_keeps_the_new_session(app, client, make_user):
    """Issue 12, 11: an htmx poll sent with the session cookie of before sign-in, answered after the sign-in's
    Set-Cookie, must not delete the new session's cookie."""
    alice = make_user("alice")
    login(client, alice)
    old = _cookie(client)
    client.post("/logout")
    login(client, alice)
    new = _cookie(client)
    assert new != old
    for path in ("/dashboard", "/settings/sessions", "/api/bookings"):  # the poll, answered late
        late = _browser(app, old).get(path, headers=HTMX)
        for header in late.headers.getlist("Set-Cookie"):
            assert not header.startswith(f"{COOKIE}="), header
    assert client.get("/dashboard").status_code == 200 and _cookie(client) == new


def test_signing_out_deletes_or_replaces_the_cookie(app, client, make_user):
    login(client, make_user("alice"))
    token = _cookie(client)
    answer = client.post("/logout")
    assert f"{COOKIE}=" in answer.headers.get("Set-Cookie", "")
    assert _cookie(client) != token


def test_visitors_cost_no_rows_and_their_signed_cookie_cannot_be_forged(app):
    visitor = app.test_client()
    form = visitor.get("/login")  # a sign-in form: its CSRF token is kept for the visitor
    assert form.status_code == 200 and _cookie(visitor) and "." in _cookie(visitor)
    assert _rows(app) == []
    assert visitor.get("/login").headers.get("Set-Cookie") is None  # unchanged: not written again
    value = _cookie(visitor)
    tampered = _browser(app, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    response = tampered.get("/login")
    assert f"{COOKIE}=" in response.headers.get("Set-Cookie", "")  # replaced by a fresh one
    assert response.headers.get("Set-Cookie", "").split(";")[0] != f"{COOKIE}={value}"


def test_housekeeping_removes_expired_sessions(app, make_user):
    from app.db import db
    from app.services.account import sessions
    alice, bob = make_user("alice"), make_user("bob")
    login(app.test_client(), alice)
    login(app.test_client(), bob)
    with app.app_context(), db.connection_context():
        assert sessions.remove_expired(timedelta(days=14), timedelta(days=30)) == 0
    _shift(app, alice, last_seen_at=timedelta(days=15))
    _shift(app, bob, created_at=timedelta(days=31))
    with app.app_context(), db.connection_context():
        assert sessions.remove_expired(timedelta(days=14), timedelta(days=30)) == 2
    assert _rows(app) == []
