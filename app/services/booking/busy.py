"""Busy time from bookings, for the slot engine: a busy source and a per-day count source (registered on import).

A host's busy time is every confirmed or held (being paid for) booking they host (``bookings.user``) and every team
booking they attend (``booking_hosts``), each widened by its own buffers; a team event type asks about all its hosts
in two queries.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from app.models import Booking, BookingHost, EventType
from app.models.bookings import TAKEN_STATUSES
from app.services.booking.seat_busy import without_open_seats
from app.services.scheduling.slots import busy_source, day_count_source
from app.statements import Param, Statement
from app.timezones import zone

MAX_BUFFER_SECONDS = 240 * 60
MAX_BOOKING_LENGTH = timedelta(hours=24)  # durations are capped at 720 minutes (event_types.MAX_DURATION)


def _busy_query(excluding: bool, attended: bool = False):
    """A host's confirmed bookings in a window: those they host (``attended``: the team bookings they attend)."""
    columns = (Booking.start_at, Booking.end_at, Booking.buffer_before, Booking.buffer_after)
    if attended:
        query = (Booking.select(*columns).join(BookingHost, on=(BookingHost.booking == Booking.id))
                 .where(BookingHost.user == Param("user")))
    else:
        query = Booking.select(*columns).where(Booking.user == Param("user"))
    query = query.where(Booking.status.in_(TAKEN_STATUSES) & (Booking.start_at < Param("before"))
                        # a lower bound on start_at as well, so the (user, start_at) index range is the window
                        # alone rather than every earlier booking of the host
                        & (Booking.start_at > Param("after"))
                        & (Booking.end_at > Param("ends_after")))
    if excluding:
        query = query.where(Booking.id != Param("exclude"))
    return query.tuples()


_BUSY = Statement(lambda: _busy_query(False))
_BUSY_EXCLUDING = Statement(lambda: _busy_query(True))
_ATTENDED = Statement(lambda: _busy_query(False, attended=True))
_ATTENDED_EXCLUDING = Statement(lambda: _busy_query(True, attended=True))


@busy_source
def _bookings_busy(event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime,
                   exclude_booking_id: str | None) -> dict[str, list[tuple[datetime, datetime]]]:
    """Confirmed bookings of each host across all event types (their own, and the team bookings they attend),
    each widened by its own buffers."""
    reach = timedelta(seconds=MAX_BUFFER_SECONDS)
    window = {"before": end + reach, "after": start - reach - MAX_BOOKING_LENGTH, "ends_after": start - reach}
    if exclude_booking_id:
        window["exclude"] = exclude_booking_id
    if len(hosts) > 1:
        return _team_busy(hosts, window)
    own, attended = (_BUSY_EXCLUDING, _ATTENDED_EXCLUDING) if exclude_booking_id else (_BUSY, _ATTENDED)
    busy = {}
    for host in hosts:
        rows = own.rows(user=host, **window)
        if event_type.seats:        # a seated event type's slots with a free seat stay open to it (seat_busy.py)
            rows = without_open_seats(event_type, rows, window)
        rows = list(rows) + list(attended.rows(user=host, **window))
        busy[host] = [(start_at - timedelta(minutes=before), end_at + timedelta(minutes=after))
                      for start_at, end_at, before, after in rows]
    return busy


def _team_busy(hosts: Sequence[str], window: dict) -> dict[str, list[tuple[datetime, datetime]]]:
    """``_bookings_busy`` for several hosts in two queries (their own bookings, the team bookings they attend)."""
    columns = (Booking.start_at, Booking.end_at, Booking.buffer_before, Booking.buffer_after)
    in_window = (Booking.status.in_(TAKEN_STATUSES) & (Booking.start_at < window["before"])
                 & (Booking.start_at > window["after"]) & (Booking.end_at > window["ends_after"]))
    if "exclude" in window:
        in_window &= Booking.id != window["exclude"]
    own = Booking.select(Booking.user, *columns).where(Booking.user.in_(list(hosts)) & in_window)
    attended = (Booking.select(BookingHost.user, *columns).join(BookingHost, on=(BookingHost.booking == Booking.id))
                .where(BookingHost.user.in_(list(hosts)) & in_window))
    busy: dict[str, list[tuple[datetime, datetime]]] = {host: [] for host in hosts}
    for query in (own, attended):
        for host, start_at, end_at, before, after in query.tuples():
            busy[host].append((start_at - timedelta(minutes=before), end_at + timedelta(minutes=after)))
    return busy


@day_count_source
def _bookings_per_day(event_type: EventType, zones: Mapping[str, str], start: datetime,
                      end: datetime) -> dict[str, dict[date, int]]:
    """Bookings of this event type on each host-local date (a team event type: the ones each host attends)."""
    query = (Booking.select(Booking.start_at, Booking.user)
             .where((Booking.event_type == event_type.id) & Booking.status.in_(TAKEN_STATUSES)
                    & (Booking.start_at >= start - timedelta(days=1)) & (Booking.start_at < end + timedelta(days=1))))
    if event_type.team_id:
        query = (Booking.select(Booking.start_at, BookingHost.user)
                 .join(BookingHost, on=(BookingHost.booking == Booking.id))
                 .where((Booking.event_type == event_type.id) & Booking.status.in_(TAKEN_STATUSES)
                        & (Booking.start_at >= start - timedelta(days=1))
                        & (Booking.start_at < end + timedelta(days=1)) & BookingHost.user.in_(list(zones))))
    counts: dict[str, dict[date, int]] = {host: {} for host in zones}
    for start_at, host in query.tuples():
        if host not in counts:
            continue
        day = start_at.astimezone(zone(zones[host])).date()
        counts[host][day] = counts[host].get(day, 0) + 1
    return counts
