"""Security: encryption at rest, no plain-text secrets in the database, headers, cookies, CSRF, client IPs."""
from __future__ import annotations

import base64
import logging
import secrets
import socket
import threading
from pathlib import Path

import pytest

from app.config import new_encryption_key
from app.security import DecryptionError, Encryptor, hash_password, verify_password
from tests.conftest import BACKEND, DATABASE_URL, PASSWORD

SIGNUP = {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada", "timezone": "Europe/London"}


def _key(key_id: str | None = None) -> str:
    key = new_encryption_key()
    return f"{key_id}:{key}" if key_id else key


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- Encryptor ----------------------------------------------------------------------------------------------
def test_encrypted_value_round_trips_and_hides_the_plaintext():
    box = Encryptor(_key("k1"))
    token = box.encrypt("ya29.refresh-token-ü")
    assert token.startswith("v1:k1:") and "refresh-token" not in token
    assert box.decrypt(token) == "ya29.refresh-token-ü"


def test_same_plaintext_encrypts_differently_each_time():
    box = Encryptor(_key())
    assert box.encrypt("secret") != box.encrypt("secret")


def test_rotated_keys_decrypt_old_values_and_the_newest_key_encrypts():
    old, new = _key("old"), _key("new")
    before = Encryptor(old).encrypt("calendar password")
    rotated = Encryptor(f"{new},{old}")
    assert rotated.decrypt(before) == "calendar password"
    assert rotated.needs_rotation(before)
    after = rotated.encrypt("calendar password")
    assert after.startswith("v1:new:") and not rotated.needs_rotation(after)
    with pytest.raises(DecryptionError):
        Encryptor(old).decrypt(after)  # the retired configuration does not know the new key


def test_bare_base64_key_gets_a_stable_derived_id():
    key = _key()
    assert Encryptor(key).encrypt("x").split(":")[1] == Encryptor(key).encrypt("y").split(":")[1]
    assert Encryptor(key).decrypt(Encryptor(key).encrypt("x")) == "x"


def _flip(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1:]


@pytest.mark.parametrize("part", ["nonce", "ciphertext", "tag"])
def test_tampered_ciphertext_is_rejected(part):
    box = Encryptor(_key("k1"))
    version, key_id, body = box.encrypt("an oauth token").split(":", 2)
    raw = _b64decode(body)
    index = {"nonce": 3, "ciphertext": 14, "tag": len(raw) - 1}[part]
    with pytest.raises(DecryptionError):
        box.decrypt(f"{version}:{key_id}:{_b64encode(_flip(raw, index))}")


def test_value_relabelled_with_another_configured_key_id_is_rejected():
    shared = _key("a").split(":")[1]
    box = Encryptor(f"a:{shared},b:{shared}")  # same key under two ids: only the authenticated id may open it
    token = box.encrypt("secret")
    assert token.startswith("v1:a:")
    with pytest.raises(DecryptionError):
        box.decrypt("v1:b:" + token.split(":", 2)[2])


@pytest.mark.parametrize("token", ["", "plain text", "v1:k1", "v2:k1:AAAA", "v1:unknown:AAAAAAAAAAAAAAAAAAAAAAAA",
                                   "v1:k1:not base64 !", "v1:k1:AAAA"])
def test_malformed_or_unknown_values_are_rejected(token):
    with pytest.raises(DecryptionError):
        Encryptor(_key("k1")).decrypt(token)


FIXED_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("spec", ["", "short", "k1:" + base64.urlsafe_b64encode(b"x" * 16).decode(),
                                  "bad id:" + FIXED_KEY],
                         ids=["empty", "not-32-bytes", "16-byte-key", "id-with-space"])
def test_unusable_encryption_keys_are_refused(spec):
    with pytest.raises(ValueError):
        Encryptor(spec)


def test_passwords_are_hashed_with_argon2id():
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD) and not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)


# --- nothing secret in plain text at rest -------------------------------------------------------------------
def _database_bytes() -> bytes:
    """Everything the database holds: the raw SQLite file and its WAL, or every row of every PostgreSQL table."""
    if BACKEND != "postgres":
        path = Path(DATABASE_URL[len("sqlite:///"):])
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        data = b"".join(f.read_bytes() for f in files if f.exists())
        assert len(data) > 4096
        return data
    from app.db import db
    with db.connection_context():
        chunks = [str(row[0]).encode() for table in db.get_tables()
                  for row in db.execute_sql(f'SELECT t::text FROM "{table}" t').fetchall()]
    return b"\n".join(chunks)


def test_signup_password_is_not_stored_in_plain_text(client, app):
    password = f"plain-{secrets.token_hex(8)}-text"
    response = client.post("/signup", data={**SIGNUP, "password": password})
    assert response.status_code == 302
    client.post("/logout")
    assert client.post("/login", data={"email": SIGNUP["email"], "password": password}).status_code == 302
    data = _database_bytes()
    assert b"ada@example.com" in data  # the check does see what was stored
    assert password.encode() not in data
    assert password.encode("utf-16-le") not in data


def test_changed_password_is_not_stored_in_plain_text(client, make_user):
    from tests.conftest import login
    login(client, make_user("alice"))
    new = f"changed-{secrets.token_hex(8)}-pw"
    response = client.post("/settings/password", data={"current_password": PASSWORD, "new_password": new,
                                                       "new_password_confirm": new})
    assert response.status_code == 302
    data = _database_bytes()
    assert new.encode() not in data and PASSWORD.encode() not in data


def test_queued_email_holds_no_reset_link_in_plain_text(app_factory, make_user, smtp_server):
    """The outbox row of a password-reset email is sealed: its link is in the delivered message, not at rest."""
    import re

    from app.db import db
    from app.models import OutboxMessage

    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("alice")
    assert app.test_client().post("/password/forgot", data={"email": "alice@example.com"}).status_code == 200
    [msg] = smtp_server.wait_for(1)
    token = re.search(r"/password/reset/(\S+)", msg.get_body(("plain",)).get_content()).group(1)
    with app.app_context(), db.connection_context():
        rows = list(OutboxMessage.select().where(OutboxMessage.kind == "email"))
    assert len(rows) == 1 and rows[0].done_at is not None
    data = _database_bytes()
    assert b"alice@example.com" in data  # the check does see what was stored (the account)
    assert token.encode() not in data and b"/password/reset/" not in data


# --- headers and cookies ------------------------------------------------------------------------------------
def _csp(response) -> dict[str, list[str]]:
    policy = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


@pytest.mark.parametrize("path", ["/", "/login", "/signup", "/password/forgot", "/no-such-page", "/dashboard"])
def test_pages_carry_security_headers(client, path):
    response = client.get(path)
    policy = _csp(response)
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "*" not in script_src and "data:" not in script_src
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer",
                                                   "same-origin", "strict-origin")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_signed_in_pages_are_not_cached(client, make_user):
    from tests.conftest import login
    login(client, make_user("alice"))
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_pages_use_no_inline_scripts(client):
    """The CSP forbids inline scripts, so the pages must not rely on any."""
    import re
    for path in ("/", "/login", "/signup"):
        html = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, tag
        assert not re.search(r"\son[a-z]+\s*=", html), path


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("linktime_session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = _session_cookie(client.post("/signup", data={**SIGNUP, "password": "a very long password"}))
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" not in attributes  # development over plain HTTP


def test_session_cookie_is_secure_in_production(app_factory):
    app = app_factory(LINKTIME_ENV="production", SECRET_KEY=secrets.token_urlsafe(32),
                      ENCRYPTION_KEY=new_encryption_key(), BASE_URL="https://cal.example.com")
    assert app.config["PRODUCTION"]
    response = app.test_client().post("/signup", data={**SIGNUP, "password": "a very long password"},
                                      base_url="https://cal.example.com")
    assert response.status_code == 302
    attributes = [a.strip().lower() for a in _session_cookie(response).split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(attributes)
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


# --- CSRF ---------------------------------------------------------------------------------------------------
def _users(app) -> int:
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.select().count()


def test_form_post_without_csrf_token_is_refused_and_creates_nothing(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    client.get("/signup")  # a session exists, but the form's token is not sent
    response = client.post("/signup", data={**SIGNUP, "password": "a very long password"})
    assert response.status_code == 400
    assert b"Reload the page" in response.data
    assert _users(app) == 0


def test_form_post_with_a_token_of_another_session_is_refused(app_factory):
    import re
    app = app_factory(WTF_CSRF_ENABLED=True)
    attacker = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', attacker.get("/signup").get_data(as_text=True)).group(1)
    victim = app.test_client()
    victim.get("/signup")
    response = victim.post("/signup", data={**SIGNUP, "password": "a very long password", "csrf_token": token})
    assert response.status_code == 400 and _users(app) == 0


def test_form_post_with_its_csrf_token_and_htmx_header_token_are_accepted(app_factory, make_user):
    import re
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page)  # htmx requests send it as a header
    response = client.post("/signup", data={**SIGNUP, "password": "a very long password", "csrf_token": token})
    assert response.status_code == 302 and _users(app) == 1
    # Signing in starts a new session, and with it a new token: read it from the next page.
    page = client.get("/settings/profile").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    no_token = client.post("/settings/profile", data={"name": "X", "username": "ada", "timezone": "UTC",
                                                      "brand_color": "#000000"}, headers={"HX-Request": "true"})
    assert no_token.status_code == 400
    with_header = client.post("/settings/profile", headers={"HX-Request": "true", "X-CSRFToken": token},
                              data={"name": "Ada L.", "username": "ada", "timezone": "UTC",
                                    "brand_color": "#000000"})
    assert with_header.status_code == 200 and b"Profile saved." in with_header.data


# --- client addresses behind proxies ------------------------------------------------------------------------
def _attempt(client, forwarded_for: str | None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"email": "nobody@example.com", "password": "wrong password"},
                       headers=headers)


def test_spoofed_forwarded_for_does_not_escape_the_login_limit_without_trusted_proxies(app_factory):
    client = app_factory(TRUSTED_PROXIES=0).test_client()
    statuses = [_attempt(client, f"203.0.113.{i}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]


def test_forwarded_for_from_a_trusted_proxy_counts_each_client_separately(app_factory):
    client = app_factory(TRUSTED_PROXIES=1).test_client()
    assert [_attempt(client, f"203.0.113.{i}").status_code for i in range(10)] == [401] * 10
    same = [_attempt(client, "198.51.100.7").status_code for _ in range(6)]
    assert same == [401] * 5 + [429]
    # Only the address the trusted proxy appended counts: a client cannot prepend its own to get a fresh limit.
    assert _attempt(client, "192.0.2.99, 198.51.100.7").status_code == 429


def test_client_ip_recorded_in_audit_is_the_socket_address_without_trusted_proxies(app_factory):
    from app.db import db
    from app.models import AuditLog
    app = app_factory(TRUSTED_PROXIES=0)
    app.test_client().post("/signup", data={**SIGNUP, "password": "a very long password"},
                           headers={"X-Forwarded-For": "203.0.113.5"})
    with app.app_context(), db.connection_context():
        assert AuditLog.get(AuditLog.action == "auth.signup").ip_address == "127.0.0.1"


# --- secrets in the logs ------------------------------------------------------------------------------------
FEED_SECRET, FEED_TOKEN, OTHER_SECRET, OTHER_TOKEN = "s3cret-feed-path", "tok-4711", "hidden-feed-path", "tok-0815"
CALDAV_PASSWORD = "app-pass-1234"     # the radicale fixture's password
ICS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nX-WR-CALNAME:Rota\r\nBEGIN:VEVENT\r\nUID:e1\r\n"
       b"DTSTAMP:20300101T000000Z\r\nDTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\nEND:VEVENT\r\n"
       b"END:VCALENDAR\r\n")


def _server_with_a_malformed_header() -> tuple[int, threading.Thread]:
    """Answers one request with the feed and a header line urllib3 warns about (with the request's URL)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: %d\r\n"
                             b": no-name\r\nConnection: close\r\n\r\n%s" % (len(ICS), ICS))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_no_feed_address_token_or_calendar_password_reaches_the_logs_at_debug(app_factory, make_user, feed_server,
                                                                               radicale, caplog):
    from datetime import UTC, datetime, timedelta

    from app.db import db
    from app.models import EventType
    from app.services.integrations import calendars
    from app.services.scheduling.slots import available_slots

    debug_app = app_factory(LOG_LEVEL="DEBUG")
    caplog.set_level(logging.DEBUG)
    feed_server.body = ICS
    radicale.make_calendar("Work")
    host = make_user("hana")
    port, answered = _server_with_a_malformed_header()
    with debug_app.app_context(), db.connection_context():
        calendars.connect_ics(host, url=f"{feed_server.url}{FEED_SECRET}/basic.ics?token={FEED_TOKEN}")
        calendars.connect_ics(host, url=f"http://127.0.0.1:{port}/{OTHER_SECRET}/x.ics?token={OTHER_TOKEN}")
        calendars.connect_caldav(host, server_url=radicale.url, username="alice", password=CALDAV_PASSWORD)
        event_type = EventType.get(EventType.user == host)
        now = datetime.now(UTC)
        available_slots(event_type, now, now + timedelta(days=7), now=now)      # reads every calendar
        calendars.wait_for_background()
    answered.join(5)
    assert len(feed_server.requests) >= 2 and any(r.name.startswith("urllib3") for r in caplog.records)
    warned = [r.getMessage() for r in caplog.records if "Failed to parse headers" in r.getMessage()]
    assert warned and f"127.0.0.1:{port}/" in warned[0]       # urllib3's warning names the host, not the path
    logged = caplog.text + "".join(str(r.args) for r in caplog.records) + "".join(
        str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert [s for s in (FEED_SECRET, FEED_TOKEN, OTHER_SECRET, OTHER_TOKEN, CALDAV_PASSWORD) if s in logged] == []


def test_log_redaction_cuts_urls_to_their_host():
    import logging

    from app.log_redaction import RedactURLs

    record = logging.LogRecord("urllib3.connectionpool", logging.WARNING, __file__, 1,
                               'Failed to parse headers (url=%s): %s',
                               ("https://cal.example.com/private-abc/basic.ics?token=s3cret", "x"), None)
    RedactURLs().filter(record)
    message = record.getMessage()
    assert "https://cal.example.com/…" in message and "s3cret" not in message and "private-abc" not in message
    bare = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
                             '"GET /calendar/ical/x/private-SECRET/basic.ics?token=abc HTTP/1.1" 200', None, None)
    RedactURLs().filter(bare)
    assert "SECRET" not in bare.getMessage() and "abc" not in bare.getMessage() and "200" in bare.getMessage()
