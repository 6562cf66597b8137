"""Tests of the round-robin assignment rule (app/services/scheduling/assignment.py).

The sequential tests book one start after another as the booking service would: each booking raises the
assignee's count in the rolling window and becomes their last booking of the event type.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.services.scheduling.assignment import Assignment, assign_round_robin, reassign_on_reschedule

START = datetime(2026, 6, 1, 9, tzinfo=UTC)


def book_sequentially(members: list[str], bookings: int, **rule) -> Counter:
    """Book ``bookings`` starts in a row, every member free, updating counts and last-booked times."""
    counts: Counter = Counter()
    last_booked: dict[str, datetime] = {}
    for number in range(bookings):
        assignment = assign_round_robin(members, bookings=counts, last_booked=last_booked, **rule)
        counts[assignment.chosen] += 1
        last_booked[assignment.chosen] = START + timedelta(hours=number)
    return counts


def test_equal_weights_share_100_bookings_over_5_members_exactly():
    counts = book_sequentially(["ana", "bo", "cy", "dee", "eli"], 100)
    assert counts == {"ana": 20, "bo": 20, "cy": 20, "dee": 20, "eli": 20}


def test_equal_weights_stay_even_after_every_booking():
    members = ["m1", "m2", "m3", "m4", "m5"]
    counts: Counter = Counter()
    last_booked: dict[str, datetime] = {}
    for number in range(1, 101):
        chosen = assign_round_robin(members, bookings=counts, last_booked=last_booked).chosen
        counts[chosen] += 1
        last_booked[chosen] = START + timedelta(hours=number)
        assert max(counts[m] for m in members) - min(counts[m] for m in members) <= 1


def test_weights_2_1_1_share_100_bookings_within_one_of_50_25_25():
    counts = book_sequentially(["heavy", "one", "two"], 100, weights={"heavy": 2, "one": 1, "two": 1})
    assert abs(counts["heavy"] - 50) <= 1
    assert abs(counts["one"] - 25) <= 1
    assert abs(counts["two"] - 25) <= 1
    assert sum(counts.values()) == 100


def test_fractional_weights_compare_exactly():
    # 3 / 1.5 == 2 / 1 exactly: a tie, broken by recency (never booked first), not by float rounding
    last = {"a": START}
    result = assign_round_robin(["a", "b"], weights={"a": 1.5}, bookings={"a": 3, "b": 2}, last_booked=last)
    assert result.chosen == "b"


def test_fixed_members_always_attend():
    members = ["ana", "bo", "cy", "lead"]
    counts: Counter = Counter()
    last_booked: dict[str, datetime] = {}
    for number in range(30):
        assignment = assign_round_robin(members, fixed={"lead"}, bookings=counts, last_booked=last_booked)
        assert assignment.attendees[0] == "lead"
        assert assignment.chosen != "lead" and assignment.attendees == ("lead", assignment.chosen)
        assert assignment.reason.endswith("; 1 fixed member always attends")
        counts[assignment.chosen] += 1
        last_booked[assignment.chosen] = START + timedelta(hours=number)
    assert counts == {"ana": 10, "bo": 10, "cy": 10}


def test_a_fixed_member_who_is_not_free_is_an_error():
    with pytest.raises(ValueError, match="fixed members \\['lead'\\] are not free"):
        assign_round_robin(["ana", "bo"], fixed=["lead"])


def test_a_team_of_fixed_members_only_is_hosted_by_all_of_them():
    result = assign_round_robin(["x", "y"], fixed=["y", "x"])
    assert result == Assignment(("x", "y"), None, "no round-robin member to choose: the fixed members host it")
    with pytest.raises(ValueError, match="no member is free"):
        assign_round_robin([])


def test_fewest_bookings_relative_to_weight_wins_and_says_why():
    result = assign_round_robin(["a", "b", "c"], bookings={"a": 3, "b": 2, "c": 5}, weights={"c": 2})
    assert result.chosen == "b"
    assert result.reason == "fewest bookings relative to weight (2 in the last 30 days, weight 1)"


def test_ties_go_to_the_least_recently_booked():
    last = {"a": START + timedelta(days=2), "b": START, "c": START + timedelta(days=1)}
    result = assign_round_robin(["a", "b", "c"], bookings={"a": 2, "b": 2, "c": 2}, last_booked=last)
    assert result.chosen == "b"
    assert result.reason == ("fewest bookings relative to weight (2 in the last 30 days, weight 1); "
                             "tied with 2 others, least recently booked (last booked 2026-06-01 09:00 UTC)")


def test_never_booked_comes_before_any_booking_then_the_id_decides():
    last = {"a": START}
    result = assign_round_robin(["c", "a", "b"], last_booked=last)  # all 0 bookings
    assert result.chosen == "b"  # b and c were never booked; b has the smaller id
    assert result.reason.endswith("(never booked); tied with 1 other on that too: first by id")


def test_the_only_free_member_is_chosen():
    result = assign_round_robin(["solo"], bookings={"solo": 9})
    assert (result.chosen, result.reason) == ("solo", "the only round-robin member free at this time")


def test_bad_weights_counts_and_times_are_refused():
    with pytest.raises(ValueError, match="positive"):
        assign_round_robin(["a", "b"], weights={"a": 0})
    with pytest.raises(ValueError, match="non-negative"):
        assign_round_robin(["a", "b"], bookings={"a": -1})
    with pytest.raises(ValueError, match="timezone-aware"):
        assign_round_robin(["a", "b"], last_booked={"a": datetime(2026, 6, 1)})
    with pytest.raises(TypeError, match="number"):
        assign_round_robin(["a", "b"], weights={"a": "2"})


def test_reschedule_keeps_a_free_assignee_and_reassigns_otherwise():
    counts = {"a": 5, "b": 1, "c": 1}
    kept = reassign_on_reschedule("a", ["a", "b", "c"], bookings=counts)
    assert kept == Assignment(("a",), "a", "kept the current host: still free at the new time")
    moved = reassign_on_reschedule("a", ["b", "c"], bookings=counts, last_booked={"b": START})
    assert moved.chosen == "c"
    with_lead = reassign_on_reschedule("a", ["a", "lead"], fixed=["lead"], bookings=counts)
    assert with_lead.attendees == ("lead", "a")
    with pytest.raises(ValueError, match="not free"):
        reassign_on_reschedule("a", ["a"], fixed=["lead"])
