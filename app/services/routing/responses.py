"""A visitor's answers to a routing form: checked, routed, kept, and followed to the booking they lead to.

``submit`` checks the answers against the form's fields (lengths, options, numbers, email, phone in E.164), picks
the route (``rules.route_for``), stores a ``RoutingResponse`` and answers a ``Routed``: the event type to book with
what to prefill (name, email and the answers to its questions whose label matches a field's), an external URL, or a
message. A route to an event type that cannot be booked (a draft, secret or deleted one) is ``unavailable``: the
page shows the documented "No event types available" instead of a broken link.

The response's id travels to the booking page signed (``link_token``); the booking made there is linked to it
(``link_booking``, called in the booking's transaction), so the booking detail and the ``booking.created`` webhook
carry the form's name and answers (``routing_form_of``).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from peewee import fn

from app.models import Booking, EventType, RoutingForm, RoutingResponse
from app.phones import normalize_phone
from app.services.booking import bookings
from app.services.errors import ValidationFailed
from app.services.routing.forms import bookable, target_of
from app.services.routing.rules import parse_number, route_for
from app.timezones import is_valid_timezone

MAX_TEXT = 500
MAX_TEXTAREA = 5000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_LABELS = {"name", "your name", "full name", "first and last name"}


def clean_answers(form: RoutingForm, raw) -> tuple[dict, dict]:
    """(answers by field id, errors by ``f_<field id>``). ``raw`` is the posted form (``f_<id>`` keys)."""
    answers, errors = {}, {}
    getlist = getattr(raw, "getlist", lambda key: [raw[key]] if key in raw else [])
    for item in form.fields or []:
        key = f"f_{item['id']}"
        kind = item["type"]
        if kind == "multiselect":
            options = {o.casefold(): o for o in item["options"]}
            chosen = [options.get(str(v).strip().casefold()) for v in getlist(key) if str(v).strip()]
            if None in chosen:
                errors[key] = "Choose among the options shown."
            elif item["required"] and not chosen:
                errors[key] = "Choose at least one option."
            answers[item["id"]] = [c for c in chosen if c]
            continue
        value = str(raw.get(key) or "").strip()
        answers[item["id"]] = value
        if not value:
            if item["required"]:
                errors[key] = "Choose an option." if kind == "select" else "This question needs an answer."
            continue
        if kind == "select":
            options = {o.casefold(): o for o in item["options"]}
            if value.casefold() not in options:
                errors[key] = "Choose one of the options shown."
            else:
                answers[item["id"]] = options[value.casefold()]
        elif kind == "textarea" and len(value) > MAX_TEXTAREA:
            errors[key] = f"Keep this under {MAX_TEXTAREA:,} characters."
        elif kind != "textarea" and len(value) > MAX_TEXT:
            errors[key] = f"Keep this under {MAX_TEXT} characters."
        elif kind == "number" and parse_number(value) is None:
            errors[key] = "Enter a number, e.g. 25 or 2.5."
        elif kind == "email" and not _EMAIL.match(value):
            errors[key] = "Enter a valid email address."
        elif kind == "phone":
            phone = normalize_phone(value)
            if phone is None:
                errors[key] = "Enter a valid phone number with its country code, e.g. +1 415 555 0100."
            else:
                answers[item["id"]] = phone
    return answers, errors


@dataclass
class Routed:
    response: RoutingResponse
    kind: str                                  # event_type | url | message | unavailable
    event_type: EventType | None = None
    url: str | None = None
    message: str | None = None
    prefill: dict = field(default_factory=dict)   # name, email, q_<question id> -> value(s)


def prefill_for(form: RoutingForm, answers: dict, event_type: EventType) -> dict:
    """What the booking page fills in: the visitor's name and email when the form asked them, and each question of
    the event type whose label (case and spacing aside) is a field's label, when the answer fits its type."""
    out: dict = {}
    by_label = {" ".join(f["label"].split()).casefold(): f for f in form.fields or []}
    for item in form.fields or []:
        answer = answers.get(item["id"])
        if not answer:
            continue
        if item["type"] == "email" and "email" not in out:
            out["email"] = answer
        elif item["type"] == "text" and " ".join(item["label"].split()).casefold().rstrip("?:") in NAME_LABELS:
            out.setdefault("name", answer)
    for question in event_type.questions or []:
        match = by_label.get(" ".join(str(question.get("label", "")).split()).casefold())
        if match is None or not answers.get(match["id"]):
            continue
        answer = answers[match["id"]]
        if question["type"] == "multiselect":
            options = set(question.get("options") or [])
            chosen = [a for a in (answer if isinstance(answer, list) else [answer]) if a in options]
            if chosen:
                out[f"q_{question['id']}"] = chosen
        elif question["type"] == "select":
            if answer in (question.get("options") or []):
                out[f"q_{question['id']}"] = answer
        elif question["type"] != "checkbox" and not isinstance(answer, list):
            out[f"q_{question['id']}"] = answer
    return out


def submit(form: RoutingForm, raw) -> Routed:
    """Check the answers (ValidationFailed with ``f_<id>`` keys), route them and keep the response."""
    answers, errors = clean_answers(form, raw)
    if errors:
        raise ValidationFailed(errors)
    rule_id, route = route_for(form.fields or [], form.rules or [], form.default_route, answers)
    response = RoutingResponse.create(form=form.id, answers=answers, matched_rule=rule_id, route=route)
    kind = (route or {}).get("kind")
    if kind == "url":
        return Routed(response, "url", url=route["url"])
    if kind == "message":
        return Routed(response, "message", message=route["message"])
    target = target_of(form.user, route)
    if not bookable(target):
        return Routed(response, "unavailable")
    return Routed(response, "event_type", event_type=target, prefill=prefill_for(form, answers, target))


# --- following the response to its booking --------------------------------------------------------------------
def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="routing-response")


def link_token(response: RoutingResponse) -> str:
    return _serializer().dumps(response.id)


def response_for_token(token: str | None) -> RoutingResponse | None:
    if not token:
        return None
    try:
        response_id = _serializer().loads(token)
    except BadSignature:
        return None
    return RoutingResponse.get_or_none(RoutingResponse.id == response_id)


def link_booking(token: str | None, booking: Booking) -> None:
    """Link the response behind ``token`` to ``booking`` (in the booking's transaction): once, and only to a
    booking of the event type the response was routed to."""
    response = response_for_token(token)
    if response is None or response.booking_id is not None:
        return
    route = response.route or {}
    if route.get("kind") != "event_type" or route.get("eventTypeId") != booking.event_type_id:
        return
    if (RoutingResponse.update(booking=booking.id)
            .where((RoutingResponse.id == response.id) & RoutingResponse.booking.is_null()).execute()):
        Booking.update(routing_response_id=response.id).where(Booking.id == booking.id).execute()
        booking.routing_response_id = response.id


def routing_form_of(booking: Booking) -> dict | None:
    """The ``routingForm`` object of a booking that followed a routing form: the form, the response and the answers
    by question label. No query for a booking that followed none."""
    if not booking.routing_response_id:
        return None
    response = (RoutingResponse.select(RoutingResponse, RoutingForm).join(RoutingForm)
                .where(RoutingResponse.id == booking.routing_response_id).first())
    if response is None:
        return None
    form = response.form
    labels = {f["id"]: f["label"] for f in form.fields or []}
    return {"id": form.id, "name": form.name, "slug": form.slug, "responseId": response.id,
            "answers": {labels.get(key, key): value for key, value in (response.answers or {}).items()
                        if value not in ("", [], None)}}


def _link_new_booking(booking: Booking, req) -> None:
    if req.routing:
        link_booking(req.routing, booking)


def _payload_extra(booking: Booking) -> dict:
    form = routing_form_of(booking)
    return {"routingForm": form} if form else {}


bookings.ROW_HOOKS.append(_link_new_booking)
bookings.PAYLOAD_EXTRAS.append(_payload_extra)


# --- the host's table ------------------------------------------------------------------------------------------
def list_responses(form: RoutingForm, *, route: str = "", booked: str = "", since: datetime | None = None,
                   until: datetime | None = None, limit: int = 200) -> list[RoutingResponse]:
    """The form's responses, newest first; ``route`` filters by the matched rule id (``default`` for none),
    ``booked`` by ``yes``/``no``."""
    query = RoutingResponse.select().where(RoutingResponse.form == form.id)
    if route == "default":
        query = query.where(RoutingResponse.matched_rule.is_null())
    elif route:
        query = query.where(RoutingResponse.matched_rule == route)
    if booked == "yes":
        query = query.where(RoutingResponse.booking.is_null(False))
    elif booked == "no":
        query = query.where(RoutingResponse.booking.is_null())
    if since is not None:
        query = query.where(RoutingResponse.created_at >= since)
    if until is not None:
        query = query.where(RoutingResponse.created_at < until)
    return list(query.order_by(RoutingResponse.created_at.desc()).limit(limit))


def response_counts(forms: list[RoutingForm]) -> dict[str, int]:
    """The number of responses of each form (one query)."""
    if not forms:
        return {}
    rows = (RoutingResponse.select(RoutingResponse.form, fn.COUNT(RoutingResponse.id))
            .where(RoutingResponse.form.in_([f.id for f in forms])).group_by(RoutingResponse.form).tuples())
    return dict(rows)


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet never runs as a formula: text starting with ``= + - @`` (or a tab / carriage
    return) gets a leading apostrophe."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(form: RoutingForm, responses: list[RoutingResponse], *, tz: str = "UTC") -> str:
    """The responses as CSV, times on the host's clock (``tz``), every cell formula-safe."""
    zone = ZoneInfo(tz if is_valid_timezone(tz) else "UTC")
    rule_numbers = {rule["id"]: index for index, rule in enumerate(form.rules or [], start=1)}
    out = io.StringIO()
    writer = csv.writer(out)
    fields = form.fields or []
    writer.writerow([f"Submitted ({zone.key})", *[safe_cell(f["label"]) for f in fields], "Matched", "Booking"])
    for response in responses:
        matched = f"Rule {rule_numbers[response.matched_rule]}" if response.matched_rule in rule_numbers else (
            "Default route" if response.matched_rule is None else "A deleted rule")
        writer.writerow([response.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                         *[safe_cell((response.answers or {}).get(f["id"], "")) for f in fields],
                         matched, response.booking_id or ""])
    return out.getvalue()
