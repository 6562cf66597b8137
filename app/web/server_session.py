"""Sessions kept on the server.

The cookie holds only a random token (256 bits); the ``web_sessions`` row keyed by the token's SHA-256 holds
the session's data (CSRF token, OAuth state, flashes) and the account it is signed in to. So:

- a session ends the moment its row is deleted (sign-out, password change or reset, disabled account,
  "sign out everywhere"); a copied cookie opens nothing afterwards;
- it ends after ``SESSION_IDLE_DAYS`` without a request and ``SESSION_MAX_DAYS`` after sign-in at the latest;
- the cookie is set when a session starts and never re-issued, and a request writes back only the keys it
  changed: a concurrent request that loaded the session earlier cannot wipe the OAuth state another request
  stored meanwhile;
- an unknown, revoked or expired token makes the request a visitor's but does not delete the cookie: only
  signing out does, so a request sent before sign-in and answered after it cannot drop the new session.

Rows are loaded lazily (a request that never touches ``session`` costs no query), ``last_seen_at`` is
written at most once a minute. Until someone signs in, the session (a form's CSRF token, a sign-in's OAuth
state, flashes) is a signed cookie as in Flask, written only when it changes: visitors cost no rows.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin, session_json_serializer
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.db import db, is_postgres, transaction
from app.models import WebSession
from app.models.base import utcnow
from app.services.account import sessions
from app.services.account.sessions import expired

TOUCH_EVERY = timedelta(minutes=1)
_DELETED = object()
_serializer = TaggedJSONSerializer()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _dumps(data: dict) -> str:
    return _serializer.dumps(data) if data else ""


def _loads(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = _serializer.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ServerSession(SessionMixin):
    """The session of one request. Reads load the row on first use; writes are recorded key by key."""

    def __init__(self, interface: ServerSessionInterface, app: Flask, token: str | None,
                 request: Request | None, anonymous: dict | None = None, had_cookie: bool = False) -> None:
        self._interface = interface
        self._app = app
        self._token = token
        self._request = request
        self._data: dict | None = None if token else dict(anonymous or {})
        self._had_cookie = had_cookie
        self._row_id: str | None = None
        self._user_id: str | None = None
        self._changes: dict[str, Any] = {}
        self._cleared = False
        self._start_for: str | None = None   # begin a new session for this user id at save (sign-in)
        self._ended = False                  # signed out here: drop the cookie unless a new session starts
        self._signed_data = False            # the cookie held a visitor's valid signed data
        self.modified = False
        self.accessed = False
        self.new = token is None

    # --- loading ---------------------------------------------------------------------------------------
    def _load(self) -> dict:
        self.accessed = True
        if self._data is None:
            self._data = {}
            row = self._interface.find(self._app, self._token, self._request)
            if row is None:
                # An unknown, revoked or expired token: this request is a visitor's. The cookie is left alone
                # (a request still in flight while the browser signs in must not delete the new session's
                # cookie after it was set); a write of visitor data replaces it as usual.
                self._token = None
            else:
                self._row_id, self._user_id = row.id, row.user_id
                self._data = _loads(row.data)
        return self._data

    @property
    def user_id(self) -> str | None:
        self._load()
        return self._user_id

    @property
    def row_id(self) -> str | None:
        """The id of this session's row (listed in settings), None before the session is stored."""
        self._load()
        return self._row_id

    # --- mapping ------------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._load()[key] = value
        self._changes[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self._changes[key] = _DELETED
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def clear(self) -> None:
        self._load().clear()
        self._changes.clear()
        self._cleared = True
        self.modified = True

    # Flask's SessionMixin stores ``permanent`` as a key; every session here lives until its row ends.
    @property
    def permanent(self) -> bool:
        return True

    @permanent.setter
    def permanent(self, value: bool) -> None:
        pass

    # --- sign-in and sign-out ------------------------------------------------------------------------------
    def start(self, user_id: str) -> None:
        """Sign in: at the end of the request a new session (new token) replaces this one, which ends.
        Nothing stored before survives (no session fixation)."""
        self.end()
        self._start_for = user_id
        self._user_id = user_id

    def end(self) -> None:
        """Sign out: the row is deleted now; data stored later in this request goes to a new anonymous one."""
        self._load()
        if self._row_id:
            sessions.end(self._row_id)
        self._token, self._row_id, self._user_id, self._start_for = None, None, None, None
        self._data = {}
        self._changes.clear()
        self._cleared = False
        self._ended = True
        self.modified = True


class ServerSessionInterface(SessionInterface):
    def _lifetimes(self, app: Flask) -> tuple[timedelta, timedelta]:
        return (timedelta(days=app.config["SESSION_IDLE_DAYS"]), timedelta(days=app.config["SESSION_MAX_DAYS"]))

    def _signer(self, app: Flask) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(app.secret_key, salt="linktime.anonymous-session",
                                      serializer=session_json_serializer,
                                      signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        raw = request.cookies.get(self.get_cookie_name(app)) or ""
        if "." in raw:  # a visitor's signed data (no one is signed in)
            try:
                data = self._signer(app).loads(raw, max_age=app.config["SESSION_IDLE_DAYS"] * 86400)
            except BadSignature:
                data = None
            session = ServerSession(self, app, None, request, anonymous=data if isinstance(data, dict) else {},
                                    had_cookie=True)
            session._signed_data = isinstance(data, dict)
            return session
        token = raw if 20 <= len(raw) <= 100 and raw.isascii() else None
        return ServerSession(self, app, token, request, had_cookie=bool(raw))

    def find(self, app: Flask, token: str | None, request: Request | None) -> WebSession | None:
        """The live row of ``token`` (touching ``last_seen_at`` once a minute), or None; expired rows go."""
        if not token:
            return None
        db.connect(reuse_if_open=True)
        row = WebSession.get_or_none(WebSession.token_hash == token_hash(token))
        if row is None:
            return None
        now = utcnow()
        idle, absolute = self._lifetimes(app)
        if expired(row, now, idle, absolute):
            sessions.end(row.id)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            changes: dict = {"last_seen_at": now}
            if request is not None:
                changes.update(ip=_client_ip(request), user_agent=(request.user_agent.string or "")[:255] or None)
            WebSession.update(**changes).where(WebSession.id == row.id).execute()
        return row

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.accessed:
            response.vary.add("Cookie")
        name = self.get_cookie_name(app)
        cookie = {"domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
                  "secure": self.get_cookie_secure(app), "httponly": self.get_cookie_httponly(app),
                  "samesite": self.get_cookie_samesite(app)}
        if not session.modified:
            if session._ended:
                response.delete_cookie(name, **cookie)
            return
        if session._start_for is None and session._token is None:
            # Nobody is signed in: the little there is (a form's CSRF token, OAuth state of a sign-in, flashes)
            # stays in a signed cookie, so visitors cost no database writes.
            # Only signing out, or emptying the visitor data the cookie held, deletes it: never merely an unknown
            # or forged cookie (a late answer to a request sent before sign-in would delete the new session's).
            if session._data:
                response.set_cookie(name, self._signer(app).dumps(session._data), **cookie)
            elif session._signed_data or session._ended:
                response.delete_cookie(name, **cookie)
            return
        db.connect(reuse_if_open=True)
        if session._start_for is not None:
            data = session._data or {}
            token = secrets.token_urlsafe(32)
            now = utcnow()
            request = session._request
            WebSession.create(token_hash=token_hash(token), user=session._start_for, data=_dumps(data),
                              created_at=now, last_seen_at=now,
                              ip=_client_ip(request) if request is not None else None,
                              user_agent=((request.user_agent.string or "")[:255] or None) if request else None)
            _, absolute = self._lifetimes(app)
            response.set_cookie(name, token, max_age=int(absolute.total_seconds()), **cookie)
            return
        self._write_changes(session)

    def _write_changes(self, session: ServerSession) -> None:
        """Apply only what this request changed to the row as it is now (another request may have written)."""
        if not session._row_id:
            return
        with transaction():
            query = WebSession.select(WebSession.id, WebSession.data).where(WebSession.id == session._row_id)
            if is_postgres():
                query = query.for_update()
            row = query.first()
            if row is None:  # ended meanwhile (signed out elsewhere): a revoked session is never revived
                return
            data = {} if session._cleared else _loads(row.data)
            for key, value in session._changes.items():
                if value is _DELETED:
                    data.pop(key, None)
                else:
                    data[key] = value
            WebSession.update(data=_dumps(data)).where(WebSession.id == row.id).execute()


def _client_ip(request: Request | None) -> str | None:
    if request is None:
        return None
    return (request.remote_addr or "")[:45] or None
