"""A fake of HubSpot's OAuth server and the CRM v3 endpoints the HubSpot client uses.

Paths match HubSpot's (authorize and API on one loopback server): ``/oauth/authorize``, the date-versioned OAuth
API ``POST /oauth/2026-03/token`` (form-encoded; client_id and client_secret in the body only; access tokens live
1800 s; a refresh keeps the refresh token valid), ``POST /oauth/2026-03/token/introspect`` (``active``, ``hub_id``...)
and ``POST /oauth/2026-03/token/revoke`` (client credentials, ``token``); ``POST
/crm/v3/objects/contacts/batch/upsert`` (``idProperty: email`` only; contacts kept by lower-cased email, so the same
address never makes a second contact), ``POST /crm/v3/objects/meetings`` (the properties and the association to a
known contact, type 200 HUBSPOT_DEFINED), ``GET`` / ``PATCH /crm/v3/objects/meetings/{id}``.

Bodies are checked: unknown keys, non-string property values, unknown properties, an ``hs_meeting_outcome`` outside
HubSpot's values, times that are neither UTC instants nor epoch milliseconds, a meeting without ``hs_timestamp``,
an association to an unknown contact or with another type -> 400 ``VALIDATION_ERROR``. Errors have HubSpot's shape
``{"status": "error", "message", "correlationId", "category"}``; the token endpoint answers RFC 6749's ``{"error",
"error_description"}`` with HubSpot's ``{"status": "BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE" | "BAD_CLIENT_ID",
"message"}`` alongside. Knobs (besides the base ``fail`` / ``slow``
/ ``revoke_grants`` / ``expire_access_tokens``): ``rate_limit(retry_after, times, path)`` answers 429
``RATE_LIMITS`` with a ``Retry-After`` header.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, check_keys

CONTACT_PROPERTIES = {"email", "firstname", "lastname", "phone", "company", "website", "lifecyclestage"}
MEETING_PROPERTIES = {"hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hs_internal_meeting_notes",
                      "hs_meeting_external_url", "hs_meeting_location", "hs_meeting_start_time",
                      "hs_meeting_end_time", "hs_meeting_outcome", "hubspot_owner_id", "hs_activity_type"}
OUTCOMES = {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}
MEETING_TO_CONTACT = 200
CATEGORIES = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
              404: "OBJECT_NOT_FOUND", 405: "VALIDATION_ERROR", 409: "CONFLICT", 429: "RATE_LIMITS"}
WRITE = "crm.objects.contacts.write"
READ = "crm.objects.contacts.read"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotFake(FakeOAuthServer):
    name = "hubspot"
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/2026-03/token"
    client_auth_methods = ("client_secret_post",)
    refresh_returns_refresh_token = True

    def __init__(self, *, hub_id: int = 62515, **kwargs) -> None:
        self.hub_id = hub_id
        self.contacts: dict[str, dict[str, Any]] = {}       # lower-cased email -> contact
        self.meetings: dict[str, dict[str, Any]] = {}       # id -> meeting (properties, associations)
        self._next_id = 1000
        kwargs.setdefault("token_lifetime", 1800)
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "api_base": self.url,
                "app_base": self.url, **overrides}

    # -- error shapes
    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        category = code if isinstance(code, str) and code.isupper() else CATEGORIES.get(status, "VALIDATION_ERROR")
        if status == 401:
            category = "EXPIRED_AUTHENTICATION" if "expired" in message else "INVALID_AUTHENTICATION"
        if status >= 500:
            category = "INTERNAL_ERROR"
        return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}

    def token_error_body(self, error: str, description: str) -> dict[str, Any]:
        if error == "invalid_grant":
            status = "BAD_REFRESH_TOKEN" if request.form.get("grant_type") == "refresh_token" else "BAD_AUTH_CODE"
        elif error == "invalid_client":
            status = "BAD_CLIENT_ID"
        else:
            status = error.upper()
        return {"error": error, "error_description": description, "status": status, "message": description,
                "correlationId": str(uuid.uuid4())}

    # -- knobs
    def rate_limit(self, retry_after: str | None = "1", *, times: int = 1, path: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.fail(429, times=times, path=path, headers=headers,
                  body={"status": "error", "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "SECONDLY",
                        "category": "RATE_LIMITS"})

    def contact(self, email: str) -> dict[str, Any] | None:
        return self.contacts.get(email.lower())

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule(self.token_path + "/revoke", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule(self.token_path + "/introspect", "introspect", self._introspect, methods=["POST"])
        app.add_url_rule("/crm/v3/objects/contacts/batch/upsert", "upsert", self._upsert, methods=["POST"])
        app.add_url_rule("/crm/v3/objects/meetings", "create_meeting", self._create_meeting, methods=["POST"])
        app.add_url_rule("/crm/v3/objects/meetings/<meeting_id>", "meeting", self._meeting,
                         methods=["GET", "PATCH"])

    def _new_id(self) -> str:
        with self.lock:
            self._next_id += secrets.randbelow(50) + 1
            return str(self._next_id)

    def _client_form(self) -> str:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise ApiError(400, "the body must be form-encoded")
        if request.args:
            raise ApiError(400, "tokens and credentials go in the body, never the query")
        self._authenticate_client()
        token = request.form.get("token", "")
        if not token:
            raise ApiError(400, "token is required")
        return token

    def _revoke(self):
        self.revoke_token(self._client_form())      # RFC 7009: an unknown token is no error
        return "", 200

    def _introspect(self):
        token = self._client_form()
        with self.lock:
            access = self._access.get(token)
        now = datetime.now(UTC).timestamp()
        if access is None or access.revoked or access.expires_at < now:
            return jsonify(active=False)
        return jsonify(token_use="access_token", active=True, token=token, hub_id=self.hub_id, user_id=789,
                       client_id=self.client_id, app_id=456, scopes=sorted(access.scopes), signed_access_token={},
                       expires_in=max(0, int(access.expires_at - now)), is_private_distribution=False,
                       token_type="bearer", user="lin@example.com", hub_domain="example-portal.com")

    def _upsert(self):
        self.bearer(WRITE)
        body = self.json_body()
        check_keys(body, {"inputs"}, "batch input")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            raise ApiError(400, "inputs must be a list of 1 to 100 objects")
        results = []
        for item in inputs:
            if not isinstance(item, dict):
                raise ApiError(400, "each input must be an object")
            check_keys(item, {"idProperty", "id", "properties", "objectWriteTraceId"}, "input")
            if item.get("idProperty") != "email":
                raise ApiError(400, "this fake upserts contacts by idProperty email only")
            email = item.get("id")
            if not isinstance(email, str) or "@" not in email or email != email.strip():
                raise ApiError(400, f"{email!r} is not a valid email address for idProperty email")
            properties = _properties(item.get("properties", {}), CONTACT_PROPERTIES)
            if "email" in properties and properties["email"].lower() != email.lower():
                raise ApiError(400, "properties.email differs from the id")
            now = _now()
            with self.lock:
                contact = self.contacts.get(email.lower())
                new = contact is None
                if new:
                    contact = {"id": self._new_id(), "properties": {"email": email}, "createdAt": now}
                    self.contacts[email.lower()] = contact
                contact["properties"].update(properties)
                contact["updatedAt"] = now
                results.append({"id": contact["id"], "properties": dict(contact["properties"]),
                                "createdAt": contact["createdAt"], "updatedAt": now, "archived": False, "new": new})
        return jsonify(status="COMPLETE", results=results, startedAt=_now(), completedAt=_now())

    def _create_meeting(self):
        self.bearer(WRITE)
        body = self.json_body()
        check_keys(body, {"properties", "associations"}, "meeting")
        properties = _meeting_properties(body.get("properties"))
        if "hs_timestamp" not in properties:
            raise ApiError(400, "hs_timestamp is required")
        associations = body.get("associations", [])
        if not isinstance(associations, list):
            raise ApiError(400, "associations must be a list")
        linked = []
        for association in associations:
            linked.append(self._association(association))
        meeting_id = self._new_id()
        now = _now()
        meeting = {"id": meeting_id, "properties": properties, "associations": linked, "createdAt": now,
                   "updatedAt": now, "archived": False}
        with self.lock:
            self.meetings[meeting_id] = meeting
        return jsonify(_public(meeting)), 201

    def _association(self, association: Any) -> dict[str, Any]:
        if not isinstance(association, dict):
            raise ApiError(400, "an association must be an object")
        check_keys(association, {"to", "types"}, "association")
        to, types = association.get("to"), association.get("types")
        if not isinstance(to, dict) or set(to) != {"id"} or not isinstance(to["id"], str | int) \
                or isinstance(to["id"], bool):
            raise ApiError(400, "association.to must be {\"id\": ...}")
        if not isinstance(types, list) or not types:
            raise ApiError(400, "association.types must be a non-empty list")
        for kind in types:
            if not isinstance(kind, dict) or set(kind) != {"associationCategory", "associationTypeId"}:
                raise ApiError(400, "an association type has associationCategory and associationTypeId")
            if kind["associationCategory"] != "HUBSPOT_DEFINED" or kind["associationTypeId"] != MEETING_TO_CONTACT \
                    or isinstance(kind["associationTypeId"], bool):
                raise ApiError(400, "this fake knows only the meeting-to-contact association (HUBSPOT_DEFINED 200)")
        contact_id = str(to["id"])
        with self.lock:
            if not any(c["id"] == contact_id for c in self.contacts.values()):
                raise ApiError(400, f"contact {contact_id} does not exist")
        return {"to": contact_id, "type": MEETING_TO_CONTACT}

    def _meeting(self, meeting_id: str):
        if request.method == "GET":
            self.bearer(READ, WRITE)
        else:
            self.bearer(WRITE)
        with self.lock:
            meeting = self.meetings.get(meeting_id)
        if meeting is None:
            raise ApiError(404, f"Object not found. objectId are usually numeric. ({meeting_id})")
        if request.method == "PATCH":
            body = self.json_body()
            check_keys(body, {"properties"}, "meeting update")
            properties = _meeting_properties(body.get("properties"))
            with self.lock:
                meeting["properties"].update(properties)
                meeting["updatedAt"] = _now()
        return jsonify(_public(meeting))


def _public(meeting: dict[str, Any]) -> dict[str, Any]:
    return {key: meeting[key] for key in ("id", "properties", "createdAt", "updatedAt", "archived")}


def _properties(value: Any, allowed: set[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ApiError(400, "properties must be an object")
    unknown = set(value) - allowed
    if unknown:
        raise ApiError(400, f"Property values were not valid: unknown properties {sorted(unknown)}",
                       code="VALIDATION_ERROR")
    for key, item in value.items():
        if not isinstance(item, str):
            raise ApiError(400, f"Property {key} must be sent as a string")
    return dict(value)


def _meeting_properties(value: Any) -> dict[str, str]:
    properties = _properties(value, MEETING_PROPERTIES)
    for key in ("hs_timestamp", "hs_meeting_start_time", "hs_meeting_end_time"):
        if key in properties:
            _instant(properties[key], key)
    outcome = properties.get("hs_meeting_outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ApiError(400, f"{outcome} was not one of the allowed options for hs_meeting_outcome")
    if "hs_meeting_start_time" in properties and "hs_meeting_end_time" in properties \
            and _instant(properties["hs_meeting_end_time"], "end") < _instant(properties["hs_meeting_start_time"], "s"):
        raise ApiError(400, "hs_meeting_end_time is before hs_meeting_start_time")
    return properties


def _instant(value: str, what: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{what} is neither a UTC instant nor epoch milliseconds") from None
    if parsed.tzinfo is None or parsed.utcoffset().total_seconds() != 0:
        raise ApiError(400, f"{what} must be in UTC")
    return parsed

