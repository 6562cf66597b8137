"""The OAuth 2.0 authorization server that the Google, Microsoft, Zoom and Webex fakes share.

A ``FakeOAuthServer`` is a Flask app served on ``127.0.0.1:<free port>`` from a thread. It implements the
authorization-code grant with PKCE (S256 only) strictly enough that a client which skips a step fails:

* authorize: registered ``client_id`` and ``redirect_uri``, ``response_type=code``, a ``state``, an S256
  ``code_challenge``; it approves at once (or ``deny``) and redirects back with ``code`` and ``state``;
* token: client authentication in the provider's way(s) (``client_auth_methods``; wrong or missing -> 401
  ``invalid_client``), single-use codes bound to the redirect URI, PKCE verification (mismatch ->
  ``invalid_grant``), refresh grants (unknown, revoked or rotated-away refresh token -> 400 ``invalid_grant``);
* Bearer checks for the API routes of the subclasses (missing/unknown/expired/revoked -> 401, missing scope ->
  403), each provider rendering errors in its own JSON shape (``api_error_body``).

Test knobs: ``fail(status, times, path, body)`` answers the next matching requests with an error (a bytes
``body`` is sent as HTML, like a gateway's page), ``slow(seconds,
times, path)`` holds them back (for client timeouts), ``revoke_grants()`` is the user removing the app at the
provider, ``expire_access_tokens()`` ages every access token. ``requests`` records what arrived.
"""
from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import unquote, urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.fakes.oidc_provider import PKCE_RE, s256_challenge

CLIENT_ID = "linktime-client"
CLIENT_SECRET = "linktime-secret"
REDIRECT_URI = "http://localhost:5000/integrations/callback"


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    scopes: set[str]
    code_challenge: str
    params: dict[str, str]
    expires_at: float
    used: bool = False


@dataclass
class Token:
    value: str
    scopes: set[str]
    expires_at: float
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    json: Any
    form: dict[str, str]


@dataclass
class _Injection:
    path: str | None
    times: int
    status: int = 0
    delay: float = 0.0
    body: Any = None
    headers: dict = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class FakeOAuthServer:
    name = "fake"
    authorize_path = "/authorize"
    token_path = "/token"
    client_auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    rotate_refresh_tokens = False          # a refresh answers a new refresh token and kills the old one
    refresh_returns_refresh_token = False  # a refresh answers a new refresh token (the old one stays valid)
    refresh_requires_scope = False
    scope_separator = " "

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
                 redirect_uris: tuple[str, ...] = (REDIRECT_URI,), token_lifetime: int = 3600,
                 granted_scopes: set[str] | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = redirect_uris
        self.token_lifetime = token_lifetime
        self.granted_scopes = granted_scopes      # scopes issued regardless of the request (None: as asked)
        self.deny = False
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._codes: dict[str, Grant] = {}
        self._access: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._injections: list[_Injection] = []
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = Flask(f"fake_{self.name}")
        self._install_base_routes()
        self.add_routes(self.app)

    # -- lifecycle
    def start(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- subclasses
    def add_routes(self, app: Flask) -> None:
        """Register the provider's API routes."""

    def client_config(self, **overrides) -> dict[str, Any]:
        """The config dict that points the provider's client at this fake."""
        raise NotImplementedError

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        return {"error": {"code": code or status, "message": message}}

    def token_error_body(self, error: str, description: str) -> dict[str, Any]:
        return {"error": error, "error_description": description}

    def issues_refresh_token(self, grant: Grant) -> bool:
        return True

    def token_extra(self) -> dict[str, Any]:
        return {}

    # -- test knobs
    def fail(self, status: int = 500, *, times: int = 1, path: str | None = None, body: Any = None,
             headers: dict | None = None) -> None:
        with self.lock:
            self._injections.append(_Injection(path, times, status=status, body=body, headers=headers or {}))

    def slow(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        with self.lock:
            self._injections.append(_Injection(path, times, delay=seconds))

    def revoke_grants(self) -> None:
        """The user removed the app at the provider: every refresh and access token dies."""
        with self.lock:
            for token in [*self._refresh.values(), *self._access.values()]:
                token.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self._access.values():
                token.expires_at = time.time() - 1

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or r.path == path)]

    def refresh_token_state(self, value: str) -> str:
        token = self._refresh.get(value)
        return "unknown" if token is None else ("revoked" if token.revoked else "active")

    # -- plumbing
    def _install_base_routes(self) -> None:
        app = self.app

        @app.before_request
        def _record_and_inject():
            body = request.get_json(silent=True) if request.is_json else None
            with self.lock:
                self.requests.append(Recorded(request.method, request.path, request.args.to_dict(),
                                              dict(request.headers), body, request.form.to_dict()))
                injection = next((i for i in self._injections if i.times > 0
                                  and (i.path is None or request.path.startswith(i.path))), None)
                if injection:
                    injection.times -= 1
            if injection and injection.delay:
                time.sleep(injection.delay)
            if injection and injection.status:
                if isinstance(injection.body, bytes):          # e.g. a gateway's HTML page
                    response = Response(injection.body, mimetype="text/html")
                else:
                    response = jsonify(injection.body if injection.body is not None
                                       else self.api_error_body(injection.status, "injected failure", None))
                response.status_code = injection.status
                response.headers.update(injection.headers)
                return response
            return None

        @app.errorhandler(ApiError)
        def _api_error(exc: ApiError):
            response = jsonify(self.api_error_body(exc.status, exc.message, exc.code))
            response.status_code = exc.status
            response.headers.update(exc.headers)
            return response

        @app.errorhandler(OAuthError)
        def _oauth_error(exc: OAuthError):
            response = jsonify(self.token_error_body(exc.error, exc.description))
            response.status_code = exc.status
            response.headers["Cache-Control"] = "no-store"
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Basic realm="fake"'
            return response

        app.add_url_rule(self.authorize_path, "authorize", self._authorize, methods=["GET"])
        app.add_url_rule(self.token_path, "token", self._token, methods=["POST"])

    def _authorize(self):
        args = request.args
        if args.get("client_id") != self.client_id:
            raise OAuthError("invalid_request", "unknown or missing client_id")
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is missing or not registered")
        state = args.get("state")

        def back(**params):
            if state:
                params["state"] = state
            return redirect(f"{redirect_uri}?{urlencode(params)}", code=302)

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if not state:
            return back(error="invalid_request", error_description="state is required")
        challenge = args.get("code_challenge", "")
        if args.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return back(error="invalid_request", error_description="an S256 code_challenge is required")
        problem = self.check_authorize(args)
        if problem:
            return back(error="invalid_scope", error_description=problem)
        if self.deny:
            return back(error="access_denied", error_description="The user declined.")
        code = secrets.token_urlsafe(24)
        scopes = set(args.get("scope", "").replace(",", " ").split())
        with self.lock:
            self._codes[code] = Grant(self.client_id, redirect_uri, scopes, challenge, args.to_dict(),
                                      time.time() + 60)
        return back(code=code)

    def check_authorize(self, args) -> str | None:
        """A reason to refuse the authorization request (provider-specific), or None."""
        return None

    def _authenticate_client(self) -> None:
        header = request.headers.get("Authorization", "")
        form = request.form
        if header.startswith("Basic "):
            if "client_secret_basic" not in self.client_auth_methods:
                raise OAuthError("invalid_client", "Basic client authentication is not supported", 401)
            try:
                client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            client_id, secret = unquote(client_id), unquote(secret)
        elif "client_secret" in form:
            if "client_secret_post" not in self.client_auth_methods:
                raise OAuthError("invalid_client", "client credentials must be sent with HTTP Basic", 401)
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        if client_id != self.client_id or not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)

    def _token(self):
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the token request must be form-encoded")
        self._authenticate_client()
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            body = self._grant_code()
        elif grant_type == "refresh_token":
            body = self._grant_refresh()
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _grant_code(self) -> dict[str, Any]:
        form = request.form
        with self.lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is None or grant.used or grant.expires_at < time.time():
                raise OAuthError("invalid_grant", "unknown, used or expired authorization code")
            grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        if not PKCE_RE.match(verifier):
            raise OAuthError("invalid_request", "a valid code_verifier is required")
        if not hmac.compare_digest(s256_challenge(verifier), grant.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        scopes = self.granted_scopes if self.granted_scopes is not None else grant.scopes
        return self._issue(scopes, with_refresh=self.issues_refresh_token(grant))

    def _grant_refresh(self) -> dict[str, Any]:
        value = request.form.get("refresh_token", "")
        if self.refresh_requires_scope and not request.form.get("scope"):
            raise OAuthError("invalid_request", "scope is required when refreshing")
        with self.lock:
            token = self._refresh.get(value)
            if token is None or token.revoked:
                raise OAuthError("invalid_grant", "the refresh token is invalid, expired or revoked")
            if self.rotate_refresh_tokens:
                token.revoked = True
        with_refresh = self.rotate_refresh_tokens or self.refresh_returns_refresh_token
        return self._issue(token.scopes, with_refresh=with_refresh, parent=value)

    def _issue(self, scopes: set[str], *, with_refresh: bool, parent: str | None = None) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24) if with_refresh else None
        with self.lock:
            self._access[access] = Token(access, set(scopes), time.time() + self.token_lifetime,
                                         refresh_token=refresh or parent)
            if refresh:
                self._refresh[refresh] = Token(refresh, set(scopes), time.time() + 90 * 86400)
        body = {"access_token": access, "token_type": "Bearer", "expires_in": self.token_lifetime,
                "scope": self.scope_separator.join(sorted(scopes)), **self.token_extra()}
        if refresh:
            body["refresh_token"] = refresh
        return body

    def revoke_token(self, value: str) -> bool:
        """Revoke one token (a refresh token takes its access tokens with it)."""
        with self.lock:
            token = self._refresh.get(value) or self._access.get(value)
            if token is None or token.revoked:
                return False
            token.revoked = True
            for access in self._access.values():
                if access.refresh_token == value:
                    access.revoked = True
            return True

    # -- helpers for API routes
    def bearer(self, *any_of_scopes: str) -> Token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not value:
            raise ApiError(401, "a Bearer access token is required", headers={"WWW-Authenticate": "Bearer"})
        with self.lock:
            token = self._access.get(value)
        if token is None or token.revoked or token.expires_at < time.time():
            raise ApiError(401, "the access token is invalid, expired or revoked",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if any_of_scopes and not token.scopes & set(any_of_scopes):
            raise ApiError(403, "insufficient scope", code="insufficientPermissions")
        return token

    @staticmethod
    def json_body() -> dict[str, Any]:
        if not request.is_json:
            raise ApiError(400, "the body must be application/json")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body


# --- validation helpers ----------------------------------------------------------------------------------------
def check_type(body: dict, key: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    """``body[key]`` if it has type ``kind`` (bool is not an int here); 400 when missing or mistyped."""
    if key not in body or body[key] is None:
        if required:
            raise ApiError(400, f"{key} is required", code="required")
        return None
    value = body[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ApiError(400, f"{key} has the wrong type", code="invalid")
    if not isinstance(value, kinds):
        raise ApiError(400, f"{key} has the wrong type", code="invalid")
    return value


def check_keys(body: dict, allowed: set[str], what: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, f"unknown field(s) in {what}: {', '.join(sorted(unknown))}", code="invalid")


def parse_rfc3339(value: Any, what: str, *, offset_required: bool = True) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, f"{what} must be a string", code="invalid")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{what} is not a valid date-time", code="invalid") from None
    if parsed.tzinfo is None:
        if offset_required:
            raise ApiError(400, f"{what} needs a time zone offset", code="invalid")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def check_email(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ApiError(400, f"{what} is not an email address", code="invalid")
    return value


def merge_intervals(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
