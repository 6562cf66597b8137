"""A fake of Attio's OAuth server and the REST v2 endpoints the Attio client uses.

Paths match Attio's (app and API hosts on one loopback server): ``/authorize`` (no ``scope`` parameter: the grant
has the scopes configured for the app, ``granted_scopes``), ``/oauth/token`` (form; client_id and client_secret in
the body only; answers ``access_token`` and ``token_type`` only: no expiry, no refresh token), ``/oauth/revoke``;
``GET /v2/self`` (``active: false`` for a revoked or unknown token), ``PUT
/v2/objects/people/records?matching_attribute=email_addresses`` (assert: people kept by lower-cased email, sent
multiselect values replace the stored ones), ``POST /v2/notes`` (on a known person), ``GET /v2/notes/{note_id}``.

Bodies are checked: the ``{"data": ...}`` envelope, unknown keys, ``email_addresses`` strings, one ``name`` with
string parts, phone numbers in E.164 unless a ``country_code`` is given, notes with ``parent_object`` ``people``,
``format`` plaintext or markdown, string title and content -> 400 ``{"status_code", "type":
"invalid_request_error", "code": "validation_type", "message"}``; a note on an unknown person -> 404. Scopes are
checked as Attio documents them. Knobs (besides the base ``fail`` / ``slow`` / ``revoke_grants``):
``rate_limit(retry_after, times, path)`` answers 429 ``rate_limit_exceeded`` with a ``Retry-After`` HTTP date.
"""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from flask import jsonify, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, check_keys

SCOPES = {"record_permission:read-write", "object_configuration:read", "note:read-write"}
PERSON_VALUES = {"email_addresses", "name", "phone_numbers", "description", "job_title"}
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
TYPES = {401: "auth_error", 403: "auth_error", 429: "rate_limit_error"}
CODES = {400: "validation_type", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         429: "rate_limit_exceeded"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class AttioFake(FakeOAuthServer):
    name = "attio"
    authorize_path = "/authorize"
    token_path = "/oauth/token"
    client_auth_methods = ("client_secret_post",)

    def __init__(self, *, workspace_name: str = "Example Ltd", **kwargs) -> None:
        self.workspace_id = str(uuid.uuid4())
        self.workspace_name = workspace_name
        self.people: dict[str, dict[str, Any]] = {}          # record_id -> person (values)
        self.notes: dict[str, dict[str, Any]] = {}           # note_id -> note
        kwargs.setdefault("granted_scopes", set(SCOPES))
        kwargs.setdefault("token_lifetime", 10 * 365 * 86400)
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "api_base": self.url,
                "app_base": self.url, **overrides}

    # -- Attio's shapes
    def issues_refresh_token(self, grant) -> bool:
        return False

    def _issue(self, scopes, *, with_refresh, parent=None):
        body = super()._issue(scopes, with_refresh=False, parent=parent)
        return {"access_token": body["access_token"], "token_type": "Bearer"}

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        kind = TYPES.get(status, "invalid_request_error" if status < 500 else "internal_server_error")
        code = code if isinstance(code, str) and code.islower() else CODES.get(status, "internal_error")
        return {"status_code": status, "type": kind, "code": code, "message": message}

    # -- knobs
    def rate_limit(self, retry_after: str | None = "date", *, times: int = 1, path: str | None = None) -> None:
        """429 with ``Retry-After``: an HTTP date one second ahead by default (as Attio sends), or the given text."""
        if retry_after == "date":
            retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
        self.fail(429, times=times, path=path, headers={"Retry-After": retry_after} if retry_after else {},
                  body={"status_code": 429, "type": "rate_limit_error", "code": "rate_limit_exceeded",
                        "message": "Rate limit exceeded, please try again later"})

    def person(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            return next((p for p in self.people.values()
                         if email.lower() in [e.lower() for e in p["values"]["email_addresses"]]), None)

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule("/oauth/revoke", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule("/v2/self", "self", self._self, methods=["GET"])
        app.add_url_rule("/v2/objects/people/records", "assert_person", self._assert, methods=["PUT"])
        app.add_url_rule("/v2/notes", "create_note", self._create_note, methods=["POST"])
        app.add_url_rule("/v2/notes/<note_id>", "note", self._note, methods=["GET"])

    def check_authorize(self, args) -> str | None:
        return "Attio takes no scope parameter" if "scope" in args else None

    def _needs(self, *scopes: str) -> None:
        token = self.bearer()
        missing = [s for s in scopes if s not in token.scopes]
        if missing:
            raise ApiError(403, f"missing scopes: {', '.join(missing)}", code="forbidden")

    def _revoke(self):
        self._authenticate_client()
        if not self.revoke_token(request.form.get("token", "")):
            raise ApiError(400, "unknown token", code="invalid_token")
        return jsonify({})

    def _self(self):
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not value:
            raise ApiError(401, "a Bearer access token is required")
        with self.lock:
            token = self._access.get(value)
        if token is None or token.revoked:
            return jsonify(active=False)
        return jsonify(active=True, scope=" ".join(sorted(token.scopes)), client_id=self.client_id,
                       token_type="Bearer", exp=None, iat=1767225600, sub=self.workspace_id, aud=self.client_id,
                       iss="attio.com", authorized_by_workspace_member_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "m")),
                       workspace_id=self.workspace_id, workspace_name=self.workspace_name,
                       workspace_slug="example-ltd", workspace_logo_url=None)

    def _envelope(self) -> dict[str, Any]:
        body = self.json_body()
        check_keys(body, {"data"}, "request")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ApiError(400, "data must be an object")
        return data

    def _assert(self):
        self._needs("record_permission:read-write", "object_configuration:read")
        if request.args.get("matching_attribute") != "email_addresses":
            raise ApiError(400, "this fake asserts people by matching_attribute=email_addresses only")
        data = self._envelope()
        check_keys(data, {"values"}, "data")
        values = data.get("values")
        if not isinstance(values, dict):
            raise ApiError(400, "data.values must be an object")
        check_keys(values, PERSON_VALUES, "values")
        emails = values.get("email_addresses")
        if not isinstance(emails, list) or not emails:
            raise ApiError(400, "the matching attribute email_addresses must be given")
        addresses = [_email(item) for item in emails]
        if "name" in values:
            _name(values["name"])
        if "phone_numbers" in values:
            _phones(values["phone_numbers"])
        now = _now()
        with self.lock:
            matches = {rid for rid, p in self.people.items()
                       if {a.lower() for a in p["values"]["email_addresses"]} & {a.lower() for a in addresses}}
            if len(matches) > 1:
                raise ApiError(400, "the values match more than one record", code="multiple_match_results")
            if matches:
                record_id = matches.pop()
            else:
                record_id = str(uuid.uuid4())
                self.people[record_id] = {"record_id": record_id, "created_at": now, "values": {}}
            person = self.people[record_id]
            stored = {**values, "email_addresses": addresses}
            person["values"].update(stored)
        return jsonify(data={"id": {"workspace_id": self.workspace_id, "object_id": "people-object",
                                    "record_id": record_id},
                             "created_at": person["created_at"],
                             "web_url": f"https://app.attio.com/example-ltd/person/{record_id}",
                             "values": person["values"]})

    def _create_note(self):
        self._needs("note:read-write", "object_configuration:read")
        data = self._envelope()
        check_keys(data, {"parent_object", "parent_record_id", "title", "format", "content", "created_at",
                          "meeting_id"}, "data")
        for key in ("parent_object", "parent_record_id", "title", "format", "content"):
            if not isinstance(data.get(key), str):
                raise ApiError(400, f"data.{key} must be a string")
        if data["parent_object"] != "people":
            raise ApiError(400, "this fake keeps notes on people only")
        if data["format"] not in ("plaintext", "markdown"):
            raise ApiError(400, "format must be plaintext or markdown")
        if "\n" in data["title"]:
            raise ApiError(400, "a note title is one line of plaintext")
        with self.lock:
            if data["parent_record_id"] not in self.people:
                raise ApiError(404, f"Record with ID \"{data['parent_record_id']}\" not found.")
            note_id = str(uuid.uuid4())
            note = {"id": {"workspace_id": self.workspace_id, "note_id": note_id},
                    "parent_object": "people", "parent_record_id": data["parent_record_id"], "title": data["title"],
                    "format": data["format"], "content_plaintext": data["content"], "tags": [],
                    "created_by_actor": {"type": "app", "id": self.client_id},
                    "created_at": data.get("created_at") or _now()}
            self.notes[note_id] = note
        return jsonify(data=note)

    def _note(self, note_id: str):
        self._needs("note:read-write")
        with self.lock:
            note = self.notes.get(note_id)
        if note is None:
            raise ApiError(404, "note not found")
        return jsonify(data=note)


def _email(item: Any) -> str:
    value = item.get("email_address") if isinstance(item, dict) else item
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ApiError(400, f"{value!r} is not a valid email address")
    return value


def _name(value: Any) -> None:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ApiError(400, "name takes one value")
    check_keys(value[0], {"first_name", "last_name", "full_name"}, "name")
    if not all(isinstance(part, str) for part in value[0].values()):
        raise ApiError(400, "the parts of a name are strings")


def _phones(value: Any) -> None:
    if not isinstance(value, list):
        raise ApiError(400, "phone_numbers must be a list")
    for item in value:
        if not isinstance(item, dict):
            raise ApiError(400, "a phone number is an object")
        check_keys(item, {"original_phone_number", "country_code"}, "phone number")
        number = item.get("original_phone_number")
        if not isinstance(number, str) or (not item.get("country_code") and not E164.fullmatch(number)):
            raise ApiError(400, "a phone number without country_code must be in E.164")
