"""Tests of the slot engine (app/services/scheduling/availability.py): shared comparison cases and hand-worked examples.

Expected values are written out by hand from the rule in shared/bench/slots/README.md.
"""
from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.services.scheduling import availability
from app.services.scheduling.availability import (
    Schedule,
    SlotRules,
    TimeRange,
    compute_slot_epochs,
    compute_slots,
    group_by_day,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("LINKTIME_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
CASES_DIR = SHARED_DIR / "bench" / "slots" / "cases"
CASE_FILES = sorted(CASES_DIR.glob("case_*.json"), key=lambda path: int(path.stem.split("_")[1]))


def load_bench_script():
    """Import bench/slots_compare.py (not a package) to reuse its case-file parser."""
    spec = importlib.util.spec_from_file_location("slots_compare", REPO_ROOT / "bench" / "slots_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def utc(year, month, day, hour=0, minute=0, second=0):
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def hours(start: str, end: str) -> TimeRange:
    return TimeRange(time.fromisoformat(start), time.fromisoformat(end))


def every_day(*ranges: TimeRange) -> dict[int, list[TimeRange]]:
    return {weekday: list(ranges) for weekday in range(7)}


def slots_on(day: date, tz_name: str, ranges, rules: SlotRules, busy=(), **kwargs) -> list[datetime]:
    """Slots of a schedule open on every day with ``ranges``, with the window covering ``day`` (local)."""
    tz = ZoneInfo(tz_name)
    window_start = datetime.combine(day, time(0), tz)
    window_end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return compute_slots(
        Schedule(tz_name, every_day(*ranges)),
        busy,
        rules,
        kwargs.pop("window_start", window_start),
        kwargs.pop("window_end", window_end),
        kwargs.pop("now", window_start - timedelta(days=30)),
        **kwargs,
    )


def wall(slots: list[datetime], tz_name: str) -> list[str]:
    """Local wall-clock times with their offset, e.g. '01:30-04:00', to make expectations readable."""
    return [slot.astimezone(ZoneInfo(tz_name)).strftime("%H:%M%z") for slot in slots]


# --------------------------------------------------------------------------------------------------
# Shared comparison cases
# --------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not CASE_FILES, reason=f"no shared cases in {CASES_DIR} (set LINKTIME_SHARED_DIR)")
@pytest.mark.parametrize("case_file", CASE_FILES, ids=lambda path: path.stem)
def test_shared_case_output_equals_expected_start_list(case_file):
    bench = load_bench_script()
    expected = json.loads((CASES_DIR / case_file.name.replace("case_", "expected_")).read_text())
    slots = compute_slots(**bench.load_case(case_file))
    assert [bench.format_instant(slot) for slot in slots] == expected


@pytest.mark.skipif(not CASE_FILES, reason=f"no shared cases in {CASES_DIR} (set LINKTIME_SHARED_DIR)")
def test_epoch_fast_path_gives_the_same_slots_as_compute_slots():
    inputs = load_bench_script().load_case(CASE_FILES[-1])
    epochs = compute_slot_epochs(
        inputs["schedule"],
        [(start.timestamp(), end.timestamp()) for start, end in inputs["busy"]],
        inputs["rules"],
        inputs["window_start"].timestamp(),
        inputs["window_end"].timestamp(),
        inputs["now"].timestamp(),
    )
    assert [datetime.fromtimestamp(epoch, UTC) for epoch in epochs] == compute_slots(**inputs)


# --------------------------------------------------------------------------------------------------
# Daylight-saving time and unusual offsets
# --------------------------------------------------------------------------------------------------

def test_new_york_spring_forward_skips_the_missing_hour_on_the_clock_grid():
    slots = slots_on(date(2026, 3, 8), "America/New_York", [hours("00:00", "06:00")], SlotRules(length=60))
    assert wall(slots, "America/New_York") == ["00:00-0500", "01:00-0500", "03:00-0400", "04:00-0400", "05:00-0400"]
    assert slots[1:3] == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)]


def test_new_york_range_start_in_skipped_hour_means_first_instant_after_gap():
    slots = slots_on(date(2026, 3, 8), "America/New_York", [hours("02:30", "04:00")], SlotRules(length=30))
    assert slots == [utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30)]  # 03:00 and 03:30 EDT


def test_new_york_range_end_in_skipped_hour_means_first_instant_after_gap():
    slots = slots_on(date(2026, 3, 8), "America/New_York", [hours("01:00", "02:30")], SlotRules(length=30))
    assert slots == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 6, 30)]  # 01:00 and 01:30 EST, ending 03:00 EDT


def test_new_york_fall_back_offers_both_occurrences_of_the_repeated_hour():
    slots = slots_on(date(2026, 11, 1), "America/New_York", [hours("00:00", "03:00")], SlotRules(length=30))
    assert wall(slots, "America/New_York") == [
        "00:00-0400", "00:30-0400", "01:00-0400", "01:30-0400",
        "01:00-0500", "01:30-0500", "02:00-0500", "02:30-0500",
    ]


def test_new_york_range_end_in_repeated_hour_means_second_occurrence():
    slots = slots_on(date(2026, 11, 1), "America/New_York", [hours("00:00", "01:30")], SlotRules(length=30))
    assert slots[-1] == utc(2026, 11, 1, 6)  # 01:00 EST, ending at the second 01:30
    assert len(slots) == 5


def test_new_york_range_start_in_repeated_hour_means_first_occurrence():
    slots = slots_on(date(2026, 11, 1), "America/New_York", [hours("01:30", "03:00")], SlotRules(length=30))
    assert wall(slots, "America/New_York") == ["01:30-0400", "01:00-0500", "01:30-0500", "02:00-0500", "02:30-0500"]


def test_london_summer_hours_are_offered_in_bst():
    slots = slots_on(date(2026, 7, 14), "Europe/London", [hours("09:00", "11:00")], SlotRules(length=60))
    assert slots == [utc(2026, 7, 14, 8), utc(2026, 7, 14, 9)]


def test_london_non_dividing_interval_steps_in_elapsed_time_across_spring_forward():
    rules = SlotRules(length=45, interval=45)
    slots = slots_on(date(2026, 3, 29), "Europe/London", [hours("00:00", "04:00")], rules)
    # 00:00 GMT + 45 min steps; the range is 3 real hours long (04:00 BST = 03:00 UTC).
    assert slots == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 15)]
    assert wall(slots, "Europe/London") == ["00:00+0000", "00:45+0000", "02:30+0100", "03:15+0100"]


def test_lord_howe_thirty_minute_spring_forward_never_offers_the_missing_half_hour():
    tz = "Australia/Lord_Howe"
    slots = slots_on(date(2026, 10, 4), tz, [hours("01:00", "04:00")], SlotRules(length=60))
    assert wall(slots, tz) == ["01:00+1030", "03:00+1100"]  # 02:00 does not exist that night
    slots = slots_on(date(2026, 10, 4), tz, [hours("01:00", "04:00")], SlotRules(length=30))
    assert wall(slots, tz) == ["01:00+1030", "01:30+1030", "02:30+1100", "03:00+1100", "03:30+1100"]


def test_lord_howe_thirty_minute_fall_back_repeats_half_past_one():
    tz = "Australia/Lord_Howe"
    slots = slots_on(date(2026, 4, 5), tz, [hours("01:00", "03:00")], SlotRules(length=30))
    assert wall(slots, tz) == ["01:00+1100", "01:30+1100", "01:30+1030", "02:00+1030", "02:30+1030"]
    assert slots == [utc(2026, 4, 4, 14), utc(2026, 4, 4, 14, 30), utc(2026, 4, 4, 15),
                     utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16)]


def test_kathmandu_quarter_hour_offset_keeps_the_local_grid():
    slots = slots_on(date(2026, 5, 5), "Asia/Kathmandu", [hours("09:00", "11:00")], SlotRules(length=30))
    assert slots == [utc(2026, 5, 5, 3, 15), utc(2026, 5, 5, 3, 45), utc(2026, 5, 5, 4, 15), utc(2026, 5, 5, 4, 45)]


# --------------------------------------------------------------------------------------------------
# Grid, schedule and rules
# --------------------------------------------------------------------------------------------------

def test_forty_five_minute_interval_steps_from_the_start_of_the_range():
    slots = slots_on(date(2026, 6, 2), "UTC", [hours("10:00", "13:00")], SlotRules(length=30, interval=45))
    assert wall(slots, "UTC") == ["10:00+0000", "10:45+0000", "11:30+0000", "12:15+0000"]


def test_forty_five_minute_grid_stays_anchored_to_range_start_under_minimum_notice():
    rules = SlotRules(length=30, interval=45, minimum_notice=60)
    slots = slots_on(date(2026, 6, 2), "UTC", [hours("10:00", "13:00")], rules, now=utc(2026, 6, 2, 9, 20))
    assert wall(slots, "UTC") == ["10:45+0000", "11:30+0000", "12:15+0000"]


def test_ranges_are_independent_so_a_slot_never_spans_two_touching_ranges():
    slots = slots_on(date(2026, 6, 2), "UTC", [hours("09:00", "10:15"), hours("10:15", "11:00")],
                     SlotRules(length=30))
    assert wall(slots, "UTC") == ["09:00+0000", "09:30+0000", "10:30+0000"]


def test_range_ending_at_midnight_offers_the_last_slot_of_the_day():
    slots = slots_on(date(2026, 6, 2), "America/New_York", [hours("22:00", "00:00")], SlotRules(length=30),
                     window_end=utc(2026, 6, 5))
    assert wall(slots, "America/New_York")[:4] == ["22:00-0400", "22:30-0400", "23:00-0400", "23:30-0400"]


def test_override_replaces_the_weekly_hours_of_that_date_only():
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")), {date(2026, 6, 3): [hours("14:00", "15:00")]})
    slots = compute_slots(schedule, [], SlotRules(length=60), utc(2026, 6, 2), utc(2026, 6, 5), utc(2026, 1, 1))
    assert slots == [utc(2026, 6, 2, 9), utc(2026, 6, 3, 14), utc(2026, 6, 4, 9)]


@pytest.mark.parametrize("closed", [[], [hours("00:00", "00:00")]], ids=["empty", "midnight-marker"])
def test_unavailable_override_offers_nothing_that_date(closed):
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")), {date(2026, 6, 3): closed})
    slots = compute_slots(schedule, [], SlotRules(length=60), utc(2026, 6, 2), utc(2026, 6, 5), utc(2026, 1, 1))
    assert slots == [utc(2026, 6, 2, 9), utc(2026, 6, 4, 9)]


def test_weekly_midnight_marker_means_day_off():
    schedule = Schedule("UTC", {0: [hours("00:00", "00:00")], 1: [hours("09:00", "10:00")]})
    slots = compute_slots(schedule, [], SlotRules(length=60), utc(2026, 6, 1), utc(2026, 6, 3), utc(2026, 1, 1))
    assert slots == [utc(2026, 6, 2, 9)]  # 2026-06-01 is a Monday


def test_max_per_day_closes_only_dates_that_reached_the_limit():
    schedule = Schedule("America/New_York", every_day(hours("09:00", "10:00")))
    rules = SlotRules(length=60, max_per_day=2)
    counts = {date(2026, 6, 2): 2, date(2026, 6, 3): 1, date(2026, 6, 4): 5}
    slots = compute_slots(schedule, [], rules, utc(2026, 6, 2, 4), utc(2026, 6, 5, 4), utc(2026, 1, 1), counts)
    assert slots == [utc(2026, 6, 3, 13)]


def test_day_counts_are_ignored_without_max_per_day():
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")))
    slots = compute_slots(schedule, [], SlotRules(length=60), utc(2026, 6, 2), utc(2026, 6, 3), utc(2026, 1, 1),
                          {date(2026, 6, 2): 99})
    assert slots == [utc(2026, 6, 2, 9)]


def test_minimum_notice_drops_slots_starting_too_soon():
    rules = SlotRules(length=30, minimum_notice=120)
    slots = slots_on(date(2026, 6, 1), "America/New_York", [hours("09:00", "12:00")], rules,
                     now=utc(2026, 6, 1, 13, 7))  # 09:07 EDT, so the first start is 11:07 or later
    assert wall(slots, "America/New_York") == ["11:30-0400"]


def test_slot_at_now_plus_notice_exactly_is_offered():
    rules = SlotRules(length=30, minimum_notice=60)
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("09:00", "11:00")], rules, now=utc(2026, 6, 1, 9, 30))
    assert slots == [utc(2026, 6, 1, 10, 30)]


def test_window_edges_are_inclusive_for_start_and_end():
    rules = SlotRules(length=30)
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("09:00", "12:00")], rules,
                     window_start=utc(2026, 6, 1, 10), window_end=utc(2026, 6, 1, 11))
    assert slots == [utc(2026, 6, 1, 10), utc(2026, 6, 1, 10, 30)]
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("09:00", "12:00")], rules,
                     window_start=utc(2026, 6, 1, 10, 0, 1), window_end=utc(2026, 6, 1, 10, 59, 59))
    assert slots == []  # 10:00 starts too early, 10:30 ends too late


def test_busy_interval_touching_the_buffered_slot_does_not_block_it():
    rules = SlotRules(length=30, before_buffer=10, after_buffer=5)
    # Slot 10:00-10:30 needs 09:50-10:35 free; busy ends at 09:50 and another starts at 10:35.
    busy = [(utc(2026, 6, 1, 9, 20), utc(2026, 6, 1, 9, 50)), (utc(2026, 6, 1, 10, 35), utc(2026, 6, 1, 10, 50))]
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("10:00", "10:30")], rules, busy=busy)
    assert slots == [utc(2026, 6, 1, 10)]


def test_busy_interval_overlapping_a_buffer_by_one_second_blocks_the_slot():
    rules = SlotRules(length=30, before_buffer=10, after_buffer=5)
    for busy in ([(utc(2026, 6, 1, 9, 20), utc(2026, 6, 1, 9, 50, 1))],
                 [(utc(2026, 6, 1, 10, 34, 59), utc(2026, 6, 1, 10, 50))]):
        assert slots_on(date(2026, 6, 1), "UTC", [hours("10:00", "10:30")], rules, busy=busy) == []


def test_busy_intervals_in_any_zone_block_the_same_instants():
    tokyo = ZoneInfo("Asia/Tokyo")
    busy = [(datetime(2026, 6, 1, 18, 0, tzinfo=tokyo), datetime(2026, 6, 1, 19, 0, tzinfo=tokyo))]  # 09-10 UTC
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("08:00", "11:00")], SlotRules(length=60), busy=busy)
    assert slots == [utc(2026, 6, 1, 8), utc(2026, 6, 1, 10)]


# Long busy lists in UTC are indexed as datetimes, any other list is converted to epoch seconds.
# Two thousand intervals in 2020 make a list long without blocking anything.
LONG_AGO = [(utc(2020, 1, 1) + timedelta(hours=n), utc(2020, 1, 1) + timedelta(hours=n, minutes=30))
            for n in range(2000)]
BUSY_LAYOUTS = {
    "utc-sorted": lambda busy: sorted(busy),
    "utc-sorted-long": lambda busy: LONG_AGO + sorted(busy),
    "utc-reversed-long": lambda busy: sorted(LONG_AGO + busy, reverse=True),
    "other-zone": lambda busy: [(s.astimezone(ZoneInfo("Asia/Kolkata")), e.astimezone(ZoneInfo("Asia/Kolkata")))
                                for s, e in busy],
}


@pytest.mark.parametrize("layout", BUSY_LAYOUTS.values(), ids=BUSY_LAYOUTS.keys())
def test_empty_busy_intervals_block_nothing(layout):
    busy = layout([(utc(2026, 6, 1, 9, 15), utc(2026, 6, 1, 9, 15)), (utc(2026, 6, 1, 12), utc(2026, 6, 1, 13))])
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("09:00", "10:00")], SlotRules(length=60), busy=busy)
    assert slots == [utc(2026, 6, 1, 9)]


def test_long_busy_list_in_utc_is_indexed_without_converting_it():
    assert availability._busy_index(LONG_AGO).as_key is not None
    assert availability._busy_index(BUSY_LAYOUTS["other-zone"](LONG_AGO)).as_key is None
    assert availability._busy_index(LONG_AGO[:10]).as_key is None


@pytest.mark.skipif(not CASE_FILES, reason=f"no shared cases in {CASES_DIR} (set LINKTIME_SHARED_DIR)")
@pytest.mark.parametrize("layout", BUSY_LAYOUTS.values(), ids=BUSY_LAYOUTS.keys())
def test_busy_order_and_zone_do_not_change_the_slots(layout):
    inputs = load_bench_script().load_case(CASE_FILES[-1])
    expected = compute_slots(**inputs)
    assert compute_slots(**dict(inputs, busy=layout(inputs["busy"]))) == expected


def test_overlapping_ranges_do_not_duplicate_slots_and_output_is_sorted():
    slots = slots_on(date(2026, 6, 1), "UTC", [hours("11:00", "13:00"), hours("09:00", "12:00")],
                     SlotRules(length=60))
    assert slots == [utc(2026, 6, 1, 9), utc(2026, 6, 1, 10), utc(2026, 6, 1, 11), utc(2026, 6, 1, 12)]
    assert all(slot.tzinfo is UTC for slot in slots)


def test_group_by_day_uses_the_invitee_zone_and_keeps_order():
    slots = [utc(2026, 6, 1, 16), utc(2026, 6, 1, 14), utc(2026, 6, 1, 9)]
    grouped = group_by_day(slots, "Asia/Tokyo")  # UTC+9: 15:00 and later is the next day
    assert list(grouped) == [date(2026, 6, 1), date(2026, 6, 2)]
    assert grouped[date(2026, 6, 1)] == [utc(2026, 6, 1, 9), utc(2026, 6, 1, 14)]
    assert grouped[date(2026, 6, 2)] == [utc(2026, 6, 1, 16)]


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_unknown_time_zone_is_rejected(name):
    with pytest.raises(ValueError, match="time zone"):
        Schedule(name, {})
    with pytest.raises(ValueError, match="time zone"):
        group_by_day([], name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 0}, "length must be positive"),
        ({"length": -30}, "length must be positive"),
        ({"length": 30, "interval": 0}, "interval must be positive"),
        ({"length": 30, "interval": -15}, "interval must be positive"),
        ({"length": 30, "before_buffer": -1}, "before_buffer must be non-negative"),
        ({"length": 30, "after_buffer": -5}, "after_buffer must be non-negative"),
        ({"length": 30, "minimum_notice": -1}, "minimum_notice must be non-negative"),
        ({"length": 30, "max_per_day": -1}, "max_per_day must be non-negative"),
    ],
)
def test_invalid_rules_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SlotRules(**kwargs)


def test_rules_of_the_wrong_type_are_rejected():
    with pytest.raises(TypeError, match="length must be an integer"):
        SlotRules(length=30.5)
    with pytest.raises(TypeError, match="interval must be an integer"):
        SlotRules(length=30, interval="15")


def test_range_ending_before_it_starts_is_rejected():
    with pytest.raises(ValueError, match="must be after its start"):
        hours("10:00", "09:00")


def test_naive_datetimes_are_rejected():
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")))
    rules = SlotRules(length=30)
    naive = datetime(2026, 6, 1)
    aware = utc(2026, 6, 1)
    for args in ((naive, aware, aware), (aware, naive, aware), (aware, aware, naive)):
        with pytest.raises(ValueError, match="timezone-aware"):
            compute_slots(schedule, [], rules, *args)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_slots(schedule, [(naive, naive + timedelta(hours=1))], rules, aware, aware, aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        group_by_day([naive], "UTC")


@pytest.mark.parametrize("layout", BUSY_LAYOUTS.values(), ids=BUSY_LAYOUTS.keys())
def test_busy_interval_ending_before_it_starts_is_rejected(layout):
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")))
    busy = layout([(utc(2026, 6, 1, 10), utc(2026, 6, 1, 9)), (utc(2026, 6, 1, 12), utc(2026, 6, 1, 13))])
    with pytest.raises(ValueError, match="ends before it starts"):
        compute_slots(schedule, busy, SlotRules(length=30), utc(2026, 6, 1), utc(2026, 6, 2), utc(2026, 6, 1))


def test_busy_entries_that_are_not_datetime_pairs_are_rejected():
    schedule = Schedule("UTC", every_day(hours("09:00", "10:00")))
    for busy in ([(utc(2026, 6, 1, 9), utc(2026, 6, 1, 10), utc(2026, 6, 1, 11))], [("09:00", "10:00")]):
        with pytest.raises(TypeError, match="busy"):
            compute_slots(schedule, busy, SlotRules(length=30), utc(2026, 6, 1), utc(2026, 6, 2), utc(2026, 6, 1))
