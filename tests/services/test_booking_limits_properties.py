"""Property tests of the slot engine with booking limits per day, week, month and year (issue 23), DST days included.

Each example is a random schedule, busy list, rule set and a few weeks of existing bookings in America/New_York or
Europe/London, usually around a daylight-saving change or a month's end. The reference is brute force and shares no
code with the engine: the slots of ``test_availability_properties.reference_slots`` (every minute of every working
range), minus those for which the oracle below finds a limit exceeded, with periods from ``date.isocalendar`` and
plain year/month comparisons in zoneinfo.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from app.services.scheduling.availability import Schedule, SlotRules, compute_slots
from app.services.scheduling.period_limits import Limit, PeriodLimits
from app.services.scheduling.team_slots import TeamMember, collective_slots
from tests.services.test_availability_properties import SETTINGS, offset_changes, reference_slots, working_ranges

ZONES = ["America/New_York", "Europe/London"]
MONTH_ENDS = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 5, 31), date(2026, 12, 31), date(2027, 3, 31)]
LIMITS = st.tuples(st.sampled_from(["day", "week", "month", "year"]), st.sampled_from(["bookings", "minutes"]),
                   st.sampled_from(["event_type", "host"]))
BOOKING_LENGTHS = st.sampled_from([15, 30, 60, 90])


def same_period(period: str, a: date, b: date) -> bool:
    if period == "day":
        return a == b
    if period == "week":
        return a.isocalendar()[:2] == b.isocalendar()[:2]
    if period == "month":
        return (a.year, a.month) == (b.year, b.month)
    return a.year == b.year


def oracle_allows(slot: datetime, scenario: dict) -> bool:
    """Would booking ``slot`` keep every limit? Counts the bookings one by one, for each limit."""
    tz = ZoneInfo(scenario["schedule"].timezone)
    day = slot.astimezone(tz).date()
    length = scenario["rules"].length
    for limit in scenario["limit_list"]:
        counted = [minutes for start, minutes, ours in scenario["bookings"]
                   if (ours or limit.scope == "host") and same_period(limit.period, start.astimezone(tz).date(), day)]
        used, cost = (len(counted), 1) if limit.unit == "bookings" else (sum(counted), length)
        if used + cost > limit.maximum:
            return False
    return True


def period_limits(scenario: dict) -> PeriodLimits:
    """What ``booking_limits.limits_of`` hands the engine: each booking's local date and minutes, by scope."""
    tz = ZoneInfo(scenario["schedule"].timezone)
    rows = [(start.astimezone(tz).date(), minutes, ours) for start, minutes, ours in scenario["bookings"]]
    return PeriodLimits(scenario["limit_list"], {"event_type": [(d, m) for d, m, ours in rows if ours],
                                                 "host": [(d, m) for d, m, _ in rows]})


@st.composite
def limited_scenarios(draw) -> dict:
    zone_name = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone_name)
    hot = draw(st.sampled_from(offset_changes(zone_name))) if draw(st.booleans()) else None
    anchor = hot.day if hot is not None else draw(st.sampled_from(MONTH_ENDS))
    midnight = datetime.combine(anchor, time(0), tz).astimezone(UTC)
    window_start = midnight - timedelta(days=draw(st.integers(0, 4)), hours=draw(st.sampled_from([0, 5])))
    window_end = midnight + timedelta(days=draw(st.integers(1, 5)), minutes=draw(st.sampled_from([0, 30])))
    choices = [draw(working_ranges(hot)), draw(working_ranges(hot)), []]
    weekly = {weekday: choices[draw(st.sampled_from([0, 0, 1, 2]))] for weekday in range(7)}
    busy = []
    for _ in range(draw(st.integers(0, 3))):
        start = midnight + timedelta(minutes=15 * draw(st.integers(-96, 4 * 96)))
        busy.append((start, start + timedelta(minutes=15 * draw(st.integers(1, 8)))))
    rules = SlotRules(length=draw(st.sampled_from([15, 30, 45, 60])), interval=draw(st.sampled_from([None, 15, 45])),
                      before_buffer=draw(st.sampled_from([0, 10])), after_buffer=draw(st.sampled_from([0, 15])),
                      minimum_notice=draw(st.sampled_from([0, 120])), max_per_day=draw(st.sampled_from([None, 2])))
    bookings = []      # (start, minutes, of this event type) over six weeks around the anchor
    for _ in range(draw(st.integers(0, 12))):
        start = midnight + timedelta(minutes=30 * draw(st.integers(-21 * 48, 21 * 48)))
        bookings.append((start, draw(BOOKING_LENGTHS), draw(st.booleans())))
    limit_list = []
    for period, unit, scope in draw(st.lists(LIMITS, min_size=1, max_size=3)):
        top = {"day": 3, "week": 6, "month": 10, "year": 14}[period]
        maximum = draw(st.integers(0, top)) if unit == "bookings" else 15 * draw(st.integers(0, 4 * top))
        limit_list.append(Limit(period, unit, maximum, scope))
    return {
        "schedule": Schedule(zone_name, weekly),
        "busy": busy,
        "rules": rules,
        "window_start": window_start,
        "window_end": window_end,
        "now": window_start - timedelta(minutes=draw(st.sampled_from([0, 90]))),
        "day_counts": {anchor + timedelta(days=n): draw(st.integers(0, 2)) for n in range(-1, 3)},
        "bookings": bookings,
        "limit_list": limit_list,
    }


ENGINE_KEYS = ("schedule", "busy", "rules", "window_start", "window_end", "now", "day_counts")


def _engine_args(scenario: dict) -> dict:
    return {key: scenario[key] for key in ENGINE_KEYS}


@SETTINGS
@given(limited_scenarios())
def test_engine_with_limits_matches_the_brute_force_oracle(scenario):
    expected = [slot for slot in reference_slots(scenario) if oracle_allows(slot, scenario)]
    assert compute_slots(**_engine_args(scenario), limits=period_limits(scenario)) == expected


@SETTINGS
@given(limited_scenarios())
def test_booking_any_offered_slot_keeps_every_limit(scenario):
    """The property the booking service relies on: after booking an offered slot, no period is over its limit."""
    tz = ZoneInfo(scenario["schedule"].timezone)
    length = scenario["rules"].length
    for slot in compute_slots(**_engine_args(scenario), limits=period_limits(scenario)):
        after = scenario["bookings"] + [(slot, length, True)]
        for limit in scenario["limit_list"]:
            day = slot.astimezone(tz).date()
            counted = [m for start, m, ours in after if (ours or limit.scope == "host")
                       and same_period(limit.period, start.astimezone(tz).date(), day)]
            assert (len(counted) if limit.unit == "bookings" else sum(counted)) <= limit.maximum, (slot, limit)


@SETTINGS
@given(limited_scenarios())
def test_a_team_member_with_limits_offers_what_the_single_host_engine_offers(scenario):
    member = TeamMember("solo", scenario["schedule"], scenario["busy"], scenario["day_counts"],
                        limits=period_limits(scenario))
    alone = compute_slots(**_engine_args(scenario), limits=period_limits(scenario))
    assert collective_slots([member], scenario["rules"], scenario["window_start"], scenario["window_end"],
                            scenario["now"]) == alone
