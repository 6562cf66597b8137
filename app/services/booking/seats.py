"""Seats (issue 23): each invitee of a seated event type books their own seat, one booking of their own at the
slot's start (their own link, emails, reminders and webhooks), until the slot's seats are taken.

The booking service checks the slot against the engine under the host's lock as for any booking; the busy time
that keeps a slot open until it is full is ``seat_busy.py``. Here: the row hook that, in the same transaction,
marks the booking as a seat and refuses a second seat for the same email (an identical repeat of a request returns
the first seat, as for any booking) or a seat beyond the count; the same check when a seat moves; the ``seat``
object of webhook payloads; seats left per slot for the booking page; the host's attendee lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from peewee import fn

from app.models import Booking, EventType
from app.models.bookings import TAKEN_STATUSES
from app.services.booking import bookings
from app.services.booking.bookings import SlotUnavailable


class SeatTaken(SlotUnavailable):
    """The invitee's email already holds a seat at this time."""

    def __init__(self) -> None:
        super().__init__("This email address already has a seat at this time: the confirmation email has the link "
                         "to manage it.")


def _others(booking: Booking, start: datetime):
    return Booking.select(Booking.id).where(
        (Booking.user == booking.user_id) & (Booking.start_at == start) & (Booking.event_type == booking.event_type_id)
        & Booking.status.in_(TAKEN_STATUSES) & (Booking.id != booking.id))


def _check_seat(booking: Booking, event_type: EventType, start: datetime) -> None:
    others = _others(booking, start)
    if others.where(Booking.invitee_email == booking.invitee_email).exists():
        raise SeatTaken()
    if others.count() >= event_type.seats:
        raise SlotUnavailable()


def _claim_seat(booking: Booking, req) -> None:
    """A new booking of a seated event type (inside its transaction, under the host's lock): one seat more."""
    event_type = booking.event_type if booking.event_type_id else None
    if event_type is None or not event_type.seats:
        return
    _check_seat(booking, event_type, booking.start_at)
    Booking.update(seated=True).where(Booking.id == booking.id).execute()
    booking.seated = True


def _move_seat(booking: Booking, new_start: datetime) -> None:
    """A seat moving to another slot: not to one where the same email has a seat already, nor a full one."""
    event_type = booking.event_type if booking.event_type_id else None
    if booking.seated and event_type is not None and event_type.seats:
        _check_seat(booking, event_type, new_start)


def taken_at(event_type_id: str, host_id: str, starts: list[datetime]) -> dict[datetime, int]:
    """Seats taken at each of ``starts`` (one query)."""
    if not starts:
        return {}
    rows = (Booking.select(Booking.start_at, fn.COUNT(Booking.id))
            .where((Booking.user == host_id) & (Booking.event_type == event_type_id)
                   & Booking.status.in_(TAKEN_STATUSES) & Booking.start_at.in_(list(starts)))
            .group_by(Booking.start_at).tuples())
    return dict(rows)


def seats_left(event_type: EventType, starts: list[datetime]) -> dict[datetime, int]:
    """Free seats at each offered start of a seated event type that shows them (empty otherwise)."""
    if not event_type.seats or not event_type.seats_show_remaining or event_type.team_id:
        return {}
    taken = taken_at(event_type.id, event_type.user_id, starts)
    return {start: max(event_type.seats - taken.get(start, 0), 0) for start in starts}


def _seat_payload(booking: Booking) -> dict:
    """Webhook payloads of a seat: ``{"seat": {"seatsTotal": N, "seatsTaken": k}}`` (k counts the slot now)."""
    if not booking.seated:
        return {}
    total = EventType.select(EventType.seats).where(EventType.id == booking.event_type_id).scalar()
    taken = taken_at(booking.event_type_id, booking.user_id, [booking.start_at]).get(booking.start_at, 0)
    return {"seat": {"seatsTotal": total, "seatsTaken": taken}}


# --- the host's view ------------------------------------------------------------------------------------------
@dataclass
class SeatGroup:
    """One slot of a seated event type in the host's booking list: its confirmed seats."""
    first: Booking
    total: int | None
    attendees: list[Booking] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return len(self.attendees)


def attendees(host_id: str, event_type_id: str, start: datetime) -> list[Booking]:
    return list(Booking.select().where(
        (Booking.user == host_id) & (Booking.event_type == event_type_id) & (Booking.start_at == start)
        & (Booking.status == "CONFIRMED")).order_by(Booking.created_at, Booking.id))


def group_seats(rows: list[Booking]) -> tuple[dict[str, SeatGroup], set[str]]:
    """The seats in a page of the host's confirmed bookings, one group per slot: (id of the slot's first row on the
    page -> its group with every confirmed attendee of the slot, ids of the page's other rows of that slot)."""
    groups: dict[str, SeatGroup] = {}
    seen: dict[tuple, str] = {}
    skip: set[str] = set()
    totals = {}
    for row in rows:
        if not row.seated or row.status != "CONFIRMED" or not row.event_type_id:
            continue
        key = (row.user_id, row.event_type_id, row.start_at)
        if key in seen:
            skip.add(row.id)
            continue
        seen[key] = row.id
        if row.event_type_id not in totals:
            totals[row.event_type_id] = (EventType.select(EventType.seats)
                                         .where(EventType.id == row.event_type_id).scalar())
        groups[row.id] = SeatGroup(row, totals[row.event_type_id], attendees(*key))
    return groups, skip


bookings.ROW_HOOKS.append(_claim_seat)
bookings.MOVE_HOOKS.append(_move_seat)
bookings.PAYLOAD_EXTRAS.append(_seat_payload)
