"""Bookable slots of an event type: loads what the pure slot engine needs and calls it.

Busy time comes from registered sources (the host's bookings, connected calendars) so that this module
does not depend on them; each source returns (start, end) UTC intervals already widened by the buffers
of the event they represent.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.models import EventType, EventTypeHost, Schedule, User
from app.services.scheduling import availability, booking_limits
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.schedules import to_engine
from app.services.scheduling.team_slots import RoundRobinSlots, collective_slots, round_robin_slots
from app.services.scheduling.team_slots import TeamMember as EngineMember
from app.timezones import zone

# (event type, host ids, start, end, booking id to ignore, e.g. the one being rescheduled) -> host id -> busy intervals.
# A personal event type asks about its host alone; a team event type about every host of it, in one call.
BusySource = Callable[[EventType, Sequence[str], datetime, datetime, str | None],
                      Mapping[str, Iterable[tuple[datetime, datetime]]]]
# (event type, host id -> zone, start, end) -> host id -> host-local date -> bookings of this event type they attend
DayCountSource = Callable[[EventType, Mapping[str, str], datetime, datetime], Mapping[str, dict[date, int]]]
BUSY_SOURCES: list[BusySource] = []
DAY_COUNT_SOURCES: list[DayCountSource] = []
# (event type, host ids, start, end) -> a context manager inside which the busy sources answer from fresh data
BusyRefresher = Callable[[EventType, Sequence[str], datetime, datetime], AbstractContextManager]
BUSY_REFRESHERS: list[BusyRefresher] = []


# (host id, start, end) -> epoch interval -> labels the host may read ("Busy in Work"): the troubleshooter's names
# for busy time a source reported; registered by the sources that have names to give
BusyLabeler = Callable[[str, datetime, datetime], Mapping[tuple[int, int], list[str]]]
BUSY_LABELERS: list[BusyLabeler] = []
# Seats (issue 23, app/services/booking/seats.py): (event type, starts offered, start, end, booking id to ignore,
# length) -> the starts kept. The bookings' busy source leaves out a seated event type's own seats at a slot that is
# not full (so it stays offered); this drops its other starts overlapping such a slot, where the host is busy.
SeatFilter = Callable[[EventType, list[datetime], datetime, datetime, str | None, int], list[datetime]]
SEAT_FILTERS: list[SeatFilter] = []


def busy_labeler(fn: BusyLabeler) -> BusyLabeler:
    BUSY_LABELERS.append(fn)
    return fn


def busy_labels(host: str, start: datetime, end: datetime) -> dict[tuple[int, int], list[str]]:
    """Every registered labeler's names for the host's busy intervals in [start, end)."""
    out: dict[tuple[int, int], list[str]] = {}
    for labeler in BUSY_LABELERS:
        for key, names in labeler(host, start, end).items():
            merged = out.setdefault(key, [])
            merged.extend(name for name in names if name not in merged)
    return out


def busy_source(fn: BusySource) -> BusySource:
    BUSY_SOURCES.append(fn)
    return fn


def day_count_source(fn: DayCountSource) -> DayCountSource:
    DAY_COUNT_SOURCES.append(fn)
    return fn


def busy_refresher(fn: BusyRefresher) -> BusyRefresher:
    BUSY_REFRESHERS.append(fn)
    return fn


def host_ids(event_type: EventType) -> list[str]:
    """Whose busy time an event type's slots depend on: its host, or every host of a team event type (by id)."""
    if not event_type.team_id:
        return [event_type.user_id]
    return [host.user_id for host in hosts_of(event_type)]


@contextmanager
def fresh_busy(event_type: EventType, start: datetime, end: datetime, hosts: Sequence[str] | None = None):
    """For a booking's conflict check: sources with a cache (connected calendars) read [start, end) fresh,
    with a bounded wait, before the booking transaction starts; inside the block they answer from that data."""
    hosts = list(hosts) if hosts is not None else host_ids(event_type)
    with ExitStack() as stack:
        for refresher in BUSY_REFRESHERS:
            stack.enter_context(refresher(event_type, hosts, start, end))
        yield


def busy_of(event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime,
            exclude_booking_id: str | None = None) -> dict[str, list[tuple[datetime, datetime]]]:
    """Every host's busy intervals between ``start`` and ``end`` from every source."""
    busy: dict[str, list[tuple[datetime, datetime]]] = {host: [] for host in hosts}
    for _source, found in busy_by_source(event_type, hosts, start, end, exclude_booking_id):
        for host, intervals in found.items():
            busy[host].extend(intervals)
    return busy


def busy_by_source(event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime,
                   exclude_booking_id: str | None = None):
    """(source, host id -> busy intervals) of every busy source, in order (``busy_of`` joins them)."""
    for source in BUSY_SOURCES:
        yield source, source(event_type, hosts, start, end, exclude_booking_id)


def day_counts_of(event_type: EventType, zones: Mapping[str, str], start: datetime,
                  end: datetime) -> dict[str, dict[date, int]]:
    counts: dict[str, dict[date, int]] = {host: {} for host in zones}
    if not event_type.max_per_day:
        return counts
    for source in DAY_COUNT_SOURCES:
        for host, days in source(event_type, zones, start, end).items():
            mine = counts[host]
            for day, count in days.items():
                mine[day] = mine.get(day, 0) + count
    return counts


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
    if event_type.team_id:
        return team_slots(event_type, start, end, now=now, duration=duration,
                                           exclude_booking_id=exclude_booking_id).starts
    schedule = schedule or effective_schedule(event_type)
    if schedule is None:
        return []
    window_start, window_end = booking_window(event_type, schedule.timezone, now)
    start, end = max(start, window_start), min(end, window_end)
    if start >= end:
        return []
    host = event_type.user_id
    busy = busy_of(event_type, [host], start, end, exclude_booking_id)[host]
    day_counts = day_counts_of(event_type, {host: schedule.timezone}, start, end)[host]
    rules = rules_for(event_type, duration)
    limits = booking_limits.limits_of(event_type, {host: schedule.timezone}, start, end, exclude_booking_id)[host]
    slots = availability.compute_slots(to_engine(schedule), busy, rules, start, end, now,
                                       day_counts=day_counts or None, limits=limits)
    for seat_filter in SEAT_FILTERS if event_type.seats else ():
        slots = seat_filter(event_type, slots, start, end, exclude_booking_id, rules.length)
    return slots


# --- team event types (issue 15) ---------------------------------------------------------------------
def hosts_of(event_type: EventType) -> list[EventTypeHost]:
    """The hosts of a team event type, their users joined, by user id."""
    return list(EventTypeHost.select(EventTypeHost, User).join(User)
                .where((EventTypeHost.event_type == event_type.id) & (User.is_disabled == False))  # noqa: E712
                .order_by(EventTypeHost.user))


@dataclass
class TeamSlots:
    starts: list[datetime]
    round_robin: RoundRobinSlots | None = None      # round-robin: who is free at each start
    hosts: list[EventTypeHost] | None = None

    def free_at(self, start: datetime) -> tuple[str, ...]:
        if self.round_robin is None:
            return tuple(host.user_id for host in self.hosts or []) if start in self.starts else ()
        return self.round_robin.free_members_at(start)


def _schedules(user_ids: Sequence[str]) -> dict[str, Schedule]:
    """Each host's default schedule, else their oldest one."""
    found: dict[str, Schedule] = {}
    rows = (Schedule.select().where(Schedule.user.in_(list(user_ids)))
            .order_by(Schedule.user, Schedule.is_default.desc(), Schedule.created_at))
    for schedule in rows:
        found.setdefault(schedule.user_id, schedule)
    return found


def team_slots(event_type: EventType, start: datetime, end: datetime, *, now: datetime | None = None,
               duration: int | None = None, exclude_booking_id: str | None = None,
               hosts: list[EventTypeHost] | None = None) -> TeamSlots:
    """Bookable starts of a team event type between ``start`` and ``end`` (collective: every host free;
    round-robin: at least one, with every fixed host), with who is free at each for a round-robin one."""
    now = now or datetime.now(UTC)
    hosts = hosts if hosts is not None else hosts_of(event_type)
    if not hosts:
        return TeamSlots([], hosts=hosts)
    window_tz = effective_schedule(event_type)
    window_start, window_end = booking_window(event_type, window_tz.timezone if window_tz else "UTC", now)
    start, end = max(start, window_start), min(end, window_end)
    if start >= end:
        return TeamSlots([], hosts=hosts)
    ids = [host.user_id for host in hosts]
    schedules = _schedules(ids)
    collective = event_type.scheduling_type == "collective"
    if collective and len(schedules) < len(ids):
        return TeamSlots([], hosts=hosts)       # a host without hours is never free
    present = [host for host in hosts if host.user_id in schedules]
    present_ids = [host.user_id for host in present]
    busy = busy_of(event_type, present_ids, start, end, exclude_booking_id)
    zones = {uid: schedules[uid].timezone for uid in present_ids}
    counts = day_counts_of(event_type, zones, start, end)
    limits = booking_limits.limits_of(event_type, zones, start, end, exclude_booking_id)
    members = [EngineMember(id=host.user_id, schedule=to_engine(schedules[host.user_id]), busy=busy[host.user_id],
                            day_counts=counts[host.user_id] or None, fixed=host.is_fixed, limits=limits[host.user_id])
               for host in present]
    if any(host.is_fixed and host.user_id not in schedules for host in hosts):
        return TeamSlots([], hosts=hosts)
    rules = rules_for(event_type, duration)
    if collective:
        return TeamSlots(collective_slots(members, rules, start, end, now), hosts=hosts)
    result = round_robin_slots(members, rules, start, end, now)
    return TeamSlots(result.starts, result, hosts=hosts)


