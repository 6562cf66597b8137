"""Busy time of one host for the slot engine, indexed without converting every interval to a number.

The slot engine (:mod:`availability`) asks two questions of a host's busy time, on epoch seconds: is
``[lo, hi)`` free, and which of these candidate starts ``s`` have ``[s - before, s + after)`` free.  Its own
index converts every busy datetime to a number first, which costs about as much as the rest of the
computation for a 200-interval list; the team engine runs it for up to dozens of members per request.

:class:`BusySpans` keeps the datetimes: it sorts them and merges overlapping or touching intervals (datetime
comparisons only, several times cheaper than a conversion), after which both the starts and the ends of the
merged intervals are sorted.  A query bisects the ends with one datetime built from its lower bound (``free_starts``
reuses the position found by the ``is_free`` call the engine makes just before it about the same range) and
converts only the merged intervals it meets, each once.  A start is blocked by a merged busy ``[b0, b1)`` exactly
when ``b0 - after < s < b1 + before``; the candidates between such spans are kept as slices of the candidates.
Busy datetimes in a zone other than UTC are converted to UTC first: two datetimes of one zone compare by wall
clock, ignoring the fold of a repeated hour.
"""
from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

__all__ = ["BusySpans"]

_get_tzinfo = operator.attrgetter("tzinfo")


class BusySpans:
    """Busy ``(start, end)`` aware datetimes, answering the slot engine's two queries (see the module docstring).

    Raises ValueError for naive datetimes or an interval that ends before it starts, TypeError for anything
    that is not a ``(datetime, datetime)`` pair.  Empty intervals block nothing and are dropped.
    """

    __slots__ = ("_end_epochs", "_hint", "_start_epochs", "ends", "starts")

    def __init__(self, busy: Iterable[tuple[datetime, datetime]]) -> None:
        try:
            pairs = list(busy)
            starts = [start for start, _ in pairs]
            ends = [end for _, end in pairs]
            if None in map(_get_tzinfo, starts) or None in map(_get_tzinfo, ends):
                raise ValueError("busy intervals must be timezone-aware datetimes")
            count = len(pairs)
            if (operator.countOf(map(_get_tzinfo, starts), UTC) < count
                    or operator.countOf(map(_get_tzinfo, ends), UTC) < count):
                # Two datetimes of one zone compare by wall clock, ignoring the fold of a repeated hour: in UTC.
                starts = [start.astimezone(UTC) for start in starts]
                ends = [end.astimezone(UTC) for end in ends]
                pairs = list(zip(starts, ends, strict=True))
            if any(map(operator.gt, starts, ends)):
                raise ValueError("busy interval ends before it starts")
            pairs.sort()
        except (AttributeError, TypeError):
            raise TypeError("busy intervals must be (datetime, datetime) pairs") from None
        merged_starts: list[datetime] = []
        merged_ends: list[datetime] = []
        top = None
        for start, end in pairs:
            if start == end:
                continue
            if top is not None and start <= top:  # overlaps or touches the previous one: [a, b) + [b, c) = [a, c)
                if end > top:
                    top = merged_ends[-1] = end
            else:
                merged_starts.append(start)
                merged_ends.append(end)
                top = end
        self.starts = merged_starts  # sorted, and so are the ends: the intervals are disjoint
        self.ends = merged_ends
        self._start_epochs: list[float | None] = [None] * len(merged_starts)
        self._end_epochs: list[float | None] = [None] * len(merged_starts)
        self._hint: tuple[float, int] | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def _convert(self, index: int) -> float:
        """Epoch seconds of merged interval ``index`` (cached); returns its start."""
        start = self._start_epochs[index] = self.starts[index].timestamp()
        self._end_epochs[index] = self.ends[index].timestamp()
        return start

    def is_free(self, lo: float, hi: float) -> bool:
        """True when no busy interval overlaps ``[lo, hi)`` (epoch seconds)."""
        index = bisect_right(self.ends, datetime.fromtimestamp(lo, UTC))  # the first interval ending after lo
        self._hint = (lo, index)  # the engine asks free_starts about the same range next
        if index == len(self.ends):
            return True
        start = self._start_epochs[index]
        return (self._convert(index) if start is None else start) >= hi

    def free_starts(self, candidates: Iterable[int], before: int, after: int) -> list[int]:
        """The candidate starts ``s`` (ascending) for which ``[s - before, s + after)`` is free."""
        pending: Sequence[int] = candidates if isinstance(candidates, range) else list(candidates)
        if not pending:
            return []
        first, last = pending[0] - before, pending[-1] + after
        hint, self._hint = self._hint, None
        if hint is not None and hint[0] <= first:
            index = hint[1]  # no interval before it ends after hint[0], so none blocks a candidate
        else:
            index = bisect_right(self.ends, datetime.fromtimestamp(first, UTC))
        start_epochs, end_epochs, count = self._start_epochs, self._end_epochs, len(self.starts)
        free: list[int] = []
        position = 0
        while index < count:
            busy_start = start_epochs[index]
            if busy_start is None:
                busy_start = self._convert(index)
            if busy_start >= last:  # this interval and every later one block none of the candidates
                break
            blocked_from = bisect_right(pending, busy_start - after, position)
            free.extend(pending[position:blocked_from])
            position = bisect_left(pending, end_epochs[index] + before, blocked_from)
            index += 1
        free.extend(pending[position:])
        return free
