"""Create, cancel and reschedule bookings: one service for the booking page, the public endpoint, the API,
the dashboard and (later) the agents.

Every write runs in one transaction that serializes the host's bookings (SQLite ``BEGIN IMMEDIATE``;
PostgreSQL ``SELECT ... FOR UPDATE`` on the host's row), re-checks the slot against the engine, writes the
booking, the contact, the audit entry, the reminders and the outbox events together.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import peewee

from app.db import transaction
from app.ids import new_id
from app.models import (
    Booking,
    BookingActivity,
    BookingHost,
    Contact,
    EventType,
    Reminder,
    Schedule,
    Team,
    User,
)
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.models.bookings import TAKEN_STATUSES
from app.services import audit, events
from app.services.booking import busy, policy  # noqa: F401  (busy: the bookings' busy time for the slot engine)
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.scheduling.event_types import LOCATION_TYPES, effective_schedule
from app.services.scheduling.slots import (
    available_slots,
    fresh_busy,
)
from app.services.validation import (
    NAME_CONTROL,
    TEXT_CONTROL,
    has_control,
    has_text_control,
    is_email,
)
from app.statements import Param, Statement, create
from app.timezones import is_valid_timezone, zone

# Team event types are booked and moved by app.services.booking.team_bookings, which fills this in on import
# (create_app imports it): {"create": create_team_booking, "reschedule": reschedule_team_booking}
TEAM_BOOKINGS: dict[str, Callable] = {}
# Paid bookings: app.services.booking.payments fills this in on import (payments imports this module):
# {"cancelled": fn(booking, by, now)} queues the refund a cancellation earns, inside the cancel transaction
PAYMENT_HOOKS: dict[str, Callable] = {}
PENDING_PAYMENT = "PENDING_PAYMENT"      # a paid booking held while the invitee pays (issue 16)
# Requests the host confirms (issue 23): app.services.booking.approvals fills this in on import: {"request":
# fn(event_type, req, host, start, length, answers, now) -> the PENDING booking, or None: no confirmation needed}
APPROVALS: dict[str, Callable] = {}
PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{6,25}$")
MAX_NAME = 200
MAX_NOTES = 5000
MAX_ANSWER = 2000


class IdempotencyMismatch(Conflict):
    """The Idempotency-Key was already used for a different request (another time, invitee or event)."""

    def __init__(self) -> None:
        super().__init__("Already used with a different request: use a new key for a new booking.")


class SlotUnavailable(Conflict):
    """The requested time can no longer be booked."""

    def __init__(self, message: str = "This time is no longer available. Please choose another time.",
                 conflicts: list[str] | None = None) -> None:
        super().__init__(message)
        self.conflicts = conflicts or []


@dataclass
class BookingRequest:
    start: datetime
    invitee_name: str
    invitee_email: str
    invitee_timezone: str
    invitee_phone: str | None = None
    notes: str | None = None
    answers: dict = field(default_factory=dict)
    duration: int | None = None
    occurrences: int = 1
    idempotency_key: str | None = None
    source: str = "page"
    invitee_hour12: bool | None = None     # the clock the invitee's page showed (their emails use it)
    routing: str | None = None             # the signed routing-form response the invitee came from (issue 18)
    one_time_link: str | None = None       # the single-use link / one-off meeting booked through (issue 23)
    guests: list = field(default_factory=list)   # additional guests' emails (issue 23: booking.guests)


@dataclass
class BookingResult:
    bookings: list[Booking]
    created: bool          # False: an identical earlier request's booking was returned

    @property
    def booking(self) -> Booking:
        return self.bookings[0]


# --- validation ------------------------------------------------------------------------------------------
def _validate_answers(event_type: EventType, answers: dict, errors: dict[str, str]) -> dict:
    cleaned = {}
    for q in event_type.questions or []:
        key, kind = q["id"], q["type"]
        raw = answers.get(key)
        if kind == "multiselect":
            values = raw if isinstance(raw, list) else ([raw] if raw not in (None, "") else [])
            values = [str(v) for v in values]
            if q.get("required") and not values:
                errors[f"q_{key}"] = "Choose at least one option."
            elif any(v not in q["options"] for v in values):
                errors[f"q_{key}"] = "Choose from the options given."
            cleaned[key] = values
            continue
        if kind == "checkbox":
            checked = raw in (True, "true", "on", "1", "yes")
            if q.get("required") and not checked:
                errors[f"q_{key}"] = "Please tick this box to continue."
            cleaned[key] = checked
            continue
        value = "" if raw is None else str(raw).strip()
        if not value:
            if q.get("required"):
                errors[f"q_{key}"] = "This question is required."
            continue
        if len(value) > MAX_ANSWER:
            errors[f"q_{key}"] = f"Use at most {MAX_ANSWER} characters."
        elif has_text_control(value):
            errors[f"q_{key}"] = TEXT_CONTROL
        elif kind == "select" and value not in q["options"]:
            errors[f"q_{key}"] = "Choose from the options given."
        elif kind == "email" and not is_email(value):
            errors[f"q_{key}"] = "Enter a valid email address."
        elif kind == "phone" and not PHONE_RE.match(value):
            errors[f"q_{key}"] = "Enter a valid phone number."
        elif kind == "number":
            try:
                float(value)
            except ValueError:
                errors[f"q_{key}"] = "Enter a number."
        cleaned[key] = value
    return cleaned


def validate_request(event_type: EventType, req: BookingRequest) -> tuple[int, dict]:
    """Check the invitee's input. Returns (length in minutes, cleaned answers) or raises ValidationFailed."""
    errors: dict[str, str] = {}
    name = (req.invitee_name or "").strip()
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    elif has_control(name):
        errors["name"] = NAME_CONTROL
    if not is_email((req.invitee_email or "").strip()):
        errors["email"] = "Enter a valid email address."
    if not is_valid_timezone(req.invitee_timezone):
        errors["timezone"] = "Choose a valid time zone."
    if req.start is None or req.start.tzinfo is None:
        errors["startTime"] = "Give the start time as an ISO 8601 instant, e.g. 2026-03-01T14:00:00Z."
    phone = (req.invitee_phone or "").strip()
    if event_type.location_type == "phone_host_calls" and not phone:
        errors["phone"] = "Enter the phone number the host should call."
    elif phone and not PHONE_RE.match(phone):
        errors["phone"] = "Enter a valid phone number."
    if req.notes and len(req.notes) > MAX_NOTES:
        errors["notes"] = f"Use at most {MAX_NOTES} characters."
    elif has_text_control(req.notes):
        errors["notes"] = TEXT_CONTROL
    allowed = [event_type.duration, *(event_type.extra_durations or [])]
    length = req.duration or event_type.duration
    if length not in allowed:
        errors["duration"] = "Choose one of the offered durations."
    recurrence = event_type.recurrence
    if req.occurrences != 1 and event_type.is_paid:
        errors["occurrences"] = "A paid meeting is booked one at a time."
    elif req.occurrences != 1:
        if not recurrence:
            errors["occurrences"] = "This event does not repeat."
        elif not 1 <= req.occurrences <= recurrence["maxOccurrences"]:
            errors["occurrences"] = f"Choose between 1 and {recurrence['maxOccurrences']} occurrences."
    answers = _validate_answers(event_type, req.answers or {}, errors)
    for check in REQUEST_CHECKS:      # ``check(event_type, req, errors)``: more of the request (guests: issue 23)
        check(event_type, req, errors)
    if errors:
        raise ValidationFailed(errors)
    return length, answers


def occurrence_starts(event_type: EventType, first: datetime, count: int, tz_name: str) -> list[datetime]:
    """Starts of a recurring series, repeating on the host's wall clock (a weekly 10:00 stays 10:00 across DST)."""
    if count <= 1 or not event_type.recurrence:
        return [first]
    tz = zone(tz_name)
    local = first.astimezone(tz)
    interval = event_type.recurrence["interval"]
    starts = []
    for n in range(count):
        if event_type.recurrence["frequency"] == "monthly":
            month_index = local.month - 1 + n * interval
            year, month = local.year + month_index // 12, month_index % 12 + 1
            day = min(local.day, _days_in_month(year, month))
            naive = local.replace(tzinfo=None, year=year, month=month, day=day)
        else:
            naive = local.replace(tzinfo=None) + timedelta(weeks=n * interval)
        starts.append(naive.replace(tzinfo=tz).astimezone(UTC))
    return starts


def _days_in_month(year: int, month: int) -> int:
    return (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day


# --- payloads ---------------------------------------------------------------------------------------------
def location_label(booking: Booking) -> str:
    label = LOCATION_TYPES.get(booking.location_type, "")
    if booking.location_type == "none":
        return ""
    if booking.location_type in ("in_person", "phone_invitee_calls", "custom_link") and booking.location:
        return booking.location
    if booking.location_type == "phone_host_calls" and booking.invitee_phone:
        return f"Phone call to {booking.invitee_phone}"
    return label


def booking_payload(booking: Booking, host: User, event_type: EventType | None) -> dict:
    """The ``data`` of booking webhooks (spec page 16), also used by the API."""
    data = {
        "id": booking.id,
        "eventType": ({"id": event_type.id, "name": event_type.name, "slug": event_type.slug,
                       "duration": event_type.duration} if event_type else None),
        "startTime": events.iso(booking.start_at),
        "endTime": events.iso(booking.end_at),
        "status": booking.status,
        "invitee": {"name": booking.invitee_name, "email": booking.invitee_email,
                    "timezone": booking.invitee_timezone},
        "host": {"id": host.id, "name": host.name, "email": host.email},
        "meetingLink": booking.meeting_link,
        "location": location_label(booking) or None,
        "notes": booking.notes,
        "isRecurring": booking.recurring_group_id is not None,
        "recurringGroupId": booking.recurring_group_id,
    }
    if event_type is not None and event_type.team_id:
        data.update(team_fields(booking, event_type))
    if booking.status == "CANCELLED":
        data["cancelReason"] = booking.cancel_reason
    if booking.previous_start_at is not None:
        data["previousStartTime"] = events.iso(booking.previous_start_at)
        data["previousEndTime"] = events.iso(booking.previous_end_at)
    for extra in PAYLOAD_EXTRAS:
        data.update(extra(booking))
    return data


def team_fields(booking: Booking, event_type: EventType) -> dict:
    """A team booking's extra payload fields: the team, every host attending (the organizer first) and, for a
    round-robin one, why its host was chosen."""
    hosts = list(User.select(User.id, User.name, User.email, BookingHost.is_fixed)
                 .join(BookingHost, on=(BookingHost.user == User.id))
                 .where(BookingHost.booking == booking.id).order_by(User.name).namedtuples())
    hosts.sort(key=lambda row: row.id != booking.user_id)
    team = Team.get_by_id(event_type.team_id)
    return {"team": {"id": team.id, "name": team.name, "slug": team.slug},
            "schedulingType": (event_type.scheduling_type or "").upper() or None,
            "hosts": [{"id": h.id, "name": h.name, "email": h.email, "fixed": bool(h.is_fixed)} for h in hosts],
            "assignmentReason": booking.assignment_reason}


def contact_payload(contact: Contact) -> dict:
    return {"id": contact.id, "name": contact.name, "email": contact.email, "phone": contact.phone,
            "company": contact.company, "notes": contact.notes, "createdAt": events.iso(contact.created_at),
            "source": contact.source}


# --- writing ----------------------------------------------------------------------------------------------
def _lock_host(host_id: str) -> None:
    """Serialize booking writes of one host: the UPDATE locks the host's row on PostgreSQL (SQLite already
    holds the write lock from BEGIN IMMEDIATE), and raising pages_version retires cached public pages."""
    bump_pages_version(host_id)


def _activity(booking: Booking, kind: str, message: str) -> None:
    create(BookingActivity, booking=booking, kind=kind, message=message)


def _schedule_reminders(booking: Booking, offsets: list[int], now: datetime, *, new: bool = False) -> None:
    if not new:
        Reminder.delete().where((Reminder.booking == booking) & Reminder.sent_at.is_null()).execute()
    for minutes in offsets or []:
        send_at = booking.start_at - timedelta(minutes=minutes)
        if send_at > now:
            create(Reminder, booking=booking, send_at=send_at, offset_minutes=minutes)


_CONTACT = Statement(lambda: Contact.select().where((Contact.user == Param("user"))
                                                    & (Contact.email == Param("email"))).limit(1))


def _upsert_contact(host: User, name: str, email: str, phone: str | None,
                    source: str = "booking") -> tuple[Contact, bool]:
    email_key = email.strip().lower()
    contact = _CONTACT.first(user=host.id, email=email_key)
    if contact is not None:
        if phone and not contact.phone:
            contact.phone = phone
            contact.updated_at = utcnow()
            contact.save()
        return contact, False
    return create(Contact, user=host, name=name, email=email_key, phone=phone or None, source=source), True


def _same_request(booking: Booking, event_type: EventType, req: BookingRequest, length: int) -> bool:
    """Whether ``booking`` is what ``req`` would have made (the fields the request sets, as stored)."""
    stored = (booking.event_type_id, booking.start_at, booking.invitee_email, booking.invitee_name,
              booking.invitee_timezone, int((booking.end_at - booking.start_at).total_seconds() // 60),
              booking.invitee_phone, booking.notes)
    asked = (event_type.id, req.start, req.invitee_email.strip().lower(), req.invitee_name.strip(),
             req.invitee_timezone, length, (req.invitee_phone or "").strip() or None, (req.notes or "").strip() or None)
    return stored == asked


_BY_KEY = Statement(lambda: Booking.select().where((Booking.user == Param("user"))
                                                   & (Booking.idempotency_key == Param("key"))).limit(1))
# user and start first: the (user_id, start_at) index finds the candidates at once
_REPEAT = Statement(lambda: Booking.select().where(
    (Booking.user == Param("user")) & (Booking.start_at == Param("start")) & (Booking.event_type == Param("type"))
    & (Booking.invitee_email == Param("email")) & Booking.status.in_(TAKEN_STATUSES)).limit(1))


def _existing(event_type: EventType, req: BookingRequest, length: int) -> list[Booking] | None:
    if req.idempotency_key:
        found = _BY_KEY.first(user=event_type.user_id, key=req.idempotency_key)
        if found is not None:
            # A key stands for one request: reused with another body it must not hand out (or stand in for)
            # a booking the sender did not make.
            series = _with_series(found)
            if not _same_request(found, event_type, req, length) or len(series) != max(req.occurrences, 1):
                raise IdempotencyMismatch()
            return series
    found = _REPEAT.first(user=event_type.user_id, start=req.start, type=event_type.id,
                          email=req.invitee_email.strip().lower())
    if found is None:
        return None
    # a repeat only when everything the request sets matches: knowing an invitee's address and a taken time
    # must not hand out their booking (the request then meets the taken slot like anyone else's)
    series = _with_series(found)
    if not _same_request(found, event_type, req, length) or len(series) != max(req.occurrences, 1):
        return None
    return series


def _with_series(booking: Booking) -> list[Booking]:
    if not booking.recurring_group_id:
        return [booking]
    return list(Booking.select().where(Booking.recurring_group_id == booking.recurring_group_id)
                .order_by(Booking.start_at))


def _check_slots(event_type: EventType, starts: list[datetime], length: int, now: datetime,
                 tz_name: str, exclude_booking_id: str | None = None, schedule: Schedule | None = None) -> None:
    conflicts = []
    for start in starts:
        offered = available_slots(event_type, start, start + timedelta(minutes=length), now=now, duration=length,
                                  exclude_booking_id=exclude_booking_id, schedule=schedule)
        if start not in offered:
            conflicts.append(start)
    for check in SERIES_CHECKS:     # rules over the whole series, e.g. booking limits (booking_limits)
        conflicts += [s for s in check(event_type, starts, length, exclude_booking_id) if s not in conflicts]
    if conflicts:
        if len(starts) == 1:
            raise SlotUnavailable()
        tz = zone(tz_name)
        names = [c.astimezone(tz).strftime("%a %d %b %Y %H:%M") for c in conflicts]
        raise SlotUnavailable("These dates are not available: " + "; ".join(names) +
                              ". Choose another time or fewer occurrences.", conflicts=names)


# (event type, starts, length, booking id to ignore) -> the starts the series as a whole cannot have
SERIES_CHECKS: list[Callable[[EventType, list[datetime], int, str | None], list[datetime]]] = []
# Called with each new booking row and its request, in the booking's transaction, before anything is announced (a
# routing form links its response here, so ``booking.created`` carries it).
ROW_HOOKS: list[Callable[[Booking, BookingRequest], None]] = []
# Each adds fields to the ``data`` of a booking's events (``booking_payload``); none may query for a booking that has
# nothing to add (they read the booking's own columns first).
PAYLOAD_EXTRAS: list[Callable[[Booking], dict]] = []
# Called for every new row of a series, as ROW_HOOKS for the first; and further checks of a request (validate_request)
EACH_ROW_HOOKS: list[Callable[[Booking, BookingRequest], None]] = []
REQUEST_CHECKS: list[Callable[[EventType, BookingRequest, dict], None]] = []
# Called with a booking and its new start in the reschedule's transaction, before it moves; may raise to refuse.
MOVE_HOOKS: list[Callable[[Booking, datetime], None]] = []


def new_booking(event_type: EventType, req: BookingRequest, *, host: User, contact: Contact | None, start: datetime,
                length: int, answers: dict, group: str | None, first: bool, **extra) -> Booking:
    """Insert one booking (one occurrence of a series) of a checked request; ``extra``: more columns."""
    booking = create(
        Booking, user=host, event_type=event_type, contact=contact, start_at=start,
        end_at=start + timedelta(minutes=length), buffer_before=event_type.buffer_before,
        buffer_after=event_type.buffer_after, event_name=event_type.name,
        invitee_name=req.invitee_name.strip(), invitee_email=req.invitee_email.strip().lower(),
        invitee_timezone=req.invitee_timezone, invitee_hour12=req.invitee_hour12,
        invitee_phone=(req.invitee_phone or "").strip() or None,
        notes=(req.notes or "").strip() or None, answers=answers,
        location_type=event_type.location_type, location=event_type.location_detail,
        recurring_group_id=group, idempotency_key=req.idempotency_key if first else None,
        source=req.source, **extra)
    for each in EACH_ROW_HOOKS:
        each(booking, req)
    if first:
        for hook in ROW_HOOKS:
            hook(booking, req)
    return booking


def announce_created(booking: Booking, event_type: EventType, host: User, *, now: datetime,
                     ip: str | None = None, how: str | None = None) -> None:
    """A booking that stands now: its history, reminders, audit entry and ``booking.created`` (emails, calendars,
    webhooks and the rest follow through the lifecycle). Call inside the booking's transaction."""
    _activity(booking, "created", how or f"Booked by {booking.invitee_name} <{booking.invitee_email}> "
                                         f"({booking.source})")
    _schedule_reminders(booking, event_type.reminders, now, new=True)
    audit.record("booking.created", resource="booking", resource_id=booking.id, user=host, ip=ip,
                 details={"inviteeEmail": booking.invitee_email, "eventType": event_type.name,
                          "startTime": events.iso(booking.start_at)})
    events.emit("booking.created", booking_payload(booking, host, event_type), user_id=host.id)


def create_booking(event_type: EventType, req: BookingRequest, *, ip: str | None = None,
                   now: datetime | None = None) -> BookingResult:
    """Book ``req.start`` (and its recurrences) or raise ValidationFailed / SlotUnavailable."""
    now = now or datetime.now(UTC)
    if event_type.team_id:
        return TEAM_BOOKINGS["create"](event_type, req, ip=ip, now=now)
    host = event_type.user
    if host.is_disabled or event_type.status != "active":
        raise NotFound("Event type not found")
    length, answers = validate_request(event_type, req)
    req.start = req.start.astimezone(UTC)
    email = req.invitee_email.strip().lower()
    schedule = effective_schedule(event_type)
    host_tz = schedule.timezone if schedule else host.timezone
    starts = occurrence_starts(event_type, req.start, req.occurrences, host_tz)
    try:
        with fresh_busy(event_type, starts[0], starts[-1] + timedelta(minutes=length)), transaction(immediate=True):
            _lock_host(host.id)
            existing = _existing(event_type, req, length)
            if existing:
                return BookingResult(existing, created=False)
            _check_slots(event_type, starts, length, now, host_tz, schedule=schedule)
            if event_type.is_paid:      # held for its payment: nobody hears of it before the payment arrives
                booking = new_booking(event_type, req, host=host, contact=None, start=starts[0], length=length,
                                      answers=answers, group=None, first=True, status=PENDING_PAYMENT,
                                      held_until=now + timedelta(minutes=event_type.payment_window))
                _activity(booking, "held", f"Held for {booking.invitee_name} <{email}> ({req.source}) until the "
                          f"payment arrives, at most {event_type.payment_window} minutes")
                return BookingResult([booking], created=True)
            if "request" in APPROVALS and (asked := APPROVALS["request"](event_type, req, host, starts[0], length,
                                                                          answers, now)):
                return BookingResult([asked], created=True)
            contact, new_contact = _upsert_contact(host, req.invitee_name.strip(), email, req.invitee_phone)
            group = new_id() if len(starts) > 1 else None
            bookings = []
            for index, start in enumerate(starts):
                booking = new_booking(event_type, req, host=host, contact=contact, start=start, length=length,
                                      answers=answers, group=group, first=index == 0)
                announce_created(booking, event_type, host, now=now, ip=ip)
                bookings.append(booking)
            if new_contact:
                events.emit("contact.created", contact_payload(contact), user_id=host.id)
    except peewee.IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: return its booking.
        existing = _existing(event_type, req, length)
        if existing:
            return BookingResult(existing, created=False)
        raise
    return BookingResult(bookings, created=True)


def cancel_booking(booking: Booking, *, reason: str | None, by: str, actor: User | None = None,
                   ip: str | None = None, include_following: bool = False,
                   now: datetime | None = None) -> list[Booking]:
    """Cancel a booking (and, for a series, optionally every later occurrence). Already cancelled: no-op.
    A paid booking's refund, where the event type's rules give one, is queued with the cancellation."""
    reason = (reason or "").strip()[:1000] or None
    targets = [booking]
    if include_following and booking.recurring_group_id:
        targets = list(Booking.select().where((Booking.recurring_group_id == booking.recurring_group_id)
                                              & (Booking.start_at >= booking.start_at)).order_by(Booking.start_at))
    cancelled = []
    now = now or utcnow()
    if by == "invitee":     # the event type's cancellation policy (the host is never limited)
        policy.check_invitee_cancel(booking, reason, now)
    with transaction(immediate=True):
        _lock_host(booking.user_id)
        for target in targets:
            fresh = Booking.get_by_id(target.id)
            if fresh.status == "CANCELLED":
                continue
            fresh.status = "CANCELLED"
            fresh.cancel_reason = reason
            fresh.cancelled_at = utcnow()
            fresh.cancelled_by = by
            fresh.sequence += 1
            fresh.updated_at = utcnow()
            fresh.save()
            Reminder.delete().where((Reminder.booking == fresh) & Reminder.sent_at.is_null()).execute()
            who = "the host" if by == "host" else "the invitee"
            _activity(fresh, "cancelled", f"Cancelled by {who}" + (f": {reason}" if reason else ""))
            if "cancelled" in PAYMENT_HOOKS:
                PAYMENT_HOOKS["cancelled"](fresh, by, now)
            host = fresh.user
            audit.record("booking.cancelled", resource="booking", resource_id=fresh.id, user=host, actor=actor,
                         ip=ip, details={"inviteeEmail": fresh.invitee_email, "eventType": fresh.event_name,
                                         "startTime": events.iso(fresh.start_at)})
            events.emit("booking.cancelled", booking_payload(fresh, host, fresh.event_type), user_id=host.id)
            cancelled.append(fresh)
    return cancelled


def reschedule_booking(booking: Booking, new_start: datetime, *, reason: str | None, by: str,
                       actor: User | None = None, ip: str | None = None, now: datetime | None = None) -> Booking:
    """Move a booking to ``new_start`` (same id, same length). Raises SlotUnavailable or ValidationFailed."""
    now = now or datetime.now(UTC)
    if new_start is None or new_start.tzinfo is None:
        raise ValidationFailed({"newStartTime": "Give the new start as an ISO 8601 instant."})
    new_start = new_start.astimezone(UTC)
    event_type = booking.event_type
    if event_type is None:
        raise ValidationFailed({"booking": "The event type of this booking was deleted; it cannot be moved."})
    if by == "invitee":
        policy.check_invitee_reschedule(booking, now)
    if event_type.team_id:
        return TEAM_BOOKINGS["reschedule"](booking, new_start, reason=reason, by=by, actor=actor, ip=ip, now=now)
    length = int((booking.end_at - booking.start_at).total_seconds() // 60)
    schedule = effective_schedule(event_type)
    with fresh_busy(event_type, new_start, new_start + timedelta(minutes=length)), transaction(immediate=True):
        _lock_host(booking.user_id)
        fresh = Booking.get_by_id(booking.id)
        if fresh.status == "CANCELLED":
            raise ValidationFailed({"booking": "This booking was cancelled and cannot be rescheduled."})
        if fresh.status == "PENDING":
            raise ValidationFailed({"booking": "This request waits for the host's confirmation: it cannot move yet."})
        if fresh.start_at == new_start:
            return fresh
        _check_slots(event_type, [new_start], length, now, schedule.timezone if schedule else "UTC",
                     exclude_booking_id=fresh.id)
        for hook in MOVE_HOOKS:
            hook(fresh, new_start)
        fresh.previous_start_at, fresh.previous_end_at = fresh.start_at, fresh.end_at
        fresh.start_at, fresh.end_at = new_start, new_start + timedelta(minutes=length)
        fresh.sequence += 1
        fresh.updated_at = utcnow()
        fresh.save()
        _schedule_reminders(fresh, event_type.reminders, now)
        who = "the host" if by == "host" else "the invitee"
        reason = (reason or "").strip()[:1000] or None
        _activity(fresh, "rescheduled", f"Rescheduled by {who} from {events.iso(fresh.previous_start_at)}"
                  + (f": {reason}" if reason else ""))
        host = fresh.user
        audit.record("booking.rescheduled", resource="booking", resource_id=fresh.id, user=host, actor=actor, ip=ip,
                     details={"inviteeEmail": fresh.invitee_email, "eventType": fresh.event_name,
                              "startTime": events.iso(new_start),
                              "previousStartTime": events.iso(fresh.previous_start_at)})
        events.emit("booking.rescheduled", booking_payload(fresh, host, event_type), user_id=host.id)
    return fresh


def get_booking_for_host(host: User, booking_id: str) -> Booking:
    booking = Booking.get_or_none((Booking.id == booking_id) & (Booking.user == host))
    if booking is None:
        raise NotFound("Booking not found")
    return booking


def add_activity(booking_id: str, kind: str, message: str) -> None:
    BookingActivity.create(booking=booking_id, kind=kind, message=message)
