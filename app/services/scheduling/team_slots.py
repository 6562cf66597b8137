"""Slots of a team event type: the single-host slot engine run for each member, then a set rule.

Pure functions, no database or Flask access.  The rule (shared with the comparison benchmark in
``shared/bench/team-slots/README.md``):

* A member's slot set is exactly what the single-host rule (:mod:`availability`) gives for the event's shared
  rules, window and ``now`` with the member's own schedule (zone, weekly hours, date overrides), busy intervals
  and per-date booking counts.  The slot grid, working ranges and overrides are evaluated in the member's zone,
  and the buffers apply to the member's own busy intervals.
* **Collective**: the team's slots are the intersection of the members' slot sets (every member is free).
* **Round-robin**: the team's slots are the union of the members' slot sets (at least one member is free), and
  for each start the members free at it are those whose slot set contains it.  Members marked ``fixed`` attend
  every booking (issue 15), so when there are fixed members a start is offered only when *every* fixed member is
  free and, if the team has members who are not fixed, at least one of those is free too; only those members
  are listed as free.  Without fixed members (the shared benchmark cases) this is exactly the union.

Implementation: each member's slots come from the single-host engine on epoch seconds
(:func:`~app.services.scheduling.availability.compute_slot_epochs_indexed`), with the member's busy list indexed
by :class:`~app.services.scheduling.busy_spans.BusySpans` (sorted and merged as datetimes; only the intervals
near a working range are converted to numbers), and the results are combined as sets of integers.  A collective
computation narrows each later member's window to the span of the starts still common and stops as soon as none
is left; the fixed members of a round-robin event narrow the others' window the same way.
"""
from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.services.scheduling.availability import Schedule, SlotRules, compute_slot_epochs_indexed
from app.services.scheduling.busy_spans import BusySpans
from app.services.scheduling.period_limits import PeriodLimits

__all__ = ["RoundRobinSlots", "TeamMember", "collective_slots", "round_robin_slots"]


@dataclass(frozen=True)
class TeamMember:
    """One member of a team event type: an id (any sortable, hashable value), their schedule and busy time.

    ``busy``: ``(start, end)`` aware datetimes, already widened by the buffers of the member's existing bookings
    (as for :func:`~app.services.scheduling.availability.compute_slots`).  ``day_counts``: member-local date ->
    number of existing bookings, checked against ``SlotRules.max_per_day``.  ``fixed``: the member attends every
    booking of a round-robin event type (ignored by collective ones, where everyone attends).
    """

    id: Hashable
    schedule: Schedule
    busy: Sequence[tuple[datetime, datetime]] = ()
    day_counts: Mapping[date, int] | None = None
    fixed: bool = False
    limits: PeriodLimits | None = None      # the member's booking limits per period (``period_limits``)


class RoundRobinSlots:
    """Round-robin result: the sorted starts (``starts``) and who is free at each of them.

    The booking page needs only ``starts``; who is free is looked up for one start at booking time
    (:meth:`free_members_at`), so the whole map (:attr:`free_members`) is built only when asked for.
    """

    __slots__ = ("_epochs", "_fixed", "_map", "_rotating", "starts")

    def __init__(
        self,
        epochs: Sequence[int] = (),
        fixed: Sequence[Hashable] = (),
        rotating: Sequence[tuple[Hashable, frozenset[int]]] = (),
    ) -> None:
        self._epochs = list(epochs)
        self.starts: list[datetime] = list(map(_utc, self._epochs))
        self._fixed = tuple(fixed)
        self._rotating = tuple(rotating)
        self._map: dict[datetime, tuple[Hashable, ...]] | None = None

    def _listed(self, free: list[Hashable]) -> tuple[Hashable, ...]:
        return tuple(sorted([*self._fixed, *free])) if self._fixed else tuple(free)

    def free_members_at(self, start: datetime) -> tuple[Hashable, ...]:
        """Sorted ids of the members free at ``start`` (fixed members included); empty if it is not offered."""
        epoch = _epoch(start, "start")
        index = bisect_left(self._epochs, epoch)
        if index == len(self._epochs) or self._epochs[index] != epoch:
            return ()
        return self._listed([ident for ident, slots in self._rotating if epoch in slots])

    @property
    def free_members(self) -> dict[datetime, tuple[Hashable, ...]]:
        """Every start (in order) with the sorted ids of the members free at it."""
        if self._map is None:
            free: dict[int, list[Hashable]] = {epoch: [] for epoch in self._epochs}
            for ident, slots in self._rotating:
                for epoch in slots:
                    entry = free.get(epoch)
                    if entry is not None:
                        entry.append(ident)
            self._map = dict(zip(self.starts, map(self._listed, free.values()), strict=True))
        return self._map


def _epoch(moment: datetime, name: str) -> float:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.timestamp()


def _sorted_members(members: Iterable[TeamMember]) -> list[TeamMember]:
    items = list(members)
    for member in items:
        if not isinstance(member, TeamMember):
            raise TypeError(f"members must be TeamMember values, got {member!r}")
    ids = [member.id for member in items]
    if len(set(ids)) != len(ids):
        raise ValueError("member ids must be unique")
    try:
        return sorted(items, key=operator.attrgetter("id"))
    except TypeError:
        raise TypeError("member ids must be comparable with each other (all strings or all integers)") from None


class _Window:
    """The event's window and ``now`` as epoch seconds, and the member engine run on a (narrowed) window."""

    def __init__(self, rules: SlotRules, window_start: datetime, window_end: datetime, now: datetime) -> None:
        if not isinstance(rules, SlotRules):
            raise TypeError(f"rules must be SlotRules, got {type(rules).__name__}")
        self.rules = rules
        self.start = _epoch(window_start, "window_start")
        self.end = _epoch(window_end, "window_end")
        self.now = _epoch(now, "now")
        self.length = rules.length * 60

    def slots(self, member: TeamMember, within: Sequence[int] | None = None) -> list[int]:
        """The member's slot starts (epoch seconds); with ``within`` (sorted, non-empty), only the part of the
        window from its first start to the end of its last slot is computed (exact: the window bounds are the
        only inputs of the rule that narrowing changes)."""
        start, end = self.start, self.end
        if within is not None:
            start, end = max(start, within[0]), min(end, within[-1] + self.length)
        try:
            busy = BusySpans(member.busy)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"member {member.id!r}: {exc}") from None
        return compute_slot_epochs_indexed(member.schedule, busy, self.rules, start, end, self.now, member.day_counts,
                                          member.limits)


def _intersection(window: _Window, members: Sequence[TeamMember]) -> list[int] | None:
    """Sorted starts at which every member is free (None when ``members`` is empty)."""
    common: list[int] | None = None
    for member in members:
        slots = window.slots(member, common)
        if common is not None:
            keep = set(common)
            slots = [start for start in slots if start in keep]
        common = slots
        if not common:
            break
    return common


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def collective_slots(
    members: Iterable[TeamMember], rules: SlotRules, window_start: datetime, window_end: datetime, now: datetime
) -> list[datetime]:
    """Starts at which every member is free (the intersection of their slot sets), as sorted aware UTC datetimes.

    An empty team offers nothing.  Raises ValueError for naive datetimes, duplicate ids or inconsistent input
    (TypeError for arguments of a wrong type), as :func:`~availability.compute_slots` does.
    """
    window = _Window(rules, window_start, window_end, now)
    return list(map(_utc, _intersection(window, _sorted_members(members)) or []))


def round_robin_slots(
    members: Iterable[TeamMember], rules: SlotRules, window_start: datetime, window_end: datetime, now: datetime
) -> RoundRobinSlots:
    """Starts at which at least one member is free (the union of their slot sets), with the free members of each.

    With fixed members, every fixed member must be free as well (see the module docstring); each start's list
    then holds the fixed members and the free members who are not fixed, sorted by id.  An empty team offers
    nothing.  Raises as :func:`collective_slots`.
    """
    window = _Window(rules, window_start, window_end, now)
    ordered = _sorted_members(members)
    fixed = [member for member in ordered if member.fixed]
    rotating = [member for member in ordered if not member.fixed]
    required = _intersection(window, fixed)
    if required == []:
        return RoundRobinSlots([])
    rotating_slots = [(member.id, window.slots(member, required)) for member in rotating]
    if not rotating_slots:
        starts = required or []
    else:
        starts = sorted(set().union(*(slots for _, slots in rotating_slots)))
        if required is not None:
            keep = set(required)
            starts = [start for start in starts if start in keep]
    return RoundRobinSlots(
        starts,
        [member.id for member in fixed],
        [(ident, frozenset(slots)) for ident, slots in rotating_slots],
    )
