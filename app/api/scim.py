"""SCIM 2.0 (RFC 7643/7644) for organizations' identity providers, under ``/api/scim/v2`` (issue 20, spec 23).

Every request needs ``Authorization: Bearer lt_scim_...``, an organization's token (one indexed lookup of its
hash). Before the lookup an address with ``RATELIMIT_API_PREAUTH`` failed authentications in the window gets 429;
a valid token's organization is limited to ``RATELIMIT_SCIM`` requests; an organization whose plan lacks SCIM
gets 403. A token only ever sees its own organization's users (another's id is a 404). Answers are
``application/scim+json``; bodies may be sent as ``application/scim+json`` or ``application/json``. Errors use
the SCIM error schema (``status`` a string, ``scimType`` where RFC 7644 names one). Every call is recorded in the
organization's audit log.
"""
from __future__ import annotations

import json
import math
import re
from time import time as time_now

from flask import Blueprint, Response, current_app, g, request
from limits import parse as parse_rate

from app.api.scim_documents import (
    RESOURCE_TYPE_SCHEMA,
    USER_SCHEMA,
    service_provider_config,
    user_resource_type,
    user_schema,
)
from app.extensions import csrf
from app.ratelimit import RateLimited, limiter
from app.services.account import scim_tokens, scim_users
from app.services.account.scim_filter import InvalidFilter
from app.services.account.scim_filter import parse as parse_filter
from app.services.account.scim_patch import ScimError, from_resource
from app.services.events import iso
from app.services.plans import PlanLimitReached

bp = Blueprint("scim", __name__, url_prefix="/api/scim/v2")
csrf.exempt(bp)

MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PREAUTH = "api-preauth"
RATE_NAME = "scim"
BODY_TYPES = ("application/scim+json", "application/json")
BODY_ENDPOINTS = {"scim.create_user", "scim.replace_user", "scim.patch_user", "scim.search_users"}
KNOWN_PATHS = re.compile(r"^(ServiceProviderConfig|Schemas(/.+)?|ResourceTypes(/.+)?|Users(/[^/]+)?|\.search)$")


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype=MEDIA_TYPE,
                        headers=headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, detail: str, scim_type: str | None = None, headers: dict | None = None) -> Response:
    body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _json(body, status, headers)


@bp.errorhandler(ScimError)
def _scim_error(exc: ScimError):
    org = g.get("scim_org")
    if org is not None:
        scim_users.record_call("scim.request_failed", org, g.get("client_ip"),
                               {"method": request.method, "path": request.path, "status": exc.status,
                                "scimType": exc.scim_type, "detail": exc.detail})
    headers = {"WWW-Authenticate": 'Bearer realm="LinkTime SCIM"'} if exc.status == 401 else None
    return _error(exc.status, exc.detail, exc.scim_type, headers)


@bp.errorhandler(RateLimited)
def _rate_limited(exc: RateLimited):
    return _error(429, exc.message, None, {"Retry-After": str(exc.retry_after)})


def _base() -> str:
    root = (current_app.config.get("BASE_URL") or request.host_url).rstrip("/")
    return root + "/api/scim/v2"


# -- authentication ------------------------------------------------------------------------------------------------

def _retry_after(key: str, rate: str) -> int:
    stats = limiter().limiter.get_window_stats(parse_rate(rate), PREAUTH, key)
    return math.ceil(stats.reset_time - time_now())


@bp.before_request
def _authenticate():
    g.scim_org = None
    ip = g.get("client_ip") or "unknown"
    preauth = current_app.config["RATELIMIT_API_PREAUTH"]
    if not limiter().test(PREAUTH, ip, preauth):       # checked before any token lookup
        raise RateLimited(_retry_after(ip, preauth), "Too many failed authentications. Please wait.")
    scheme, _, raw = request.headers.get("Authorization", "").strip().partition(" ")
    token = scim_tokens.authenticate(raw.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        limiter().hit(PREAUTH, ip, preauth)        # only failures count
        raise ScimError(401, "Missing or invalid SCIM token. Send Authorization: Bearer lt_scim_...")
    limiter().hit(RATE_NAME, token.organization_id, current_app.config["RATELIMIT_SCIM"])
    try:
        scim_tokens.check_plan(token.organization)
    except PlanLimitReached as exc:
        raise ScimError(403, str(exc)) from exc
    g.scim_org, g.scim_token = token.organization, token
    if request.endpoint in BODY_ENDPOINTS:
        mimetype = (request.mimetype or "").lower()
        if mimetype not in BODY_TYPES:
            raise ScimError(415, "Send the body as application/scim+json (or application/json).")


def _body():
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from exc


def _record(action: str, details: dict | None = None) -> None:
    scim_users.record_call(action, g.scim_org, g.get("client_ip"), details)


# -- resources -----------------------------------------------------------------------------------------------------

def user_json(row) -> dict:
    body: dict = {"schemas": [USER_SCHEMA], "id": row.id, "userName": row.user_name}
    if row.external_id:
        body["externalId"] = row.external_id
    name = {k: v for k, v in (("givenName", row.given_name), ("familyName", row.family_name)) if v}
    if name:
        body["name"] = name
    if row.display_name:
        body["displayName"] = row.display_name
    if row.active is not None:
        body["active"] = row.active
    if row.email:
        email = {"value": row.email, "type": "work"}
        if row.email_primary is not None:
            email["primary"] = row.email_primary
        body["emails"] = [email]
    body["meta"] = {"resourceType": "User", "created": iso(row.created_at), "lastModified": iso(row.updated_at),
                    "location": f"{_base()}/Users/{row.id}"}
    return body


def _select(body: dict, attributes: str | None = None, excluded: str | None = None) -> dict:
    """The resource with only ``attributes`` / without ``excludedAttributes`` (top-level attributes; by default
    those of the query string)."""
    if attributes is None:
        attributes = request.args.get("attributes", "")
    if excluded is None:
        excluded = request.args.get("excludedAttributes", "")
    wanted = {a.strip().lower() for a in attributes.split(",") if a.strip()}
    unwanted = {a.strip().lower() for a in excluded.split(",") if a.strip()}
    wanted = {a.removeprefix(USER_SCHEMA.lower() + ":").split(".")[0] for a in wanted}
    unwanted = {a.removeprefix(USER_SCHEMA.lower() + ":").split(".")[0] for a in unwanted}
    always = {"id", "schemas", "meta"} | ({"username"} if wanted else set())
    return {k: v for k, v in body.items()
            if (not wanted or k.lower() in wanted | always) and (k.lower() not in unwanted or k.lower() in always)}


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ScimError(400, f"{name} must be an integer.", "invalidValue") from exc


def _list(resources: list, total: int | None = None, start: int = 1) -> Response:
    return _json({"schemas": [LIST_SCHEMA], "totalResults": len(resources) if total is None else total,
                  "startIndex": start, "itemsPerPage": len(resources), "Resources": resources})


@bp.get("/ServiceProviderConfig")
def service_provider():
    _record("scim.config_read", {"resource": "ServiceProviderConfig"})
    return _json(service_provider_config(_base(), _base().removesuffix("/api/scim/v2") + "/docs"))


@bp.get("/Schemas")
def schemas():
    _record("scim.config_read", {"resource": "Schemas"})
    return _list([user_schema(_base())])


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str):
    _record("scim.config_read", {"resource": "Schemas", "id": schema_id})
    if schema_id != USER_SCHEMA:
        raise ScimError(404, f"Schema {schema_id} not found.")
    return _json(user_schema(_base()))


@bp.get("/ResourceTypes")
def resource_types():
    _record("scim.config_read", {"resource": "ResourceTypes"})
    return _list([user_resource_type(_base())])


@bp.get("/ResourceTypes/<type_id>")
def resource_type(type_id: str):
    _record("scim.config_read", {"resource": "ResourceTypes", "id": type_id})
    if type_id != "User":
        raise ScimError(404, f"Resource type {type_id} not found.")
    return _json(user_resource_type(_base()))


def _search(text: str | None, start: int, count: int, attributes: str | None, excluded: str | None) -> Response:
    try:
        tree = parse_filter(text) if text is not None else None
    except InvalidFilter as exc:
        raise ScimError(400, str(exc), "invalidFilter") from exc
    start = max(1, start)
    count = max(0, min(count, scim_users.MAX_RESULTS))
    total, rows = scim_users.list_users(g.scim_org, tree, start_index=start, count=count)
    _record("scim.users_listed", {"filter": text, "startIndex": start, "count": count, "totalResults": total})
    return _list([_select(user_json(row), attributes, excluded) for row in rows], total, start)


@bp.get("/Users")
def list_users():
    return _search(request.args.get("filter"), _int_arg("startIndex", 1),
                   _int_arg("count", scim_users.DEFAULT_COUNT), request.args.get("attributes"),
                   request.args.get("excludedAttributes"))


@bp.post("/Users/.search")
@bp.post("/.search")
def search_users():
    """RFC 7644 §3.4.3: the query of a GET list as a SearchRequest body (only Users are served)."""
    body = _body()
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a SearchRequest object.", "invalidSyntax")
    data = {str(k).lower(): v for k, v in body.items()}

    def number(name: str, default: int) -> int:
        value = data.get(name.lower(), default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ScimError(400, f"{name} must be an integer.", "invalidValue")
        return value

    def names(name: str) -> str | None:
        value = data.get(name.lower())
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScimError(400, f"{name} must be a list of attribute names.", "invalidValue")
        return ",".join(value)

    text = data.get("filter")
    if text is not None and not isinstance(text, str):
        raise ScimError(400, "filter must be a string.", "invalidFilter")
    return _search(text, number("startIndex", 1), number("count", scim_users.DEFAULT_COUNT), names("attributes"),
                   names("excludedAttributes"))


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """Any other address or method: 405 on a known endpoint, 404 elsewhere, both as SCIM errors."""
    if KNOWN_PATHS.match(rest):
        raise ScimError(405, f"{request.method} is not supported on {request.path}.")
    raise ScimError(404, f"{request.path} is not a SCIM endpoint of LinkTime.")


@bp.post("/Users")
def create_user():
    row = scim_users.create_user(g.scim_org, from_resource(_body()), ip=g.get("client_ip"))
    body = user_json(row)
    return _json(_select(body), 201, {"Location": body["meta"]["location"]})


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str):
    row = scim_users.get_user(g.scim_org, scim_id)
    _record("scim.user_read", {"id": scim_id})
    return _json(_select(user_json(row)))


@bp.put("/Users/<scim_id>")
def replace_user(scim_id: str):
    scim_users.get_user(g.scim_org, scim_id)        # 404 before the body's 400
    row = scim_users.replace_user(g.scim_org, scim_id, from_resource(_body()), ip=g.get("client_ip"))
    return _json(_select(user_json(row)))


@bp.patch("/Users/<scim_id>")
def patch_user(scim_id: str):
    row = scim_users.patch_user(g.scim_org, scim_id, _body(), ip=g.get("client_ip"))
    return _json(_select(user_json(row)))


@bp.delete("/Users/<scim_id>")
def delete_user(scim_id: str):
    scim_users.delete_user(g.scim_org, scim_id, ip=g.get("client_ip"))
    return Response(status=204)


__all__ = ["RESOURCE_TYPE_SCHEMA", "bp"]
