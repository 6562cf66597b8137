"""Provider-agnostic OAuth 2.0 and HTTP plumbing shared by the Google, Microsoft, Zoom and Webex clients.

* ``OAuthClient`` - the base of every provider client: authorization URL with ``state`` and PKCE (S256),
  callback check, code exchange, refresh, revocation, and the one HTTP seam (``_request``) with a timeout
  that classifies every failure (``app.integrations.errors``). Provider modules subclass it and add their
  API calls; each is built from a config dict so tests point it at a local fake.
* ``TokenSet`` and ``needs_refresh`` - what is stored (encrypted) per connection and when to refresh it.
* ``PROVIDERS`` - static facts about each provider (category, scopes, what it supports) for the
  integrations page and the location choices; ``client_for`` builds a provider's client.
* Small value types the clients return: ``BusyTimes``, ``CalendarInfo``, ``CalendarEvent``, ``Meeting``.

Config keys (all optional except the client credentials): ``client_id``, ``client_secret``,
``authorize_url``, ``token_url``, ``revoke_url``, ``api_url``, ``userinfo_url``, ``timeout`` (seconds,
default 10). ``config_from_settings`` maps the app's ``GOOGLE_CLIENT_ID``-style settings onto them.
"""
from __future__ import annotations

import hmac
import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from app import net
from app.integrations.errors import (
    AuthorizationFailed,
    GrantRevoked,
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)

DEFAULT_TIMEOUT = 10.0
REFRESH_MARGIN = timedelta(minutes=5)


# --- provider facts ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProviderInfo:
    name: str
    display_name: str
    category: str                          # "calendar" or "video"
    scopes: tuple[str, ...]
    client_path: str                       # "module:Class"
    supports: frozenset[str]               # calendars, busy_times, events, meetings
    video_locations: tuple[str, ...] = ()  # event-type locations this connection can serve
    service: str = ""                      # what people call a connection of it ("Outlook Calendar")
    company: str = ""                      # who grants the access ("Microsoft")
    audit_name: str = ""                   # its name in the audit log's details
    connect_hint: str = ""                 # the line on its "Connect" card
    settings_hook: str = ""                # "module:function" building its client config from the settings
    token_class: str = ""                  # "module:Class" of its stored token set (default TokenSet)


# The OAuth providers, in the order the integrations page shows them. A new one is an entry here (and its client
# module and *_CLIENT_ID / *_CLIENT_SECRET settings); pages, routes, names and the audit log read it from here.
PROVIDERS: dict[str, ProviderInfo] = {
    "google": ProviderInfo(
        "google", "Google Calendar", "calendar",
        ("openid", "email", "https://www.googleapis.com/auth/calendar.readonly",
         "https://www.googleapis.com/auth/calendar.events"),
        "app.integrations.google:GoogleClient", frozenset({"calendars", "busy_times", "events"}),
        ("google_meet",), service="Google Calendar", company="Google", audit_name="google_calendar"),
    "microsoft": ProviderInfo(
        "microsoft", "Outlook / Microsoft 365", "calendar",
        ("offline_access", "User.Read", "Calendars.ReadWrite"),
        "app.integrations.microsoft:MicrosoftClient", frozenset({"calendars", "busy_times", "events"}),
        service="Outlook Calendar", company="Microsoft", audit_name="outlook_calendar"),
    "zoom": ProviderInfo(
        "zoom", "Zoom", "video", ("meeting:write", "user:read"),
        "app.integrations.zoom:ZoomClient", frozenset({"meetings"}), ("zoom",), service="Zoom", company="Zoom",
        audit_name="zoom",
        connect_hint="Sign in with Zoom and allow LinkTime to create meetings for your bookings."),
    # Teams is its own connection (Video Conferencing) through the same Microsoft app and MICROSOFT_* settings
    "teams": ProviderInfo(
        "teams", "Microsoft Teams", "video", ("offline_access", "User.Read", "OnlineMeetings.ReadWrite"),
        "app.integrations.microsoft:MicrosoftClient", frozenset({"meetings"}), ("teams",),
        service="Microsoft Teams", company="Microsoft", audit_name="microsoft_teams",
        connect_hint="Sign in with Microsoft 365 (Teams needs a Microsoft 365 licence) and allow LinkTime to create "
                     "online meetings."),
    "webex": ProviderInfo(
        "webex", "Webex", "video",
        ("spark:kms", "spark:people_read", "meeting:schedules_read", "meeting:schedules_write"),
        "app.integrations.webex:WebexClient", frozenset({"meetings"}), ("webex",), service="Webex", company="Webex",
        audit_name="webex",
        connect_hint="Sign in with Webex and allow LinkTime to schedule meetings for your bookings."),
    # CRMs (Settings -> Integrations -> CRM, Pro plan and above): each module builds its own config from its settings
    "hubspot": ProviderInfo(
        "hubspot", "HubSpot", "crm", ("crm.objects.contacts.read", "crm.objects.contacts.write"),
        "app.integrations.hubspot:HubSpotClient", frozenset({"crm_records"}), service="HubSpot", company="HubSpot",
        audit_name="hubspot", settings_hook="app.integrations.hubspot:config_from_settings",
        connect_hint="Every booking creates or updates the invitee's contact and logs the meeting on it."),
    "attio": ProviderInfo(
        "attio", "Attio", "crm", (), "app.integrations.attio:AttioClient", frozenset({"crm_records"}),
        service="Attio", company="Attio", audit_name="attio",
        settings_hook="app.integrations.attio:config_from_settings",
        connect_hint="Every booking asserts the invitee as a person and adds a note with the meeting."),
    "salesforce": ProviderInfo(
        "salesforce", "Salesforce", "crm", ("id", "api", "refresh_token"),
        "app.integrations.salesforce:SalesforceClient", frozenset({"crm_records"}), service="Salesforce",
        company="Salesforce", audit_name="salesforce",
        settings_hook="app.integrations.salesforce:config_from_settings",
        token_class="app.integrations.salesforce:SalesforceToken",
        connect_hint="Every booking finds or creates the invitee's Contact and adds an Event to it."),
    "close": ProviderInfo(
        "close", "Close", "crm", ("all.full_access", "offline_access"), "app.integrations.close_crm:CloseClient",
        frozenset({"scheduling_links"}), service="Close", company="Close", audit_name="close",
        settings_hook="app.integrations.close_crm:config_from_settings",
        token_class="app.integrations.close_crm:CloseToken",
        connect_hint="Your public event types appear in Close as scheduling links your team can send."),
}

_SETTING_KEYS = ("client_id", "client_secret", "authorize_url", "token_url", "revoke_url", "api_url",
                 "userinfo_url")


SETTINGS_PREFIX = {"teams": "MICROSOFT"}      # providers that share another provider's app registration


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def config_from_settings(settings: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """``GOOGLE_CLIENT_ID``, ``GOOGLE_TOKEN_URL``, ... and ``INTEGRATION_HTTP_TIMEOUT`` as a client config (a
    provider with a ``settings_hook``, the CRMs, builds its own from its settings)."""
    if PROVIDERS.get(provider) and PROVIDERS[provider].settings_hook:
        return _load(PROVIDERS[provider].settings_hook)(settings)
    prefix = SETTINGS_PREFIX.get(provider, provider.upper()) + "_"
    config = {key: settings[prefix + key.upper()] for key in _SETTING_KEYS if settings.get(prefix + key.upper())}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return config


def client_class(provider: str) -> type[OAuthClient]:
    return _load(PROVIDERS[provider].client_path)


def token_class(provider: str) -> type[TokenSet]:
    """The token set a connection of ``provider`` stores (Salesforce and Close keep more than the tokens)."""
    path = PROVIDERS[provider].token_class if provider in PROVIDERS else ""
    return _load(path) if path else TokenSet


def client_for(provider: str, config: Mapping[str, Any], session: requests.Session | None = None) -> OAuthClient:
    if PROVIDERS[provider].scopes:
        config = {"scopes": PROVIDERS[provider].scopes, **config}   # e.g. Teams: the Microsoft client with its scopes
    return client_class(provider)(config, session=session)


# --- tokens --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None            # UTC; None when the provider did not say
    scope: str | None = None
    token_type: str = "Bearer"

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: datetime,
                      previous_refresh_token: str | None = None) -> TokenSet:
        """A token endpoint's answer; a refresh answer without ``refresh_token`` keeps the previous one."""
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise PermanentError("The token endpoint answered without an access token.")
        expires_at = None
        if body.get("expires_in") not in (None, ""):
            lifetime = body["expires_in"]
            try:
                if isinstance(lifetime, bool):
                    raise TypeError("expires_in is a boolean")
                expires_at = now.astimezone(UTC) + timedelta(seconds=int(lifetime))
            except (TypeError, ValueError, OverflowError) as exc:    # also inf, NaN and beyond year 9999
                raise PermanentError("The token endpoint answered a malformed expires_in.") from exc
        refresh_token = body.get("refresh_token")
        if refresh_token is not None and not isinstance(refresh_token, str):
            raise PermanentError("The token endpoint answered a malformed refresh_token.")
        scope = body.get("scope")
        if scope is not None and not isinstance(scope, str):     # RFC 6749: a space-separated string
            raise PermanentError("The token endpoint answered a malformed scope.")
        return cls(access_token=access_token, refresh_token=refresh_token or previous_refresh_token,
                   expires_at=expires_at, scope=scope, token_type=str(body.get("token_type") or "Bearer"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        expires = data.get("expires_at")
        return cls(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                   expires_at=datetime.fromisoformat(expires) if expires else None, scope=data.get("scope"),
                   token_type=data.get("token_type") or "Bearer")

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at!r}, scope={self.scope!r})"


def needs_refresh(token: TokenSet, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
    """True from ``margin`` (5 minutes) before expiry on; a token without an expiry never needs it."""
    return token.expires_at is not None and now >= token.expires_at - margin


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str       # keep server-side (session) until the callback; never send to the browser


# --- values the clients return -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None = None


@dataclass
class BusyTimes:
    intervals: list[tuple[int, int]] = field(default_factory=list)   # UTC epoch seconds, sorted
    errors: dict[str, str] = field(default_factory=dict)             # calendar id -> why it was not read


@dataclass(frozen=True)
class CalendarInfo:
    id: str
    name: str
    primary: bool = False
    writable: bool = False
    timezone: str | None = None
    color: str | None = None


@dataclass(frozen=True)
class CalendarEvent:
    id: str
    calendar_id: str | None
    html_link: str | None
    meeting_url: str | None            # Google Meet / Teams join link when one was asked for
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Meeting:
    id: str
    join_url: str
    password: str | None = None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


# --- time helpers --------------------------------------------------------------------------------------------
def utc_iso(value: datetime) -> str:
    """``2026-03-10T09:00:00Z`` from an aware datetime (naive datetimes are refused: they have no instant)."""
    if value.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str, tz: Any = UTC) -> datetime:
    """An RFC 3339 / ISO 8601 instant; a value without offset is read in ``tz`` (Graph's ``dateTime``)."""
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def epoch(value: datetime) -> int:
    return int(value.timestamp())


# --- the client base -----------------------------------------------------------------------------------------
class OAuthClient:
    """Authorization-code flow with PKCE plus the classified HTTP seam. Subclasses set the class attributes."""
    name = "oauth"
    defaults: ClassVar[dict[str, str]] = {}
    client_auth = "client_secret_post"               # or "client_secret_basic"
    authorize_params: ClassVar[dict[str, str]] = {}
    send_scope_on_authorize = True
    send_scope_on_refresh = False

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        self.config = {**self.defaults, **{k: v for k, v in config.items() if v not in (None, "")}}
        for key in ("client_id", "client_secret"):
            if not self.config.get(key):
                raise ValueError(f"{self.name}: {key} is not configured")
        self.client_id = self.config["client_id"]
        self._client_secret = self.config["client_secret"]
        self.timeout = float(self.config.get("timeout", DEFAULT_TIMEOUT))
        self.session = session or requests.Session()
        info = PROVIDERS.get(self.name)
        self.scopes: tuple[str, ...] = tuple(self.config.get("scopes") or (info.scopes if info else ()))

    def url(self, key: str, path: str = "") -> str:
        return self.config[key].rstrip("/") + path if path else self.config[key]

    # -- authorization
    def authorization_request(self, redirect_uri: str, *, state: str | None = None,
                              extra_params: Mapping[str, str] | None = None) -> AuthorizationRequest:
        state = state or generate_token(32)
        verifier = generate_token(64)                  # 64 unreserved characters (RFC 7636: 43-128)
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri}
        if self.send_scope_on_authorize and self.scopes:
            params["scope"] = " ".join(self.scopes)
        params.update(state=state, code_challenge=create_s256_code_challenge(verifier),
                      code_challenge_method="S256", **self.authorize_params, **(extra_params or {}))
        base = self.url("authorize_url")
        query = urlencode(params, quote_via=quote)     # spaces as %20, which every provider accepts
        return AuthorizationRequest(f"{base}{'&' if urlsplit(base).query else '?'}{query}", state, verifier)

    def parse_callback(self, args: Mapping[str, str], *, expected_state: str) -> str:
        """The ``code`` of the redirect back, after checking ``state``; ``error=`` raises AuthorizationFailed."""
        state = args.get("state") or ""
        if not expected_state or not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise AuthorizationFailed("The sign-in answer does not belong to this connection attempt.",
                                      provider=self.name, code="state_mismatch")
        if args.get("error"):
            raise AuthorizationFailed(f"{self.name} did not grant access ({args['error']}).",
                                      provider=self.name, code=str(args["error"]))
        if not args.get("code"):
            raise AuthorizationFailed("The sign-in answer has no authorization code.", provider=self.name,
                                      code="missing_code")
        return args["code"]

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str,
                      now: datetime | None = None) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier}
        return self._token_request(form, now or datetime.now(UTC))

    def refresh(self, token: TokenSet | str, *, now: datetime | None = None) -> TokenSet:
        refresh_token = token.refresh_token if isinstance(token, TokenSet) else token
        if not refresh_token:
            raise GrantRevoked("There is no refresh token to renew the access with.", provider=self.name,
                               code="invalid_grant")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self.send_scope_on_refresh and self.scopes:
            form["scope"] = " ".join(self.scopes)
        return self._token_request(form, now or datetime.now(UTC), refresh_token)

    def can_write_calendars(self, scope: Any) -> bool:
        """Whether the granted ``scope`` (space-separated, as the token endpoint answered it; None when it did not
        say) lets LinkTime write events. Calendar providers override this."""
        return True

    @staticmethod
    def email_verified(claims: Mapping[str, Any]) -> bool:
        """Whether the provider vouches, in a sign-in's ID token claims, that the email belongs to this person.
        Only an explicit ``email_verified: true`` counts: an unverified address must never create or reach an
        account."""
        value = claims.get("email_verified")
        return value is True or (isinstance(value, str) and value.lower() == "true")

    def revoke(self, token: str) -> bool:
        """Revoke a refresh (or access) token where the provider offers it; False when it does not."""
        if not self.config.get("revoke_url"):
            return False
        self._request("POST", self.url("revoke_url"), data={"token": token}, auth=self._client_auth_args())
        return True

    def _client_auth_args(self) -> tuple[str, str] | None:
        return (self.client_id, self._client_secret) if self.client_auth == "client_secret_basic" else None

    def _token_request(self, form: dict[str, str], now: datetime, previous: str | None = None) -> TokenSet:
        auth = self._client_auth_args()
        if auth is None:
            form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        response = self._request("POST", self.url("token_url"), data=form, auth=auth, token_endpoint=True)
        return TokenSet.from_response(self._json(response), now, previous)

    # -- HTTP
    def _request(self, method: str, url: str, *, access_token: str | None = None, params: Any = None,
                 json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None, token_endpoint: bool = False) -> requests.Response:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if access_token is not None:
            all_headers["Authorization"] = f"Bearer {access_token}"
        try:
            response = self.session.request(method, url, params=params, json=json, data=data,
                                            headers=all_headers, auth=auth, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.Timeout as exc:
            raise TransientError(f"{self.name} did not answer within {self.timeout:g} s.",
                                 provider=self.name) from exc
        except requests.RequestException as exc:
            raise TransientError(f"{self.name} could not be reached ({type(exc).__name__}).",
                                 provider=self.name) from exc
        if 200 <= response.status_code < 300:
            return response
        raise self._classify(response, token_endpoint)

    def _json(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"{self.name} answered something that is not JSON.", provider=self.name,
                                 status=response.status_code) from exc
        if not isinstance(body, dict):
            raise PermanentError(f"{self.name} answered an unexpected JSON document.", provider=self.name,
                                 status=response.status_code)
        return body

    def _error_details(self, response: requests.Response) -> tuple[str | None, str]:
        """(error code, message) from the shapes the four providers use; never echoes the request."""
        try:
            body = response.json()
        except ValueError:
            return None, f"HTTP {response.status_code}"
        if not isinstance(body, dict):
            return None, f"HTTP {response.status_code}"
        error = body.get("error")
        if isinstance(error, str):                                      # RFC 6749 (all token endpoints)
            return error, str(body.get("error_description") or body.get("reason") or error)
        if isinstance(error, dict):                                     # Google, Microsoft Graph
            reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
            code = next((r for r in reasons if r), None) or error.get("code") or error.get("status")
            return (str(code) if code is not None else None), str(error.get("message") or code)
        if "code" in body or "message" in body:                         # Zoom {code, message}; Webex {message}
            code = body.get("code")
            return (str(code) if code is not None else None), str(body.get("message") or code)
        return None, f"HTTP {response.status_code}"

    def _is_rate_limited(self, response: requests.Response, code: str | None) -> bool:
        return response.status_code == 429

    def _classify(self, response: requests.Response, token_endpoint: bool) -> IntegrationError:
        status = response.status_code
        code, message = self._error_details(response)
        message = f"{self.name} answered {status}: {message[:300]}"
        kwargs = {"provider": self.name, "status": status, "code": code}
        if token_endpoint and code == "invalid_grant":
            return GrantRevoked(message, **kwargs)
        if status >= 500 or self._is_rate_limited(response, code) or code == "temporarily_unavailable":
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            return TransientError(message, retry_after=wait, **kwargs)
        if status == 401 and not token_endpoint:
            return Unauthorized(message, **kwargs)
        if status in (404, 410):
            return NotFound(message, **kwargs)
        return PermanentError(message, **kwargs)


class GuardedOAuthClient(OAuthClient):
    """An ``OAuthClient`` whose requests go through ``app.net``'s guarded session of the calling thread, inside a
    deadline: the address guard refuses private and rebinding targets and plain http unless ``allow_private``
    (a subclass sets it when its configured URLs are not the provider's own, i.e. a local fake). A ``session``
    given to the constructor (tests) is used as it is. ``company`` names the provider in messages."""

    company = "The provider"
    allow_private = False

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        self._given_session = session
        super().__init__(config, session=session)

    @property
    def session(self) -> requests.Session:
        """The given session, else the guarded one of the calling thread (read per request: threads differ)."""
        return self._given_session or net.session(self.allow_private)

    @session.setter
    def session(self, value: requests.Session | None) -> None:    # OAuthClient's constructor sets it
        pass

    def _request(self, method: str, url: str, *, access_token: str | None = None, params: Any = None,
                 json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None, token_endpoint: bool = False) -> requests.Response:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if access_token is not None:
            all_headers["Authorization"] = f"Bearer {access_token}"
        if not self.allow_private and not url.startswith("https://"):
            raise PermanentError(f"{self.company} is only reached over https.", provider=self.name)
        try:
            with net.deadline(self.timeout):
                response = self.session.request(method, url, params=params, json=json, data=data, headers=all_headers,
                                           auth=auth, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise TransientError(f"{self.company} did not answer within {self.timeout:g} s.",
                                 provider=self.name) from exc
        except (requests.RequestException, net.AddressNotAllowed, OSError) as exc:
            refused = net.refusal(exc)
            if refused is not None:
                raise PermanentError(f"{self.company}'s address is not allowed ({refused}).",
                                     provider=self.name) from exc
            if net.expired() or isinstance(exc, net.DeadlineExceeded):
                raise TransientError(f"{self.company} did not answer within {self.timeout:g} s.",
                                     provider=self.name) from exc
            raise TransientError(f"{self.company} could not be reached ({type(exc).__name__}).",
                                 provider=self.name) from exc
        if 200 <= response.status_code < 300:
            return response
        raise self._classify(response, token_endpoint)
