"""Bookable slots of an event type: loads what the pure slot engine needs and calls it.

Busy time comes from registered sources (the host's bookings, connected calendars) so that this module
does not depend on them; each source returns (start, end) UTC intervals already widened by the buffers
of the event they represent.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta

from app.models import EventType, Schedule
from app.services.scheduling import availability
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.schedules import to_engine
from app.timezones import zone

# (event type, start, end, booking id to ignore, e.g. the one being rescheduled) -> busy intervals
BusySource = Callable[[EventType, datetime, datetime, str | None], Iterable[tuple[datetime, datetime]]]
DayCountSource = Callable[[EventType, datetime, datetime, str], dict[date, int]]
BUSY_SOURCES: list[BusySource] = []
DAY_COUNT_SOURCES: list[DayCountSource] = []
# (event type, start, end) -> a context manager inside which the busy sources answer from fresh data
BusyRefresher = Callable[[EventType, datetime, datetime], AbstractContextManager]
BUSY_REFRESHERS: list[BusyRefresher] = []


def busy_source(fn: BusySource) -> BusySource:
    BUSY_SOURCES.append(fn)
    return fn


def day_count_source(fn: DayCountSource) -> DayCountSource:
    DAY_COUNT_SOURCES.append(fn)
    return fn


def busy_refresher(fn: BusyRefresher) -> BusyRefresher:
    BUSY_REFRESHERS.append(fn)
    return fn


@contextmanager
def fresh_busy(event_type: EventType, start: datetime, end: datetime):
    """For a booking's conflict check: sources with a cache (connected calendars) read [start, end) fresh,
    with a bounded wait, before the booking transaction starts; inside the block they answer from that data."""
    with ExitStack() as stack:
        for refresher in BUSY_REFRESHERS:
            stack.enter_context(refresher(event_type, start, end))
        yield


def booking_window(event_type: EventType, host_tz: str, now: datetime) -> tuple[datetime, datetime]:
    """The instants between which the event type can be booked at all."""
    tz = zone(host_tz)
    if event_type.window_type == "range" and event_type.window_start and event_type.window_end:
        start = datetime.combine(event_type.window_start, time(0), tz).astimezone(UTC)
        end = datetime.combine(event_type.window_end + timedelta(days=1), time(0), tz).astimezone(UTC)
        return max(start, now), end
    local_today = now.astimezone(tz).date()
    end = datetime.combine(local_today + timedelta(days=event_type.window_days + 1), time(0), tz)
    return now, end.astimezone(UTC)


def rules_for(event_type: EventType, duration: int | None = None) -> availability.SlotRules:
    length = duration or event_type.duration
    return availability.SlotRules(
        length=length,
        interval=event_type.slot_interval or length,
        before_buffer=event_type.buffer_before,
        after_buffer=event_type.buffer_after,
        minimum_notice=event_type.minimum_notice,
        max_per_day=event_type.max_per_day,
    )


def available_slots(event_type: EventType, start: datetime, end: datetime, *, now: datetime | None = None,
                    duration: int | None = None, exclude_booking_id: str | None = None,
                    schedule: Schedule | None = None) -> list[datetime]:
    """Sorted UTC start times bookable between ``start`` and ``end`` (aware datetimes). ``schedule``: the
    event type's effective schedule when the caller has it already."""
    now = now or datetime.now(UTC)
    schedule = schedule or effective_schedule(event_type)
    if schedule is None:
        return []
    window_start, window_end = booking_window(event_type, schedule.timezone, now)
    start, end = max(start, window_start), min(end, window_end)
    if start >= end:
        return []
    busy: list[tuple[datetime, datetime]] = []
    for source in BUSY_SOURCES:
        busy.extend(source(event_type, start, end, exclude_booking_id))
    day_counts: dict[date, int] = {}
    if event_type.max_per_day:
        for source in DAY_COUNT_SOURCES:
            for day, count in source(event_type, start, end, schedule.timezone).items():
                day_counts[day] = day_counts.get(day, 0) + count
    return availability.compute_slots(to_engine(schedule), busy, rules_for(event_type, duration), start, end, now,
                                      day_counts=day_counts or None)
