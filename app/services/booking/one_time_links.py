"""Single-use links and one-off meetings (issue 23, point 7).

A single-use link books one of the host's personal event types (secret ones too) exactly once; a one-off meeting
does the same for a few proposed times only, with its own name, length and location. Both live at ``/d/<token>``
(token: 32 random bytes), may expire, and are used up inside the booking's transaction (``bookings.ROW_HOOKS``):
an ``UPDATE ... WHERE used_at IS NULL`` that only one booking can win. Cancelling that booking does not make the
link usable again (as at Calendly): the host makes a new one.

The page of a link books a copy of the event type that is never saved (``meeting_event_type``): one occurrence,
and for a one-off meeting its name, length, location and a 5-minute grid, so that the engine checks each proposed
time against the host's real availability and busy time, at view and at booking time.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.db import transaction
from app.models import Booking, EventType, User
from app.models.base import utcnow
from app.models.one_time_links import OneTimeLink, OneTimeLinkTime
from app.services import audit
from app.services.booking import bookings
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.scheduling.event_types import LOCATIONS_NEEDING_DETAIL, MAX_DURATION, MIN_DURATION
from app.services.scheduling.slots import available_slots

MAX_TIMES = 10                      # proposed times of a one-off meeting
GRID = 5                            # minutes: proposed times sit on a 5-minute grid
# where a one-off meeting may take place besides its event type's own location (no connection needed)
ONE_OFF_LOCATIONS = ("none", "in_person", "custom_link", "phone_invitee_calls", "phone_host_calls")


class LinkUsed(Conflict):
    """The link has booked its meeting already."""

    def __init__(self) -> None:
        super().__init__("This link has already been used.")


class LinkExpired(Conflict):
    def __init__(self) -> None:
        super().__init__("This link has expired.")


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def state_of(link: OneTimeLink, now: datetime | None = None) -> str:
    """``active``, ``used``, ``expired`` or ``revoked``."""
    now = now or utcnow()
    if link.revoked_at is not None:
        return "revoked"
    if link.used_at is not None:
        return "used"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    return "active"


def bookable(event_type: EventType) -> bool:
    """Whether an event type can be booked through a link: its host's own, active, free (a paid booking is held
    for its payment, which a one-booking link does not wait for)."""
    return (event_type.team_id is None and event_type.status == "active" and not event_type.is_paid
            and not event_type.user.is_disabled)


def find(token: str) -> OneTimeLink | None:
    """The link of ``token`` with its event type and host, or None (never a revoked one)."""
    if not token or len(token) > 64:
        return None
    return (OneTimeLink.select(OneTimeLink, EventType, User).join(EventType).join(User)
            .where((OneTimeLink.token == token) & OneTimeLink.revoked_at.is_null()).first())


def proposed_times(link: OneTimeLink) -> list[datetime]:
    return [row.start_at for row in OneTimeLinkTime.select(OneTimeLinkTime.start_at)
            .where(OneTimeLinkTime.link == link.id).order_by(OneTimeLinkTime.start_at)]


def meeting_event_type(link: OneTimeLink) -> EventType:
    """What the link books: an unsaved copy of its event type (same id) with one occurrence, and for a one-off
    meeting its own name, length and location on a 5-minute grid (the proposed times)."""
    base = link.event_type
    copy = EventType(**base.__data__)
    copy.user = base.user
    copy.recurrence = None
    copy.is_secret = True
    if link.kind == "one_off":
        copy.name = link.name or base.name
        copy.duration = link.duration or base.duration
        copy.extra_durations = []
        copy.slot_interval = GRID
        if link.location_type:
            copy.location_type, copy.location_detail = link.location_type, link.location_detail or ""
    return copy


def offered_times(link: OneTimeLink, event_type: EventType, now: datetime | None = None) -> list[datetime]:
    """The proposed times of a one-off meeting that the host can still take (the engine's answer)."""
    times = proposed_times(link)
    if not times:
        return []
    offered = set(available_slots(event_type, times[0], times[-1] + timedelta(minutes=event_type.duration),
                                  now=now or datetime.now(UTC)))
    return [t for t in times if t in offered]


def narrower(link: OneTimeLink):
    """For the booking page: keep only the slots that are proposed times (None for a single-use link)."""
    if link.kind != "one_off":
        return None
    proposed = set(proposed_times(link))
    return lambda slots: [s for s in slots if s in proposed]


# --- creating, listing, revoking -------------------------------------------------------------------------
def _own_event_type(host: User, event_type_id: str | None) -> EventType:
    event_type = EventType.get_or_none((EventType.id == (event_type_id or "")) & (EventType.user == host)
                                       & EventType.personal())
    if event_type is None:
        raise NotFound("Event type not found")
    return event_type


def _check_base(event_type: EventType, errors: dict) -> None:
    if event_type.status != "active":
        errors["event_type"] = "Turn this event type on first: a link books active event types only."
    elif event_type.is_paid:
        errors["event_type"] = "A paid event type cannot have single-use links or one-off meetings."


def _check_expiry(expires_at: datetime | None, now: datetime, errors: dict) -> None:
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = "Choose an expiry in the future."


def create_single_use(host: User, event_type_id: str | None, *, expires_at: datetime | None = None,
                      ip: str | None = None, now: datetime | None = None) -> OneTimeLink:
    """A link that books ``event_type_id`` once. Raises NotFound (not the host's) or ValidationFailed."""
    now = now or utcnow()
    event_type = _own_event_type(host, event_type_id)
    errors: dict[str, str] = {}
    _check_base(event_type, errors)
    _check_expiry(expires_at, now, errors)
    if errors:
        raise ValidationFailed(errors)
    with transaction():
        link = OneTimeLink.create(user=host, event_type=event_type, kind="single_use", token=_new_token(),
                                  expires_at=expires_at)
        audit.record("one_time_link.created", resource="one_time_link", resource_id=link.id, user=host, ip=ip,
                     details={"kind": "single_use", "eventType": event_type.name})
    return link


@dataclass
class OneOffInput:
    event_type_id: str | None = None
    name: str = ""
    duration: int | None = None
    location_type: str = ""          # "": the event type's location
    location_detail: str = ""
    times: list[datetime | None] = field(default_factory=list)   # None: a value that did not parse
    expires_at: datetime | None = None


def create_one_off(host: User, data: OneOffInput, *, ip: str | None = None,
                   now: datetime | None = None) -> OneTimeLink:
    """A one-off meeting: ``data.times`` (1 to MAX_TIMES, each one the host can take now), booked once.
    Errors are keyed by form field (``time_<n>`` for the n-th time)."""
    now = now or utcnow()
    event_type = _own_event_type(host, data.event_type_id)
    errors: dict[str, str] = {}
    _check_base(event_type, errors)
    _check_expiry(data.expires_at, now, errors)
    name = (data.name or "").strip() or event_type.name
    if len(name) > 100:
        errors["name"] = "Use at most 100 characters."
    duration = data.duration or event_type.duration
    if not MIN_DURATION <= duration <= MAX_DURATION:
        errors["duration"] = f"Choose between {MIN_DURATION} and {MAX_DURATION} minutes."
    location_type, detail = data.location_type or "", (data.location_detail or "").strip()
    if location_type and location_type not in ONE_OFF_LOCATIONS:
        errors["location_type"] = "Choose one of the locations offered."
    elif location_type in LOCATIONS_NEEDING_DETAIL and not detail:
        errors["location_detail"] = LOCATIONS_NEEDING_DETAIL[location_type]
    elif location_type == "custom_link" and not re.match(r"^https?://\S+$", detail):
        errors["location_detail"] = "Enter a link starting with https://."
    elif len(detail) > 500:
        errors["location_detail"] = "Use at most 500 characters."
    times: list[datetime] = []
    for index, start in enumerate(data.times, start=1):
        key = f"time_{index}"
        if start is None:
            errors[key] = "Enter a date and time."
        elif start <= now:
            errors[key] = "Choose a time in the future."
        elif start.minute % GRID or start.second or start.microsecond:
            errors[key] = f"Choose a time on a {GRID}-minute mark."
        elif start in times:
            errors[key] = "This time is proposed twice."
        else:
            times.append(start.astimezone(UTC))
    if not data.times:
        errors["time_1"] = "Propose at least one time."
    elif len(data.times) > MAX_TIMES:
        errors["times"] = f"Propose at most {MAX_TIMES} times."
    if errors:
        raise ValidationFailed(errors)
    link = OneTimeLink(user=host, event_type=event_type, kind="one_off", token=_new_token(), name=name,
                       duration=duration, location_type=location_type or None,
                       location_detail=detail if location_type else None, expires_at=data.expires_at)
    meeting = meeting_event_type(link)
    offered = set(available_slots(meeting, min(times), max(times) + timedelta(minutes=duration), now=now))
    for index, start in enumerate(data.times, start=1):
        if start.astimezone(UTC) not in offered:
            errors[f"time_{index}"] = ("You are not available then (working hours, minimum notice, booking window, "
                                       "a booking or a calendar event).")
    if errors:
        raise ValidationFailed(errors)
    with transaction():
        link.save(force_insert=True)
        for start in sorted(times):
            OneTimeLinkTime.create(link=link, start_at=start)
        audit.record("one_time_link.created", resource="one_time_link", resource_id=link.id, user=host, ip=ip,
                     details={"kind": "one_off", "eventType": event_type.name, "name": name, "times": len(times)})
    return link


def active_links(host: User, now: datetime | None = None) -> list[OneTimeLink]:
    """The host's links that can still book, newest first, their event types joined."""
    now = now or utcnow()
    return list(OneTimeLink.select(OneTimeLink, EventType).join(EventType)
                .where((OneTimeLink.user == host) & OneTimeLink.used_at.is_null() & OneTimeLink.revoked_at.is_null()
                       & (OneTimeLink.expires_at.is_null() | (OneTimeLink.expires_at > now)))
                .order_by(OneTimeLink.created_at.desc()))


def get_for_host(host: User, link_id: str) -> OneTimeLink:
    link = OneTimeLink.get_or_none((OneTimeLink.id == link_id) & (OneTimeLink.user == host))
    if link is None:
        raise NotFound("Link not found")
    return link


def revoke(host: User, link_id: str, *, ip: str | None = None) -> OneTimeLink:
    """Retire one of the host's links (another user's: NotFound). Revoking twice changes nothing."""
    link = get_for_host(host, link_id)
    if link.revoked_at is None:
        with transaction():
            link.revoked_at = utcnow()
            link.save()
            audit.record("one_time_link.revoked", resource="one_time_link", resource_id=link.id, user=host, ip=ip,
                         details={"kind": link.kind})
    return link


# --- used up in the booking's transaction ----------------------------------------------------------------
def _consume(booking: Booking, req: bookings.BookingRequest) -> None:
    """The booking ``req`` made through a link: use the link up, or raise (the transaction rolls back)."""
    link_id = req.one_time_link
    if not link_id:
        return
    link = OneTimeLink.get_or_none(OneTimeLink.id == link_id)
    now = utcnow()
    if link is None or link.revoked_at is not None or link.event_type_id != booking.event_type_id:
        raise NotFound("Link not found")
    if req.occurrences != 1:
        raise ValidationFailed({"occurrences": "A single-use link books one meeting."})
    if link.used_at is not None:
        raise LinkUsed()
    if link.expires_at is not None and link.expires_at <= now:
        raise LinkExpired()
    if link.kind == "one_off" and booking.start_at not in proposed_times(link):
        raise bookings.SlotUnavailable("Choose one of the proposed times.")
    won = (OneTimeLink.update(used_at=now, booking=booking.id)
           .where((OneTimeLink.id == link.id) & OneTimeLink.used_at.is_null()).execute())
    if won != 1:
        raise LinkUsed()
    what = "one-off meeting" if link.kind == "one_off" else "single-use link"
    bookings.add_activity(booking.id, "link", f"Booked through a {what}; the link is now used up")


bookings.ROW_HOOKS.append(_consume)

