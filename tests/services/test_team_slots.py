"""Tests of team slots (app/services/scheduling/team_slots.py) and of the busy index they run the engine on.

The oracle runs the single-host ``compute_slots`` (the engine's own busy index, not ``BusySpans``) once per member
over the whole window and applies the set rule of shared/bench/team-slots/README.md with plain Python sets:
collective = intersection, round-robin = union, with who is free at each start.  Hypothesis draws teams in
different zones over windows around daylight-saving changes (2026-03-08 and 2026-11-01 in New York, 2026-03-29
and 2026-10-25 in Berlin, 2026-04-05 at Lord Howe) and ordinary days.
"""
from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.scheduling import availability
from app.services.scheduling.availability import Schedule, SlotRules, TimeRange, compute_slots
from app.services.scheduling.busy_spans import BusySpans
from app.services.scheduling.team_slots import TeamMember, collective_slots, round_robin_slots

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("LINKTIME_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
TEAM_DIR = SHARED_DIR / "bench" / "team-slots"
TEAM_CASES = sorted((TEAM_DIR / "cases").glob("*.json"))
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None
)
ZONES = ["America/New_York", "Europe/Berlin", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC",
         "America/St_Johns"]
ANCHORS = [date(2026, 3, 8), date(2026, 3, 29), date(2026, 11, 1), date(2026, 10, 25), date(2026, 4, 5),
           date(2026, 6, 15)]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(start: str, end: str) -> TimeRange:
    return TimeRange(time.fromisoformat(start), time.fromisoformat(end))


def load_bench_script():
    """Import bench/team_slots.py (not a package) to reuse its case-file parser."""
    spec = importlib.util.spec_from_file_location("team_slots_bench", REPO_ROOT / "bench" / "team_slots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------------
# Oracle and strategies
# --------------------------------------------------------------------------------------------------

def member_sets(members, rules, window_start, window_end, now) -> dict:
    """Each member's slot set, from the single-host compute_slots over the whole window."""
    return {
        member.id: set(compute_slots(member.schedule, member.busy, rules, window_start, window_end, now,
                                     day_counts=member.day_counts))
        for member in members
    }


def oracle_collective(members, *args) -> list[datetime]:
    sets = list(member_sets(members, *args).values())
    return sorted(set.intersection(*sets)) if sets else []


def oracle_round_robin(members, *args) -> dict[datetime, tuple]:
    """{start: sorted ids free at it} by the rule: every fixed member free, and one non-fixed member if any."""
    sets = member_sets(members, *args)
    fixed = [member.id for member in members if member.fixed]
    rotating = [member.id for member in members if not member.fixed]
    offered = set().union(*(sets[ident] for ident in rotating)) if rotating else None
    for ident in fixed:
        offered = set(sets[ident]) if offered is None else offered & sets[ident]
    return {
        start: tuple(sorted([*fixed, *(ident for ident in rotating if start in sets[ident])]))
        for start in sorted(offered or ())
    }


QUARTERS = st.integers(0, 95)
SPANS = st.sampled_from([60, 120, 180, 240, 480, 600])


@st.composite
def ranges_of_a_day(draw) -> list[TimeRange]:
    found = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(QUARTERS) * 15
        end = min(start + draw(SPANS), 1440)
        found.append(TimeRange(time(start // 60, start % 60), time((end // 60) % 24, end % 60)))
    return found


@st.composite
def weeks(draw) -> dict[int, list[TimeRange]]:
    """Two sets of hours (one of them never empty) and days off shared out over the week."""
    choices = [draw(ranges_of_a_day().filter(bool)), draw(ranges_of_a_day()), []]
    return {day: choices[pick] for day, pick in enumerate(draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]),
                                                                         min_size=7, max_size=7)))}


@st.composite
def members(draw, ident: str, anchor: date, window_start: datetime, window_minutes: int, shared) -> TeamMember:
    """A member; most take the team's usual zone and weekly hours, so that collective teams often overlap."""
    if draw(st.integers(0, 3)):
        zone_name, weekly = shared
    else:
        zone_name, weekly = draw(st.sampled_from(ZONES)), draw(weeks())
    overrides = {}
    if draw(st.booleans()):
        overrides[anchor + timedelta(days=draw(st.integers(-1, 2)))] = draw(ranges_of_a_day())
    busy = []
    for _ in range(draw(st.integers(0, 8))):
        unit = draw(st.sampled_from([300, 900, 60, 1]))  # 5 and 15 minutes, minutes, seconds
        start = window_start + timedelta(seconds=unit * draw(st.integers(-7200 // unit, (window_minutes * 60) // unit)))
        end = start + timedelta(seconds=unit * draw(st.integers(0, 7200 // unit)))  # empty ones included
        shown_in = ZoneInfo(draw(st.sampled_from(ZONES)))
        busy.append((start.astimezone(shown_in), end.astimezone(shown_in)))
    day_counts = {anchor + timedelta(days=shift): draw(st.sampled_from([0, 0, 0, 1, 2])) for shift in (-1, 0, 1)}
    return TeamMember(ident, Schedule(zone_name, weekly, overrides), busy, day_counts, fixed=draw(st.booleans()))


@st.composite
def teams(draw) -> dict:
    anchor = draw(st.sampled_from(ANCHORS))
    window_start = datetime.combine(anchor, time(0), UTC) + timedelta(minutes=draw(st.sampled_from([-720, -180, 0])))
    window_minutes = draw(st.sampled_from([1440, 2880, 4320]))
    ids = draw(st.lists(st.sampled_from(["ana", "bo", "cy", "dee", "eli"]), min_size=1, max_size=4, unique=True))
    shared = (draw(st.sampled_from(ZONES)), draw(weeks()))
    team = [draw(members(ident, anchor, window_start, window_minutes, shared)) for ident in ids]
    rules = SlotRules(
        length=draw(st.sampled_from([15, 30, 45, 60])),
        interval=draw(st.sampled_from([None, 15, 20, 30, 45, 60, 90])),
        before_buffer=draw(st.sampled_from([0, 5, 15])),
        after_buffer=draw(st.sampled_from([0, 10, 30])),
        minimum_notice=draw(st.sampled_from([0, 0, 90])),
        max_per_day=draw(st.sampled_from([None, None, None, None, 1, 2])),
    )
    now = window_start + timedelta(minutes=draw(st.sampled_from([-60, 0, 200])))
    return {"members": team, "args": (rules, window_start, window_start + timedelta(minutes=window_minutes), now)}


# --------------------------------------------------------------------------------------------------
# Properties against the oracle
# --------------------------------------------------------------------------------------------------

@SETTINGS
@given(teams())
def test_collective_slots_are_the_intersection_of_the_members_slots(team):
    assert collective_slots(team["members"], *team["args"]) == oracle_collective(team["members"], *team["args"])


@SETTINGS
@given(teams())
def test_round_robin_slots_are_the_union_with_the_free_members_of_each_start(team):
    result = round_robin_slots(team["members"], *team["args"])
    expected = oracle_round_robin(team["members"], *team["args"])
    assert result.starts == list(expected)
    assert result.free_members == expected
    for start in list(expected)[:5]:
        assert result.free_members_at(start) == expected[start]


@SETTINGS
@given(teams())
def test_without_fixed_members_round_robin_is_exactly_the_union(team):
    plain = [TeamMember(m.id, m.schedule, m.busy, m.day_counts) for m in team["members"]]
    sets = member_sets(plain, *team["args"])
    assert round_robin_slots(plain, *team["args"]).starts == sorted(set().union(*sets.values()))


BUSY_BOUNDS = st.integers(0, 6 * 3600)
NEW_YORK = ZoneInfo("America/New_York")


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.tuples(BUSY_BOUNDS, st.integers(0, 5400), st.sampled_from([1, 60, 900])), max_size=15),
    st.integers(0, 3600), st.integers(1, 3 * 3600), st.sampled_from([1, 60, 300, 900, 1800]),
    st.integers(0, 1800), st.integers(60, 7200), st.booleans(), st.integers(-3600, 3600),
)
def test_busy_spans_answer_like_the_engines_own_index(raw, first, span, step, before, after, as_list, asked):
    """BusySpans (datetimes, merged) and the engine's _BusyIndex (epochs) give the same answers, also when
    free_starts follows an is_free question about a nearby range (whose position it reuses when it can)."""
    base = utc(2026, 11, 1, 3)  # New York falls back at 06:00 UTC: its 01:00-02:00 is repeated
    pairs = [(start // unit * unit, start // unit * unit + length // unit * unit) for start, length, unit in raw]
    busy = [(base + timedelta(seconds=a), base + timedelta(seconds=b)) for a, b in pairs]
    busy = [(a.astimezone(NEW_YORK), b.astimezone(NEW_YORK)) if k % 2 else (a, b) for k, (a, b) in enumerate(busy)]
    spans = BusySpans(busy)
    reference = availability._busy_index(busy)
    offset = base.timestamp()
    candidates = range(int(offset) + first, int(offset) + first + span, step)
    given_candidates = list(candidates) if as_list else candidates
    lo = offset + first + asked
    assert spans.is_free(lo, lo + span) == reference.is_free(lo, lo + span)
    assert spans.free_starts(given_candidates, before, after) == reference.free_starts(candidates, before, after)
    assert spans.free_starts(given_candidates, before, after) == reference.free_starts(candidates, before, after)


# --------------------------------------------------------------------------------------------------
# Shared comparison cases
# --------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not TEAM_CASES, reason=f"no shared team cases in {TEAM_DIR} (set LINKTIME_SHARED_DIR)")
@pytest.mark.parametrize("case_file", TEAM_CASES, ids=lambda path: path.stem)
def test_shared_team_case_output_equals_the_expected_files(case_file):
    bench = load_bench_script()
    mode, inputs = bench.load_case(case_file)
    expected = json.loads((TEAM_DIR / "expected" / case_file.name).read_text())
    assert bench.team_starts(mode, inputs) == expected
    members_file = TEAM_DIR / "expected" / f"{case_file.stem}.members.json"
    if mode == "roundRobin":
        assert bench.team_members(inputs) == json.loads(members_file.read_text())


# --------------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------------

RULES = SlotRules(length=60)
WINDOW = (utc(2026, 6, 1), utc(2026, 6, 2), utc(2026, 5, 1))  # a Monday


def weekdays(*ranges: TimeRange) -> dict[int, list[TimeRange]]:
    return {day: list(ranges) for day in range(5)}


def test_collective_needs_everyone_round_robin_anyone_across_zones():
    # Berlin 09:00-12:00 is 07:00-10:00 UTC; London 09:00-12:00 is 08:00-11:00 UTC.
    berlin = TeamMember("b", Schedule("Europe/Berlin", weekdays(hours("09:00", "12:00"))))
    london = TeamMember("l", Schedule("Europe/London", weekdays(hours("09:00", "12:00"))),
                        busy=[(utc(2026, 6, 1, 9), utc(2026, 6, 1, 10))])
    assert collective_slots([london, berlin], RULES, *WINDOW) == [utc(2026, 6, 1, 8)]
    result = round_robin_slots([london, berlin], RULES, *WINDOW)
    assert result.starts == [utc(2026, 6, 1, h) for h in (7, 8, 9, 10)]
    assert result.free_members == {
        utc(2026, 6, 1, 7): ("b",), utc(2026, 6, 1, 8): ("b", "l"), utc(2026, 6, 1, 9): ("b",),
        utc(2026, 6, 1, 10): ("l",),
    }
    assert result.free_members_at(utc(2026, 6, 1, 10)) == ("l",)
    assert result.free_members_at(utc(2026, 6, 1, 10, 0, 1)) == ()  # not a start


def test_fixed_members_must_be_free_for_a_round_robin_start():
    lead = TeamMember("lead", Schedule("UTC", weekdays(hours("09:00", "11:00"))), fixed=True)
    ana = TeamMember("ana", Schedule("UTC", weekdays(hours("10:00", "13:00"))))
    result = round_robin_slots([ana, lead], RULES, *WINDOW)
    assert result.free_members == {utc(2026, 6, 1, 10): ("ana", "lead")}
    alone = round_robin_slots([lead], RULES, *WINDOW)
    assert alone.free_members == {utc(2026, 6, 1, 9): ("lead",), utc(2026, 6, 1, 10): ("lead",)}


def test_collective_stops_at_the_first_empty_intersection():
    closed = TeamMember("a", Schedule("UTC", {}))
    broken = TeamMember("b", Schedule("UTC", weekdays(hours("09:00", "17:00"))), busy=[(datetime(2026, 6, 1, 9),
                                                                                        datetime(2026, 6, 1, 10))])
    assert collective_slots([broken, closed], RULES, *WINDOW) == []  # "b" (naive busy) is never computed
    with pytest.raises(ValueError, match="member 'b'.*timezone-aware"):
        collective_slots([broken], RULES, *WINDOW)


def test_empty_team_offers_nothing_and_bad_input_is_refused():
    assert collective_slots([], RULES, *WINDOW) == []
    assert round_robin_slots([], RULES, *WINDOW).starts == []
    someone = TeamMember("a", Schedule("UTC", weekdays(hours("09:00", "17:00"))))
    with pytest.raises(ValueError, match="unique"):
        round_robin_slots([someone, someone], RULES, *WINDOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        collective_slots([someone], RULES, datetime(2026, 6, 1), WINDOW[1], WINDOW[2])
    with pytest.raises(TypeError, match="TeamMember"):
        collective_slots([someone.schedule], RULES, *WINDOW)
    with pytest.raises(ValueError, match="ends before it starts"):
        BusySpans([(utc(2026, 6, 1, 10), utc(2026, 6, 1, 9))])
