"""Salesforce: OAuth 2.0 web server flow (authorization code + PKCE) and the REST API for Contacts and Events.

Groundwork for the CRM sync (issue 19, spec pages 05/25); nothing registers or shows it yet.

Endpoints (the login host from the ``login_url`` config key, the integrator's ``SALESFORCE_LOGIN_URL``;
https://login.salesforce.com by default, https://test.salesforce.com for a sandbox):

  authorize  {login}/services/oauth2/authorize    scopes ``id api refresh_token`` (no refresh token without the last)
  token      {login}/services/oauth2/token        client_id / client_secret in the form
  revoke     {login}/services/oauth2/revoke       form ``token``; a refresh token takes its access tokens with it
  identity   the token answer's ``id`` URL        GET with the Bearer token: ``organization_id``, ``user_id``, ...
  REST       {instance_url}/services/data/v{API_VERSION}/...   ``instance_url`` comes with every token answer

The token answer has no ``expires_in``: an access token lives as long as the org's session timeout (two hours by
default). ``SalesforceToken.expires_at`` is ``issued_at`` (epoch milliseconds) plus ``session_timeout`` (config,
seconds, default 7200); ``SalesforceApi`` refreshes from five minutes before that (``oauth.REFRESH_MARGIN``) and, if
an org with a shorter timeout answers 401 ``INVALID_SESSION_ID`` anyway, refreshes once and retries.

Errors are JSON arrays ``[{"message", "errorCode", "fields"}]``; ``errorCode`` becomes the error's ``code`` and the
message says what to fix in plain words (``ADVICE``). Every request goes through ``app.net``'s guarded session
inside ``net.deadline(timeout)``; only the real login hosts make the guard refuse private addresses and plain http.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.integrations.crm_names import split_name  # noqa: F401 (the name rule every CRM shares)
from app.integrations.errors import (
    GrantRevoked,
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)
from app.integrations.oauth import GuardedOAuthClient, TokenSet, needs_refresh, utc_iso

PROVIDER = "salesforce"
LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
API_VERSION = "60.0"
SCOPES = ("id", "api", "refresh_token")
SESSION_TIMEOUT = 7200                      # seconds: Salesforce's default session timeout (two hours)

# Field lengths of the standard objects (longer values are cut, not refused)
FIRST_NAME_MAX, LAST_NAME_MAX, PHONE_MAX, EMAIL_MAX = 40, 80, 40, 80
SUBJECT_MAX, DESCRIPTION_MAX = 255, 32000

_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
                 '"': '\\"'}

# What the person who connected Salesforce should do about each error code (pages 05 and 25).
ADVICE: dict[str, str] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION":
        "A validation rule in your Salesforce org blocked the record. Check Setup -> Object Manager -> "
        "Contact/Event -> Validation Rules and make sure LinkTime's fields (Email, LastName, Subject, "
        "StartDateTime, EndDateTime) pass them.",
    "INSUFFICIENT_ACCESS_OR_READONLY":
        "The connected Salesforce user may not create or edit Contacts or Events. Ask your Salesforce admin to "
        "grant Create and Edit on both objects in the user's Profile or a Permission Set.",
    "INSUFFICIENT_ACCESS":
        "The connected Salesforce user may not create or edit Contacts or Events. Ask your Salesforce admin to "
        "grant Create and Edit on both objects in the user's Profile or a Permission Set.",
    "INSUFFICIENT_PERMISSIONS":
        "The connected Salesforce user lacks a permission LinkTime needs. Ask your Salesforce admin to check the "
        "user's Profile: Create and Edit on Contact and Event, and API Enabled.",
    "DUPLICATES_DETECTED":
        "A duplicate rule in your Salesforce org blocked the Contact. Set the rule's action to Alert instead of "
        "Block, or let it allow Contacts created through the API.",
    "REQUIRED_FIELD_MISSING":
        "Your Salesforce org requires a field LinkTime does not fill. Make the field optional for Contacts and "
        "Events created through the API, or give it a default value.",
    "API_DISABLED_FOR_ORG":
        "API access is not enabled for this Salesforce org or user. Salesforce needs an edition with API access "
        "and the API Enabled permission on the connected user's Profile.",
    "API_CURRENTLY_DISABLED":
        "API access is not enabled for this Salesforce org or user. Salesforce needs an edition with API access "
        "and the API Enabled permission on the connected user's Profile.",
    "REQUEST_LIMIT_EXCEEDED":
        "Your Salesforce org has reached its API request limit; LinkTime will try again later.",
    "INVALID_SESSION_ID":
        "Salesforce no longer accepts LinkTime's session. If reconnecting does not help, check that the "
        "Connected App is still active and not revoked in Setup.",
}
_TRANSIENT_CODES = {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}
_NOT_FOUND_CODES = {"NOT_FOUND", "ENTITY_IS_DELETED"}


def config_from_settings(settings: Mapping[str, Any], *, sandbox: bool = False) -> dict[str, Any]:
    """The client config from ``SALESFORCE_CLIENT_ID``, ``SALESFORCE_CLIENT_SECRET``, ``SALESFORCE_LOGIN_URL``
    (or ``SALESFORCE_SANDBOX_LOGIN_URL`` for a sandbox org) and ``INTEGRATION_HTTP_TIMEOUT``."""
    login = settings.get("SALESFORCE_SANDBOX_LOGIN_URL" if sandbox else "SALESFORCE_LOGIN_URL")
    config: dict[str, Any] = {"client_id": settings.get("SALESFORCE_CLIENT_ID"),
                              "client_secret": settings.get("SALESFORCE_CLIENT_SECRET"),
                              "login_url": login or (SANDBOX_LOGIN_URL if sandbox else LOGIN_URL)}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return {key: value for key, value in config.items() if value not in (None, "")}


def soql_quote(text: str) -> str:
    """``text`` as a SOQL string literal, quotes included: backslash, quotes and control characters escaped, so
    ``o'neil@example.com`` becomes ``'o\\'neil@example.com'`` and cannot end the literal early."""
    if not isinstance(text, str):
        raise TypeError("a SOQL literal is made from a string")
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in text) + "'"


def record_id(value: str) -> str:
    """A Salesforce record id (15 or 18 letters and digits); anything else is refused before it reaches a URL."""
    text = str(value or "")
    if not _RECORD_ID.fullmatch(text):
        raise ValueError("not a Salesforce record id")
    return text


@dataclasses.dataclass(frozen=True, repr=False)
class SalesforceToken(TokenSet):
    """A token set with where the org lives: ``instance_url`` (REST calls) and ``identity_url`` (the ``id``)."""
    instance_url: str = ""
    identity_url: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SalesforceToken:
        base = TokenSet.from_dict(data)
        return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(TokenSet)},
                   instance_url=str(data.get("instance_url") or ""), identity_url=str(data.get("identity_url") or ""))


class SalesforceClient(GuardedOAuthClient):
    """The OAuth side (connect, refresh, revoke) plus ``api(token)`` for the REST calls of one connection.

    Config: ``client_id``, ``client_secret``, ``login_url`` (default https://login.salesforce.com; the
    ``authorize_url``/``token_url``/``revoke_url`` follow from it unless given), ``api_version`` (default
    ``API_VERSION``), ``session_timeout`` (seconds, default 7200), ``timeout`` (seconds, default 10)."""
    company = "Salesforce"
    name = PROVIDER
    client_auth = "client_secret_post"

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        login = str(config.get("login_url") or LOGIN_URL).rstrip("/")
        parts = urlsplit(login)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("salesforce: login_url must be an http(s) URL")
        paths = {"authorize_url": "/services/oauth2/authorize", "token_url": "/services/oauth2/token",
                 "revoke_url": "/services/oauth2/revoke"}
        merged = {**{key: login + path for key, path in paths.items()}, "scopes": SCOPES, **config}
        super().__init__(merged, session=session)
        self.login_url = login
        self.allow_private = login not in (LOGIN_URL, SANDBOX_LOGIN_URL)
        self.api_version = str(self.config.get("api_version") or API_VERSION)
        if not re.fullmatch(r"\d{2,3}\.0", self.api_version):
            raise ValueError("salesforce: api_version looks like 60.0")
        self.session_timeout = timedelta(seconds=int(self.config.get("session_timeout") or SESSION_TIMEOUT))

    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self.login_url!r}, client_id={self.client_id!r})"

    def api(self, token: SalesforceToken, *, on_token: Callable[[SalesforceToken], None] | None = None,
            clock: Callable[[], datetime] | None = None) -> SalesforceApi:
        """The REST calls of one connection; ``on_token`` receives every renewed token set (store it)."""
        return SalesforceApi(self, token, on_token=on_token, clock=clock)

    # -- tokens
    def refresh(self, token: TokenSet | str, *, now: datetime | None = None) -> SalesforceToken:
        renewed = super().refresh(token, now=now)
        if isinstance(token, SalesforceToken):          # a refresh answer names the instance too; keep it if not
            renewed = dataclasses.replace(renewed, instance_url=renewed.instance_url or token.instance_url,
                                          identity_url=renewed.identity_url or token.identity_url)
        return renewed

    def _token_request(self, form: dict[str, str], now: datetime, previous: str | None = None) -> SalesforceToken:
        form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        body = self._json(self._request("POST", self.url("token_url"), data=form, token_endpoint=True))
        base = TokenSet.from_response(body, now, previous)
        instance = body.get("instance_url") or ""
        if not isinstance(instance, str) or (instance and not self._acceptable_url(instance)):
            raise PermanentError("Salesforce answered a malformed instance_url.", provider=self.name)
        if not instance and previous is None:       # a refresh answer without one keeps the stored one
            raise PermanentError("Salesforce answered without an instance_url.", provider=self.name)
        identity = body.get("id") or ""
        if not isinstance(identity, str) or (identity and not self._acceptable_url(identity)):
            raise PermanentError("Salesforce answered a malformed identity URL.", provider=self.name)
        issued = _issued_at(body.get("issued_at")) or now.astimezone(UTC)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(TokenSet)}
        fields["expires_at"] = base.expires_at or issued + self.session_timeout
        return SalesforceToken(**fields, instance_url=instance.rstrip("/"), identity_url=identity)

    def _acceptable_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if not parts.hostname or parts.scheme not in ("http", "https"):
            return False
        return self.allow_private or parts.scheme == "https"

    def _error_details(self, response: requests.Response) -> tuple[str | None, str]:
        try:
            body = response.json()
        except ValueError:
            return None, f"HTTP {response.status_code}"
        if isinstance(body, list):                               # REST: [{"message", "errorCode", "fields"}]
            first = next((e for e in body if isinstance(e, dict)), {})
            code = first.get("errorCode")
            fields = [str(f) for f in first.get("fields") or [] if isinstance(f, str)]
            text = str(code or f"HTTP {response.status_code}") + (f" ({', '.join(fields)})" if fields else "")
            return (str(code) if code else None), text
        return super()._error_details(response)

    def _classify(self, response: requests.Response, token_endpoint: bool) -> IntegrationError:
        status = response.status_code
        code, detail = self._error_details(response)
        kwargs = {"provider": self.name, "status": status, "code": code}
        advice = ADVICE.get(code or "")
        message = f"Salesforce answered {status} {detail[:200]}" + (f": {advice}" if advice else "")
        if token_endpoint:
            if code == "invalid_grant":
                return GrantRevoked(message, **kwargs)
            return super()._classify(response, token_endpoint)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            return TransientError(message, retry_after=wait, **kwargs)
        if status == 401 or code == "INVALID_SESSION_ID":
            return Unauthorized(message, **kwargs)
        if code in _NOT_FOUND_CODES or status in (404, 410):
            return NotFound(message, **kwargs)
        return PermanentError(message, **kwargs)


class SalesforceApi:
    """The REST calls of one connection. The token is renewed from five minutes before it expires and once after
    a 401 ``INVALID_SESSION_ID``; a refresh token Salesforce no longer accepts raises ``GrantRevoked``."""

    def __init__(self, client: SalesforceClient, token: SalesforceToken, *,
                 on_token: Callable[[SalesforceToken], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        if not isinstance(token, SalesforceToken) or not token.instance_url:
            raise ValueError("a Salesforce token set with its instance_url is required")
        self.client = client
        self.token = token
        self._on_token = on_token
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"SalesforceApi(instance_url={self.token.instance_url!r})"

    # -- contacts
    def find_contact(self, email: str) -> dict[str, Any] | None:
        """The first Contact whose Email is ``email`` (``Id``, ``FirstName``, ``LastName``), or None."""
        soql = f"SELECT Id, FirstName, LastName FROM Contact WHERE Email = {soql_quote(email)} LIMIT 1"
        records = self._query(soql)
        if not records:
            return None
        found = records[0]
        if not isinstance(found, dict) or not isinstance(found.get("Id"), str):
            raise PermanentError("Salesforce answered a Contact without an Id.", provider=PROVIDER)
        return {key: found.get(key) for key in ("Id", "FirstName", "LastName")}

    def upsert_contact(self, email: str, first_name: str | None, last_name: str | None,
                       phone: str | None = None) -> str:
        """The Contact's id: an existing one (by Email) gets only FirstName and Phone, when given; otherwise a new
        Contact with Email, FirstName, LastName and Phone. LastName is required by Salesforce: without one the
        first name (or the address's local part) stands in."""
        existing = self.find_contact(email)
        if existing is not None:
            changes: dict[str, str] = {}
            if first_name:
                changes["FirstName"] = first_name[:FIRST_NAME_MAX]
            if phone:
                changes["Phone"] = phone[:PHONE_MAX]
            if changes:
                self._call("PATCH", f"sobjects/Contact/{record_id(existing['Id'])}", json=changes)
            return existing["Id"]
        last = (last_name or first_name or email.split("@", 1)[0] or email).strip()
        body = {"Email": email[:EMAIL_MAX], "LastName": last[:LAST_NAME_MAX]}
        if first_name and last_name:
            body["FirstName"] = first_name[:FIRST_NAME_MAX]
        if phone:
            body["Phone"] = phone[:PHONE_MAX]
        return self._created_id(self._call("POST", "sobjects/Contact", json=body))

    # -- events
    def create_event(self, who_id: str, subject: str, start: datetime, end: datetime,
                     description: str | None = None) -> str:
        """An Event on the Contact's Activity Timeline; its id."""
        if end < start:
            raise ValueError("an event ends after it starts")
        body = {"Subject": subject[:SUBJECT_MAX], "StartDateTime": utc_iso(start), "EndDateTime": utc_iso(end),
                "Description": (description or "Booked via LinkTime")[:DESCRIPTION_MAX], "WhoId": record_id(who_id)}
        return self._created_id(self._call("POST", "sobjects/Event", json=body))

    def update_event(self, event_id: str, *, subject: str | None = None, start: datetime | None = None,
                     end: datetime | None = None, description: str | None = None) -> None:
        """PATCH the given fields (a reschedule: start and end; a cancellation: the ``[Cancelled]`` subject)."""
        body: dict[str, str] = {}
        if subject is not None:
            body["Subject"] = subject[:SUBJECT_MAX]
        if start is not None:
            body["StartDateTime"] = utc_iso(start)
        if end is not None:
            body["EndDateTime"] = utc_iso(end)
        if description is not None:
            body["Description"] = description[:DESCRIPTION_MAX]
        if start is not None and end is not None and end < start:
            raise ValueError("an event ends after it starts")
        if not body:
            return
        self._call("PATCH", f"sobjects/Event/{record_id(event_id)}", json=body)

    # -- the org
    def identity(self) -> dict[str, Any]:
        """The identity URL's answer (``organization_id``, ``user_id``, ``username``, ...)."""
        if not self.token.identity_url:
            raise PermanentError("The Salesforce token set has no identity URL.", provider=PROVIDER)
        return self.client._json(self._call("GET", self.token.identity_url, absolute=True))

    def org_name(self) -> str:
        """The org's name (``SELECT Name FROM Organization``), shown next to "Connected"."""
        records = self._query("SELECT Name FROM Organization LIMIT 1")
        name = records[0].get("Name") if records and isinstance(records[0], dict) else None
        if not isinstance(name, str) or not name:
            raise PermanentError("Salesforce answered no organization name.", provider=PROVIDER)
        return name

    # -- plumbing
    def _query(self, soql: str) -> list[Any]:
        body = self.client._json(self._call("GET", "query", params={"q": soql}))
        records = body.get("records")
        if not isinstance(records, list):
            raise PermanentError("Salesforce answered a query without records.", provider=PROVIDER)
        return records

    def _created_id(self, response: requests.Response) -> str:
        body = self.client._json(response)
        if not isinstance(body.get("id"), str) or body.get("success") is False:
            raise PermanentError("Salesforce answered a create without an id.", provider=PROVIDER)
        return body["id"]

    def _call(self, method: str, path: str, *, params: Any = None, json: Any = None,
              absolute: bool = False) -> requests.Response:
        if needs_refresh(self.token, self._clock()):
            self._renew()
        for attempt in (1, 2):
            url = path if absolute else (f"{self.token.instance_url}/services/data/v{self.client.api_version}/"
                                         + quote(path, safe="/"))
            try:
                return self.client._request(method, url, access_token=self.token.access_token, params=params,
                                            json=json)
            except Unauthorized:
                if attempt == 2 or not self.token.refresh_token:
                    raise
                self._renew()
        raise AssertionError("unreachable")  # pragma: no cover

    def _renew(self) -> None:
        self.token = self.client.refresh(self.token, now=self._clock())
        if self._on_token is not None:
            self._on_token(self.token)


def _issued_at(value: Any) -> datetime | None:
    """``issued_at``: epoch milliseconds as a string; None when missing or malformed."""
    try:
        millis = int(str(value))
        return datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
