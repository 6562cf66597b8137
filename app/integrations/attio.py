"""Attio CRM (issue 19): OAuth 2.0 and the REST v2 calls that log a booking as a person and a note.

Not registered anywhere yet (no ``oauth.PROVIDERS`` entry, no routes): a later change wires it. Endpoints, all
overridable in the config (``api_base`` / ``app_base``, or each URL) so ``tests/fakes/attio.py`` can stand in:

  authorize  https://app.attio.com/authorize          no ``scope`` parameter: the scopes are the ones ticked in the
                                                      app's settings at build.attio.com
  token      POST https://app.attio.com/oauth/token   form with client_id / client_secret; answers only
                                                      ``access_token`` and ``token_type``: a long-lived token, no
                                                      expiry, no refresh token
  revoke     POST https://app.attio.com/oauth/revoke
  self       GET https://api.attio.com/v2/self        the token's workspace (``workspace_name``, ``active``)
  people     PUT /v2/objects/people/records?matching_attribute=email_addresses   assert: create or update the
                                                      person with that email address
  notes      POST /v2/notes                           a plaintext note on the person's timeline

Scopes to tick in the Attio app (``SCOPES``): ``record_permission:read-write`` and ``object_configuration:read``
(Attio lists both for asserting a person), ``note:read-write`` (creating a note also needs
``object_configuration:read`` and ``record_permission:read``, which the first two cover). Nothing else.

Asserting overwrites the person's multiselect values that are sent: ``email_addresses`` becomes the one address,
and ``phone_numbers`` the one number when one is sent (a phone is sent only in E.164, ``+`` and digits, as Attio
needs a country otherwise). Names are sent only when there is one.

Outbound HTTP goes through ``app.net``'s guarded session of the calling thread inside ``net.deadline(timeout)``;
the address guard is off only when a URL was configured away from Attio's own hosts (a local fake). Failures are
``app.integrations.errors``: 401 (or ``/v2/self`` answering ``active: false``) ``Unauthorized``: with no refresh
token, a refused token means the connection is gone; 404 ``NotFound`` (e.g. the person was deleted); 429 (whose
``Retry-After`` is an HTTP date) and 5xx ``TransientError`` with ``retry_after`` in seconds; other 4xx
``PermanentError`` with Attio's ``code``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from app.integrations.errors import IntegrationError, PermanentError, TransientError, Unauthorized, retry_after_seconds
from app.integrations.oauth import GuardedOAuthClient

PROVIDER = "attio"
API_BASE = "https://api.attio.com"
APP_BASE = "https://app.attio.com"
SCOPES = ("record_permission:read-write", "object_configuration:read", "note:read-write")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
TITLE_MAX = 500


def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The client config from ``ATTIO_CLIENT_ID``, ``ATTIO_CLIENT_SECRET``, ``ATTIO_API_BASE``, ``ATTIO_APP_BASE``
    and ``INTEGRATION_HTTP_TIMEOUT`` (only the credentials are required)."""
    config: dict[str, Any] = {"client_id": settings.get("ATTIO_CLIENT_ID"),
                              "client_secret": settings.get("ATTIO_CLIENT_SECRET"),
                              "api_base": settings.get("ATTIO_API_BASE"),
                              "app_base": settings.get("ATTIO_APP_BASE")}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return {key: value for key, value in config.items() if value not in (None, "")}


class AttioClient(GuardedOAuthClient):
    company = "Attio"
    name = PROVIDER
    client_auth = "client_secret_post"
    send_scope_on_authorize = False

    _default_urls: ClassVar[dict[str, str]] = {
        "authorize_url": APP_BASE + "/authorize",
        "token_url": APP_BASE + "/oauth/token",
        "revoke_url": APP_BASE + "/oauth/revoke",
        "api_url": API_BASE,
    }

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        config = dict(config)
        api_base = str(config.pop("api_base", "") or API_BASE).rstrip("/")
        app_base = str(config.pop("app_base", "") or APP_BASE).rstrip("/")
        derived = {"authorize_url": app_base + "/authorize", "token_url": app_base + "/oauth/token",
                   "revoke_url": app_base + "/oauth/revoke", "api_url": api_base}
        config = {**derived, **{k: v for k, v in config.items() if v not in (None, "")}}
        config.setdefault("scopes", SCOPES)
        super().__init__(config, session=session)
        self.allow_private = any(self.config.get(key) != default for key, default in self._default_urls.items())

    def _classify(self, response: requests.Response, token_endpoint: bool) -> IntegrationError:
        """Attio's errors are ``{"status_code", "type", "code", "message"}``; 429's Retry-After is an HTTP date."""
        error = super()._classify(response, token_endpoint)
        if isinstance(error, TransientError) and error.retry_after is None:
            error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return error

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(self._request(method, self.url("api_url", path), access_token=access_token, **kwargs))

    # -- tokens
    def revoke(self, token: str) -> bool:
        """Revoke the access token at Attio (LinkTime is removed from the workspace)."""
        self._request("POST", self.url("revoke_url"),
                      data={"token": token, "client_id": self.client_id, "client_secret": self._client_secret})
        return True

    def identify(self, access_token: str) -> dict[str, Any]:
        """``/v2/self``: ``workspace_id``, ``workspace_name``, ``workspace_slug``, ``scope``...; a token that is no
        longer active raises ``Unauthorized``."""
        body = self._api("GET", "/v2/self", access_token)
        if body.get("active") is not True:
            raise Unauthorized("Attio says the access token is no longer active.", provider=self.name, status=200,
                               code="inactive_token")
        return body

    def workspace_name(self, access_token: str) -> str:
        """The workspace the token belongs to, shown as "Connected to …"."""
        body = self.identify(access_token)
        name = body.get("workspace_name") or body.get("workspace_slug")
        if not isinstance(name, str) or not name:
            raise PermanentError("Attio did not say which workspace the token belongs to.", provider=self.name)
        return name

    # -- people and notes
    def assert_person(self, access_token: str, email: str, first_name: str = "", last_name: str = "",
                      phone: str | None = None) -> str:
        """Create or update the person with this email address (Attio's assert, matching on
        ``email_addresses``); the person's ``record_id``."""
        email = (email or "").strip()
        if "@" not in email:
            raise ValueError("an email address is required")
        first, last = (first_name or "").strip(), (last_name or "").strip()
        values: dict[str, Any] = {"email_addresses": [email]}
        if first or last:
            values["name"] = [{"first_name": first, "last_name": last, "full_name": " ".join(p for p in (first, last)
                                                                                           if p)}]
        phone = (phone or "").strip()
        if E164.fullmatch(phone):
            values["phone_numbers"] = [{"original_phone_number": phone}]
        answer = self._api("PUT", "/v2/objects/people/records", access_token,
                           params={"matching_attribute": "email_addresses"}, json={"data": {"values": values}})
        record_id = ((answer.get("data") or {}).get("id") or {}).get("record_id")
        if not isinstance(record_id, str) or not record_id:
            raise PermanentError("Attio answered the person without a record_id.", provider=self.name)
        return record_id

    def add_note(self, access_token: str, record_id: str, title: str, content: str) -> str:
        """A plaintext note on the person's timeline; its ``note_id``. A deleted person raises ``NotFound``."""
        if not record_id or not re.fullmatch(r"[0-9A-Za-z-]+", record_id):
            raise ValueError("an Attio record id is required")
        payload = {"data": {"parent_object": "people", "parent_record_id": record_id,
                            "title": (title or "")[:TITLE_MAX], "format": "plaintext", "content": content or ""}}
        answer = self._api("POST", "/v2/notes", access_token, json=payload)
        note_id = ((answer.get("data") or {}).get("id") or {}).get("note_id")
        if not isinstance(note_id, str) or not note_id:
            raise PermanentError("Attio answered the note without a note_id.", provider=self.name)
        return note_id
