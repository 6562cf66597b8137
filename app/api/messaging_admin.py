"""The operator's kill switch of the messaging agents (issue 22, spec page 11).

``POST /api/admin/messaging/kill`` stops every messaging agent at once (customers get the host's booking URL instead
of the assistant), ``POST /api/admin/messaging/resume`` lets them answer again, ``GET /api/admin/messaging/status``
says where things stand: ``{"killed", "killedAt", "settingEnabled", "answering"}``. The state is a database row
(``MessagingCircuit`` id ``"kill-switch"``), so every web and worker process sees it at once; the setting
``MESSAGING_AGENT_ENABLED=false`` stops the agents as well, but only on a restart.

Each request needs the header ``X-Admin-Secret`` equal to ``ADMIN_KILL_SECRET`` (compared in constant time); a
wrong one answers 403 and, after a few, makes that client address wait (``ratelimit`` back-off). Without the setting
the endpoints answer 404. No session, so no CSRF token.
"""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, jsonify, request

from app import ratelimit
from app.extensions import csrf
from app.services import audit
from app.services.messaging import inbound, settings

log = logging.getLogger(__name__)
bp = Blueprint("messaging_admin", __name__, url_prefix="/api/admin/messaging")
csrf.exempt(bp)

SECRET_HEADER = "X-Admin-Secret"
BACKOFF = "messaging-admin"


def _refusal():
    secret = current_app.config.get("ADMIN_KILL_SECRET") or ""
    if not secret:
        return jsonify({"error": "Not found"}), 404
    scope = request.remote_addr or "unknown"
    try:
        ratelimit.backoff_check(BACKOFF, scope)
    except ratelimit.RateLimited as exc:
        response = jsonify({"error": exc.message})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, 429
    given = request.headers.get(SECRET_HEADER) or ""
    if not hmac.compare_digest(given.encode(), str(secret).encode()):
        ratelimit.backoff_failure(BACKOFF, scope)
        log.warning("a messaging kill-switch request from %s was refused: wrong %s", scope, SECRET_HEADER)
        return jsonify({"error": "Forbidden"}), 403
    ratelimit.backoff_reset(BACKOFF, scope)
    return None


def _status():
    row = inbound.kill_state()
    killed_at = row.opened_at if row is not None else None
    enabled = settings.enabled()
    return jsonify({"killed": killed_at is not None, "killedAt": killed_at.isoformat() if killed_at else None,
                    "settingEnabled": enabled, "answering": enabled and killed_at is None})


@bp.get("/status")
def status():
    return _refusal() or _status()


@bp.post("/kill")
def kill():
    refused = _refusal()
    if refused is not None:
        return refused
    inbound.kill()
    audit.record("admin.messaging_killed", resource="messaging", resource_id=inbound.KILL_SWITCH_ID,
                 ip=request.remote_addr, details={"by": "admin kill switch"})
    return _status()


@bp.post("/resume")
def resume():
    refused = _refusal()
    if refused is not None:
        return refused
    inbound.resume()
    audit.record("admin.messaging_resumed", resource="messaging", resource_id=inbound.KILL_SWITCH_ID,
                 ip=request.remote_addr, details={"by": "admin kill switch"})
    return _status()
