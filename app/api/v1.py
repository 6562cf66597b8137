"""REST API v1 (spec page 23): bookings, contacts, event types and availability for API-key holders.

Every endpoint but ``/api/v1/openapi.json`` needs ``Authorization: Bearer lt_live_...``. Before any key
lookup an address with ``RATELIMIT_API_PREAUTH`` failed authentications in the window gets 429; a valid
key is limited to ``RATELIMIT_API_KEY`` requests; a Free account gets 403. Errors are ``{"error": msg}``,
400s ``{"error": "Invalid request data", "details": {field: msg}}``; another user's object is a 404.
The views parse and type-check input, call one service and shape the JSON (camelCase, ISO 8601 with Z).
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from time import time as time_now

import peewee
from flask import Blueprint, current_app, g, jsonify, request
from limits import parse as parse_rate

from app.api.checkout import held_checkout, payment_provider_of
from app.api.messages import INVALID_KEY, PLAN_REQUIRED, TOO_MANY_FAILURES
from app.api.v1_booking_list import booking_json, booking_page, page_json, payments_of
from app.api.v1_input import (
    ID_RE,
    ApiError,
    arg,
    body_fields,
    clean_text,
    invalid,
    json_body,
    page_args,
    paginated,
    parse_day_or_instant,
    parse_instant,
    valid_id,
)
from app.extensions import csrf
from app.models import Booking, BookingActivity, BookingHost, Contact, EventType, EventTypeHost, Team, TeamMember, User
from app.ratelimit import RateLimited, limiter
from app.ratelimit import check as rate_check
from app.services.booking import contacts as contacts_service
from app.services.booking import payments
from app.services.booking.bookings import (
    BookingRequest,
    IdempotencyMismatch,
    cancel_booking,
    contact_payload,
    create_booking,
    reschedule_booking,
)
from app.services.developer import api_keys
from app.services.errors import ValidationFailed
from app.services.events import iso
from app.services.plans import effective_plan, limits_for
from app.services.scheduling.availability import group_by_day
from app.services.scheduling.booking_limits import API_NAMES, EVENT_TYPE_FIELDS
from app.services.scheduling.slots import available_slots
from app.services.scheduling.team_event_types import for_member
from app.timezones import is_valid_timezone, zone

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_SEARCH = 200
MAX_AVAILABILITY_DAYS = 31
DEFAULT_AVAILABILITY_DAYS = 7
MAX_IDEMPOTENCY_KEY = 200
PREAUTH = "api-preauth"
PUBLIC_ENDPOINTS = {"api_v1.openapi_document"}
BOOKING_STATUSES = ("CONFIRMED", "PENDING_PAYMENT", "PENDING", "CANCELLED", "all")
MISSING_KEY = "Missing API key. Send it as the header Authorization: Bearer lt_live_..."
MALFORMED_HEADER = "Malformed Authorization header. Use: Authorization: Bearer lt_live_..."
# service error keys -> request body field names
BOOKING_FIELDS = {"name": "inviteeName", "email": "inviteeEmail", "timezone": "inviteeTimezone",
                  "startTime": "startTime", "phone": "phone", "notes": "notes", "duration": "duration",
                  "occurrences": "occurrences"}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    body = {"error": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    response = jsonify(body)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="LinkTime API"'
    return response


# --- authentication and limits -------------------------------------------------------------------------
def _retry_after(name: str, key: str, rate: str) -> int:
    stats = limiter().limiter.get_window_stats(parse_rate(rate), name, key)
    return math.ceil(stats.reset_time - time_now())


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    ip = g.get("client_ip") or "unknown"
    preauth = current_app.config["RATELIMIT_API_PREAUTH"]
    if not limiter().test(PREAUTH, ip, preauth):  # checked before any key lookup
        raise RateLimited(_retry_after(PREAUTH, ip, preauth), TOO_MANY_FAILURES)
    header = request.headers.get("Authorization", "").strip()
    scheme, _, token = header.partition(" ")
    key = None
    if not header:
        problem = MISSING_KEY
    elif scheme.lower() != "bearer" or not token.strip():
        problem = MALFORMED_HEADER
    else:
        key = api_keys.authenticate(token.strip())
        problem = INVALID_KEY
    if key is None:
        limiter().hit(PREAUTH, ip, preauth)  # only failures count
        raise ApiError(401, problem)
    rate_check("api-key", key.id, current_app.config["RATELIMIT_API_KEY"])
    if not limits_for(key.user).api_v1_access:
        raise ApiError(403, PLAN_REQUIRED)
    g.api_key, g.api_user = key, key.user


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- representations -----------------------------------------------------------------------------------
def user_json(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "username": user.username,
            "plan": user.plan, "effectivePlan": effective_plan(user), "timezone": user.timezone,
            "createdAt": iso(user.created_at)}


def event_type_json(event_type: EventType, username: str, hosts: list[dict] | None = None) -> dict:
    """An event type; a team event type also has ``team``, ``schedulingType`` and ``hosts`` (``hosts``: pass
    them when already loaded for a whole page) and its team page as ``bookingUrl``. Personal event types keep
    their shape without those fields (as booking payloads do)."""
    base = current_app.config["BASE_URL"]
    data = {
        "id": event_type.id, "name": event_type.name, "slug": event_type.slug,
        "description": event_type.description or "",
        "durationMinutes": event_type.duration, "extraDurations": event_type.extra_durations or [],
        "locationType": event_type.location_type, "locationDetail": event_type.location_detail or None,
        "bufferBefore": event_type.buffer_before, "bufferAfter": event_type.buffer_after,
        "minimumNotice": event_type.minimum_notice, "slotInterval": event_type.slot_interval,
        "maxPerDay": event_type.max_per_day,
        **{API_NAMES[name]: getattr(event_type, name) for name in EVENT_TYPE_FIELDS},     # booking limits
        "bookingWindow": {"type": event_type.window_type, "days": event_type.window_days,
                          "startDate": event_type.window_start.isoformat() if event_type.window_start else None,
                          "endDate": event_type.window_end.isoformat() if event_type.window_end else None},
        "status": event_type.status.upper(), "isActive": event_type.is_active, "isSecret": event_type.is_secret,
        "color": event_type.color, "questions": event_type.questions or [], "recurrence": event_type.recurrence,
        "reminders": event_type.reminders or [], "scheduleId": event_type.schedule_id,
        "price": price_json(event_type), "paymentProviders": payments.providers_for(event_type),
        "redirectUrl": event_type.redirect_url, "redirectWithDetails": bool(event_type.redirect_with_details),
        "inviteePolicy": invitee_policy_json(event_type),
        "requiresConfirmation": bool(event_type.requires_confirmation),
        "confirmationThresholdHours": event_type.confirmation_threshold_hours,
        "maxGuests": event_type.max_guests,
        "seats": event_type.seats, "seatsShowRemaining": bool(event_type.seats_show_remaining),
        "bookingUrl": f"{base}/{username}/{event_type.slug}",
        "createdAt": iso(event_type.created_at), "updatedAt": iso(event_type.updated_at),
    }
    if event_type.team_id:
        team = event_type.team
        if hosts is None:
            hosts = _hosts_of([event_type.id]).get(event_type.id, [])
        data.update(team=team_json(team), schedulingType=(event_type.scheduling_type or "").upper(), hosts=hosts,
                    bookingUrl=f"{base}/team/{team.slug}/{event_type.slug}")
    return data


def invitee_policy_json(event_type: EventType) -> dict:
    """Until when invitees may cancel and reschedule online (issue 23): anytime, until ``hours`` before, never."""
    def rule(action: str) -> dict:
        mode = getattr(event_type, f"invitee_{action}")
        return {"mode": mode, "hours": getattr(event_type, f"invitee_{action}_hours") if mode == "until" else None}
    return {"cancel": rule("cancel"), "reschedule": rule("reschedule"),
            "requireCancelReason": bool(event_type.require_cancel_reason)}


def price_json(event_type: EventType) -> dict | None:
    """A priced event type's price in minor units (``{"amount": 5000, "currency": "usd"}``), None when free."""
    if not event_type.is_paid:
        return None
    return {"amount": event_type.price_amount, "currency": event_type.price_currency}


def team_json(team: Team) -> dict:
    return {"id": team.id, "name": team.name, "slug": team.slug}


def _hosts_of(event_type_ids: list[str]) -> dict[str, list[dict]]:
    """Team event type id -> its hosts ``[{id, name}]`` by name, in one query."""
    hosts: dict[str, list[dict]] = {}
    if not event_type_ids:
        return hosts
    rows = (EventTypeHost.select(EventTypeHost.event_type, User.id, User.name)
            .join(User, on=(EventTypeHost.user == User.id))
            .where(EventTypeHost.event_type.in_(event_type_ids)).order_by(User.name, User.id).tuples())
    for event_type_id, user_id, name in rows:
        hosts.setdefault(event_type_id, []).append({"id": user_id, "name": name})
    return hosts


def _member_teams(user: User):
    return TeamMember.select(TeamMember.team).where(TeamMember.user == user)


def _visible_event_types(user: User):
    """The condition for the event types a key's user may read and book through the API: their own personal
    ones and those of the teams they are in (another organization's are a 404)."""
    return (EventType.personal() & (EventType.user == user)) | EventType.team.in_(_member_teams(user))


def _bookings_json(bookings: list[Booking], host: User) -> list[dict]:
    """Bookings with their event types loaded in one query, and their payments in another."""
    ids = {b.event_type_id for b in bookings if b.event_type_id}
    types = {et.id: et for et in EventType.select().where(EventType.id.in_(list(ids)))} if ids else {}
    paid = payments_of([b.id for b in bookings])
    return [booking_json(b, host, types.get(b.event_type_id), paid.get(b.id)) for b in bookings]


def contact_json(contact: Contact) -> dict:
    data = contact_payload(contact)
    data["updatedAt"] = iso(contact.updated_at)
    return data


def _visible_booking(booking_id: str) -> Booking:
    """A booking filed under the key's user, or a team booking they attend (read-only for them)."""
    valid_id(booking_id, "Booking not found")
    user = g.api_user
    attends = BookingHost.select(BookingHost.booking).where(BookingHost.user == user)
    booking = Booking.get_or_none((Booking.id == booking_id) & ((Booking.user == user) | Booking.id.in_(attends)))
    if booking is None:
        raise ApiError(404, "Booking not found")
    return booking


def _own_booking(booking_id: str) -> Booking:
    valid_id(booking_id, "Booking not found")
    booking = Booking.get_or_none((Booking.id == booking_id) & (Booking.user == g.api_user))
    if booking is None:
        raise ApiError(404, "Booking not found")
    return booking


def _own_contact(contact_id: str) -> Contact:
    valid_id(contact_id, "Contact not found")
    return contacts_service.get_contact(g.api_user, contact_id)  # NotFound: 404 "Contact not found" (app.errors)


# --- user ----------------------------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi_document():
    from app.api.openapi import document

    response = jsonify(document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/me")
def me():
    return jsonify(user_json(g.api_user))


# --- bookings ------------------------------------------------------------------------------------------
@bp.get("/bookings")
def bookings_list():
    errors: dict[str, str] = {}
    page, limit = page_args(errors)
    status = arg("status", errors) or "all"
    if status not in BOOKING_STATUSES and "status" not in errors:
        errors["status"] = "Use CONFIRMED, PENDING_PAYMENT, PENDING, CANCELLED or all."
    first_day, start = parse_day_or_instant(arg("from", errors), "from", errors, tz=UTC)
    last_day, end = parse_day_or_instant(arg("to", errors), "to", errors, tz=UTC)
    if first_day:
        start = datetime.combine(first_day, time(0), UTC)
    if last_day:  # a date includes the whole day
        end = datetime.combine(last_day + timedelta(days=1), time(0), UTC)
    if start and end and (end < start or (last_day is not None and end <= start)):
        errors["to"] = "Must not be before from."
    if errors:
        raise invalid(errors)
    host = g.api_user
    conditions = []
    if status != "all":
        conditions.append((Booking.status, "=", status))
    if start:
        conditions.append((Booking.start_at, ">=", start))
    if end:
        conditions.append((Booking.start_at, "<" if last_day else "<=", end))
    total, rows = booking_page(host, conditions, page, limit)
    return paginated(page_json(host, rows), total, page, limit)


@bp.get("/bookings/<booking_id>")
def bookings_detail(booking_id: str):
    booking = _visible_booking(booking_id)
    user = g.api_user
    host = user if booking.user_id == user.id else booking.user   # a team booking: its organizer
    event_type = (EventType.select(EventType, Team).join(Team, peewee.JOIN.LEFT_OUTER)
                  .where(EventType.id == booking.event_type_id).first() if booking.event_type_id else None)
    data = booking_json(booking, host, event_type, payments.payment_of(booking))
    if event_type is not None:
        data["eventType"] = event_type_json(event_type, user.username)   # a team's: its team page URL
    if booking.user_id == user.id:
        contact = Contact.get_or_none(Contact.id == booking.contact_id) if booking.contact_id else None
    else:   # an attending host's own contact for the invitee
        contact = Contact.get_or_none((Contact.user == user) & (Contact.email == booking.invitee_email))
    data["contactId"] = contact.id if contact else None
    data["contact"] = contact_json(contact) if contact else None
    activities = BookingActivity.select().where(BookingActivity.booking == booking).order_by(
        BookingActivity.created_at, BookingActivity.id)
    data["emailLogs"] = [{"id": a.id, "kind": a.kind, "message": a.message, "createdAt": iso(a.created_at)}
                         for a in activities]
    return jsonify(data)


@bp.post("/bookings")
def bookings_create():
    body = json_body()
    by_id = body.get("eventTypeId") is not None     # a team event type is named by id (its slug is the team's)
    values = body_fields(body, required=("eventTypeId" if by_id else "eventTypeSlug", "startTime", "inviteeName",
                                         "inviteeEmail", "inviteeTimezone"),
                         strings=("notes", "phone", "paymentProvider"), ints=("duration", "occurrences"),
                         objects=("answers",))
    errors: dict[str, str] = {}
    start = parse_instant(values["startTime"], "startTime", errors)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and (len(key) > MAX_IDEMPOTENCY_KEY or clean_text(key, "Idempotency-Key", errors) is None):
        errors.setdefault("Idempotency-Key", f"Use at most {MAX_IDEMPOTENCY_KEY} characters.")
    if errors:
        raise invalid(errors)
    host = g.api_user
    if by_id:
        event_type = (EventType.get_or_none((EventType.id == values["eventTypeId"]) & _visible_event_types(host))
                      if ID_RE.match(values["eventTypeId"]) else None)
    else:
        event_type = EventType.get_or_none(EventType.personal() & (EventType.user == host)
                                           & (EventType.slug == values["eventTypeSlug"]))
    if event_type is None or not event_type.is_active:
        raise ApiError(404, "Event type not found")
    provider = None
    if event_type.is_paid:
        provider, problem = payment_provider_of(event_type, values["paymentProvider"])
        if problem:
            raise invalid({"paymentProvider": problem})
    req = BookingRequest(start=start, invitee_name=values["inviteeName"], invitee_email=values["inviteeEmail"],
                         invitee_timezone=values["inviteeTimezone"], invitee_phone=values["phone"],
                         notes=values["notes"], answers=values["answers"] or {}, duration=values["duration"],
                         occurrences=1 if values["occurrences"] is None else values["occurrences"],
                         idempotency_key=key, source="api", guests=body.get("guests"))
    try:
        result = create_booking(event_type, req, ip=g.client_ip)
    except ValidationFailed as exc:
        raise invalid({f"answers.{k[2:]}" if k.startswith("q_") else BOOKING_FIELDS.get(k, k): v
                       for k, v in exc.errors.items()}) from None
    except IdempotencyMismatch as exc:
        raise ApiError(422, "Invalid request data", {"Idempotency-Key": str(exc)}) from None
    payload = {"bookingId": result.booking.id}
    if len(result.bookings) > 1:
        payload["bookingIds"] = [b.id for b in result.bookings]
    if provider is not None:      # held for its payment: where the invitee pays
        try:
            checkout = held_checkout(result.booking, provider)
        except payments.PaymentUnavailable as exc:   # the hold is released already
            raise ApiError(409, str(exc)) from None
        booking = Booking.get_by_id(result.booking.id)
        payload["booking"] = booking_json(booking, booking.user, event_type, payments.payment_of(booking))
        payload["checkoutUrl"] = checkout
    return jsonify(payload), 201 if result.created else 200


@bp.post("/bookings/<booking_id>/cancel")
def bookings_cancel(booking_id: str):
    booking = _own_booking(booking_id)
    values = body_fields(json_body(optional=True), strings=("reason",))
    cancel_booking(booking, reason=values["reason"], by="host", actor=g.api_user, ip=g.client_ip)
    return jsonify({"success": True})


@bp.post("/bookings/<booking_id>/reschedule")
def bookings_reschedule(booking_id: str):
    booking = _own_booking(booking_id)
    values = body_fields(json_body(), required=("newStartTime",), strings=("reason",))
    errors: dict[str, str] = {}
    new_start = parse_instant(values["newStartTime"], "newStartTime", errors)
    if errors:
        raise invalid(errors)
    reschedule_booking(booking, new_start, reason=values["reason"], by="host", actor=g.api_user, ip=g.client_ip)
    return jsonify({"success": True})


# --- contacts ------------------------------------------------------------------------------------------
@bp.get("/contacts")
def contacts_list():
    errors: dict[str, str] = {}
    page, limit = page_args(errors)
    search = arg("search", errors)
    if search is not None and len(search) > MAX_SEARCH:
        errors["search"] = f"Use at most {MAX_SEARCH} characters."
    if errors:
        raise invalid(errors)
    rows, total = contacts_service.list_contacts(g.api_user, search, page, limit)
    return paginated([{**contact_json(c), "meetingCount": c.meeting_count} for c in rows], total, page, limit)


def _contact_changes(body: dict) -> dict:
    return {k: v for k, v in body.items() if k in contacts_service.FIELDS}


@bp.post("/contacts")
def contacts_create():
    body = json_body()
    contact = contacts_service.create_contact(g.api_user, _contact_changes(body), source="api")
    return jsonify(contact_json(contact)), 201


@bp.get("/contacts/<contact_id>")
def contacts_detail(contact_id: str):
    info = contacts_service.contact_detail(_own_contact(contact_id))
    host = g.api_user
    data = contact_json(info.contact)
    data.update(upcomingMeetings=_bookings_json(info.upcoming, host), pastMeetings=_bookings_json(info.past, host),
                meetingCount=info.meeting_count)
    return jsonify(data)


@bp.patch("/contacts/<contact_id>")
def contacts_update(contact_id: str):
    contact = _own_contact(contact_id)
    body = json_body()
    contact = contacts_service.update_contact(contact, _contact_changes(body))
    return jsonify(contact_json(contact))


@bp.delete("/contacts/<contact_id>")
def contacts_delete(contact_id: str):
    contacts_service.delete_contact(_own_contact(contact_id))
    return jsonify({"success": True})


# --- event types ---------------------------------------------------------------------------------------
@bp.get("/event-types")
def event_types_list():
    """The user's active personal event types in their dashboard order, then the active team event types of
    their teams (by team name, then the team's order)."""
    errors: dict[str, str] = {}
    page, limit = page_args(errors)
    if errors:
        raise invalid(errors)
    host = g.api_user
    query = EventType.select().where(EventType.personal() & (EventType.user == host) & (EventType.status == "active"))
    own_total = query.count()
    teams = [et for et in for_member(host) if et.is_active]
    offset = (page - 1) * limit
    rows = list(query.order_by(EventType.position, EventType.created_at, EventType.id)
                .limit(limit).offset(offset)) if offset < own_total else []
    team_rows = teams[max(0, offset - own_total):max(0, offset - own_total) + limit - len(rows)]
    hosts = _hosts_of([et.id for et in team_rows])
    items = [event_type_json(et, host.username) for et in rows]
    items += [event_type_json(et, host.username, hosts.get(et.id, [])) for et in team_rows]
    return paginated(items, own_total + len(teams), page, limit)


@bp.get("/event-types/<event_type_id>")
def event_types_detail(event_type_id: str):
    valid_id(event_type_id, "Event type not found")
    event_type = EventType.get_or_none((EventType.id == event_type_id) & _visible_event_types(g.api_user))
    if event_type is None:
        raise ApiError(404, "Event type not found")
    return jsonify(event_type_json(event_type, g.api_user.username))


# --- availability --------------------------------------------------------------------------------------
@bp.get("/availability/<slug>")
def availability(slug: str):
    errors: dict[str, str] = {}
    tz_name = arg("timezone", errors)
    if tz_name is None and "timezone" not in errors:
        errors["timezone"] = "Required: an IANA time zone such as America/New_York."
    elif tz_name is not None and not is_valid_timezone(tz_name):
        errors["timezone"] = "Unknown time zone; use an IANA name such as America/New_York."
    tz = zone(tz_name) if "timezone" not in errors else UTC
    first_day, start = parse_day_or_instant(arg("startDate", errors), "startDate", errors, tz=tz)
    last_day, end = parse_day_or_instant(arg("endDate", errors), "endDate", errors, tz=tz)
    if errors:
        raise invalid(errors)
    now = datetime.now(UTC)
    if start is None:
        start = datetime.combine(first_day or now.astimezone(tz).date(), time(0), tz).astimezone(UTC)
    if end is None:
        last = last_day or start.astimezone(tz).date() + timedelta(days=DEFAULT_AVAILABILITY_DAYS)
        end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    if end <= start:
        raise invalid({"endDate": "Must be after startDate."})
    first, last = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    if (last - first).days > MAX_AVAILABILITY_DAYS:
        raise invalid({"endDate": f"Must be at most {MAX_AVAILABILITY_DAYS} days after startDate."})
    event_type = None
    if ID_RE.match(slug):   # a personal event type's slug, or the id of a team event type of the user's teams
        event_type = EventType.get_or_none(EventType.personal() & (EventType.user == g.api_user)
                                           & (EventType.slug == slug))
        if event_type is None:
            event_type = EventType.get_or_none((EventType.id == slug) & EventType.team.in_(_member_teams(g.api_user)))
    if event_type is None or not event_type.is_active:
        raise ApiError(404, "Event type not found")
    length = timedelta(minutes=event_type.duration)
    slots = []
    for day, starts in group_by_day(available_slots(event_type, start, end, now=now), tz_name).items():
        for slot in starts:
            local = slot.astimezone(tz)
            slots.append({"date": day.isoformat(), "time": local.strftime("%H:%M"),
                          "startTime": _local_iso(local), "endTime": _local_iso((slot + length).astimezone(tz))})
    summary = {"id": event_type.id, "name": event_type.name, "slug": event_type.slug,
               "durationMinutes": event_type.duration}
    if event_type.team_id:
        summary.update(team=team_json(event_type.team), schedulingType=(event_type.scheduling_type or "").upper())
    return jsonify({"data": slots, "eventType": summary,
                    "timezone": tz_name, "startDate": first.isoformat(), "endDate": last.isoformat()})


def _local_iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds and the zone's offset, e.g. 2026-02-15T10:00:00.000-05:00."""
    return moment.isoformat(timespec="milliseconds")
