"""Slot engine: which start times can an invitee book with a host?

Pure functions, no database or Flask access.  The rule (shared with the comparison benchmark in
``shared/bench/slots/README.md``): a start ``s`` is offered when

* ``[s, s + length)`` lies inside one working range of one host-local date.  A date override replaces that
  date's weekly hours; ``00:00-00:00`` means unavailable; an end of ``00:00`` means midnight at the end of
  the date.  Range bounds are wall-clock times in the host's zone, so a range containing a daylight-saving
  change is longer or shorter in real minutes.
* ``[s - before_buffer, s + length + after_buffer)`` overlaps no busy interval (touching is fine).
* ``s >= now + minimum_notice``, ``s >= window_start`` and ``s + length <= window_end``.
* The host-local date has fewer existing bookings than ``max_per_day`` (when set), and a booking of the slot
  would exceed none of the booking limits per day, week, month or year (``limits``; see ``period_limits``).
* ``s`` is on the slot grid.  When the interval divides 60 minutes the grid is the host's wall clock
  (:00, :15, ...), so both occurrences of a repeated hour count and a skipped hour offers nothing.
  Otherwise the grid is every ``interval`` minutes of elapsed time from the start of the working range
  (45 minutes from 10:00 gives 10:00, 10:45, 11:30, ...).
* A range bound in a skipped hour means the first instant after the gap; a bound in a repeated hour
  means its first occurrence for a start and its second occurrence for an end.

Implementation: everything runs on integer epoch seconds.  The zone's UTC offsets over the window are
computed once per call as a handful of constant-offset segments (``_ZoneTimeline``: zoneinfo is asked once
per day, plus a bisection to the second on a day whose offset changes), so each local date costs a few
integer operations.  Busy intervals are kept as two independently sorted arrays of starts and ends: the
number of busy intervals overlapping ``[x, y)`` is ``#(start < y) - #(end <= x)``, i.e. two bisections per
candidate slot (one pair per working range when nothing is busy near it), with no merging.  Short busy
lists are converted to epoch seconds; long UTC lists are sorted and searched as datetimes (comparing two
datetimes is much cheaper than converting one).
"""
from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.services.scheduling.period_limits import PeriodLimits

__all__ = [
    "Schedule",
    "SlotRules",
    "TimeRange",
    "compute_slot_epochs",
    "compute_slot_epochs_indexed",
    "compute_slots",
    "group_by_day",
    "load_zone",
]

_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Zone offsets are sampled once a day and each change is located to the second by bisection.  This is
# exact as long as a zone never changes offset twice within one day: in tzdata (1900 onwards) offset
# changes are at least 166 hours apart.
_PROBE_STEP = _DAY
# Margin of the offset timeline around the window: covers the previous/next local date at any offset.
_TIMELINE_MARGIN = 3 * _DAY
# Busy lists in UTC at least this long are indexed as datetimes (see _BusyIndex); for shorter ones the
# two datetimes built per query cost more than converting the list once.
_DATETIME_INDEX_MIN = 1000


# --------------------------------------------------------------------------------------------------
# Input model
# --------------------------------------------------------------------------------------------------

def load_zone(tz_name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, raising ValueError if the zone is unknown or malformed."""
    if not isinstance(tz_name, str):
        raise TypeError(f"time zone must be an IANA name string, got {tz_name!r}")
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {tz_name!r}") from exc


def _seconds_of(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class TimeRange:
    """Working hours on one local date, as wall-clock times.

    ``end == time(0, 0)`` means midnight (24:00) at the end of the date; ``00:00-00:00`` means unavailable,
    unless ``whole_day`` says it is the whole date, 00:00-24:00.
    """

    start: time
    end: time
    whole_day: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.start, time) or not isinstance(self.end, time):
            raise TypeError("TimeRange start and end must be datetime.time values")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("TimeRange times are wall-clock times and must not carry a tzinfo")
        if not self.is_unavailable and self.end_seconds <= self.start_seconds:
            raise ValueError(f"TimeRange end {self.end} must be after its start {self.start}")

    @property
    def is_unavailable(self) -> bool:
        """True for the ``00:00-00:00`` marker, which offers nothing."""
        return self.start == time(0, 0) and self.end == time(0, 0) and not self.whole_day

    @property
    def start_seconds(self) -> int:
        """Seconds after local midnight at which the range starts."""
        return _seconds_of(self.start)

    @property
    def end_seconds(self) -> int:
        """Seconds after local midnight at which the range ends (86400 for a midnight end)."""
        return _seconds_of(self.end) or _DAY


@dataclass(frozen=True)
class Schedule:
    """A host's availability: weekly hours (0=Monday .. 6=Sunday) plus per-date overrides.

    A date present in ``overrides`` replaces that date's weekly hours; an empty sequence (or the
    ``00:00-00:00`` range) makes the date unavailable.
    """

    timezone: str
    weekly: Mapping[int, Sequence[TimeRange]]
    overrides: Mapping[date, Sequence[TimeRange]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        load_zone(self.timezone)
        for day, ranges in self.weekly.items():
            if not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"weekly day must be 0 (Monday) .. 6 (Sunday), got {day!r}")
            _check_ranges(ranges, f"weekday {day}")
        for day, ranges in self.overrides.items():
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"override keys must be datetime.date values, got {day!r}")
            _check_ranges(ranges, f"override {day}")


def _check_ranges(ranges: Sequence[TimeRange], where: str) -> None:
    for item in ranges:
        if not isinstance(item, TimeRange):
            raise TypeError(f"{where}: expected TimeRange values, got {item!r}")


@dataclass(frozen=True)
class SlotRules:
    """Event-type rules, all durations in minutes.  ``interval=None`` means the event length."""

    length: int
    interval: int | None = None
    before_buffer: int = 0
    after_buffer: int = 0
    minimum_notice: int = 0
    max_per_day: int | None = None

    def __post_init__(self) -> None:
        _require_int(self.length, "length", minimum=1, rule="positive")
        if self.interval is not None:
            _require_int(self.interval, "interval", minimum=1, rule="positive")
        _require_int(self.before_buffer, "before_buffer", minimum=0, rule="non-negative")
        _require_int(self.after_buffer, "after_buffer", minimum=0, rule="non-negative")
        _require_int(self.minimum_notice, "minimum_notice", minimum=0, rule="non-negative")
        if self.max_per_day is not None:
            _require_int(self.max_per_day, "max_per_day", minimum=0, rule="non-negative")

    @property
    def step(self) -> int:
        """Slot interval in minutes."""
        return self.length if self.interval is None else self.interval

    @property
    def uses_clock_grid(self) -> bool:
        """True when slots sit on the host's wall-clock grid (the interval divides 60 minutes)."""
        return 60 % self.step == 0


def _require_int(value: object, name: str, *, minimum: int, rule: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer number of minutes, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {rule}, got {value}")


# --------------------------------------------------------------------------------------------------
# Zone offsets
# --------------------------------------------------------------------------------------------------

def _utc_offset(tz: ZoneInfo, epoch: int) -> int:
    """UTC offset in seconds of ``tz`` at the instant ``epoch``."""
    delta = datetime.fromtimestamp(epoch, tz).utcoffset()
    return delta.days * _DAY + delta.seconds


class _ZoneTimeline:
    """The UTC offset of one zone over a bounded span, as constant-offset segments.

    Segment ``i`` covers ``[starts[i], starts[i + 1])`` with offset ``offsets[i]``; the first segment
    extends to -infinity and the last to +infinity.  Local ("wall") times are expressed as seconds since
    1970-01-01 00:00 on the local clock, so ``wall = epoch + offset``.
    """

    __slots__ = ("offsets", "starts")

    def __init__(self, tz: ZoneInfo, span_start: int, span_end: int) -> None:
        offset = _utc_offset(tz, span_start)
        starts, offsets = [span_start], [offset]
        probe = span_start
        while probe < span_end:
            nxt = min(probe + _PROBE_STEP, span_end)
            nxt_offset = _utc_offset(tz, nxt)
            if nxt_offset != offset:
                # Find the first second with the new offset: off(lo) == offset, off(hi) != offset.
                lo, hi = probe, nxt
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if _utc_offset(tz, mid) == offset:
                        lo = mid
                    else:
                        hi = mid
                starts.append(hi)
                offsets.append(nxt_offset)
                offset = nxt_offset
            probe = nxt
        self.starts = starts
        self.offsets = offsets

    def offset_at(self, epoch: int) -> int:
        """UTC offset in seconds at the instant ``epoch``."""
        index = bisect_right(self.starts, epoch) - 1
        return self.offsets[max(0, index)]

    def local_day(self, epoch: int) -> int:
        """Local date of the instant ``epoch``, as days since 1970-01-01."""
        return (epoch + self.offset_at(epoch)) // _DAY

    def resolve(self, wall: int, is_end: bool) -> int:
        """Epoch of a local wall-clock time, following the README rule for skipped/repeated times.

        Repeated: first occurrence for a start, second for an end.  Skipped: the first instant after the gap.
        """
        starts, offsets = self.starts, self.offsets
        count = len(starts)
        if count == 1:
            return wall - offsets[0]
        found = None
        for index in range(count):
            candidate = wall - offsets[index]
            if (index == 0 or candidate >= starts[index]) and (
                index + 1 == count or candidate < starts[index + 1]
            ):
                if not is_end:
                    return candidate
                found = candidate
            elif found is None and index > 0 and starts[index] + offsets[index] > wall:
                # The wall time falls in the gap just before this segment.
                return starts[index]
        return found

    def clock_grid(self, first: int, last: int, step: int) -> Iterable[int]:
        """Instants in ``[first, last]`` whose local wall-clock time is a multiple of ``step`` seconds."""
        starts, offsets = self.starts, self.offsets
        index = bisect_right(starts, first) - 1
        index = max(index, 0)
        count = len(starts)
        while True:
            seg_end = starts[index + 1] - 1 if index + 1 < count else last
            lo = max(starts[index], first)
            hi = min(seg_end, last)
            if lo <= hi:
                aligned = lo + (-(lo + offsets[index])) % step
                yield from range(aligned, hi + 1, step)
            index += 1
            if index >= count or starts[index] > last:
                return


# --------------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------------

def _range_seconds(ranges: Sequence[TimeRange]) -> tuple[tuple[int, int], ...]:
    """(start, end) seconds after local midnight of the usable ranges."""
    return tuple(
        (item.start_seconds, item.end_seconds) for item in ranges if not item.is_unavailable
    )


def _nonempty(starts: Sequence, ends: Sequence) -> tuple[Sequence, Sequence]:
    """Check that no busy interval ends before it starts; drop empty ones (they block nothing)."""
    if not any(map(operator.ge, starts, ends)):
        return starts, ends
    if any(map(operator.gt, starts, ends)):
        raise ValueError("busy interval ends before it starts")
    kept = [(start, end) for start, end in zip(starts, ends, strict=True) if start < end]
    return [start for start, _ in kept], [end for _, end in kept]


class _BusyIndex:
    """Busy intervals with their starts and their ends each sorted independently.

    Every interval ending at or before ``lo`` also starts before ``hi``, so the number of intervals
    overlapping ``[lo, hi)`` is ``#(start < hi) - #(end <= lo)``: two bisections, no merging.

    Bounds are epoch seconds, or UTC datetimes when ``as_key`` (epoch seconds -> datetime) is given:
    converting a datetime to a number costs several times more than comparing two, so a long UTC list is
    cheaper to sort and search as it is, building two datetimes per query instead of converting it all.
    """

    __slots__ = ("as_key", "ends", "starts")

    def __init__(self, starts: Sequence, ends: Sequence, as_key: Callable[[int], datetime] | None = None) -> None:
        starts, ends = _nonempty(starts, ends)  # an empty interval would break the count
        self.starts = sorted(starts)
        self.ends = sorted(ends)
        self.as_key = as_key

    def is_free(self, lo: int, hi: int) -> bool:
        """True when no busy interval overlaps ``[lo, hi)`` (epoch seconds)."""
        if self.as_key is not None:
            lo, hi = self.as_key(lo), self.as_key(hi)
        return bisect_left(self.starts, hi) == bisect_right(self.ends, lo)

    def free_starts(self, candidates: Iterable[int], before: int, after: int) -> list[int]:
        """The candidate starts ``s`` for which ``[s - before, s + after)`` is free."""
        starts, ends, key = self.starts, self.ends, self.as_key
        if key is None:
            return [s for s in candidates if bisect_left(starts, s + after) == bisect_right(ends, s - before)]
        return [s for s in candidates if bisect_left(starts, key(s + after)) == bisect_right(ends, key(s - before))]


def _utc_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_get_tzinfo = operator.attrgetter("tzinfo")


def _busy_index(busy: Iterable[tuple[datetime, datetime]]) -> _BusyIndex:
    """Index aware-datetime busy intervals (validated) for overlap queries."""
    pairs = list(busy)
    if not pairs:
        return _BusyIndex([], [])
    try:
        starts = [start for start, _ in pairs]
        ends = [end for _, end in pairs]
    except (TypeError, ValueError):
        raise TypeError("busy must hold (start, end) pairs") from None
    count = len(starts)
    try:
        if (
            count >= _DATETIME_INDEX_MIN
            and operator.countOf(map(_get_tzinfo, starts), UTC) == count
            and operator.countOf(map(_get_tzinfo, ends), UTC) == count
        ):
            return _BusyIndex(starts, ends, _utc_datetime)
        if None in map(_get_tzinfo, starts) or None in map(_get_tzinfo, ends):
            raise ValueError("busy intervals must be timezone-aware datetimes")
        return _BusyIndex(list(map(datetime.timestamp, starts)), list(map(datetime.timestamp, ends)))
    except (AttributeError, TypeError):
        raise TypeError("busy intervals must be (datetime, datetime) pairs") from None


def _day_ranges(weekly: Sequence[tuple[tuple[int, int], ...]], overrides: Mapping[date, Sequence[TimeRange]],
                local_date: date) -> tuple[tuple[int, int], ...]:
    """(start, end) seconds after local midnight of one local date's working ranges (an override wins)."""
    ranges = overrides.get(local_date)
    return weekly[local_date.weekday()] if ranges is None else _range_seconds(ranges)


def _grid(timeline: _ZoneTimeline, clock_grid: bool, single_offset: int | None, step: int, start: int, lo: int,
          hi: int) -> Iterable[int]:
    """Slot starts on the grid of a working range beginning at ``start``, between ``lo`` and ``hi`` (inclusive)."""
    if clock_grid:
        if single_offset is None:
            return timeline.clock_grid(lo, hi, step)
        return range(lo + (-(lo + single_offset)) % step, hi + 1, step)
    return range(start + -((start - lo) // step) * step, hi + 1, step)


def _engine(
    schedule: Schedule,
    rules: SlotRules,
    busy: _BusyIndex,
    window_start: float,
    window_end: float,
    now: float,
    day_counts: Mapping[date, int] | None,
    limits: PeriodLimits | None = None,
) -> list[int]:
    """Sorted unique slot starts in epoch seconds; the shared core of both public entry points."""
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
    if not isinstance(rules, SlotRules):
        raise TypeError(f"rules must be SlotRules, got {type(rules).__name__}")
    length = rules.length * 60
    step = rules.step * 60
    before = rules.before_buffer * 60
    reach_after = length + rules.after_buffer * 60
    max_per_day = rules.max_per_day
    counts = day_counts or {}
    first_start = max(math.ceil(window_start), math.ceil(now + rules.minimum_notice * 60))
    last_end = math.floor(window_end)
    last_start = last_end - length
    if last_start < first_start:
        return []

    tz = load_zone(schedule.timezone)
    timeline = _ZoneTimeline(tz, first_start - _TIMELINE_MARGIN, last_end + _TIMELINE_MARGIN)
    clock_grid = rules.uses_clock_grid
    weekly = [_range_seconds(schedule.weekly.get(weekday, ())) for weekday in range(7)]
    overrides = schedule.overrides
    resolve = timeline.resolve
    # Fast path for the common case of a window without any offset change.
    single_offset = timeline.offsets[0] if len(timeline.offsets) == 1 else None

    found: list[int] = []
    # A slot belongs to the range of its own local date; the extra date before the first one is a
    # cheap safety margin for ranges whose bounds resolve across midnight on offset-change days.
    for day in range(timeline.local_day(first_start) - 1, timeline.local_day(last_start) + 1):
        local_date = date.fromordinal(_EPOCH_ORDINAL + day)
        if max_per_day is not None and counts.get(local_date, 0) >= max_per_day:
            continue
        if limits is not None and limits.blocks(local_date, rules.length):
            continue
        ranges = _day_ranges(weekly, overrides, local_date)
        midnight = day * _DAY
        for range_start, range_end in ranges:
            start = resolve(midnight + range_start, False)
            end = resolve(midnight + range_end, True)
            lo = max(first_start, start)
            hi = end - length  # last possible slot start
            hi = min(hi, last_start)
            if lo > hi:
                continue
            candidates = _grid(timeline, clock_grid, single_offset, step, start, lo, hi)
            if busy.is_free(lo - before, hi + reach_after):
                found.extend(candidates)  # nothing busy anywhere near this range
            else:
                found.extend(busy.free_starts(candidates, before, reach_after))
    if len(found) > 1:
        found = sorted(set(found))
    return found


def _epoch_of(moment: datetime, name: str) -> float:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.timestamp()


def compute_slot_epochs(
    schedule: Schedule,
    busy: Iterable[tuple[float, float]],
    rules: SlotRules,
    window_start: float,
    window_end: float,
    now: float,
    day_counts: Mapping[date, int] | None = None,
    limits: PeriodLimits | None = None,
) -> list[int]:
    """Like :func:`compute_slots`, on epoch seconds: returns sorted unique slot starts as epoch ints.

    ``busy`` holds ``(start, end)`` epoch seconds, already widened by the existing bookings' buffers.
    """
    pairs = list(busy)
    index = _BusyIndex([start for start, _ in pairs], [end for _, end in pairs])
    return _engine(schedule, rules, index, window_start, window_end, now, day_counts, limits)


def compute_slot_epochs_indexed(
    schedule: Schedule,
    busy: _BusyIndex,
    rules: SlotRules,
    window_start: float,
    window_end: float,
    now: float,
    day_counts: Mapping[date, int] | None = None,
    limits: PeriodLimits | None = None,
) -> list[int]:
    """Like :func:`compute_slot_epochs`, with the busy time already indexed by the caller: any object answering
    ``_BusyIndex``'s two queries, ``is_free(lo, hi)`` and ``free_starts(candidates, before, after)`` (epoch
    seconds; candidates come in ascending order, as a ``range`` or an iterator).  Used by the team engine
    (``team_slots``), which runs this engine for many members on indexes that convert little.
    """
    return _engine(schedule, rules, busy, window_start, window_end, now, day_counts, limits)


def compute_slots(
    schedule: Schedule,
    busy: Iterable[tuple[datetime, datetime]],
    rules: SlotRules,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    day_counts: Mapping[date, int] | None = None,
    limits: PeriodLimits | None = None,
) -> list[datetime]:
    """Bookable slot starts for one host, as sorted unique aware UTC datetimes.

    ``busy``: ``(start, end)`` aware datetimes (any zone), already widened by the buffers of the existing
    bookings' event types; the new event's own buffers from ``rules`` are applied here.  Slots satisfy
    ``window_start <= s`` and ``s + length <= window_end``.  ``day_counts`` maps host-local dates to the
    number of existing bookings; a date whose count reaches ``rules.max_per_day`` offers nothing. ``limits``: the
    booking limits with the bookings they count; a date on which a booking would exceed one offers nothing.
    Raises ValueError for naive datetimes or inconsistent input (TypeError for arguments of a wrong type).
    """
    window = (_epoch_of(window_start, "window_start"), _epoch_of(window_end, "window_end"))
    now_epoch = _epoch_of(now, "now")
    epochs = _engine(schedule, rules, _busy_index(busy), *window, now_epoch, day_counts, limits)
    from_epoch = datetime.fromtimestamp
    return [from_epoch(epoch, UTC) for epoch in epochs]


def group_by_day(slots: Iterable[datetime], tz_name: str) -> dict[date, list[datetime]]:
    """Group slot starts by their local date in ``tz_name`` (the invitee's zone).

    Dates come in ascending order and each date's slots are sorted; the datetimes themselves are
    returned unchanged (convert with ``astimezone`` for display).
    """
    tz = load_zone(tz_name)
    items = list(slots)
    for slot in items:
        if not isinstance(slot, datetime):
            raise TypeError(f"slots must be datetimes, got {slot!r}")
        if slot.tzinfo is None:
            raise ValueError(f"slots must be timezone-aware, got naive {slot!r}")
    grouped: dict[date, list[datetime]] = {}
    for slot in sorted(items):
        grouped.setdefault(slot.astimezone(tz).date(), []).append(slot)
    return grouped
