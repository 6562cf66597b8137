"""Close CRM: OAuth 2.0 and the scheduling-link integration endpoints (spec page 26).

Groundwork for the CRM sync (issue 19); nothing registers or shows it yet. A LinkTime event type becomes a Close
"THIRD_PARTY" scheduling link that Close users can put into their emails.

Endpoints (overridable in the config for tests; the API base is the integrator's ``CLOSE_API_BASE``):

  authorize  https://app.close.com/oauth2/authorize/   no scope parameter: every Close OAuth app is granted
                                                        ``all.full_access offline_access``
  token      https://api.close.com/oauth2/token/       client_id / client_secret in the form; ``expires_in`` 3600;
                                                        a refresh answers a new refresh token and kills the old one
  revoke     https://api.close.com/oauth2/revoke/      form ``client_id``, ``client_secret``, ``token``
  api        https://api.close.com/api/v1              every path ends with a slash

  GET    /me/                                    the user and ``organizations`` [{id, name}]
  POST   /scheduling_link/integration/           create OR update: Close merges by the app's ``source_id``
  DELETE /scheduling_link/integration/{source_id}/

So a link is named by LinkTime's own ``source_id`` (e.g. the event type's id): ``update_link`` posts again with the
same ``source_id``, ``delete_link`` deletes by it; Close's ``id`` of the link is returned for reference only.
The token answer also names the ``organization_id`` the user chose on the consent screen (``CloseToken``).

Failures are the integrations' vocabulary; a 401 is refreshed once and retried (``CloseApi``); a 429 is transient
with Close's ``rate_reset`` (or ``Retry-After``) as ``retry_after``. Every request goes through ``app.net``'s
guarded session inside ``net.deadline(timeout)``; only the real hosts make the guard refuse private addresses.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests

from app.integrations.errors import (
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.oauth import GuardedOAuthClient, TokenSet, needs_refresh

PROVIDER = "close"
API_BASE = "https://api.close.com/api/v1"
AUTHORIZE_URL = "https://app.close.com/oauth2/authorize/"
TOKEN_URL = "https://api.close.com/oauth2/token/"
REVOKE_URL = "https://api.close.com/oauth2/revoke/"
SCOPES = ("all.full_access", "offline_access")
SOURCE_TYPE = "LinkTime"
NAME_MAX, DESCRIPTION_MAX, SOURCE_ID_MAX = 200, 2000, 200


def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The client config from ``CLOSE_CLIENT_ID``, ``CLOSE_CLIENT_SECRET``, ``CLOSE_API_BASE`` (the API host: the
    token and revoke endpoints and ``/api/v1`` live there), ``CLOSE_APP_BASE`` (the consent screen's host) and
    ``INTEGRATION_HTTP_TIMEOUT``."""
    api = str(settings.get("CLOSE_API_BASE") or "https://api.close.com").rstrip("/")
    app_base = str(settings.get("CLOSE_APP_BASE") or "https://app.close.com").rstrip("/")
    config: dict[str, Any] = {"client_id": settings.get("CLOSE_CLIENT_ID"),
                              "client_secret": settings.get("CLOSE_CLIENT_SECRET"),
                              "authorize_url": app_base + "/oauth2/authorize/", "token_url": api + "/oauth2/token/",
                              "revoke_url": api + "/oauth2/revoke/", "api_url": api + "/api/v1"}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return {key: value for key, value in config.items() if value not in (None, "")}


@dataclasses.dataclass(frozen=True, repr=False)
class CloseToken(TokenSet):
    """A token set with the Close organization and user the grant is for."""
    organization_id: str = ""
    user_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloseToken:
        base = TokenSet.from_dict(data)
        return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(TokenSet)},
                   organization_id=str(data.get("organization_id") or ""), user_id=str(data.get("user_id") or ""))


class CloseClient(GuardedOAuthClient):
    """The OAuth side (connect, refresh, revoke) plus ``api(token)`` for the calls of one connection.

    Config: ``client_id``, ``client_secret``, ``api_url`` (the ``CLOSE_API_BASE``), ``authorize_url``,
    ``token_url``, ``revoke_url``, ``timeout`` (seconds, default 10)."""
    company = "Close"
    name = PROVIDER
    defaults: ClassVar[dict[str, str]] = {"authorize_url": AUTHORIZE_URL, "token_url": TOKEN_URL,
                                          "revoke_url": REVOKE_URL, "api_url": API_BASE}
    client_auth = "client_secret_post"
    send_scope_on_authorize = False

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        super().__init__({"scopes": SCOPES, **config}, session=session)
        for key in ("authorize_url", "token_url", "revoke_url", "api_url"):
            parts = urlsplit(str(self.config[key]))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"close: {key} must be an http(s) URL")
        self.allow_private = any(self.config[key] != value for key, value in self.defaults.items())

    def __repr__(self) -> str:
        return f"CloseClient(api_url={self.config['api_url']!r}, client_id={self.client_id!r})"

    def api(self, token: CloseToken | TokenSet, *, on_token: Callable[[CloseToken], None] | None = None,
            clock: Callable[[], datetime] | None = None) -> CloseApi:
        """The calls of one connection; ``on_token`` receives every renewed token set (store it: Close rotates
        refresh tokens, the old one stops working)."""
        return CloseApi(self, token, on_token=on_token, clock=clock)

    # -- tokens
    def _token_request(self, form: dict[str, str], now: datetime, previous: str | None = None) -> CloseToken:
        form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        body = self._json(self._request("POST", self.url("token_url"), data=form, token_endpoint=True))
        base = TokenSet.from_response(body, now, previous)
        return CloseToken(**{f.name: getattr(base, f.name) for f in dataclasses.fields(TokenSet)},
                          organization_id=str(body.get("organization_id") or ""),
                          user_id=str(body.get("user_id") or ""))

    def refresh(self, token: TokenSet | str, *, now: datetime | None = None) -> CloseToken:
        renewed = super().refresh(token, now=now)
        if isinstance(token, CloseToken):
            renewed = dataclasses.replace(renewed, organization_id=renewed.organization_id or token.organization_id,
                                          user_id=renewed.user_id or token.user_id)
        return renewed

    def revoke(self, token: str) -> bool:
        """Revoke a refresh (or access) token; the client authenticates in the form, as at the token endpoint."""
        self._request("POST", self.url("revoke_url"),
                      data={"client_id": self.client_id, "client_secret": self._client_secret, "token": token})
        return True

    def _error_details(self, response: requests.Response) -> tuple[str | None, str]:
        """Close's API errors: ``{"error": "<sentence>"}``, validation as ``{"errors": [...], "field-errors":
        {field: message}}``, rate limits as ``{"error": {"message", "rate_reset", ...}}``."""
        try:
            body = response.json()
        except ValueError:
            return None, f"HTTP {response.status_code}"
        if isinstance(body, dict) and isinstance(body.get("field-errors"), dict) and body["field-errors"]:
            fields = ", ".join(f"{k}: {v}" for k, v in list(body["field-errors"].items())[:5])
            return "field_errors", f"invalid fields ({fields})"
        if isinstance(body, dict) and isinstance(body.get("error"), str) and " " in body["error"].strip():
            return None, body["error"]                  # a sentence, not an OAuth error code
        return super()._error_details(response)

    def _classify(self, response: requests.Response, token_endpoint: bool) -> IntegrationError:
        error = super()._classify(response, token_endpoint)
        if isinstance(error, TransientError) and error.retry_after is None:
            error.retry_after = _rate_reset(response)
        return error


class CloseApi:
    """The calls of one connection. The token is renewed from five minutes before ``expires_in`` runs out and once
    after a 401; a refresh token Close no longer accepts raises ``GrantRevoked``."""

    def __init__(self, client: CloseClient, token: TokenSet, *, on_token: Callable[[CloseToken], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.token = token
        self._on_token = on_token
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return "CloseApi()"

    def organization_name(self) -> str:
        """The name of the organization the grant is for (``GET /me/``'s ``organizations``; the token's
        ``organization_id`` picks one when the user belongs to several)."""
        me = self._json("GET", "/me/")
        orgs = [o for o in me.get("organizations") or [] if isinstance(o, dict)]
        wanted = getattr(self.token, "organization_id", "") or me.get("organization_id") or ""
        chosen = next((o for o in orgs if wanted and o.get("id") == wanted), None)
        if chosen is None and len(orgs) == 1:
            chosen = orgs[0]
        if chosen is None or not isinstance(chosen.get("name"), str) or not chosen["name"]:
            raise PermanentError("Close did not name the connected organization.", provider=PROVIDER)
        return chosen["name"]

    def create_link(self, name: str, url: str, description: str | None, source_id: str,
                    duration: int | None) -> str:
        """Create (or, for a ``source_id`` Close already has from LinkTime, update) the scheduling link; Close's
        id of it."""
        body = _link_body(name=name, url=url, description=description, source_id=source_id, duration=duration)
        link = self._json("POST", "/scheduling_link/integration/", json=body)
        if not isinstance(link.get("id"), str) or not link["id"]:
            raise PermanentError("Close answered a scheduling link without an id.", provider=PROVIDER)
        return link["id"]

    def update_link(self, source_id: str, *, name: str, url: str, description: str | None = None,
                    duration: int | None = None) -> str:
        """Change the link LinkTime created with ``source_id`` (the same upsert: Close merges by ``source_id``)."""
        return self.create_link(name, url, description, source_id, duration)

    def delete_link(self, source_id: str) -> bool:
        """True if deleted now, False if Close had no such link (any more)."""
        try:
            self._call("DELETE", f"/scheduling_link/integration/{quote(_source_id(source_id), safe='')}/")
        except NotFound:
            return False
        return True

    # -- plumbing
    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.client._json(self._call(method, path, **kwargs))

    def _call(self, method: str, path: str, *, json: Any = None) -> requests.Response:
        if needs_refresh(self.token, self._clock()):
            self._renew()
        for attempt in (1, 2):
            try:
                return self.client._request(method, self.client.url("api_url", path),
                                            access_token=self.token.access_token, json=json)
            except Unauthorized:
                if attempt == 2 or not self.token.refresh_token:
                    raise
                self._renew()
        raise AssertionError("unreachable")  # pragma: no cover

    def _renew(self) -> None:
        self.token = self.client.refresh(self.token, now=self._clock())
        if self._on_token is not None:
            self._on_token(self.token)


def _source_id(value: Any) -> str:
    text = str(value or "").strip()
    if not text or len(text) > SOURCE_ID_MAX:
        raise ValueError("a scheduling link needs a source_id of 1 to 200 characters")
    return text


def _link_body(*, name: str, url: str, description: str | None, source_id: str, duration: int | None) -> dict:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a scheduling link's url is an http(s) URL")
    if not (name or "").strip():
        raise ValueError("a scheduling link needs a name")
    body: dict[str, Any] = {"name": name.strip()[:NAME_MAX], "url": url, "source_id": _source_id(source_id),
                            "source_type": SOURCE_TYPE}
    if description:
        body["description"] = description[:DESCRIPTION_MAX]
    if duration is not None:
        if isinstance(duration, bool) or int(duration) <= 0:
            raise ValueError("duration must be a positive number of minutes")
        body["duration_in_minutes"] = int(duration)
    return body


def _rate_reset(response: requests.Response) -> float | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get("rate_reset") if isinstance(error, dict) else None
    try:
        return max(0.0, float(value)) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
