"""ElevenLabs' requests to LinkTime during and around a call (spec page 10): the four tool webhooks, the
personalization (conversation initiation) webhook and the post-call webhook. CSRF-exempt: each is authenticated.

* ``POST /api/voice/tools/event-types|available-slots|create-booking|booking-details?agent_id=<VoiceAgent.id>``:
  ``X-Voice-Secret`` must equal ``ELEVENLABS_WEBHOOK_SECRET`` (constant-time; 401 otherwise). The account acted for
  is the agent's; a body ``user_id`` / ``organization_id`` that is not the agent's is refused (403). Every failure
  is the spec's spoken ``{"error": true, "message": ...}`` (200, so the agent says it).
* ``POST /api/voice/webhook/personalization``: the same secret header; body ``{from, to, conversation_id,
  call_sid}`` (or ElevenLabs' ``caller_id``, ``called_number``, ``agent_id``, ``call_sid``); answers
  ``conversation_initiation_client_data``.
* ``POST /api/voice/webhook/call-status``: ``ElevenLabs-Signature`` (HMAC-SHA256 of ``"{t}.{body}"`` under
  ``ELEVENLABS_SIGNING_SECRET``, 30 minutes' tolerance) or 401; the flat payload of the spec or ElevenLabs'
  ``post_call_transcription``.
"""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, jsonify, request

from app.api.json_input import BadJson, request_json
from app.extensions import csrf
from app.integrations.elevenlabs import SECRET_HEADER, SIGNATURE_HEADER, SignatureRejected, verify_post_call_signature
from app.services.voice import lifecycle, tools

log = logging.getLogger(__name__)
bp = Blueprint("voice_webhooks", __name__, url_prefix="/api/voice")
csrf.exempt(bp)


def _secret_ok() -> bool:
    expected = current_app.config.get("ELEVENLABS_WEBHOOK_SECRET") or ""
    given = request.headers.get(SECRET_HEADER) or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _spoken(message: str, status: int = 200):
    return jsonify(tools.tool_error_json(message)), status


def _body() -> dict | None:
    try:
        body = request_json()
    except BadJson:
        return None
    if body is None and not request.get_data(cache=True).strip():
        return {}
    return body if isinstance(body, dict) else None


@bp.post("/tools/<any('event-types', 'available-slots', 'create-booking', 'booking-details'):name>")
def tool(name: str):
    if not _secret_ok():
        log.warning("a voice tool call to %s was refused: wrong or missing %s", request.path, SECRET_HEADER)
        return _spoken(tools.SYSTEM_TROUBLE, 401)
    body = _body()
    if body is None:
        return _spoken(tools.SYSTEM_TROUBLE)
    try:
        return jsonify(tools.run_tool(name, request.args.get("agent_id"), body))
    except tools.ToolError as exc:
        return _spoken(exc.message, exc.status)
    except Exception:
        log.exception("the voice tool %s failed", name)
        return _spoken(tools.SYSTEM_TROUBLE)


@bp.post("/webhook/personalization")
def personalization():
    if not _secret_ok():
        log.warning("a personalization webhook was refused: wrong or missing %s", SECRET_HEADER)
        return jsonify({"error": "Unauthorized"}), 401
    body = _body()
    if body is None:
        return jsonify({"error": "Invalid request data", "details": {"body": "Send a JSON object."}}), 400
    try:
        return jsonify(lifecycle.personalization(body))
    except Exception:
        log.exception("the personalization webhook failed")
        return jsonify(lifecycle.no_agent_answer())


@bp.post("/webhook/call-status")
def call_status():
    raw = request.get_data(cache=True)
    try:
        verify_post_call_signature(request.headers.get(SIGNATURE_HEADER), raw,
                                   current_app.config.get("ELEVENLABS_SIGNING_SECRET") or "")
    except SignatureRejected as exc:
        log.warning("a post-call webhook was refused: %s", exc)
        return jsonify({"error": "Invalid signature"}), 401
    body = _body()
    if body is None:
        return jsonify({"error": "Invalid request data", "details": {"body": "Send a JSON object."}}), 400
    row = lifecycle.record_call_status(body)
    return jsonify({"received": True, "callLogId": row.id if row is not None else None})
