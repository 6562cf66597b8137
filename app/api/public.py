"""``POST /api/bookings``: the public booking endpoint (spec page 23), no API key.

Body: ``{eventTypeId, inviteeName, inviteeEmail, inviteeTimezone, startTime, notes?, phone?, answers?, duration?,
occurrences?, paymentProvider?, guests?}`` (``guests``: email addresses, issue 23). Answers: 201 ``{"bookingId",
"booking"}`` for a new booking (``"bookings"`` lists every occurrence of a recurring series), 200 with the same
shape when an identical earlier request's booking is returned (same ``Idempotency-Key``, or same event type, start
and email), 400 ``{"error": "Invalid request data", "details": {field: message}}``, 404 for an unknown event type,
409 when the time is taken, 422 when the ``Idempotency-Key`` was already used with a different body, 429 with
``Retry-After`` beyond 10 requests a minute from one IP.

An ``Idempotency-Key`` is scoped to its sender (the client address) and stands for one request body: the key is
stored as a hash of address and key, so another sender's identical key is a different key, and the same sender
reusing it for another invitee or time gets the 422 instead of the earlier booking.

The endpoint is public, so its booking representation leaves out what only the host should see (notes,
answers, meeting link, host email): a repeated request must not reveal more than its sender already knows.
A team event type (issue 15) is booked by its id like any other; its booking also names the ``team``, the
``schedulingType`` and the attending ``hosts`` (names only).

A priced event type (issue 16) holds the slot: the booking answers with status ``PENDING_PAYMENT``, its ``payment``
and the ``checkoutUrl`` where the invitee pays (``paymentProvider``: one of the event type's offered providers,
default the first; another is a 400). When the provider cannot be reached the hold is released and the answer is a
409 (nothing booked, nothing charged). The booking is confirmed only by the provider's signed webhook.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, current_app, g, jsonify, request

from app.api.checkout import held_checkout, payment_provider_of
from app.api.json_input import BadJson, request_json
from app.extensions import csrf
from app.models import Booking, EventType, User
from app.ratelimit import check as rate_check
from app.services import events, validation
from app.services.booking.bookings import (
    BookingRequest,
    IdempotencyMismatch,
    SlotUnavailable,
    create_booking,
    location_label,
    validate_request,
)
from app.services.booking.payments import PaymentUnavailable, payment_of
from app.services.booking.team_bookings import hosts_of_booking
from app.services.errors import ValidationFailed
from app.statements import Param, Statement

bp = Blueprint("public_api", __name__, url_prefix="/api")
csrf.exempt(bp)

MAX_IDEMPOTENCY_KEY = 200
# service error keys -> request body field names
FIELD_NAMES = {"name": "inviteeName", "email": "inviteeEmail", "timezone": "inviteeTimezone",
               "startTime": "startTime", "phone": "phone", "notes": "notes", "duration": "duration",
               "occurrences": "occurrences"}
STRINGS = ("eventTypeId", "inviteeName", "inviteeEmail", "inviteeTimezone", "startTime")
OPTIONAL_STRINGS = ("notes", "phone", "paymentProvider")


def invalid(details: dict[str, str]):
    return jsonify({"error": "Invalid request data", "details": details}), 400


def public_booking(booking: Booking) -> dict:
    event_type = booking.event_type
    data = {
        "id": booking.id,
        "eventType": ({"id": event_type.id, "name": event_type.name, "slug": event_type.slug,
                       "duration": event_type.duration} if event_type else None),
        "startTime": events.iso(booking.start_at),
        "endTime": events.iso(booking.end_at),
        "status": booking.status,
        "invitee": {"name": booking.invitee_name, "email": booking.invitee_email,
                    "timezone": booking.invitee_timezone},
        "host": {"name": booking.user.name, "username": booking.user.username},
        "location": location_label(booking) or None,
        "isRecurring": booking.recurring_group_id is not None,
        "recurringGroupId": booking.recurring_group_id,
        "payment": public_payment(booking) if event_type is not None and event_type.is_paid else None,
    }
    if event_type is not None and event_type.team_id:   # who will attend: names only, as for the host
        data.update(team={"name": event_type.team.name, "slug": event_type.team.slug},
                    schedulingType=(event_type.scheduling_type or "").upper(),
                    hosts=[{"name": user.name} for user in hosts_of_booking(booking)])
    return data


def public_payment(booking: Booking) -> dict | None:
    """What the invitee may know of their payment: its status, amount (minor units), currency and provider."""
    payment = payment_of(booking)
    if payment is None:
        return None
    return {"status": payment.status, "amount": payment.amount, "currency": payment.currency,
            "provider": payment.provider}


def _parse_start(value: str) -> datetime | None:
    return validation.parse_instant(value)


def scoped_key(key: str, client: str) -> str:
    """The stored form of a public ``Idempotency-Key``: bound to the sender, so guessing or reusing another
    client's key finds nothing of theirs (64 hex digits, within the column's 200)."""
    return "pub:" + hashlib.sha256(f"{client}\0{key}".encode()).hexdigest()


def parse_body(body) -> tuple[dict, dict[str, str]]:
    """Type-check the JSON body; returns (values, errors) with errors keyed by body field.

    A field of the wrong type is reported here and passed on as None, so that the booking service can still
    report every other problem of the same request (empty name, bad email ...) in one answer.
    """
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        return {}, {"body": "Send a JSON object."}
    values: dict = {}
    for key in STRINGS:
        value = body.get(key)
        if value is None:
            errors[key] = "Required."
        elif not isinstance(value, str):
            errors[key] = "Must be a string."
        values[key] = value if isinstance(value, str) else None
    for key in OPTIONAL_STRINGS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            errors[key] = "Must be a string."
        values[key] = value if isinstance(value, str) else None
    for key, default in (("duration", None), ("occurrences", 1)):
        value = body.get(key)
        if value is None:  # absent or null: the default
            value = default
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[key] = "Must be a whole number."
            value = default
        values[key] = value
    answers = body.get("answers") or {}
    if not isinstance(answers, dict):
        errors["answers"] = "Must be an object of question id to answer."
        answers = {}
    values["answers"] = answers
    values["guests"] = body.get("guests")     # checked by the booking service (a list of email addresses)
    values["start"] = None
    if values["startTime"] is not None:
        values["start"] = _parse_start(values["startTime"])
        if values["start"] is None:
            errors["startTime"] = "Give the start time as an ISO 8601 instant, e.g. 2026-03-01T14:00:00Z."
    if not (values["eventTypeId"] or "").strip():
        errors.setdefault("eventTypeId", "Required.")
    return values, errors


def api_details(errors: dict[str, str]) -> dict[str, str]:
    """Service error keys -> request body field names (answers as ``answers.<question id>``)."""
    return {f"answers.{field[2:]}" if field.startswith("q_") else FIELD_NAMES.get(field, field): message
            for field, message in errors.items()}


_EVENT_TYPE = Statement(lambda: EventType.select(EventType, User).join(User)  # the host in the same query
                        .where(EventType.id == Param("id")).limit(1))


@bp.post("/bookings")
def create():
    rate_check("public-booking", g.client_ip or "unknown", current_app.config["RATELIMIT_PUBLIC_BOOKING"])
    try:
        body = request_json()
    except BadJson as exc:
        return invalid({"body": str(exc)})
    if body is None:
        return invalid({"body": "Send a JSON object with Content-Type: application/json."})
    values, errors = parse_body(body)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        errors["Idempotency-Key"] = f"Use at most {MAX_IDEMPOTENCY_KEY} characters."
    elif key is not None:
        key = scoped_key(key, g.client_ip or "unknown")
    if "body" in errors:
        return invalid(errors)
    event_type = None
    if "eventTypeId" not in errors:
        event_type = _EVENT_TYPE.first(id=values["eventTypeId"].strip())
        if event_type is not None and (not event_type.is_active or event_type.user.is_disabled):
            event_type = None
    if event_type is None:
        return invalid(errors) if errors else (jsonify({"error": "Event type not found"}), 404)
    req = BookingRequest(start=values["start"], invitee_name=values["inviteeName"] or "",
                         invitee_email=values["inviteeEmail"] or "", invitee_timezone=values["inviteeTimezone"] or "",
                         invitee_phone=values["phone"], notes=values["notes"], answers=values["answers"],
                         duration=values["duration"], occurrences=values["occurrences"], idempotency_key=key,
                         source="public-api", guests=values["guests"])
    provider = None
    if event_type.is_paid and "paymentProvider" not in errors:
        provider, problem = payment_provider_of(event_type, values["paymentProvider"])
        if problem:
            errors["paymentProvider"] = problem
    if errors:
        try:
            validate_request(event_type, req)
        except ValidationFailed as exc:
            return invalid({**api_details(exc.errors), **errors})
        return invalid(errors)
    try:
        result = create_booking(event_type, req, ip=g.client_ip)
    except ValidationFailed as exc:
        return invalid(api_details(exc.errors))
    except IdempotencyMismatch as exc:
        return jsonify({"error": "Invalid request data", "details": {"Idempotency-Key": str(exc)}}), 422
    except SlotUnavailable as exc:
        answer = {"error": str(exc)}
        if exc.conflicts:
            answer["conflicts"] = exc.conflicts
        return jsonify(answer), 409
    checkout = None
    if provider is not None:      # held for its payment: where the invitee pays
        try:
            checkout = held_checkout(result.booking, provider)
        except PaymentUnavailable as exc:   # the hold is released already
            return jsonify({"error": str(exc)}), 409
        result.bookings[0] = Booking.get_by_id(result.booking.id)
    payload = {"bookingId": result.booking.id, "booking": public_booking(result.booking)}
    if len(result.bookings) > 1:
        payload["bookings"] = [public_booking(b) for b in result.bookings]
    if provider is not None:
        payload["checkoutUrl"] = checkout
    return jsonify(payload), 201 if result.created else 200
