"""Booking limits (issue 23 point 3): what each host's limits are, and the bookings they count, for the slot engine.

Two sets of limits, each in the zone of the schedule in use (weeks start on Monday; months and years are calendar
ones): an event type's own (``max_per_day`` stays with the engine's per-day counts; bookings per week, month and
year, booked minutes per day and week here) counting the bookings of that event type, and the host's
(``HostBookingLimits``: the same six, across all their event types) counting every booking they take: their own
and the team bookings they attend. A booking counts in the period of its start, with all its minutes.

The usage is read with one query per scope and call (two for the host's: own and attended), covering whole periods
around the window, never per slot; the booking service asks again under the host lock (``slots.available_slots``
in its transaction), so concurrent bookings never exceed a limit.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from peewee import Case, fn

from app.db import transaction
from app.models import Booking, BookingHost, EventType, HostBookingLimits, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.models.bookings import TAKEN_STATUSES
from app.services.errors import ValidationFailed
from app.services.scheduling.event_types import OPTION_VALIDATORS, effective_schedule
from app.services.scheduling.period_limits import Limit, PeriodLimits, period_end, period_start
from app.timezones import zone

# form field -> (period, unit, lowest, highest, words for errors)
FIELDS: dict[str, tuple[str, str, int, int, str]] = {
    "max_per_day": ("day", "bookings", 1, 1000, "bookings per day"),
    "max_per_week": ("week", "bookings", 1, 5000, "bookings per week"),
    "max_per_month": ("month", "bookings", 1, 20000, "bookings per month"),
    "max_per_year": ("year", "bookings", 1, 200000, "bookings per year"),
    "max_minutes_per_day": ("day", "minutes", 5, 1440, "booked minutes per day"),
    "max_minutes_per_week": ("week", "minutes", 5, 10080, "booked minutes per week"),
}
EVENT_TYPE_FIELDS = tuple(name for name in FIELDS if name != "max_per_day")   # max_per_day: event_types.py
API_NAMES = {"max_per_day": "maxPerDay", "max_per_week": "maxPerWeek", "max_per_month": "maxPerMonth",
             "max_per_year": "maxPerYear", "max_minutes_per_day": "maxMinutesPerDay",
             "max_minutes_per_week": "maxMinutesPerWeek"}


def _limits(row: Any, names: Sequence[str], scope: str) -> list[Limit]:
    out = []
    for name in names:
        value = getattr(row, name, None)
        if value is not None:
            period, unit, *_ = FIELDS[name]
            out.append(Limit(period, unit, int(value), scope))
    return out


def event_type_limits(event_type: EventType) -> list[Limit]:
    """The event type's own limits handled here (not ``max_per_day``: the engine's day counts do that one)."""
    return _limits(event_type, EVENT_TYPE_FIELDS, "event_type")


def host_limits(user_ids: Sequence[str]) -> dict[str, list[Limit]]:
    """Each host's limits across all their event types, in one query."""
    found: dict[str, list[Limit]] = {uid: [] for uid in user_ids}
    for row in HostBookingLimits.select().where(HostBookingLimits.user.in_(list(user_ids))):
        found[row.user_id] = _limits(row, tuple(FIELDS), "host")
    return found


def _span(limits: Sequence[Limit], zones: Mapping[str, str], start: datetime,
          end: datetime) -> tuple[datetime, datetime]:
    """UTC bounds of every whole period (of the widest limit) that a slot in [start, end) can fall in, in any
    host's zone."""
    lows, highs = [], []
    for tz_name in set(zones.values()):
        tz = zone(tz_name)
        # a day's margin: the engine also looks at the date before the window's first one
        first, last = (start - timedelta(days=1)).astimezone(tz).date(), (end + timedelta(days=1)).astimezone(tz).date()
        lows.append(datetime.combine(min(period_start(x.period, first) for x in limits), time(0), tz))
        highs.append(datetime.combine(max(period_end(x.period, last) for x in limits), time(0), tz))
    return min(lows).astimezone(UTC), max(highs).astimezone(UTC)


def _taken(low: datetime, high: datetime, exclude_booking_id: str | None):
    condition = Booking.status.in_(TAKEN_STATUSES) & (Booking.start_at >= low) & (Booking.start_at < high)
    if exclude_booking_id:
        condition &= Booking.id != exclude_booking_id
    return condition


def _usage(event_type: EventType, hosts: Sequence[str], scope: str, low: datetime, high: datetime,
           exclude_booking_id: str | None) -> dict[str, dict[str, tuple[datetime, datetime]]]:
    """host -> booking id -> (start, end) of the bookings ``scope`` counts whose start is in [low, high)."""
    found: dict[str, dict[str, tuple[datetime, datetime]]] = {host: {} for host in hosts}
    condition = _taken(low, high, exclude_booking_id)
    for _column, query in _scope_queries(event_type, hosts, scope, condition, Booking.id, Booking.start_at,
                                         Booking.end_at):
        for host, booking_id, start_at, end_at in query.tuples():
            found[host][booking_id] = (start_at, end_at)
    return found


def _scope_queries(event_type: EventType, hosts: Sequence[str], scope: str, condition, *columns) -> list:
    """(host column, query selecting it and ``columns``) of the bookings ``scope`` counts: those filed under the
    host, and the team bookings they attend but are not filed under them (so none counts twice)."""
    if scope == "event_type":
        condition &= Booking.event_type == event_type.id
    queries = []
    if scope == "host" or not event_type.team_id:
        queries.append((Booking.user, Booking.select(Booking.user, *columns)
                        .where(condition & Booking.user.in_(list(hosts)))))
    if scope == "host" or event_type.team_id:
        queries.append((BookingHost.user, Booking.select(BookingHost.user, *columns)
                        .join(BookingHost, on=(BookingHost.booking == Booking.id))
                        .where(condition & BookingHost.user.in_(list(hosts)) & (Booking.user != BookingHost.user))))
    return queries


def _buckets(zones: Mapping[str, str], start: datetime, end: datetime,
             years: bool) -> dict[str, list[tuple[date, Any]]]:
    """zone -> (a local date, condition on the start) of each group of bookings counted as a total: the months of
    the window [start, end) in that zone, and (``years``) the rest of its years. The date stands for the group:
    it is in the group's month (or year) but outside the window's weeks, so it fills no day or week of the window."""
    out = {}
    for tz_name in set(zones.values()):
        tz = zone(tz_name)

        def utc(day: date, tz=tz) -> datetime:
            return datetime.combine(day, time(0), tz).astimezone(UTC)

        first, last = (start - timedelta(days=1)).astimezone(tz).date(), (end + timedelta(days=1)).astimezone(tz).date()
        weeks = (period_start("week", first), period_end("week", last))
        months, month = [], period_start("month", first)
        while month <= last:
            months.append(month)
            month = period_end("month", month)
        groups = []
        for month in months:
            stands_for = month if not weeks[0] <= month < weeks[1] else weeks[1]
            following = period_end("month", month)
            groups.append((stands_for, (Booking.start_at >= utc(month)) & (Booking.start_at < utc(following))))
        for year in sorted({m.year for m in months}) if years else ():
            inside = [m for m in months if m.year == year]          # contiguous
            lo, hi = inside[0], period_end("month", inside[-1])
            after = max(hi, weeks[1])
            stands_for = date(year, 1, 1) if lo.month > 1 else (after if after.year == year else None)
            if stands_for is not None:
                groups.append((stands_for, (Booking.start_at >= utc(date(year, 1, 1)))
                               & (Booking.start_at < utc(date(year + 1, 1, 1)))
                               & ((Booking.start_at < utc(lo)) | (Booking.start_at >= utc(hi)))))
        out[tz_name] = groups
    return out


def _far_counts(event_type: EventType, zones: Mapping[str, str], scope: str, far: tuple[datetime, datetime],
                near: tuple[datetime, datetime], window: tuple[datetime, datetime],
                exclude_booking_id: str | None, far_years: bool) -> dict[str, dict[date, int]]:
    """host -> a date (see ``_buckets``) -> bookings ``scope`` counts in that group in the host's zone, within
    ``far`` but outside ``near``: one aggregate query per query of the scope, a column per group (a few)."""
    groups = _buckets(zones, *window, years=far_years)
    columns = {(tz_name, index): fn.SUM(Case(None, [(condition, 1)], 0))
               for tz_name, found in groups.items() for index, (_day, condition) in enumerate(found)}
    condition = _taken(*far, exclude_booking_id) & ((Booking.start_at < near[0]) | (Booking.start_at >= near[1]))
    found: dict[str, dict[date, int]] = {host: {} for host in zones}
    keys = list(columns)
    for host_column, query in _scope_queries(event_type, list(zones), scope, condition, *columns.values()):
        for host, *sums in query.group_by(host_column).tuples():
            mine = found[host]
            for (tz_name, index), total in zip(keys, sums, strict=True):
                if tz_name == zones[host] and total:
                    day = groups[tz_name][index][0]
                    mine[day] = mine.get(day, 0) + int(total)
    return found


def limits_of(event_type: EventType, zones: Mapping[str, str], start: datetime, end: datetime,
              exclude_booking_id: str | None = None) -> dict[str, PeriodLimits | None]:
    """host id -> the limits on slots of ``event_type`` in [start, end) with the bookings they count (None: no
    limits). ``zones``: host id -> the zone of the schedule whose periods apply."""
    own = event_type_limits(event_type)
    per_host = {host: own + extra for host, extra in host_limits(list(zones)).items()}
    out: dict[str, PeriodLimits | None] = {host: None for host in zones}
    limited = {host: limits for host, limits in per_host.items() if limits}
    if not limited:
        return out
    # bookings near the window (its weeks) are read one by one; further ones, which only monthly and yearly counts
    # reach, are counted per month by the database
    near = _span([Limit("week", "bookings", 0)], zones, start, end)
    limits_all = [x for limits in limited.values() for x in limits]
    far = _span(limits_all, zones, start, end)
    far = (min(far[0], near[0]), max(far[1], near[1]))
    usage: dict[str, dict[str, list]] = {host: {} for host in limited}
    counted: dict[str, dict[str, dict[date, int]]] = {host: {} for host in limited}
    for scope in ("event_type", "host"):
        hosts = [host for host, limits in limited.items() if any(x.scope == scope for x in limits)]
        if not hosts:
            continue
        for host, rows in _usage(event_type, hosts, scope, *near, exclude_booking_id).items():
            tz = zone(zones[host])
            usage[host][scope] = [(a.astimezone(tz).date(), int((b - a).total_seconds() // 60))
                                  for a, b in rows.values()]
        if far != near:
            hosts_zones = {host: zones[host] for host in hosts}
            years = any(x.period == "year" for x in limits_all if x.scope == scope)
            for host, months in _far_counts(event_type, hosts_zones, scope, far, near, (start, end),
                                            exclude_booking_id, years).items():
                counted[host][scope] = months
    for host, limits in limited.items():
        out[host] = PeriodLimits(limits, usage[host], counted[host])
    return out


def series_conflicts(event_type: EventType, starts: Sequence[datetime], length: int,
                     exclude_booking_id: str | None = None) -> list[datetime]:
    """The occurrences of a recurring booking of a personal event type that its earlier occurrences push over a
    limit (each alone was checked by the engine): counted in order, as if booked one after another."""
    if len(starts) < 2 or event_type.team_id:
        return []
    schedule = effective_schedule(event_type)
    if schedule is None:
        return []
    host = event_type.user_id
    limits = limits_of(event_type, {host: schedule.timezone}, min(starts), max(starts) + timedelta(minutes=length),
                       exclude_booking_id)[host]
    if limits is None:
        return []
    tz, conflicts = zone(schedule.timezone), []
    for start in sorted(starts):
        day = start.astimezone(tz).date()
        if limits.blocks(day, length):
            conflicts.append(start)
        else:
            limits.add(day, length)
    return conflicts


# --- the event type's fields ------------------------------------------------------------------------------------
def _number(errors: dict, name: str, value: Any) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    _period, _unit, low, high, words = FIELDS[name]
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[name] = f"Enter a whole number of {words}, or leave it empty for no limit."
        return None
    if not low <= number <= high:
        errors[name] = f"Enter between {low} and {high} {words}, or leave it empty for no limit."
        return None
    return number


def _validate_limits(errors: dict, changes: dict, data, current, team) -> None:
    for name in EVENT_TYPE_FIELDS:
        value = getattr(data, name, None)
        if value is not None:
            changes[name] = _number(errors, name, value)


OPTION_VALIDATORS.append(_validate_limits)


# --- the host's limits across all their event types -------------------------------------------------------------
@dataclass
class HostLimits:
    max_per_day: int | None = None
    max_per_week: int | None = None
    max_per_month: int | None = None
    max_per_year: int | None = None
    max_minutes_per_day: int | None = None
    max_minutes_per_week: int | None = None


def get_host_limits(user: User) -> HostLimits:
    row = HostBookingLimits.get_or_none(HostBookingLimits.user == user.id)
    return HostLimits(**{name: getattr(row, name) for name in FIELDS}) if row else HostLimits()


def save_host_limits(user: User, values: Mapping[str, Any]) -> HostLimits:
    """Set the host's limits from form or API values (empty: no limit); raises ValidationFailed with every
    problem, keyed by field."""
    errors: dict[str, str] = {}
    cleaned = {name: _number(errors, name, values.get(name)) for name in FIELDS}
    if errors:
        raise ValidationFailed(errors)
    with transaction(immediate=True):
        updated = (HostBookingLimits.update(**cleaned, updated_at=utcnow())
                   .where(HostBookingLimits.user == user.id).execute())
        if not updated:
            HostBookingLimits.create(user=user.id, **cleaned)
        bump_pages_version(user.id)     # cached booking pages show slots the new limits may hide
    return HostLimits(**cleaned)


def limit_summary(limits: HostLimits | EventType) -> list[str]:
    """Short phrases for the limits set ("3 bookings per week")."""
    return [f"{getattr(limits, name)} {FIELDS[name][4]}" for name in FIELDS if getattr(limits, name, None)]


