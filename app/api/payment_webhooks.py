"""The payment providers' webhooks (issue 16): ``POST /api/webhooks/stripe`` and ``POST /api/webhooks/paypal``.

Each request is verified first (Stripe: the ``Stripe-Signature`` HMAC-SHA256 over the raw body with a 5-minute
tolerance, compared in constant time; PayPal: its verification API with the transmission headers and the configured
webhook id). A forged, stale or replayed-with-another-body event is answered 400 and changes nothing. A verified event
is kept once by its provider id and its processing queued (``payments.record_event``), so the answer comes at once
and a repeated delivery is a no-op. A provider without its settings has no webhook here (404).
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from app.extensions import csrf
from app.integrations import paypal_payments, stripe_payments
from app.integrations.errors import TransientError
from app.services.booking import payments
from app.services.booking.payment_providers import PAYMENT_PROVIDERS

log = logging.getLogger(__name__)
bp = Blueprint("payment_webhooks", __name__, url_prefix="/api/webhooks")
csrf.exempt(bp)


def _answer(kept: bool):
    return jsonify({"received": True, "duplicate": not kept}), 200


@bp.post("/stripe")
def stripe_webhook():
    cfg = current_app.config
    if not stripe_payments.StripePayments.configured(cfg) or not cfg.get("STRIPE_WEBHOOK_SECRET"):
        return jsonify({"error": "Not found"}), 404
    try:
        event = PAYMENT_PROVIDERS["stripe"].client().verify_webhook(request.get_data(),
                                                                    request.headers.get("Stripe-Signature"))
    except stripe_payments.WebhookRejected as exc:
        log.warning("a Stripe webhook was refused: %s", exc)
        return jsonify({"error": "Invalid signature"}), 400
    return _answer(payments.record_event("stripe", event.id, event.type, event.raw))


@bp.post("/paypal")
def paypal_webhook():
    cfg = current_app.config
    if not paypal_payments.configured(cfg) or not cfg.get("PAYPAL_WEBHOOK_ID"):
        return jsonify({"error": "Not found"}), 404
    try:
        event = PAYMENT_PROVIDERS["paypal"].client().verify_webhook(request.headers, request.get_data())
    except paypal_payments.WebhookRejected as exc:
        log.warning("a PayPal webhook was refused: %s", exc)
        return jsonify({"error": "Invalid signature"}), 400
    except TransientError as exc:      # PayPal's verification API did not answer: PayPal delivers again later
        log.warning("a PayPal webhook could not be verified now: %s", exc)
        return jsonify({"error": "Try again later"}), 503
    return _answer(payments.record_event("paypal", event.id, event.event_type, event.raw))
