"""The busy time of seated event types (issue 23): a slot with a free seat stays offered.

A seated event type's own bookings at a slot that is not full are left out of that event type's busy time (the
bookings' busy source asks ``without_open_seats``), so the engine offers the slot again; ``_keep_open_seats`` (a
slot filter) then drops the event type's other starts that overlap such a slot, buffers included, since the host
is in that class then. A full slot stays busy like any booking; every other event type sees all the seats as busy.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import fn

from app.models import Booking, EventType
from app.models.bookings import TAKEN_STATUSES
from app.services.scheduling.slots import SEAT_FILTERS

REACH = timedelta(hours=4) + timedelta(hours=24)   # busy.py's buffer reach and longest booking


@dataclass
class SeatSlot:
    """The bookings of one slot of a seated event type: how many are taken, their busy spans (with buffers)."""
    start: datetime
    taken: int = 0
    rows: Counter = field(default_factory=Counter)    # (start, end, buffer before, buffer after) -> bookings

    @property
    def span(self) -> tuple[datetime, datetime]:
        return (min(s - timedelta(minutes=b) for s, _, b, _ in self.rows),
                max(e + timedelta(minutes=a) for _, e, _, a in self.rows))


def seat_slots(event_type: EventType, window: dict) -> dict[datetime, SeatSlot]:
    """The event type's taken slots in busy.py's ``window`` (before, after, ends_after and maybe exclude)."""
    query = (Booking.select(Booking.start_at, Booking.end_at, Booking.buffer_before, Booking.buffer_after,
                            fn.COUNT(Booking.id))
             .where((Booking.user == event_type.user_id) & (Booking.event_type == event_type.id)
                    & Booking.status.in_(TAKEN_STATUSES) & (Booking.start_at < window["before"])
                    & (Booking.start_at > window["after"]) & (Booking.end_at > window["ends_after"])))
    if window.get("exclude"):
        query = query.where(Booking.id != window["exclude"])
    found: dict[datetime, SeatSlot] = {}
    for start, end, before, after, count in query.group_by(
            Booking.start_at, Booking.end_at, Booking.buffer_before, Booking.buffer_after).tuples():
        slot = found.setdefault(start, SeatSlot(start))
        slot.taken += count
        slot.rows[(start, end, before, after)] += count
    return found


def open_seat_slots(event_type: EventType, window: dict) -> list[SeatSlot]:
    """The slots of a seated event type in ``window`` with a free seat (none for any other event type)."""
    if not event_type.seats or event_type.team_id:
        return []
    return [slot for slot in seat_slots(event_type, window).values() if slot.taken < event_type.seats]


def without_open_seats(event_type: EventType, rows: list[tuple], window: dict) -> list[tuple]:
    """``rows`` (start, end, buffer before, buffer after) of the host's own bookings, less the seats of the
    event type's slots that are not full (each left out once)."""
    drop: Counter = Counter()
    for slot in open_seat_slots(event_type, window):
        drop.update(slot.rows)
    if not drop:
        return rows
    kept = []
    for row in rows:
        key = tuple(row)
        if drop[key] > 0:
            drop[key] -= 1
        else:
            kept.append(row)
    return kept


def _keep_open_seats(event_type: EventType, starts: list[datetime], start: datetime, end: datetime,
                     exclude: str | None, length: int) -> list[datetime]:
    window = {"before": end + REACH, "after": start - REACH, "ends_after": start - REACH, "exclude": exclude}
    spans = {slot.start: slot.span for slot in open_seat_slots(event_type, window)}
    if not spans:
        return starts
    before, after = timedelta(minutes=event_type.buffer_before), timedelta(minutes=event_type.buffer_after)
    kept = []
    for candidate in starts:
        low, high = candidate - before, candidate + timedelta(minutes=length) + after
        if not any(low < span_end and span_start < high for slot_start, (span_start, span_end) in spans.items()
                   if slot_start != candidate):
            kept.append(candidate)
    return kept


SEAT_FILTERS.append(_keep_open_seats)
