"""Property tests of the slot engine across many zones, including daylight-saving days.

Each example is a random schedule, busy list and rule set around a real offset change of a random zone.
The checks use zoneinfo directly (never the engine's offset tables), and the last two tests compare the
engine with a brute-force reference that walks every minute of every working range.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.scheduling.availability import Schedule, SlotRules, TimeRange, compute_slots

MINUTE = timedelta(minutes=1)
ZONES = [
    "UTC",
    "America/New_York",
    "America/St_Johns",  # -03:30 with DST
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Europe/London",
    "Europe/Berlin",
    "Asia/Beirut",  # changes at midnight
    "Asia/Kathmandu",  # +05:45
    "Asia/Kolkata",
    "Australia/Adelaide",  # +09:30 with DST
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Chatham",  # +12:45 with DST
    "Pacific/Apia",
]
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
    database=None,
)


@dataclass(frozen=True)
class OffsetChange:
    """One offset change: the local date and the wall-clock span (minutes of that date) skipped or repeated."""

    day: date
    first_minute: int
    last_minute: int


SCAN_END = datetime(2028, 1, 1, tzinfo=UTC)


def _last_before_change(tz: ZoneInfo, moment: datetime, step: timedelta) -> datetime:
    """Walk forward from ``moment`` in ``step``s; return the last step before the offset changes."""
    offset = moment.astimezone(tz).utcoffset()
    while moment < SCAN_END and (moment + step).astimezone(tz).utcoffset() == offset:
        moment += step
    return moment


@cache
def offset_changes(zone_name: str) -> tuple[OffsetChange, ...]:
    """Offset changes of the zone in 2025-2027, located to the minute with zoneinfo (empty for fixed zones)."""
    tz = ZoneInfo(zone_name)
    found = []
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    while True:
        moment = _last_before_change(tz, moment, timedelta(days=1))
        if moment >= SCAN_END:
            break
        change = _last_before_change(tz, _last_before_change(tz, moment, timedelta(hours=1)), MINUTE) + MINUTE
        old, new = (change - MINUTE).astimezone(tz).utcoffset(), change.astimezone(tz).utcoffset()
        before, after = change.replace(tzinfo=None) + old, change.replace(tzinfo=None) + new
        day = min(before, after).date()
        minutes = sorted((wall - datetime.combine(day, time(0))) // MINUTE for wall in (before, after))
        found.append(OffsetChange(day, *minutes))
        moment = change
    return tuple(found)


def clock_time(minutes: int) -> time:
    """Minutes after midnight (1440 = midnight at the end of the day) as a TimeRange bound."""
    return time((minutes // 60) % 24, minutes % 60)


@cache
def hot_minutes(hot: OffsetChange) -> st.SearchStrategy[int]:
    """Bounds (minutes after midnight) in or next to the span that an offset change skips or repeats."""
    return st.sampled_from(
        sorted({hot.first_minute, hot.last_minute, *range(hot.first_minute - 15, hot.last_minute + 30, 15)})
    )


RANGE_COUNTS = st.integers(0, 2)
RANGE_SPANS = st.sampled_from([60, 120, 240, 480, 720, 15])
QUARTER_HOURS = st.integers(0, 95)
FREE_MODE = st.just("free")
RANGE_MODES = st.sampled_from(["start", "end", "both", "free"])


@st.composite
def working_ranges(draw, hot: OffsetChange | None = None) -> list[TimeRange]:
    """0-2 ranges on a 15-minute grid, mostly hours long; with ``hot``, bounds often fall on the offset change."""
    ranges = []
    for _ in range(draw(RANGE_COUNTS)):
        span = draw(RANGE_SPANS)
        mode = draw(FREE_MODE if hot is None else RANGE_MODES)
        if mode == "free":
            start = draw(QUARTER_HOURS) * 15
            end = start + span
        elif mode == "start":
            start = draw(hot_minutes(hot))
            end = start + span
        elif mode == "end":
            end = draw(hot_minutes(hot))
            start = end - span
        else:
            start, end = sorted((draw(hot_minutes(hot)), draw(hot_minutes(hot))))
        start, end = max(0, start), min(1440, end)
        if start < end and start < 1440:
            ranges.append(TimeRange(clock_time(start), clock_time(end)))
    return ranges


ZONE_NAMES = st.sampled_from(ZONES)
DST_ZONE_NAMES = st.sampled_from([zone for zone in ZONES if offset_changes(zone)])
DAYS_OF_2026 = st.integers(0, 364)
WINDOW_SHIFTS = st.sampled_from([0, 0, -90, -1440, 45, 180, 600])  # minutes from the anchor's midnight
WINDOW_LENGTHS = st.sampled_from([1440, 2880, 4320, 720])
MINUTES_OF_HOUR = st.integers(0, 59)
BUSY_COUNTS = st.integers(0, 8)
BUSY_UNITS = st.sampled_from([15, 15, 1])
LENGTHS = st.sampled_from([5, 15, 20, 30, 30, 45, 60, 90])
INTERVALS = st.sampled_from([None, None, 5, 10, 15, 20, 25, 30, 45, 60, 90])
BEFORE_BUFFERS = st.sampled_from([0, 0, 5, 15, 30])
AFTER_BUFFERS = st.sampled_from([0, 0, 10, 15, 45])
NOTICES = st.sampled_from([0, 0, 0, 30, 120, 600])
DAILY_MAXIMA = st.sampled_from([None, None, None, None, 1, 2, 0])
WEEK_PATTERNS = st.lists(st.sampled_from([0, 0, 1, 1, 2]), min_size=7, max_size=7)
DAY_COUNTS = st.lists(st.integers(0, 3), min_size=5, max_size=5)
NOW_SHIFTS = st.sampled_from([-600, -60, 0, 0, 90, 300])  # minutes from the window start


@st.composite
def scenarios(draw) -> dict:
    """Inputs of one compute_slots call: a 1-3 day window, usually around an offset change of the zone."""
    zone_name = draw(ZONE_NAMES)
    tz = ZoneInfo(zone_name)
    changes = offset_changes(zone_name)
    hot = draw(st.sampled_from(changes)) if changes and draw(st.integers(0, 4)) else None
    anchor = hot.day if hot is not None else date(2026, 1, 1) + timedelta(days=draw(DAYS_OF_2026))
    midnight = datetime.combine(anchor, time(0), tz).astimezone(UTC)
    window_start = midnight + timedelta(minutes=draw(WINDOW_SHIFTS))
    window_end = window_start + timedelta(minutes=draw(WINDOW_LENGTHS) + draw(MINUTES_OF_HOUR))

    # Two sets of hours (plus days off) shared out over the week keeps generation cheap.
    choices = [draw(working_ranges(hot)), draw(working_ranges(hot)), []]
    weekly = {weekday: choices[pick] for weekday, pick in enumerate(draw(WEEK_PATTERNS))}
    overrides = {}
    for _ in range(draw(RANGE_COUNTS)):
        overrides[anchor + timedelta(days=draw(st.integers(-1, 3)))] = draw(working_ranges(hot))

    busy = []
    for _ in range(draw(BUSY_COUNTS)):
        # Quarter hours of the host's day (so busy times often touch buffered slots exactly) or any minute.
        unit = draw(BUSY_UNITS)
        start = midnight + timedelta(minutes=unit * draw(st.integers(-1440 // unit, 3 * 1440 // unit)))
        end = start + timedelta(minutes=unit * draw(st.integers(1, 120 // unit)))
        shown_in = ZoneInfo(draw(ZONE_NAMES))  # busy times may come in any zone
        busy.append((start.astimezone(shown_in), end.astimezone(shown_in)))

    rules = SlotRules(
        length=draw(LENGTHS),
        interval=draw(INTERVALS),
        before_buffer=draw(BEFORE_BUFFERS),
        after_buffer=draw(AFTER_BUFFERS),
        minimum_notice=draw(NOTICES),
        max_per_day=draw(DAILY_MAXIMA),
    )
    day_counts = {anchor + timedelta(days=shift): count for shift, count in enumerate(draw(DAY_COUNTS), -1)}
    now = window_start + timedelta(minutes=draw(NOW_SHIFTS))
    return {
        "schedule": Schedule(zone_name, weekly, overrides),
        "busy": busy,
        "rules": rules,
        "window_start": window_start,
        "window_end": window_end,
        "now": now,
        "day_counts": day_counts,
    }


@st.composite
def offset_change_days(draw) -> dict:
    """A quiet scenario (no busy time, notice or limits) of one day on which the host's offset changes,
    with working-range bounds in or next to the skipped or repeated wall-clock span."""
    zone_name = draw(DST_ZONE_NAMES)
    hot = draw(st.sampled_from(offset_changes(zone_name)))
    midnight = datetime.combine(hot.day, time(0), ZoneInfo(zone_name)).astimezone(UTC)
    ranges = draw(working_ranges(hot).filter(bool))
    return {
        "schedule": Schedule(zone_name, {weekday: ranges for weekday in range(7)}),
        "busy": [],
        "rules": SlotRules(length=draw(st.sampled_from([5, 15, 30, 60])), interval=draw(INTERVALS)),
        "window_start": midnight - timedelta(hours=3),
        "window_end": midnight + timedelta(hours=27),
        "now": midnight - timedelta(days=1),
        "day_counts": {},
    }

# --------------------------------------------------------------------------------------------------
# Independent reference helpers (zoneinfo only)
# --------------------------------------------------------------------------------------------------

def local_wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def resolve_bound(day: date, bound: time, tz: ZoneInfo, is_end: bool) -> datetime:
    """Instant of a range bound: repeated -> first (start) / second (end); skipped -> first instant after."""
    wall = datetime.combine(day, bound)
    if is_end and bound == time(0):
        wall += timedelta(days=1)
    occurrences = sorted(
        {
            candidate
            for fold in (0, 1)
            for candidate in [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)]
            if local_wall(candidate, tz) == wall
        }
    )
    if occurrences:
        return occurrences[-1] if is_end else occurrences[0]
    moment = min(wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    while local_wall(moment, tz) < wall:  # walk to the end of the gap
        moment += MINUTE
    return moment


def working_ranges_of(scenario: dict) -> list[tuple[date, datetime, datetime]]:
    """(date, start, end) of every working range on the dates the window touches, bounds resolved."""
    schedule = scenario["schedule"]
    tz = ZoneInfo(schedule.timezone)
    first = scenario["window_start"].astimezone(tz).date() - timedelta(days=1)
    last = scenario["window_end"].astimezone(tz).date()
    found = []
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        for item in schedule.overrides.get(day, schedule.weekly.get(day.weekday(), [])):
            if not (item.start == time(0) and item.end == time(0)):
                found.append((day, resolve_bound(day, item.start, tz, False), resolve_bound(day, item.end, tz, True)))
    return found


def on_grid(slot: datetime, range_start: datetime, rules: SlotRules, tz: ZoneInfo) -> bool:
    if 60 % rules.step == 0:
        local = slot.astimezone(tz)
        return local.second == 0 and local.minute % rules.step == 0
    return (slot - range_start) % timedelta(minutes=rules.step) == timedelta(0)


def blocked(slot: datetime, scenario: dict) -> bool:
    rules = scenario["rules"]
    lo = slot - timedelta(minutes=rules.before_buffer)
    hi = slot + timedelta(minutes=rules.length + rules.after_buffer)
    return any(start < hi and lo < end for start, end in scenario["busy"])


def day_closed(day: date, scenario: dict) -> bool:
    limit = scenario["rules"].max_per_day
    return limit is not None and scenario["day_counts"].get(day, 0) >= limit


def reference_slots(scenario: dict) -> list[datetime]:
    """Brute force: every minute of every working range, checked against every rule."""
    rules = scenario["rules"]
    tz = ZoneInfo(scenario["schedule"].timezone)
    length = timedelta(minutes=rules.length)
    earliest = max(scenario["window_start"], scenario["now"] + timedelta(minutes=rules.minimum_notice))
    found = set()
    for day, range_start, range_end in working_ranges_of(scenario):
        if day_closed(day, scenario):
            continue
        slot = range_start
        while slot + length <= range_end:
            if (
                earliest <= slot
                and slot + length <= scenario["window_end"]
                and on_grid(slot, range_start, rules, tz)
                and not blocked(slot, scenario)
            ):
                found.add(slot)
            slot += MINUTE
    return sorted(found)


def owning_ranges(slot: datetime, scenario: dict, ranges: list) -> list[tuple[date, datetime, datetime]]:
    """The (date, start, end) working ranges that contain [slot, slot + length)."""
    length = timedelta(minutes=scenario["rules"].length)
    return [(day, start, end) for day, start, end in ranges if start <= slot and slot + length <= end]


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

@SETTINGS
@given(scenarios())
def test_output_is_sorted_unique_utc_datetimes(scenario):
    slots = compute_slots(**scenario)
    assert slots == sorted(set(slots))
    assert all(slot.tzinfo is UTC for slot in slots)


@SETTINGS
@given(scenarios())
def test_no_slot_overlaps_a_busy_interval_widened_by_the_buffers(scenario):
    for slot in compute_slots(**scenario):
        assert not blocked(slot, scenario), slot


@SETTINGS
@given(scenarios())
def test_every_slot_lies_within_one_working_range_on_the_host_clock_and_on_its_grid(scenario):
    tz = ZoneInfo(scenario["schedule"].timezone)
    ranges = working_ranges_of(scenario)
    for slot in compute_slots(**scenario):
        owners = owning_ranges(slot, scenario, ranges)
        assert owners, slot
        assert any(on_grid(slot, start, scenario["rules"], tz) for _, start, _ in owners), slot


@SETTINGS
@given(scenarios())
def test_notice_window_and_daily_maximum_hold(scenario):
    rules = scenario["rules"]
    length = timedelta(minutes=rules.length)
    ranges = working_ranges_of(scenario)
    for slot in compute_slots(**scenario):
        assert slot >= scenario["now"] + timedelta(minutes=rules.minimum_notice)
        assert scenario["window_start"] <= slot and slot + length <= scenario["window_end"]
        assert any(not day_closed(day, scenario) for day, _, _ in owning_ranges(slot, scenario, ranges))


@SETTINGS
@given(scenarios())
def test_no_slot_starts_at_a_time_missing_from_the_host_clock(scenario):
    tz = ZoneInfo(scenario["schedule"].timezone)
    for slot in compute_slots(**scenario):
        local = slot.astimezone(tz)
        rebuilt = local.replace(tzinfo=None).replace(tzinfo=tz, fold=local.fold)
        assert rebuilt.astimezone(UTC) == slot  # the wall time exists and maps back to the same instant


# Long busy lists in UTC take another index (see test_availability.py); these intervals in 2020 make a
# list long without blocking anything in the scenarios' 2025-2027 windows.
LONG_AGO = [
    (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=n),
     datetime(2020, 1, 1, 0, 30, tzinfo=UTC) + timedelta(hours=n))
    for n in range(2000)
]


@SETTINGS
@given(scenarios())
def test_busy_order_and_zone_do_not_change_the_slots(scenario):
    utc_sorted = sorted((start.astimezone(UTC), end.astimezone(UTC)) for start, end in scenario["busy"])
    expected = compute_slots(**scenario)
    assert compute_slots(**dict(scenario, busy=utc_sorted)) == expected
    assert compute_slots(**dict(scenario, busy=LONG_AGO + utc_sorted)) == expected


@SETTINGS
@given(scenarios())
def test_engine_matches_brute_force_reference(scenario):
    assert compute_slots(**scenario) == reference_slots(scenario)


@SETTINGS
@given(offset_change_days())
def test_offset_change_days_match_brute_force_reference(scenario):
    assert compute_slots(**scenario) == reference_slots(scenario)
