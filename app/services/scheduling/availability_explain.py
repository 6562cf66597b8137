"""Why the slot engine offers a start or not, for the availability troubleshooter (issue 23): the same working
ranges, slot grid and DST handling as the engine (``availability``'s own helpers), with each rule's verdict kept
instead of applied."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from app.services.scheduling.availability import (
    _DAY,
    _EPOCH_ORDINAL,
    _TIMELINE_MARGIN,
    Schedule,
    SlotRules,
    _day_ranges,
    _grid,
    _range_seconds,
    _ZoneTimeline,
    load_zone,
)
from app.services.scheduling.period_limits import PeriodLimits


@dataclass(frozen=True)
class Candidate:
    """One start on the grid of a working range, with why the engine does not offer it (empty: offered).

    ``reasons`` holds codes: ``"past"``, ``"notice"`` (inside the minimum notice), ``"before_window"``,
    ``"after_window"`` (outside the booking window), ``"day_limit"`` (max bookings per day reached),
    ``("limit", reached)`` for each booking limit a booking of it would exceed (``period_limits.Reached``) and
    ``("busy", i)`` for each busy interval ``i`` (index into the busy list given) overlapping
    ``[s - before_buffer, s + length + after_buffer)``.
    """

    start: int                      # epoch seconds
    local_date: date                # the host-local date whose working range it belongs to
    range_start: int                # that range, epoch seconds
    range_end: int
    reasons: tuple = ()

    @property
    def available(self) -> bool:
        return not self.reasons


def explain_candidates(
    schedule: Schedule,
    busy: Sequence[tuple[float, float]],
    rules: SlotRules,
    window_start: float,
    window_end: float,
    now: float,
    day_counts: Mapping[date, int] | None,
    span_start: int,
    span_end: int,
    limits: PeriodLimits | None = None,
) -> list[Candidate]:
    """Every grid start in ``[span_start, span_end)`` of every working range (the same ranges and grid as the
    engine), each with the rules of :func:`_engine` that exclude it.  A candidate without reasons is exactly a
    start the engine returns for the same input; slow (it checks every busy interval), for one day at a time."""
    length = rules.length * 60
    step = rules.step * 60
    before = rules.before_buffer * 60
    reach_after = length + rules.after_buffer * 60
    counts = day_counts or {}
    notice_start = math.ceil(now + rules.minimum_notice * 60)
    first_window = math.ceil(window_start)
    last_start = math.floor(window_end) - length
    tz = load_zone(schedule.timezone)
    timeline = _ZoneTimeline(tz, span_start - _TIMELINE_MARGIN, span_end + _TIMELINE_MARGIN)
    clock_grid = rules.uses_clock_grid
    single_offset = timeline.offsets[0] if len(timeline.offsets) == 1 else None
    weekly = [_range_seconds(schedule.weekly.get(weekday, ())) for weekday in range(7)]
    pairs = [(b0, b1) for b0, b1 in busy]
    if any(b0 > b1 for b0, b1 in pairs):
        raise ValueError("busy interval ends before it starts")
    found: dict[int, Candidate] = {}
    for day in range(timeline.local_day(span_start) - 1, timeline.local_day(span_end) + 2):
        local_date = date.fromordinal(_EPOCH_ORDINAL + day)
        midnight = day * _DAY
        full = rules.max_per_day is not None and counts.get(local_date, 0) >= rules.max_per_day
        over = [("limit", r) for r in limits.reached(local_date, rules.length)] if limits is not None else []
        for range_start, range_end in _day_ranges(weekly, schedule.overrides, local_date):
            start = timeline.resolve(midnight + range_start, False)
            end = timeline.resolve(midnight + range_end, True)
            lo, hi = max(start, span_start), min(end - length, span_end - 1)
            if lo > hi:
                continue
            for s in _grid(timeline, clock_grid, single_offset, step, start, lo, hi):
                reasons: list = []
                if s < notice_start:
                    reasons.append("past" if s < now else "notice")
                if s < first_window and s >= now:
                    reasons.append("before_window")
                if s > last_start:
                    reasons.append("after_window")
                if full:
                    reasons.append("day_limit")
                reasons.extend(over)
                reasons.extend(("busy", i) for i, (b0, b1) in enumerate(pairs)
                               if b0 < b1 and b0 < s + reach_after and b1 > s - before)
                candidate = Candidate(s, local_date, start, end, tuple(reasons))
                previous = found.get(s)
                # a start two ranges share (across a daylight-saving change) is offered when either offers it
                if previous is None or (previous.reasons and not candidate.reasons):
                    found[s] = candidate
    return [found[s] for s in sorted(found)]


def working_ranges(schedule: Schedule, span_start: int, span_end: int) -> list[tuple[date, int, int, bool]]:
    """(local date, start, end epoch seconds, from an override) of the working ranges meeting the span."""
    timeline = _ZoneTimeline(load_zone(schedule.timezone), span_start - _TIMELINE_MARGIN, span_end + _TIMELINE_MARGIN)
    weekly = [_range_seconds(schedule.weekly.get(weekday, ())) for weekday in range(7)]
    out = []
    for day in range(timeline.local_day(span_start) - 1, timeline.local_day(span_end) + 2):
        local_date = date.fromordinal(_EPOCH_ORDINAL + day)
        override = local_date in schedule.overrides
        for range_start, range_end in _day_ranges(weekly, schedule.overrides, local_date):
            start = timeline.resolve(day * _DAY + range_start, False)
            end = timeline.resolve(day * _DAY + range_end, True)
            if start < span_end and end > span_start:
                out.append((local_date, start, end, override))
    return out
