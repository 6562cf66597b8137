"""Zapier REST hooks (spec page 14): ``X-API-Key`` authentication, subscribe / unsubscribe, sample data.

``GET /api/zapier/me``                      auth test: ``{"id", "name", "email"}``
``POST /api/zapier/subscribe``              ``{event, hookUrl | targetUrl | hook_url, eventTypeId?}`` → 201 ``{"id"}``
``DELETE /api/zapier/subscribe/<id>``       unsubscribe (also ``POST /api/zapier/unsubscribe {"id"}``)
``GET /api/zapier/triggers/<event>``        performList: the newest real envelopes (up to 3) or a sample
``GET /api/zapier/event-types``             ``[{"id", "name", "slug"}]`` for the event-type filter

Every plan may use it. A subscription is a webhook labelled "Zapier" and counts against the plan's webhook
limit (403 with a message). Rate limits, on the counters /api/v1 uses: failed authentications per client IP
(RATELIMIT_API_PREAUTH, 5/min; a valid key is not blocked by failures from its address, because Zapier's many
customers share its egress addresses) and requests per key (RATELIMIT_API_KEY, 60/min). Errors are JSON
``{"error": ...}`` with 401, 403, 404, 429 (``Retry-After``).
"""
from __future__ import annotations

import functools
import math
import time

from flask import Blueprint, current_app, g, jsonify, request
from limits import parse as parse_rate

from app.api.json_input import BadJson, request_json
from app.extensions import csrf
from app.models import EventType
from app.ratelimit import RateLimited, limiter
from app.services.developer import api_keys
from app.services.developer import webhooks as service
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import PlanLimitReached

bp = Blueprint("zapier", __name__, url_prefix="/api/zapier")
csrf.exempt(bp)

# The same counters as /api/v1: Zapier's calls count against the one post-auth limit of the key (spec page 14).
PREAUTH = "api-preauth"
PER_KEY = "api-key"
URL_FIELDS = ("hookUrl", "targetUrl", "hook_url", "target_url")
FIELD_NAMES = {"url": "hookUrl", "events": "event", "event_type": "eventTypeId"}


def _error(status: int, message: str, retry_after: int | None = None, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def api_key_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        cfg = current_app.config
        ip = g.get("client_ip") or request.remote_addr or "unknown"
        # As /api/v1: an address over its failure budget is refused before any key lookup, so a run of guesses
        # cannot tell a valid key (which would otherwise still answer 200) from an invalid one.
        if not limiter().test(PREAUTH, ip, cfg["RATELIMIT_API_PREAUTH"]):
            stats = limiter().limiter.get_window_stats(parse_rate(cfg["RATELIMIT_API_PREAUTH"]), PREAUTH, ip)
            return _error(429, "Too many failed authentication attempts from your address. Wait and try again.",
                          retry_after=max(1, math.ceil(stats.reset_time - time.time())))
        key = api_keys.authenticate(request.headers.get("X-API-Key"))
        try:
            if key is None:
                limiter().hit(PREAUTH, ip, cfg["RATELIMIT_API_PREAUTH"])
                return _error(401, "Invalid or missing API key. Send your key in the X-API-Key header.")
            limiter().hit(PER_KEY, key.id, cfg["RATELIMIT_API_KEY"])
        except RateLimited as exc:
            return _error(429, "Rate limit exceeded. Wait and try again.", retry_after=exc.retry_after)
        g.api_user = key.user
        return view(*args, **kwargs)
    return wrapped


def _body() -> dict:
    """The JSON (or form) body; raises BadJson for a JSON body that cannot be read (a 400, see below)."""
    body = request_json()
    if body is None and request.form:
        body = request.form.to_dict()
    return body if isinstance(body, dict) else {}


@bp.errorhandler(BadJson)
def _bad_json(exc: BadJson):
    return _error(400, "Invalid request data", details={"body": str(exc)})


@bp.get("/me")
@api_key_required
def me():
    user = g.api_user
    return jsonify({"id": user.id, "name": user.name, "email": user.email})


@bp.post("/subscribe")
@api_key_required
def subscribe():
    body = _body()
    event = body.get("event")
    url = next((body[name] for name in URL_FIELDS if body.get(name)), None)
    event_type_id = body.get("eventTypeId") or body.get("event_type_id") or None
    details = {}
    if not isinstance(event, str) or event not in service.EVENT_NAMES:
        details["event"] = "Choose one of: " + ", ".join(service.EVENT_NAMES) + "."
    if not isinstance(url, str):
        details["hookUrl"] = "Required: the URL Zapier gives for this subscription."
    if event_type_id is not None and not isinstance(event_type_id, str):
        details["eventTypeId"] = "Must be a string."
    if details:
        return _error(400, "Invalid request data", details=details)
    if event not in service.BOOKING_EVENTS:
        event_type_id = None   # the event-type filter applies to booking triggers only
    try:
        webhook, _secret = service.create_webhook(g.api_user, url, [event], event_type_id=event_type_id,
                                                  label=service.ZAPIER_LABEL, ip=g.get("client_ip"))
    except ValidationFailed as exc:
        return _error(400, "Invalid request data",
                      details={FIELD_NAMES.get(k, k): v for k, v in exc.errors.items()})
    except PlanLimitReached as exc:
        return _error(403, str(exc))
    return jsonify({"id": webhook.id, "event": event, "hookUrl": webhook.url,
                    "eventTypeId": webhook.event_type_id}), 201


def _unsubscribe(webhook_id):
    if not isinstance(webhook_id, str) or not webhook_id:
        return _error(400, "Invalid request data", details={"id": "Required: the id subscribe returned."})
    try:
        service.delete_webhook(g.api_user, webhook_id, ip=g.get("client_ip"), label=service.ZAPIER_LABEL)
    except NotFound:
        return _error(404, "Subscription not found")
    return jsonify({"id": webhook_id, "deleted": True})


@bp.delete("/subscribe/<webhook_id>")
@api_key_required
def unsubscribe(webhook_id: str):
    return _unsubscribe(webhook_id)


@bp.post("/unsubscribe")
@api_key_required
def unsubscribe_post():
    return _unsubscribe(_body().get("id"))


@bp.get("/triggers/<event>")
@api_key_required
def perform_list(event: str):
    if event not in service.EVENT_NAMES:
        return _error(404, "Unknown trigger. Use one of: " + ", ".join(service.EVENT_NAMES) + ".")
    event_type_id = request.args.get("eventTypeId") or None
    found = service.recent_envelopes(g.api_user, event, limit=3, event_type_id=event_type_id)
    return jsonify(found or [service.sample_envelope(event, g.api_user)])


@bp.get("/event-types")
@api_key_required
def event_types():
    rows = (EventType.select(EventType.id, EventType.name, EventType.slug)
            .where((EventType.user == g.api_user) & EventType.personal()).order_by(EventType.position, EventType.name))
    return jsonify([{"id": et.id, "name": et.name, "slug": et.slug} for et in rows])
