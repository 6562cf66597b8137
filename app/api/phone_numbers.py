"""Phone numbers as JSON (spec page 11) and the line callers of a held number reach (spec page 10).

Session endpoints (the dashboard's cookie; POST, PUT and DELETE need the ``X-CSRFToken`` header, as every session
form and htmx request): ``GET /api/agents/phone-numbers`` ``{"phoneNumbers": [...]}``; ``POST`` ``{countryCode,
label?, organizationId?}`` 201 ``{"phoneNumber": {...}}``; ``GET|PUT {label}|DELETE /api/agents/phone-numbers/<id>``
``{"phoneNumber": {...}}`` (DELETE: the number held for 30 days, ``status`` "held" and ``holdUntil``). Another
account's number is 404; an organization's number is managed by its OWNERs and ADMINs (403 for a MEMBER); the plan's
limit answers 403 ``{"error": <the plan's words>}``; a provider's refusal 502 ``{"error": "Failed to provision phone
number: ..."}``; without the Twilio settings POST answers 503 naming them.

``POST /api/voice/held-line``: Twilio's voice webhook of a held number (CSRF-exempt, ``X-Twilio-Signature`` checked
against ``BASE_URL`` + path and the form, 403 when it does not match, 404 without the Twilio settings): TwiML that
says the line has moved and gives the host's booking page, or a polite generic message for any other number.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.api.json_input import BadJson, request_json
from app.api.twilio_webhooks import public_url
from app.auth import session_json_required
from app.extensions import csrf
from app.integrations import twilio_sms
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.voice import numbers, settings

bp = Blueprint("phone_numbers_api", __name__, url_prefix="/api")


def _invalid(details: dict[str, str]):
    return jsonify({"error": "Invalid request data", "details": details}), 400


def _body() -> dict | None:
    try:
        body = request_json()
    except BadJson as exc:
        return {"__error__": str(exc)}
    return body if isinstance(body, dict) else None


def _one(number, status: int = 200):
    return jsonify({"phoneNumber": numbers.number_json(number)}), status


@bp.get("/agents/phone-numbers")
@session_json_required
def list_numbers():
    return jsonify({"phoneNumbers": [numbers.number_json(n) for n in numbers.numbers_of(g.user)]})


@bp.post("/agents/phone-numbers")
@session_json_required
def provision():
    if not settings.numbers_configured():
        missing = settings.missing_for_numbers()
        return jsonify({"error": "Phone numbers are not set up on this server: the operator must set "
                                 f"{' and '.join(missing)}.", "missing": missing}), 503
    body = _body()
    if body is None or "__error__" in body:
        return _invalid({"body": body["__error__"] if body else "Send a JSON object."})
    details: dict[str, str] = {}
    country = body.get("countryCode")
    if not isinstance(country, str) or country.strip().upper() not in numbers.COUNTRIES:
        details["countryCode"] = f"Choose one of the supported countries: {', '.join(numbers.COUNTRIES)}."
    label = body.get("label", "")
    if label is not None and not isinstance(label, str):
        details["label"] = "The label must be text."
    org_id = body.get("organizationId")
    if org_id is not None and not isinstance(org_id, str):
        details["organizationId"] = "The organization id must be text."
    if details:
        return _invalid(details)
    try:
        number = numbers.provision_number(g.user, country, label=label or "", organization=org_id or None)
    except ValidationFailed as exc:
        return _invalid({("countryCode" if key == "country" else key): value for key, value in exc.errors.items()})
    except PlanLimitReached as exc:
        return jsonify({"error": str(exc)}), 403
    except numbers.NumberFailed as exc:
        return jsonify({"error": str(exc)}), 502
    return _one(number, 201)


@bp.get("/agents/phone-numbers/<number_id>")
@session_json_required
def detail(number_id: str):
    return _one(numbers.get_number(g.user, number_id))


@bp.put("/agents/phone-numbers/<number_id>")
@session_json_required
def update(number_id: str):
    number = numbers.get_number(g.user, number_id, manage=True)
    body = _body()
    if body is None or "__error__" in body:
        return _invalid({"body": body["__error__"] if body else "Send a JSON object."})
    if "label" not in body:
        return _invalid({"label": "Send the new label (an empty string removes it)."})
    try:
        numbers.set_label(number, body["label"])
    except ValidationFailed as exc:
        return _invalid(exc.errors)
    except numbers.NumberFailed as exc:
        return jsonify({"error": str(exc)}), 502
    return _one(number)


@bp.delete("/agents/phone-numbers/<number_id>")
@session_json_required
def release(number_id: str):
    number = numbers.get_number(g.user, number_id, manage=True)
    try:
        numbers.hold_number(number)
    except numbers.NumberFailed as exc:
        return jsonify({"error": str(exc)}), 502
    return _one(number)


# --- Twilio's voice webhook of a held number -------------------------------------------------------------------
def say(text: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Say>{escape(text)}</Say></Response>'
    return Response(body, status=200, mimetype="application/xml")


@bp.post("/voice/held-line")
@csrf.exempt
def held_line():
    if not settings.numbers_configured():
        return jsonify({"error": "Not found"}), 404
    if not twilio_sms.valid_signature(public_url(), request.form.to_dict(),
                                      request.headers.get(twilio_sms.SIGNATURE_HEADER), current_app.config):
        return jsonify({"error": "Invalid signature"}), 403
    return say(numbers.held_line_text(request.form.get("To")))
