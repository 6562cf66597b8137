"""A small but real OpenID Connect provider for tests, served on 127.0.0.1 from a background thread.

It speaks the protocol the way Google and Microsoft do, strictly enough that a client which skips a step
fails against it:

* ``/.well-known/openid-configuration`` - discovery document;
* ``/authorize`` - authorization-code flow only; needs a registered client and redirect URI, ``scope`` with
  ``openid``, ``state`` and a PKCE ``S256`` challenge; approves the configured identity at once (or answers
  ``access_denied`` when ``deny`` is set);
* ``/token`` - ``authorization_code`` (and optionally ``refresh_token``) grants with client authentication by
  ``client_secret_basic`` or ``client_secret_post``, PKCE verification and single-use codes; answers an
  access token and an RS256-signed ID token;
* ``/jwks`` - the public signing key;
* ``/userinfo`` - the identity's claims for a Bearer access token.

Errors follow RFC 6749: JSON ``{"error", "error_description"}`` with 400 (401 for client authentication)
from the token endpoint; redirects with ``error=`` from the authorization endpoint once the client and its
redirect URI are known.

Usage::

    with OIDCProvider(clients=[Client("id", "secret", ("http://localhost/cb",))]) as provider:
        provider.identity = Identity(sub="123", email="ada@example.com")
        ... point the code under test at provider.discovery_url ...
        assert provider.token_request_count == 1

The pieces (``SigningKey``, ``Identity``, ``Client``, the grant handlers) are meant to be reused by fakes
of other OAuth services (e.g. calendar APIs) that need the same authorization server behaviour.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import unquote_plus, urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

PKCE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


# --- keys --------------------------------------------------------------------------------------------------
class SigningKey:
    """An RSA key pair that signs JWTs with RS256 and publishes itself as a JWK set."""

    def __init__(self, key_size: int = 2048):
        private = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        self._key = RSAKey.import_key(pem)
        self.kid = self._key.thumbprint()

    def public_jwk(self) -> dict[str, Any]:
        return {**self._key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": self.kid}, claims, self._key)


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash`` for RS256: left half of SHA-256 of the token, base64url without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- who signs in, and which clients may ask -----------------------------------------------------------------
@dataclass
class Identity:
    """The end user the provider approves. ``None`` fields are left out of tokens and userinfo."""
    sub: str = "fake-user-1"
    email: str | None = "ada@example.com"
    email_verified: bool | None = True
    name: str | None = "Ada Lovelace"
    extra_claims: dict[str, Any] = field(default_factory=dict)

    def claims(self, scopes: set[str]) -> dict[str, Any]:
        """The claims released for ``scopes`` (``email`` and ``profile`` as in OIDC Core 5.4)."""
        out: dict[str, Any] = {"sub": self.sub}
        if "email" in scopes:
            out.update(email=self.email, email_verified=self.email_verified)
        if "profile" in scopes:
            out["name"] = self.name
        out.update(self.extra_claims)
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class TokenRequest:
    """What one call to the token endpoint looked like (for assertions)."""
    grant_type: str | None
    client_id: str | None
    auth_method: str | None  # client_secret_basic, client_secret_post or None
    status: int = 0


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scopes: set[str]
    nonce: str | None
    code_challenge: str
    identity: Identity
    expires_at: float
    used: bool = False
    issued: list[str] = field(default_factory=list)  # access tokens, revoked if the code is replayed


@dataclass
class _AccessToken:
    client_id: str
    scopes: set[str]
    identity: Identity
    expires_at: float
    revoked: bool = False


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # keep test output readable
        pass


# --- the provider ------------------------------------------------------------------------------------------
class OIDCProvider:
    """An OpenID Connect provider on ``127.0.0.1:<free port>``.

    Per-test knobs (plain attributes, change them any time):
      ``identity``            the Identity approved at the next authorization;
      ``deny``                answer ``error=access_denied`` instead of a code;
      ``id_token_overrides``  claims replaced in issued ID tokens (a ``None`` value removes the claim);
      ``id_token_signer``     sign ID tokens with another SigningKey (one the JWKS does not publish).

    Observations: ``token_requests`` (list of TokenRequest), ``token_request_count``,
    ``userinfo_request_count``.

    ``tenant_id`` imitates Microsoft's multi-tenant ``common`` endpoint: the discovery document names the
    issuer as a ``{tenantid}`` template and tokens carry ``tid`` with the concrete issuer.
    """

    def __init__(self, *, clients: list[Client] | tuple[Client, ...] = (), identity: Identity | None = None,
                 tenant_id: str | None = None, issue_refresh_tokens: bool = False, code_lifetime: int = 60,
                 token_lifetime: int = 3600, signing_key: SigningKey | None = None):
        self.clients: dict[str, Client] = {c.client_id: c for c in clients}
        self.identity = identity or Identity()
        self.tenant_id = tenant_id
        self.issue_refresh_tokens = issue_refresh_tokens
        self.code_lifetime = code_lifetime
        self.token_lifetime = token_lifetime
        self.signing_key = signing_key or SigningKey()
        self.deny = False
        self.id_token_overrides: dict[str, Any] = {}
        self.id_token_signer: SigningKey | None = None
        self.token_requests: list[TokenRequest] = []
        self.userinfo_request_count = 0

        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._refresh_tokens: dict[str, _Grant] = {}
        self._grant_handlers: dict[str, Callable[[Client], dict[str, Any]]] = {
            "authorization_code": self._grant_authorization_code,
        }
        if issue_refresh_tokens:
            self._grant_handlers["refresh_token"] = self._grant_refresh_token
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = self._make_app()

    # -- lifecycle
    def start(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oidc-provider", daemon=True)
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

    # -- configuration helpers
    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str] | tuple[str, ...]):
        self.clients[client_id] = Client(client_id, client_secret, tuple(redirect_uris))

    @property
    def discovery_url(self) -> str:
        return self.url + "/.well-known/openid-configuration"

    @property
    def issuer(self) -> str:
        """The ``iss`` of issued tokens."""
        return f"{self.url}/{self.tenant_id}/v2.0" if self.tenant_id else self.url

    @property
    def token_request_count(self) -> int:
        return len(self.token_requests)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": f"{self.url}/{{tenantid}}/v2.0" if self.tenant_id else self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": sorted(self._grant_handlers),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
        }

    # -- the web app
    def _make_app(self) -> Flask:
        app = Flask("fake_oidc_provider")

        @app.errorhandler(OAuthError)
        def _oauth_error(exc: OAuthError):
            response = jsonify(error=exc.error, error_description=exc.description)
            response.status_code = exc.status
            response.headers.update(exc.headers)
            response.headers["Cache-Control"] = "no-store"
            return response

        app.add_url_rule("/.well-known/openid-configuration", "discovery", lambda: jsonify(self.metadata()))
        app.add_url_rule("/jwks", "jwks", lambda: jsonify(self.signing_key.jwks()))
        app.add_url_rule("/authorize", "authorize", self._authorize, methods=["GET", "POST"])
        app.add_url_rule("/token", "token", self._token, methods=["POST"])
        app.add_url_rule("/userinfo", "userinfo", self._userinfo, methods=["GET", "POST"])
        return app

    # -- authorization endpoint
    def _authorize(self):
        args = request.values
        client = self.clients.get(args.get("client_id", ""))
        if client is None:  # never redirect to an unverified place (RFC 6749 4.1.2.1)
            raise OAuthError("invalid_request", "unknown or missing client_id")
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is missing or not registered for this client")

        state = args.get("state")

        def back(**params):
            if state:
                params["state"] = state
            return redirect(f"{redirect_uri}?{urlencode(params)}", code=302)

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="only response_type=code")
        scopes = set(args.get("scope", "").split())
        if "openid" not in scopes:
            return back(error="invalid_scope", error_description="scope must contain openid")
        if not state:
            return back(error="invalid_request", error_description="state is required")
        challenge = args.get("code_challenge", "")
        if args.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return back(error="invalid_request", error_description="PKCE code_challenge with S256 is required")
        if self.deny:
            return back(error="access_denied", error_description="The user declined.")

        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(client_id=client.client_id, redirect_uri=redirect_uri, scopes=scopes,
                                       nonce=args.get("nonce"), code_challenge=challenge,
                                       identity=dataclasses.replace(self.identity,
                                                                    extra_claims=dict(self.identity.extra_claims)),
                                       expires_at=time.time() + self.code_lifetime)
        return back(code=code)

    # -- token endpoint
    def _token(self):
        form = request.form
        record = {"grant_type": form.get("grant_type"), "client_id": None, "auth_method": None}
        try:
            client, record["auth_method"] = self._authenticate_client()
            record["client_id"] = client.client_id
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required")
            handler = self._grant_handlers.get(grant_type)
            if handler is None:
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
            body = handler(client)
        except OAuthError as exc:
            with self._lock:
                self.token_requests.append(TokenRequest(**record, status=exc.status))
            raise
        with self._lock:
            self.token_requests.append(TokenRequest(**record, status=200))
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    def _authenticate_client(self) -> tuple[Client, str]:
        header = request.headers.get("Authorization", "")
        form = request.form
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError("invalid_client", "unsupported client authentication scheme", 401)
            if "client_secret" in form:
                raise OAuthError("invalid_request", "use one client authentication method, not two")
            try:
                client_id, sep, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise OAuthError("invalid_client", "malformed Basic credentials", 401,
                                 {"WWW-Authenticate": 'Basic realm="fake-oidc"'})
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            if form.get("client_id") not in (None, client_id):
                raise OAuthError("invalid_request", "client_id in the body differs from the credentials")
            method, challenge = "client_secret_basic", {"WWW-Authenticate": 'Basic realm="fake-oidc"'}
        elif "client_secret" in form:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
            method, challenge = "client_secret_post", {}
        else:
            raise OAuthError("invalid_client", "client authentication is required", 401,
                             {"WWW-Authenticate": 'Basic realm="fake-oidc"'})
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401, challenge)
        return client, method

    def _grant_authorization_code(self, client: Client) -> dict[str, Any]:
        form = request.form
        code = form.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown authorization code")
            if grant.used:  # replay: the code is dead and so is everything issued for it (RFC 6749 4.1.2)
                for token in grant.issued:
                    self._access_tokens[token].revoked = True
                raise OAuthError("invalid_grant", "authorization code was already used")
            grant.used = True
        if grant.expires_at < time.time():
            raise OAuthError("invalid_grant", "authorization code expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier")
        if not verifier or not PKCE_RE.match(verifier):
            raise OAuthError("invalid_request", "a valid code_verifier is required")
        if not hmac.compare_digest(s256_challenge(verifier), grant.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return self._issue_tokens(client, grant, with_id_token=True)

    def _grant_refresh_token(self, client: Client) -> dict[str, Any]:
        token = request.form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required")
        with self._lock:
            grant = self._refresh_tokens.get(token)
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown refresh token")
        return self._issue_tokens(client, grant, with_id_token=False)

    def _issue_tokens(self, client: Client, grant: _Grant, *, with_id_token: bool) -> dict[str, Any]:
        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = _AccessToken(client.client_id, grant.scopes, grant.identity,
                                                             now + self.token_lifetime)
            grant.issued.append(access_token)
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": self.token_lifetime, "scope": " ".join(sorted(grant.scopes))}
        if with_id_token:
            body["id_token"] = self.make_id_token(client.client_id, grant.identity, grant.scopes,
                                                  nonce=grant.nonce, access_token=access_token)
        if self.issue_refresh_tokens and "refresh_token" not in request.form:
            refresh = secrets.token_urlsafe(32)
            with self._lock:
                self._refresh_tokens[refresh] = grant
            body["refresh_token"] = refresh
        return body

    def make_id_token(self, audience: str, identity: Identity, scopes: set[str], *, nonce: str | None = None,
                      access_token: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": audience, "iat": now, "exp": now + 3600,
                                  **identity.claims(scopes)}
        if self.tenant_id:
            claims["tid"] = self.tenant_id
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["at_hash"] = at_hash(access_token)
        claims.update(self.id_token_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return (self.id_token_signer or self.signing_key).sign(claims)

    # -- userinfo endpoint
    def _userinfo(self):
        with self._lock:
            self.userinfo_request_count += 1
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if scheme.lower() != "bearer" or not value:
            raise OAuthError("invalid_request", "a Bearer access token is required", 401,
                             {"WWW-Authenticate": 'Bearer realm="fake-oidc"'})
        with self._lock:
            token = self._access_tokens.get(value)
        if token is None or token.revoked or token.expires_at < time.time():
            raise OAuthError("invalid_token", "the access token is unknown, expired or revoked", 401, challenge)
        return jsonify(token.identity.claims(token.scopes))
