"""HubSpot CRM (issue 19): OAuth 2.0 and the CRM v3 calls that log a booking as a contact and a meeting.

Not registered anywhere yet (no ``oauth.PROVIDERS`` entry, no routes): a later change wires it. Endpoints, all
overridable in the config (``api_base`` / ``app_base``, or each URL) so ``tests/fakes/hubspot.py`` can stand in:

  authorize   https://app.hubspot.com/oauth/authorize                  scope: space-separated, sent
  token       POST https://api.hubapi.com/oauth/2026-03/token          form: client_id / client_secret in the
                                                                       body; access tokens live 30 minutes
                                                                       (expires_in 1800), refresh tokens last
  introspect  POST https://api.hubapi.com/oauth/2026-03/token/introspect   ``active`` and ``hub_id`` (the portal)
  revoke      POST https://api.hubapi.com/oauth/2026-03/token/revoke       the refresh token
  contacts   POST /crm/v3/objects/contacts/batch/upsert         ``idProperty: email``: one contact per address
  meetings   POST /crm/v3/objects/meetings                      with an association to the contact
             PATCH /crm/v3/objects/meetings/{id}                times, outcome, body

The date-versioned OAuth API (2026-03) is used, not v1 (``/oauth/v1/token``, ``GET /oauth/v1/access-tokens/{token}``,
``DELETE /oauth/v1/refresh-tokens/{token}``): HubSpot retires v1 on 16 February 2027, and v1 carries tokens in URL
paths. Its answers are RFC 6749 JSON (``error`` / ``error_description``, with HubSpot's older ``status`` /
``message`` kept alongside); camelCase token fields (``accessToken``...) are read too.

Scopes: ``crm.objects.contacts.read`` and ``crm.objects.contacts.write``. HubSpot's meetings API lists exactly
these two as its scope requirement (a meeting is an engagement kept with contacts), and the batch upsert of
contacts needs the write one; nothing else (no deals, no email, no owners) is asked for.

A meeting is associated to its contact with HubSpot's defined association type 200 (meeting to contact). Its
outcome is one of ``OUTCOMES``. Times are sent as UTC instants (``2026-03-10T09:00:00Z``); ``hs_timestamp`` (the
time the timeline shows) is the start.

Outbound HTTP goes through ``app.net``'s guarded session of the calling thread inside ``net.deadline(timeout)``;
the address guard is off only when a URL was configured away from HubSpot's own hosts (a local fake). Failures are
``app.integrations.errors``: 401 ``Unauthorized`` (refresh and retry once), ``invalid_grant`` or a
``BAD_REFRESH_TOKEN`` / ``BAD_AUTH_CODE`` answer of the token endpoint ``GrantRevoked``, 404 ``NotFound``, 429 and
5xx ``TransientError`` with ``retry_after`` (Retry-After in seconds or as an HTTP date), other 4xx
``PermanentError`` with HubSpot's ``category`` as ``code``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests

from app.integrations.errors import (
    GrantRevoked,
    IntegrationError,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)
from app.integrations.oauth import GuardedOAuthClient, TokenSet, utc_iso

PROVIDER = "hubspot"
API_BASE = "https://api.hubapi.com"
APP_BASE = "https://app.hubspot.com"
SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write")
OUTCOMES = frozenset({"SCHEDULED", "RESCHEDULED", "CANCELED", "COMPLETED", "NO_SHOW"})
MEETING_TO_CONTACT = 200                  # HUBSPOT_DEFINED association type: meeting -> contact
TITLE_MAX = 500
BODY_MAX = 65536
OAUTH_PATH = "/oauth/2026-03/token"
CAMEL_TOKEN_FIELDS = {"accessToken": "access_token", "refreshToken": "refresh_token", "expiresIn": "expires_in",
                      "tokenType": "token_type"}
GRANT_STATUSES = {"BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "BAD_GRANT_TYPE"}


def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The client config from ``HUBSPOT_CLIENT_ID``, ``HUBSPOT_CLIENT_SECRET``, ``HUBSPOT_API_BASE``,
    ``HUBSPOT_APP_BASE`` and ``INTEGRATION_HTTP_TIMEOUT`` (only the credentials are required)."""
    config: dict[str, Any] = {"client_id": settings.get("HUBSPOT_CLIENT_ID"),
                              "client_secret": settings.get("HUBSPOT_CLIENT_SECRET"),
                              "api_base": settings.get("HUBSPOT_API_BASE"),
                              "app_base": settings.get("HUBSPOT_APP_BASE")}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return {key: value for key, value in config.items() if value not in (None, "")}


class HubSpotClient(GuardedOAuthClient):
    company = "HubSpot"
    name = PROVIDER
    client_auth = "client_secret_post"

    _default_urls: ClassVar[dict[str, str]] = {
        "authorize_url": APP_BASE + "/oauth/authorize",
        "token_url": API_BASE + OAUTH_PATH,
        "introspect_url": API_BASE + OAUTH_PATH + "/introspect",
        "revoke_url": API_BASE + OAUTH_PATH + "/revoke",
        "api_url": API_BASE,
    }

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        config = dict(config)
        api_base = str(config.pop("api_base", "") or API_BASE).rstrip("/")
        app_base = str(config.pop("app_base", "") or APP_BASE).rstrip("/")
        derived = {"authorize_url": app_base + "/oauth/authorize", "token_url": api_base + OAUTH_PATH,
                   "introspect_url": api_base + OAUTH_PATH + "/introspect",
                   "revoke_url": api_base + OAUTH_PATH + "/revoke", "api_url": api_base}
        config = {**derived, **{k: v for k, v in config.items() if v not in (None, "")}}
        config.setdefault("scopes", SCOPES)
        super().__init__(config, session=session)
        self.allow_private = any(self.config[key] != default for key, default in self._default_urls.items())

    def _error_details(self, response: requests.Response) -> tuple[str | None, str]:
        """HubSpot's ``{"status": "error", "message", "category", "correlationId"}``; the token endpoint's
        ``{"status": "BAD_REFRESH_TOKEN", "message"}`` (with or without RFC 6749 ``error``)."""
        try:
            body = response.json()
        except ValueError:
            return None, f"HTTP {response.status_code}"
        if isinstance(body, dict):
            if isinstance(body.get("error"), str):
                return body["error"], str(body.get("error_description") or body.get("message") or body["error"])
            code = body.get("category") or (body.get("status") if body.get("status") != "error" else None)
            if code or body.get("message"):
                return (str(code) if code else None), str(body.get("message") or code)
        return None, f"HTTP {response.status_code}"

    def _classify(self, response: requests.Response, token_endpoint: bool) -> IntegrationError:
        error = super()._classify(response, token_endpoint)
        if token_endpoint and error.code in GRANT_STATUSES and not isinstance(error, TransientError):
            return GrantRevoked(error.message, provider=self.name, status=error.status, code="invalid_grant")
        if isinstance(error, TransientError) and error.retry_after is None:
            error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return error

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(self._request(method, self.url("api_url", path), access_token=access_token, **kwargs))

    # -- tokens
    def _token_request(self, form: dict[str, str], now: datetime, previous: str | None = None) -> TokenSet:
        form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        response = self._request("POST", self.url("token_url"), data=form, token_endpoint=True)
        body = self._json(response)
        for camel, snake in CAMEL_TOKEN_FIELDS.items():
            if snake not in body and camel in body:
                body[snake] = body[camel]
        return TokenSet.from_response(body, now, previous)

    def _client_form(self, token: str, hint: str) -> dict[str, str]:
        if not token:
            raise ValueError("a token is required")
        return {"client_id": self.client_id, "client_secret": self._client_secret, "token": token,
                "token_type_hint": hint}

    def revoke(self, token: str) -> bool:
        """Revoke the refresh token at HubSpot (the app's access to the portal ends)."""
        self._request("POST", self.url("revoke_url"), data=self._client_form(token, "refresh_token"))
        return True

    def token_info(self, access_token: str) -> dict[str, Any]:
        """HubSpot's introspection of an access token: ``active``, ``hub_id``, ``hub_domain``, ``user``,
        ``scopes``...; a token that is no longer active raises ``Unauthorized``."""
        body = self._json(self._request("POST", self.url("introspect_url"),
                                        data=self._client_form(access_token, "access_token")))
        if body.get("active") is not True:
            raise Unauthorized("HubSpot says the access token is no longer active.", provider=self.name,
                               status=200, code="inactive_token")
        return body

    def portal_id(self, access_token: str) -> str:
        """The HubSpot portal (account) the token belongs to, shown as "Connected to portal …"."""
        info = self.token_info(access_token)
        hub_id = info.get("hub_id", info.get("hubId"))
        if hub_id in (None, "") or isinstance(hub_id, bool):
            raise PermanentError("HubSpot did not say which portal the token belongs to.", provider=self.name)
        return str(hub_id)

    # -- contacts
    def upsert_contact(self, access_token: str, email: str, first_name: str = "", last_name: str = "",
                       phone: str | None = None) -> str:
        """Create or update the contact with this email address (HubSpot's dedup key); its id.

        Empty names and phone are left out, so they never blank what HubSpot already has."""
        email = (email or "").strip()
        if "@" not in email:
            raise ValueError("an email address is required")
        properties = {key: value.strip() for key, value in
                      (("firstname", first_name), ("lastname", last_name), ("phone", phone)) if value and value.strip()}
        body = {"inputs": [{"idProperty": "email", "id": email, "properties": properties}]}
        answer = self._api("POST", "/crm/v3/objects/contacts/batch/upsert", access_token, json=body)
        results = answer.get("results")
        if answer.get("numErrors") or answer.get("errors"):
            first = (answer.get("errors") or [{}])[0]
            raise PermanentError(f"HubSpot refused the contact: {str(first.get('message') or 'error')[:300]}",
                                 provider=self.name, code=first.get("category"))
        if not isinstance(results, list) or not results or not isinstance(results[0], dict) \
                or not results[0].get("id"):
            raise PermanentError("HubSpot answered the contact upsert without an id.", provider=self.name)
        return str(results[0]["id"])

    # -- meetings
    def create_meeting(self, access_token: str, contact_id: str, title: str, start: datetime, end: datetime,
                       body: str, outcome: str = "SCHEDULED") -> str:
        """A meeting on the contact's timeline; its id."""
        properties = _meeting_properties(start=start, end=end, body=body, outcome=outcome)
        if end <= start:
            raise ValueError("a meeting ends after it starts")
        properties["hs_meeting_title"] = (title or "")[:TITLE_MAX]
        payload = {"properties": properties,
                   "associations": [{"to": {"id": str(_numeric(contact_id, "contact"))},
                                     "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                "associationTypeId": MEETING_TO_CONTACT}]}]}
        answer = self._api("POST", "/crm/v3/objects/meetings", access_token, json=payload)
        if not answer.get("id"):
            raise PermanentError("HubSpot answered the new meeting without an id.", provider=self.name)
        return str(answer["id"])

    def update_meeting(self, access_token: str, meeting_id: str, *, start: datetime | None = None,
                       end: datetime | None = None, outcome: str | None = None, body: str | None = None) -> None:
        """PATCH what is given (a reschedule: new times and ``RESCHEDULED``; a cancellation: ``CANCELED``).
        A meeting deleted in HubSpot raises ``NotFound``."""
        properties = _meeting_properties(start=start, end=end, body=body, outcome=outcome)
        if start is not None and end is not None and end <= start:
            raise ValueError("a meeting ends after it starts")
        if not properties:
            return
        self._api("PATCH", f"/crm/v3/objects/meetings/{_numeric(meeting_id, 'meeting')}", access_token,
                  json={"properties": properties})


def _meeting_properties(*, start, end, body, outcome) -> dict[str, str]:
    properties: dict[str, str] = {}
    if start is not None:
        properties["hs_timestamp"] = properties["hs_meeting_start_time"] = utc_iso(start)
    if end is not None:
        properties["hs_meeting_end_time"] = utc_iso(end)
    if body is not None:
        properties["hs_meeting_body"] = body[:BODY_MAX]
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown HubSpot meeting outcome {outcome!r}")
        properties["hs_meeting_outcome"] = outcome
    return properties


def _numeric(value: Any, what: str) -> str:
    text = str(value)
    if not text.isdigit():
        raise ValueError(f"a HubSpot {what} id is a number")
    return text
