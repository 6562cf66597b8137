"""Availability schedules: weekly hours and date overrides, validated and stored.

Hours are kept as "HH:MM" strings; an end of "00:00" (or "24:00") means midnight at the end of the date.
Error messages show times on the host's clock (``users.hour12``: ``1:00pm`` or ``13:00``) and dates as people
write them (``Wednesday, 9 December 2026``), like the pages around them (``app.datetimes``).
"""
from __future__ import annotations

import itertools
import re
from datetime import date, time, timedelta

from app.datetimes import format_date, format_hhmm, host_clock
from app.db import transaction
from app.models import EventType, Schedule, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling.availability import Schedule as EngineSchedule
from app.services.scheduling.availability import TimeRange
from app.statements import Param, Statement
from app.timezones import is_valid_timezone

HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_WEEKLY = {str(d): [["09:00", "17:00"]] if d < 5 else [] for d in range(7)}
MAX_OVERRIDE_SPAN_DAYS = 366


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _end_minutes(hhmm: str) -> int:
    value = minutes(hhmm)
    return 1440 if value == 0 else value


def validate_ranges(ranges: list[list[str]] | list[tuple[str, str]], label: str, *,
                    hour12: bool = False) -> tuple[list[list[str]], str | None]:
    """Check one day's ranges: well-formed, end after start, no overlaps. Returns (sorted ranges, error); the
    error shows times on a 12-hour clock when ``hour12``."""
    def t(hhmm: str) -> str:
        return format_hhmm(hhmm, hour12)

    cleaned: list[list[str]] = []
    for pair in ranges:
        if len(pair) != 2:
            return [], f"{label}: each range needs a start and an end."
        start, end = (str(pair[0]).strip(), str(pair[1]).strip())
        if not HHMM.match(start) or not HHMM.match(end) or minutes(start) > 1440 or minutes(end) > 1440:
            return [], f"{label}: use times like 09:00."
        if start == "24:00":
            return [], f"{label}: a range cannot start at 24:00."
        end = "00:00" if end == "24:00" else end
        if _end_minutes(end) <= minutes(start):
            return [], f"{label}: the end ({t(end)}) must be after the start ({t(start)})."
        cleaned.append([start, end])
    cleaned.sort(key=lambda r: minutes(r[0]))
    for previous, current in itertools.pairwise(cleaned):
        if minutes(current[0]) < _end_minutes(previous[1]):
            return [], (f"{label}: {t(previous[0])}–{t(previous[1])} overlaps "
                        f"{t(current[0])}–{t(current[1])}.")
    return cleaned, None


_DEFAULT = Statement(lambda: Schedule.select().where((Schedule.user == Param("user")) & Schedule.is_default).limit(1))
_OLDEST = Statement(lambda: Schedule.select().where(Schedule.user == Param("user")).order_by(Schedule.created_at)
                    .limit(1))


def default_schedule_for(user: User) -> Schedule | None:
    return _DEFAULT.first(user=user) or _OLDEST.first(user=user)


def create_default_schedule(user: User) -> Schedule:
    return Schedule.create(user=user, name="Working hours", timezone=user.timezone, is_default=True,
                           weekly=DEFAULT_WEEKLY, overrides={})


def get_schedule(user: User, schedule_id: str) -> Schedule:
    schedule = Schedule.get_or_none((Schedule.id == schedule_id) & (Schedule.user == user))
    if schedule is None:
        raise NotFound("Schedule not found")
    return schedule


def create_schedule(user: User, name: str, timezone: str, *, ip: str | None = None) -> Schedule:
    errors = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = "Enter a name of at most 100 characters."
    if not is_valid_timezone(timezone):
        errors["timezone"] = "Choose a time zone from the list."
    if errors:
        raise ValidationFailed(errors)
    with transaction():
        bump_pages_version(user.id)
        first = not Schedule.select().where(Schedule.user == user).exists()
        schedule = Schedule.create(user=user, name=name, timezone=timezone, is_default=first,
                                   weekly=DEFAULT_WEEKLY, overrides={})
        audit.record("settings.updated", resource="schedule", resource_id=schedule.id, user=user, actor=user,
                     ip=ip, details={"field": "schedule", "oldValue": None, "newValue": name})
    return schedule


def update_schedule(schedule: Schedule, *, name: str | None = None, timezone: str | None = None,
                    weekly: dict[str, list] | None = None, ip: str | None = None) -> Schedule:
    """Replace the name, zone and/or weekly hours; nothing is saved unless everything is valid."""
    errors: dict[str, str] = {}
    changes: dict = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            errors["name"] = "Enter a name of at most 100 characters."
        changes["name"] = name
    if timezone is not None:
        if not is_valid_timezone(timezone):
            errors["timezone"] = "Choose a time zone from the list."
        changes["timezone"] = timezone
    if weekly is not None:
        cleaned = {}
        hour12 = host_clock(schedule.user).hour12
        for day in range(7):
            ranges, problem = validate_ranges(weekly.get(str(day), []), WEEKDAYS[day], hour12=hour12)
            if problem:
                errors[f"day-{day}"] = problem
            cleaned[str(day)] = ranges
        changes["weekly"] = cleaned
    if errors:
        raise ValidationFailed(errors)
    with transaction():
        bump_pages_version(schedule.user_id)
        old = {k: getattr(schedule, k) for k in changes}
        for key, value in changes.items():
            setattr(schedule, key, value)
        schedule.updated_at = utcnow()
        schedule.save()
        for key, value in changes.items():
            if old[key] != value:
                audit.record("settings.updated", resource="schedule", resource_id=schedule.id, user=schedule.user,
                             actor=schedule.user, ip=ip,
                             details={"field": f"schedule.{key}", "oldValue": old[key], "newValue": value})
    return schedule


def set_override(schedule: Schedule, first: date, last: date | None, ranges: list[list[str]],
                 *, ip: str | None = None) -> Schedule:
    """Give every date from ``first`` to ``last`` these hours ([] = unavailable, e.g. a vacation)."""
    last = last or first
    errors = {}
    if last < first:
        errors["override_end"] = "The last date must not be before the first."
    elif (last - first).days >= MAX_OVERRIDE_SPAN_DAYS:
        errors["override_end"] = "An override can cover at most one year."
    label = format_date(first) if last == first else f"{format_date(first)} to {format_date(last)}"
    cleaned, problem = validate_ranges(ranges, label, hour12=host_clock(schedule.user).hour12)
    if problem:
        errors["override_ranges"] = problem
    if errors:
        raise ValidationFailed(errors)
    overrides = dict(schedule.overrides or {})
    day = first
    while day <= last:
        overrides[day.isoformat()] = cleaned
        day += timedelta(days=1)
    with transaction():
        bump_pages_version(schedule.user_id)
        schedule.overrides = overrides
        schedule.updated_at = utcnow()
        schedule.save()
        audit.record("settings.updated", resource="schedule", resource_id=schedule.id, user=schedule.user,
                     actor=schedule.user, ip=ip, details={"field": "schedule.override", "oldValue": None,
                                                          "newValue": {"from": first.isoformat(),
                                                                       "to": last.isoformat(), "hours": cleaned}})
    return schedule


def remove_override(schedule: Schedule, day: date) -> Schedule:
    overrides = dict(schedule.overrides or {})
    if overrides.pop(day.isoformat(), None) is not None:
        with transaction():
            bump_pages_version(schedule.user_id)
            schedule.overrides = overrides
            schedule.updated_at = utcnow()
            schedule.save()
    return schedule


def make_default(schedule: Schedule) -> None:
    with transaction():
        bump_pages_version(schedule.user_id)
        Schedule.update(is_default=False).where(Schedule.user == schedule.user_id).execute()
        Schedule.update(is_default=True).where(Schedule.id == schedule.id).execute()
    schedule.is_default = True


def delete_schedule(schedule: Schedule) -> None:
    if schedule.is_default:
        raise ValidationFailed({"schedule": "Make another schedule the default before deleting this one."})
    with transaction():
        bump_pages_version(schedule.user_id)
        EventType.update(schedule=None).where(EventType.schedule == schedule.id).execute()
        schedule.delete_instance()


def _parse_time(hhmm: str) -> time:
    value = minutes(hhmm)
    return time(0, 0) if value in (0, 1440) else time(value // 60, value % 60)


def _engine_range(start: str, end: str) -> TimeRange:
    # Stored hours never use 00:00-00:00 as "unavailable" (a date without hours is an empty list), so a stored
    # 00:00-00:00 (or 00:00-24:00) is what the host entered: the whole day.
    whole_day = minutes(start) == 0 and minutes(end) in (0, 1440)
    return TimeRange(_parse_time(start), _parse_time(end), whole_day=whole_day)


def to_engine(schedule: Schedule) -> EngineSchedule:
    """The slot engine's view of a stored schedule."""
    weekly = {int(day): tuple(_engine_range(a, b) for a, b in ranges)
              for day, ranges in (schedule.weekly or {}).items()}
    overrides = {date.fromisoformat(day): tuple(_engine_range(a, b) for a, b in ranges)
                 for day, ranges in (schedule.overrides or {}).items()}
    return EngineSchedule(timezone=schedule.timezone, weekly=weekly, overrides=overrides)
