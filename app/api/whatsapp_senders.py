"""WhatsApp on a phone number as JSON (spec page 11) and Twilio's sender-status webhook.

Session endpoints (the dashboard's cookie; POST and DELETE need the ``X-CSRFToken`` header):

* ``POST /api/agents/phone-numbers/<id>/whatsapp`` ``{"displayName": "Dr. Smith Dental"}``: 201 ``{"whatsapp":
  {...}}`` with ``status`` "pending"; a display name breaking page 11's rules is 400 with the rule in
  ``details.displayName``; a number already pending or approved, or on hold, 409; Twilio's refusal 502 ``{"error":
  <plain words>, "code": <Twilio's code>}`` (21656: page 11's admin message); without the Twilio settings 503.
* ``GET /api/agents/phone-numbers/<id>/whatsapp`` (``?refresh=true``: asked of Twilio now): ``{"whatsapp": {...}}``,
  or ``{"whatsapp": null}`` when WhatsApp was never enabled on the number.
* ``DELETE /api/agents/phone-numbers/<id>/whatsapp``: deregisters; ``{"whatsapp": null}`` (again: the same).

``{...}``: ``phoneNumberId``, ``displayName``, ``status`` (pending, approved, rejected, failed), ``twilioStatus``,
``whatsappEnabled``, ``senderSid``, ``error`` (``{code, message}`` or null), ``lastCheckedAt``, ``createdAt``,
``updatedAt``. Another account's number is 404; an organization's number is changed by its OWNERs and ADMINs (403).

``POST /api/webhooks/twilio/whatsapp-sender-status``: Twilio's sender-status callback (CSRF-exempt, form-encoded,
``X-Twilio-Signature`` checked against ``BASE_URL`` + path like every Twilio webhook: 403 forged, 404 without the
Twilio settings): ``SenderSid`` and ``Status`` update the sender (without ``Status`` it is asked of Twilio); 204.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, jsonify, request

from app.api.json_input import BadJson, request_json
from app.api.twilio_webhooks import public_url
from app.auth import session_json_required
from app.extensions import csrf
from app.integrations import twilio_sms
from app.services.errors import ValidationFailed
from app.services.messaging import whatsapp

log = logging.getLogger(__name__)
bp = Blueprint("whatsapp_senders_api", __name__, url_prefix="/api")
URL = "/agents/phone-numbers/<number_id>/whatsapp"


def _one(row, status: int = 200):
    return jsonify({"whatsapp": whatsapp.sender_json(row)}), status


def _failed(exc: whatsapp.WhatsAppFailed):
    return jsonify({"error": str(exc), "code": exc.code}), 502


def _not_configured():
    missing = whatsapp.missing_settings()
    return jsonify({"error": "WhatsApp is not set up on this server: the operator must set "
                             f"{' and '.join(missing)}.", "missing": missing}), 503


@bp.post(URL)
@session_json_required
def register(number_id: str):
    try:
        body = request_json()
    except BadJson as exc:
        return jsonify({"error": "Invalid request data", "details": {"body": str(exc)}}), 400
    if not isinstance(body, dict):
        return jsonify({"error": "Invalid request data", "details": {"body": "Send a JSON object."}}), 400
    if not whatsapp.configured():
        whatsapp.status(g.user, number_id)          # another account's number stays 404
        return _not_configured()
    try:
        row = whatsapp.register(g.user, number_id, body.get("displayName"))
    except ValidationFailed as exc:
        return jsonify({"error": "Invalid request data", "details": exc.errors}), 400
    except whatsapp.WhatsAppFailed as exc:
        return _failed(exc)
    return _one(row, 201)


@bp.get(URL)
@session_json_required
def show(number_id: str):
    refresh = request.args.get("refresh", "").lower() in ("1", "true", "yes")
    try:
        row = whatsapp.status(g.user, number_id, refresh=refresh and whatsapp.configured())
    except whatsapp.WhatsAppFailed as exc:
        return _failed(exc)
    return _one(row)


@bp.delete(URL)
@session_json_required
def deregister(number_id: str):
    try:
        whatsapp.deregister(g.user, number_id)
    except whatsapp.WhatsAppFailed as exc:
        return _failed(exc)
    return _one(None)


@bp.post("/webhooks/twilio/whatsapp-sender-status")
@csrf.exempt
def sender_status():
    if not whatsapp.configured():
        return jsonify({"error": "Not found"}), 404
    if not twilio_sms.valid_signature(public_url(), request.form.to_dict(),
                                      request.headers.get(twilio_sms.SIGNATURE_HEADER), current_app.config):
        log.warning("a Twilio request to %s was refused: its signature does not match", request.path)
        return jsonify({"error": "Invalid signature"}), 403
    try:
        whatsapp.handle_status_callback(request.form.to_dict())
    except whatsapp.WhatsAppFailed as exc:           # the sender could not be asked about: Twilio retries
        log.warning("a WhatsApp sender status callback could not be handled: %s", exc)
        return jsonify({"error": str(exc)}), 503
    return "", 204
