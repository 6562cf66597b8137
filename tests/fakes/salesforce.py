"""A Salesforce stand-in on loopback: the OAuth web server flow, the identity URL and the REST calls LinkTime makes.

* OAuth at ``/services/oauth2/authorize|token|revoke``. The token answer is Salesforce's: no ``expires_in``, but
  ``instance_url`` (this server), ``id`` (the identity URL), ``issued_at`` (epoch milliseconds) and ``signature``;
  a refresh token only when ``refresh_token`` (or ``offline_access``) was among the scopes; a refresh answer has no
  new refresh token. Access tokens live ``token_lifetime`` seconds (two hours).
* REST below ``/services/data/v{api_version}/`` (another version is 404 ``NOT_FOUND``): ``query`` (SOQL, parsed just
  enough: ``SELECT <fields> FROM Contact WHERE Email = '<literal>' LIMIT n`` with Salesforce's escapes, where an
  unescaped quote inside the value is a ``MALFORMED_QUERY``; and ``SELECT Name FROM Organization``),
  ``sobjects/Contact`` (POST) and ``sobjects/Contact/{id}`` (PATCH, GET), ``sobjects/Event`` and
  ``sobjects/Event/{id}`` the same. Bodies are checked (JSON objects, known fields, strings, required LastName /
  Subject / times, ISO 8601 instants with an offset, an existing Contact as ``WhoId``).
* Errors are JSON arrays ``[{"message", "errorCode", "fields"}]``: 401 ``INVALID_SESSION_ID`` for a missing, unknown,
  expired or revoked token.

State: ``contacts`` and ``events`` (id -> record), ``org_name``. Knobs (besides ``fail``/``slow``/
``expire_access_tokens``/``revoke_grants`` of ``FakeOAuthServer``): ``reject(error_code, times=1, path=None)``
answers the next REST requests (below ``path``) with that Salesforce error and its usual status (``ERROR_STATUS``).
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime
from typing import Any

from flask import jsonify, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, Grant, check_keys, check_type

API_VERSION = "60.0"
ORG_ID = "00D5g000004ExAmEAK"
USER_ID = "0055g00000ExAmPAAW"

ERROR_STATUS = {
    "INVALID_SESSION_ID": 401,
    "REQUEST_LIMIT_EXCEEDED": 403,
    "API_DISABLED_FOR_ORG": 403,
    "INSUFFICIENT_PERMISSIONS": 403,
    "INSUFFICIENT_ACCESS_OR_READONLY": 400,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": 400,
    "DUPLICATES_DETECTED": 400,
    "REQUIRED_FIELD_MISSING": 400,
    "SERVER_UNAVAILABLE": 503,
}
CONTACT_FIELDS = {"Email", "FirstName", "LastName", "Phone"}
EVENT_FIELDS = {"Subject", "StartDateTime", "EndDateTime", "Description", "WhoId"}
_LENGTHS = {"Email": 80, "FirstName": 40, "LastName": 80, "Phone": 40, "Subject": 255, "Description": 32000}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_CONTACT_QUERY = re.compile(r"SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+Contact\s+WHERE\s+Email\s*=\s*'", re.I)
_ORG_QUERY = re.compile(r"SELECT\s+Name\s+FROM\s+Organization(\s+LIMIT\s+\d+)?\s*", re.I)
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:?\d{2})")


class SalesforceFake(FakeOAuthServer):
    name = "salesforce"
    authorize_path = "/services/oauth2/authorize"
    token_path = "/services/oauth2/token"

    def __init__(self, *, org_name: str = "Acme Widgets", api_version: str = API_VERSION,
                 token_lifetime: int = 7200, **kwargs) -> None:
        self.org_name = org_name
        self.api_version = api_version
        self.contacts: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.queries: list[str] = []
        super().__init__(token_lifetime=token_lifetime, **kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "login_url": self.url,
                **overrides}

    # -- Salesforce's shapes
    def api_error_body(self, status: int, message: str, code: Any) -> Any:
        if not isinstance(code, str) or not code.isupper():
            fallback = "UNKNOWN_EXCEPTION" if status >= 500 else "JSON_PARSER_ERROR"
            code = {401: "INVALID_SESSION_ID", 403: "INSUFFICIENT_ACCESS", 404: "NOT_FOUND",
                    429: "REQUEST_LIMIT_EXCEEDED"}.get(status, fallback)
        if code == "INVALID_SESSION_ID":
            message = "Session expired or invalid"
        return [{"message": message, "errorCode": code, "fields": []}]

    def reject(self, error_code: str, *, times: int = 1, path: str = "/services/data/",
               fields: list | None = None) -> None:
        """The next ``times`` REST requests below ``path`` answer ``error_code`` with its usual status."""
        status = ERROR_STATUS.get(error_code, 400)
        self.fail(status, times=times, path=path,
                  body=[{"message": f"injected {error_code}", "errorCode": error_code, "fields": fields or []}])

    def issues_refresh_token(self, grant: Grant) -> bool:
        return bool(grant.scopes & {"refresh_token", "offline_access"})

    def _issue(self, scopes, *, with_refresh, parent=None) -> dict[str, Any]:
        body = super()._issue(scopes, with_refresh=with_refresh, parent=parent)
        body.pop("expires_in", None)                       # Salesforce does not say; the session timeout decides
        body.update(instance_url=self.url, id=f"{self.url}/id/{ORG_ID}/{USER_ID}",
                    issued_at=str(int(time.time() * 1000)), signature=secrets.token_urlsafe(32))
        return body

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule("/services/oauth2/revoke", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule("/id/<org>/<user>", "identity", self._identity)
        base = "/services/data/v<version>"
        app.add_url_rule(f"{base}/query", "query", self._query)
        app.add_url_rule(f"{base}/sobjects/<kind>", "create", self._create, methods=["POST"])
        app.add_url_rule(f"{base}/sobjects/<kind>/<record>", "record", self._record, methods=["GET", "PATCH"])

    def _revoke(self):
        if request.mimetype != "application/x-www-form-urlencoded":
            return jsonify(error="unsupported_token_type", error_description="form-encoded token expected"), 400
        if not self.revoke_token(request.form.get("token", "")):
            return jsonify(error="invalid_token", error_description="invalid token"), 400
        return "", 200

    def _identity(self, org: str, user: str):
        self.bearer()
        if (org, user) != (ORG_ID, USER_ID):
            raise ApiError(404, "Bad_Id", code="NOT_FOUND")
        return jsonify(id=f"{self.url}/id/{ORG_ID}/{USER_ID}", organization_id=ORG_ID, user_id=USER_ID,
                       username="lin@acme.example", display_name="Lin Example", email="lin@acme.example",
                       urls={"rest": f"{self.url}/services/data/v{{version}}/"})

    def _api(self, version: str) -> None:
        self.bearer("api")
        if version != self.api_version:
            raise ApiError(404, "The requested resource does not exist", code="NOT_FOUND")

    def _query(self, version: str):
        self._api(version)
        soql = request.args.get("q", "")
        self.queries.append(soql)
        if _ORG_QUERY.fullmatch(soql):
            where = f"/services/data/v{version}/sobjects/Organization/{ORG_ID}"
            return jsonify(totalSize=1, done=True, records=[
                {"attributes": {"type": "Organization", "url": where}, "Name": self.org_name}])
        match = _CONTACT_QUERY.match(soql)
        if not match:
            raise ApiError(400, "unsupported query", code="MALFORMED_QUERY")
        email, rest = _literal(soql, match.end())
        limit = re.fullmatch(r"\s+LIMIT\s+(\d+)\s*", rest, re.I)
        if not limit:
            raise ApiError(400, f"unexpected token: {rest.strip()[:20]!r}", code="MALFORMED_QUERY")
        fields = [f.strip() for f in match.group("fields").split(",")]
        unknown = [f for f in fields if f not in {"Id", *CONTACT_FIELDS}]
        if unknown:
            raise ApiError(400, f"No such column '{unknown[0]}' on entity 'Contact'", code="INVALID_FIELD")
        with self.lock:
            found = [c for c in self.contacts.values() if c.get("Email", "").lower() == email.lower()]
        found = found[: int(limit.group(1))]
        records = [{"attributes": {"type": "Contact", "url": f"/services/data/v{version}/sobjects/Contact/{c['Id']}"},
                    **{f: c.get(f) for f in fields}} for c in found]
        return jsonify(totalSize=len(records), done=True, records=records)

    def _create(self, version: str, kind: str):
        self._api(version)
        body = self.json_body()
        if kind == "Contact":
            _check(body, CONTACT_FIELDS, required=("LastName",))
            prefix, store = "003", self.contacts
        elif kind == "Event":
            _check(body, EVENT_FIELDS, required=("StartDateTime", "EndDateTime"))
            self._check_event(body)
            prefix, store = "00U", self.events
        else:
            raise ApiError(404, f"The requested resource does not exist: {kind}", code="NOT_FOUND")
        record_id = prefix + secrets.token_hex(6)[:12].upper() + "AAA"
        with self.lock:
            store[record_id] = {"Id": record_id, **body}
        return jsonify(id=record_id, success=True, errors=[]), 201

    def _record(self, version: str, kind: str, record: str):
        self._api(version)
        store = {"Contact": self.contacts, "Event": self.events}.get(kind)
        if store is None or record not in store:
            raise ApiError(404, "The requested resource does not exist", code="NOT_FOUND")
        if request.method == "GET":
            return jsonify({"attributes": {"type": kind}, **store[record]})
        body = self.json_body()
        if kind == "Contact":
            _check(body, CONTACT_FIELDS)
            if "LastName" in body and not body["LastName"]:
                raise ApiError(400, "Required fields are missing: [LastName]", code="REQUIRED_FIELD_MISSING")
        else:
            _check(body, EVENT_FIELDS)
            self._check_event({**store[record], **body})
        with self.lock:
            store[record].update(body)
        return "", 204

    def _check_event(self, event: dict[str, Any]) -> None:
        start, end = (_instant(event.get(k), k) for k in ("StartDateTime", "EndDateTime"))
        if end < start:
            raise ApiError(400, "End time must be after start", code="FIELD_INTEGRITY_EXCEPTION")
        who = event.get("WhoId")
        if who is not None and who not in self.contacts:
            raise ApiError(400, "Name ID: id value of incorrect type", code="FIELD_INTEGRITY_EXCEPTION")


def _check(body: dict[str, Any], allowed: set[str], *, required: tuple[str, ...] = ()) -> None:
    try:
        check_keys(body, allowed, "the record")
    except ApiError as exc:
        raise ApiError(400, exc.message, code="INVALID_FIELD") from None
    missing = [k for k in required if not body.get(k)]
    if missing:
        raise ApiError(400, f"Required fields are missing: [{', '.join(missing)}]", code="REQUIRED_FIELD_MISSING")
    for key in body:
        try:
            value = check_type(body, key, str)
        except ApiError:
            raise ApiError(400, f"Cannot deserialize value for {key}", code="JSON_PARSER_ERROR") from None
        if value is not None and len(value) > _LENGTHS.get(key, 10**6):
            raise ApiError(400, f"{key}: data value too large", code="STRING_TOO_LONG")


def _instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ApiError(400, f"{what}: value not of required type", code="INVALID_TYPE_ON_FIELD_IN_RECORD")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _literal(soql: str, start: int) -> tuple[str, str]:
    """The value of the string literal starting at ``start`` (after its opening quote) and the text after it."""
    out: list[str] = []
    i = start
    while i < len(soql):
        ch = soql[i]
        if ch == "\\":
            if i + 1 >= len(soql) or soql[i + 1] not in _ESCAPES:
                raise ApiError(400, "Invalid string literal: illegal escape sequence", code="MALFORMED_QUERY")
            out.append(_ESCAPES[soql[i + 1]])
            i += 2
            continue
        if ch == "'":
            return "".join(out), soql[i + 1:]
        out.append(ch)
        i += 1
    raise ApiError(400, "unterminated string literal", code="MALFORMED_QUERY")
