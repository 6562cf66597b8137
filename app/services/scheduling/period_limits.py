"""Booking limits per period (issue 23): the pure rule the slot engine and the troubleshooter share.

A limit caps the bookings (or the booked minutes) a host takes in one period of their schedule's zone: a local
day, a week starting on Monday, a calendar month or a calendar year. A booking belongs to the period of its start's
local date and counts all its minutes there. A slot of ``length`` minutes on local date ``d`` is hidden when, for
some limit, what is already booked in the period of ``d`` plus the slot (1 booking, or ``length`` minutes) would
exceed the limit. Every check depends on the local date alone, so the engine asks once per date, never per slot.

No database or Flask access: the usage (existing bookings as ``(local date, minutes)``) is loaded by
``booking_limits``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

PERIODS = ("day", "week", "month", "year")
UNITS = ("bookings", "minutes")
SCOPES = ("event_type", "host")      # whose bookings count: this event type's, or every one of the host's
PERIOD_ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}


def period_start(period: str, day: date) -> date:
    """The first local date of the period containing ``day`` (weeks start on Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown period {period!r}")


def period_end(period: str, day: date) -> date:
    """The first local date after the period containing ``day``."""
    first = period_start(period, day)
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    if period == "month":
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date(first.year + 1, 1, 1)


@dataclass(frozen=True)
class Limit:
    """At most ``maximum`` bookings (or booked minutes) a ``period``, counting the event type's bookings or all of
    the host's (``scope``)."""

    period: str
    unit: str
    maximum: int
    scope: str = "event_type"

    def __post_init__(self) -> None:
        if self.period not in PERIODS or self.unit not in UNITS or self.scope not in SCOPES:
            raise ValueError(f"invalid limit {self!r}")
        if isinstance(self.maximum, bool) or not isinstance(self.maximum, int) or self.maximum < 0:
            raise ValueError(f"a limit's maximum must be a non-negative integer, got {self.maximum!r}")

    def cost(self, length: int) -> int:
        """What one booking of ``length`` minutes adds to this limit's count."""
        return 1 if self.unit == "bookings" else length


@dataclass(frozen=True)
class Reached:
    """A limit a slot would exceed: ``used`` is what is booked in the slot's period already."""

    limit: Limit
    used: int


class PeriodLimits:
    """Limits with the bookings they count, answering "does a slot on this local date fit?" once per date.

    ``usage``: scope -> ``(local date of the start, minutes)`` of each existing booking that scope counts.
    ``counted``: scope -> local date -> more bookings counted on that date whose minutes do not matter (the loader
    gives those far from the window, which only monthly and yearly counts reach, as totals).
    """

    __slots__ = ("_cache", "_totals", "limits")

    def __init__(self, limits: Sequence[Limit], usage: Mapping[str, Iterable[tuple[date, int]]],
                 counted: Mapping[str, Mapping[date, int]] | None = None) -> None:
        self.limits = tuple(limits)
        totals: dict[tuple[str, str, str], dict[date, int]] = {}
        for scope in {limit.scope for limit in self.limits}:
            rows = list(usage.get(scope, ()))      # one pass over the bookings, then over their dates only
            day_counts: dict[date, int] = Counter(day for day, _ in rows)
            day_counts.update((counted or {}).get(scope, {}))
            day_minutes: dict[date, int] = dict.fromkeys(day_counts, 0)
            if any(limit.unit == "minutes" for limit in self.limits if limit.scope == scope):
                for day, length in rows:
                    day_minutes[day] += length
            for period in {limit.period for limit in self.limits if limit.scope == scope}:
                counts, minutes = ({}, {}) if period != "day" else (day_counts, day_minutes)
                if period != "day":
                    for day, count in day_counts.items():
                        key = period_start(period, day)
                        counts[key] = counts.get(key, 0) + count
                        minutes[key] = minutes.get(key, 0) + day_minutes[day]
                totals[(scope, period, "bookings")] = dict(counts)
                totals[(scope, period, "minutes")] = dict(minutes)
        self._totals = totals
        self._cache: dict[int, tuple] = {}

    def add(self, day: date, minutes: int) -> None:
        """Count one more booking (of the event type, so every scope counts it) on local date ``day``."""
        for (_scope, period, unit), totals in self._totals.items():
            key = period_start(period, day)
            totals[key] = totals.get(key, 0) + (1 if unit == "bookings" else minutes)
        self._cache.clear()

    def used(self, limit: Limit, day: date) -> int:
        """Bookings (or minutes) already in the period of ``day`` that ``limit`` counts."""
        return self._totals[(limit.scope, limit.period, limit.unit)].get(period_start(limit.period, day), 0)

    def reached(self, day: date, length: int) -> list[Reached]:
        """Every limit a ``length``-minute slot on local date ``day`` would exceed."""
        return [Reached(limit, used) for limit in self.limits
                if (used := self.used(limit, day)) + limit.cost(length) > limit.maximum]

    def _blocked(self, length: int) -> tuple[bool, frozenset[tuple[str, date]], tuple[str, ...]]:
        """For ``length``-minute slots: whether every date is blocked (a limit below one slot's cost), the
        (period, first date) pairs that are full, and the periods among them."""
        everywhere, full = False, set()
        for limit in self.limits:
            cost = limit.cost(length)
            everywhere = everywhere or cost > limit.maximum
            full.update((limit.period, key) for key, used in self._totals[(limit.scope, limit.period, limit.unit)]
                        .items() if used + cost > limit.maximum)
        return everywhere, frozenset(full), tuple({period for period, _ in full})

    def blocks(self, day: date, length: int) -> bool:
        """True when a ``length``-minute slot on local date ``day`` would exceed a limit (the full periods are
        found once per length, so a date costs a set lookup per full kind of period, none when nothing is full)."""
        found = self._cache.get(length)
        if found is None:
            found = self._cache[length] = self._blocked(length)
        everywhere, full, periods = found
        return everywhere or any((period, period_start(period, day)) in full for period in periods)


def describe(reached: Reached, length: int) -> str:
    """The troubleshooter's words: "Weekly limit reached (3 of 3)"."""
    limit, used = reached.limit, reached.used
    adjective = PERIOD_ADJECTIVES[limit.period].capitalize()
    whose = "" if limit.scope == "event_type" else " across all your event types"
    if limit.unit == "bookings":
        return f"{adjective} limit{whose} reached ({used} of {limit.maximum})"
    return (f"{adjective} booked-minutes limit{whose} reached ({used} of {limit.maximum} minutes booked; "
            f"this slot needs {length})")
