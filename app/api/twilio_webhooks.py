"""Twilio's requests to LinkTime (issue 17): ``POST /api/webhooks/twilio/inbound`` and ``/status``.

Both are signed: ``X-Twilio-Signature`` must match the public URL Twilio was given (``BASE_URL`` + path + query
string) and the form parameters under ``TWILIO_AUTH_TOKEN``; a missing or forged signature is answered 403 and
changes nothing. Without the Twilio settings both answer 404.

Inbound messages: STOP (and STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) records an opt-out for the sender, START
removes it, HELP says who sends these texts and how to stop them (``sms_inbound.reply_for``). The answer is TwiML:
``<Response><Message>…</Message></Response>``, or an empty ``<Response/>`` when there is nothing to say.

Messaging agents (issue 22): a text that is not a keyword, sent to a number an active ``MessagingAgent`` answers on
its channel (``whatsapp:+E164`` addresses are WhatsApp; STOP/HELP/START apply to both channels alike), is stored in
its conversation (a ``MessageSid`` Twilio repeats is stored once) and answered by a queued task
(``app.services.messaging.inbound``); the webhook itself answers empty TwiML at once. A text to a number without an
agent gets the empty answer as before. The endpoints need the account SID and auth token (to check signatures),
not a sender number: an agent answers from its own number.

Status callbacks (the ``StatusCallback`` of each text sent): ``MessageSid``, ``MessageStatus`` and, for a failed
or undelivered text, ``ErrorCode``; they update the workflow action that sent it (``sms_inbound.record_status``)
or the messaging agent's text (``messaging.inbound.record_status``).
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, jsonify, request

from app.extensions import csrf
from app.integrations import twilio_sms
from app.services.messaging import inbound as messaging_inbound
from app.services.workflows import sms_inbound

log = logging.getLogger(__name__)
bp = Blueprint("twilio_webhooks", __name__, url_prefix="/api/webhooks/twilio")
csrf.exempt(bp)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_url() -> str:
    """The URL Twilio requested, as the operator gave it to Twilio: ``BASE_URL`` + path (+ query string)."""
    url = current_app.config["BASE_URL"].rstrip("/") + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def instance_name() -> str:
    host = urlsplit(current_app.config.get("BASE_URL") or "").hostname
    return f"LinkTime ({host})" if host else "LinkTime"


def _refusal():
    """None when the request may be handled, else the answer: 404 without Twilio settings, 403 unsigned."""
    cfg = current_app.config
    if not (cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN")):
        return jsonify({"error": "Not found"}), 404
    if not twilio_sms.valid_signature(public_url(), request.form.to_dict(), request.headers.get(
            twilio_sms.SIGNATURE_HEADER), current_app.config):
        log.warning("a Twilio request to %s was refused: its signature does not match", request.path)
        return jsonify({"error": "Invalid signature"}), 403
    return None


def twiml(message: str | None) -> Response:
    if not message:
        body = EMPTY_TWIML
    else:
        body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'
    return Response(body, status=200, mimetype="application/xml")


@bp.post("/inbound")
def inbound():
    refused = _refusal()
    if refused is not None:
        return refused
    raw_sender = (request.form.get("From") or "").strip()
    _, e164 = messaging_inbound.split_address(raw_sender)
    sender = e164 or raw_sender.removeprefix(messaging_inbound.WHATSAPP_PREFIX)
    if not sender:
        return twiml(None)
    body = request.form.get("Body") or ""
    if sms_inbound.keyword(body):
        return twiml(sms_inbound.reply_for(sender, body, instance_name()))
    received = messaging_inbound.receive(request.form.to_dict())
    return twiml(received.note)


@bp.post("/status")
def status():
    refused = _refusal()
    if refused is not None:
        return refused
    sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "").strip()
    state = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip()
    raw_code = (request.form.get("ErrorCode") or "").strip()
    code = int(raw_code) if raw_code.isdigit() else None
    if sid:
        sms_inbound.record_status(sid, state, code)
        messaging_inbound.record_status(sid, state, code)
    return "", 204
