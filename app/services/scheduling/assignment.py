"""Who hosts a round-robin booking: the assignment rule of issue 15, as a pure function.

The rule, applied to the members free at the booked start (see :mod:`team_slots` for who is free):

1. Members marked **fixed** attend every booking.  They must all be free at the start (the slot rule offers a
   start only then); a fixed member who is not free is an error, never silently dropped.
2. Among the free members who are not fixed, the one with the **fewest bookings relative to weight** is chosen:
   the lowest ``bookings / weight``, where ``bookings`` counts their bookings of this event type in the rolling
   window (the caller counts them, e.g. the last 30 days) and ``weight`` defaults to 1.  Ratios are compared
   exactly (as fractions), so a member with weight 2 takes twice the bookings of one with weight 1.
3. Ties are broken by the **least recently booked** (the earliest last booking of this event type; a member
   never booked comes first), then by **id** (ascending) so that the same inputs always give the same host.

The result names the attendees (the fixed members, sorted by id, then the chosen member) and a reason that a
dashboard can show, e.g. "fewest bookings relative to weight (2 in the last 30 days, weight 1); tied with 1
other, least recently booked (last booked 2026-06-01 09:00 UTC)".  Rescheduling applies the same function to the
members free at the new start when the current assignee is no longer free.
"""
from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from numbers import Real

__all__ = ["Assignment", "assign_round_robin", "reassign_on_reschedule"]

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Assignment:
    """The hosts of one round-robin booking.

    ``attendees``: the fixed members (sorted by id), then ``chosen``; ``chosen`` is None when no free member is
    outside the fixed ones (a team of fixed members only).  ``reason``: why ``chosen`` was picked, in words,
    for the host dashboard.
    """

    attendees: tuple[Hashable, ...]
    chosen: Hashable | None
    reason: str


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _fixed_note(count: int) -> str:
    if not count:
        return ""
    return f"; {_plural(count, 'fixed member')} " + ("always attends" if count == 1 else "always attend")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _weight(ident: Hashable, weights: Mapping[Hashable, Real]) -> Fraction:
    weight = weights.get(ident, 1)
    if isinstance(weight, bool) or not isinstance(weight, Real):
        raise TypeError(f"weight of {ident!r} must be a number, got {weight!r}")
    if not weight > 0:
        raise ValueError(f"weight of {ident!r} must be positive, got {weight!r}")
    return Fraction(weight)


def _bookings(ident: Hashable, counts: Mapping[Hashable, int]) -> int:
    count = counts.get(ident, 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"booking count of {ident!r} must be a non-negative integer, got {count!r}")
    return count


def _last(ident: Hashable, last_booked: Mapping[Hashable, datetime | None]) -> datetime | None:
    moment = last_booked.get(ident)
    if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
        raise ValueError(f"last booking of {ident!r} must be a timezone-aware datetime, got {moment!r}")
    return moment


def _sorted_ids(ids: Iterable[Hashable]) -> list[Hashable]:
    try:
        return sorted(ids)
    except TypeError:
        raise TypeError("member ids must be comparable with each other (all strings or all integers)") from None


def assign_round_robin(
    free: Iterable[Hashable],
    *,
    fixed: Collection[Hashable] = (),
    weights: Mapping[Hashable, Real] | None = None,
    bookings: Mapping[Hashable, int] | None = None,
    last_booked: Mapping[Hashable, datetime | None] | None = None,
    window_days: int = 30,
) -> Assignment:
    """Choose the hosts of a round-robin booking by the rule of the module docstring.

    ``free``: ids of the members free at the start (fixed ones included); ``fixed``: ids of the event type's fixed
    members (all must be free); ``weights``: id -> positive number (default 1); ``bookings``: id -> number of
    bookings of this event type in the last ``window_days`` days (default 0); ``last_booked``: id -> aware
    datetime of their last booking of this event type (missing or None: never booked).

    When no free member is outside ``fixed``, the fixed members host it alone (``chosen`` is None): a team of
    fixed members only, since :mod:`team_slots` offers a start only when a member who is not fixed is free too
    (when the team has such members).  Raises ValueError when a fixed member is not free, when nobody is free,
    or for invalid weights (not positive), counts (negative) or times (naive); TypeError for a weight that is
    not a number or ids that cannot be sorted together.
    """
    weights, bookings, last_booked = weights or {}, bookings or {}, last_booked or {}
    free_ids = _sorted_ids(set(free))
    fixed_ids = _sorted_ids(set(fixed))
    free_set = set(free_ids)
    busy_fixed = [ident for ident in fixed_ids if ident not in free_set]
    if busy_fixed:
        raise ValueError(f"fixed members {busy_fixed!r} are not free at this start")
    fixed_set = set(fixed_ids)
    rotating = [ident for ident in free_ids if ident not in fixed_set]  # ascending ids
    if not rotating:
        if not fixed_ids:
            raise ValueError("no member is free at this start")
        return Assignment(tuple(fixed_ids), None, "no round-robin member to choose: the fixed members host it")

    ratios = {ident: Fraction(_bookings(ident, bookings)) / _weight(ident, weights) for ident in rotating}
    lasts = {ident: _last(ident, last_booked) for ident in rotating}
    lowest = min(ratios.values())
    tied = [ident for ident in rotating if ratios[ident] == lowest]
    # never booked first, then the earliest last booking; the sort is stable, so equal ones stay in id order
    tied.sort(key=lambda ident: (lasts[ident] is not None, lasts[ident] or _NEVER))
    chosen = tied[0]

    weight = _weight(chosen, weights)
    shown_weight = int(weight) if weight.denominator == 1 else float(weight)
    days = "day" if window_days == 1 else f"{window_days} days"
    if len(rotating) == 1:
        reason = "the only round-robin member free at this time"
    else:
        reason = (f"fewest bookings relative to weight ({_bookings(chosen, bookings)} in the last {days}, "
                  f"weight {shown_weight})")
    if len(tied) > 1:
        last = lasts[chosen]
        reason += f"; tied with {_plural(len(tied) - 1, 'other')}, least recently booked"
        reason += " (never booked)" if last is None else f" (last booked {_when(last)})"
        same = sum(1 for ident in tied if lasts[ident] == last)
        if same > 1:
            reason += f"; tied with {_plural(same - 1, 'other')} on that too: first by id"
    return Assignment((*fixed_ids, chosen), chosen, reason + _fixed_note(len(fixed_ids)))


def reassign_on_reschedule(current: Hashable, free: Iterable[Hashable], **rule) -> Assignment:
    """Reschedule of a round-robin booking: the current assignee keeps it when free at the new start, otherwise
    :func:`assign_round_robin` (same keyword arguments; the caller leaves the moved booking out of ``bookings``
    and ``last_booked``) chooses again among the members free there."""
    free_ids = set(free)
    fixed_ids = _sorted_ids(set(rule.get("fixed", ())))
    if current not in free_ids or current in fixed_ids:
        return assign_round_robin(free_ids, **rule)
    busy_fixed = [ident for ident in fixed_ids if ident not in free_ids]
    if busy_fixed:
        raise ValueError(f"fixed members {busy_fixed!r} are not free at this start")
    return Assignment((*fixed_ids, current), current,
                      "kept the current host: still free at the new time" + _fixed_note(len(fixed_ids)))
