"""The availability troubleshooter: why each start of a day is (not) bookable for an event type.

It loads what ``slots.available_slots`` loads (the effective schedule, the booking window, every busy source's
intervals, the per-day booking counts, the event type's rules) and asks the engine's own explainer,
``availability_explain.explain_candidates``, which walks the same working ranges and slot grid as the engine and
reports the rules that exclude each start; a start without reasons is one the engine offers
(tests/services/test_troubleshooter.py checks this slot by slot). The busy intervals are then labelled for the host:
a booking by its event and invitee, a connected calendar's busy time by the calendar's name (the busy cache keeps
times only, not event titles).

The result holds private details of the host's day; only the host's own pages show it. Personal event types only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from app.models import Booking, BookingHost, EventType
from app.models.bookings import TAKEN_STATUSES
from app.services.scheduling import availability_explain, booking_limits, slots
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.period_limits import describe
from app.services.scheduling.schedules import to_engine
from app.timezones import zone

REASON_TEXT = {
    "past": "Already past",
    "notice": "Inside the minimum notice",
    "before_window": "Before the booking window opens",
    "after_window": "After the booking window ends",
    "day_limit": "Daily booking limit reached",
}


@dataclass(frozen=True)
class Interval:
    start: datetime           # aware UTC
    end: datetime
    kind: str                 # hours | override | booking | buffer | calendar | busy | notice | past | outside_window
    label: str


@dataclass(frozen=True)
class Reason:
    code: str  # past | notice | before_window | after_window | day_limit | limit | booking | buffer | calendar | busy
    #            | seats
    label: str


@dataclass(frozen=True)
class SlotExplanation:
    start: datetime
    end: datetime
    available: bool
    reasons: tuple[Reason, ...] = ()


@dataclass
class DayExplanation:
    event_type: EventType
    day: date
    tz: str                   # the zone the day is shown in
    host_tz: str | None       # the schedule's zone (None: no schedule)
    span_start: datetime
    span_end: datetime
    intervals: list[Interval] = field(default_factory=list)
    slots: list[SlotExplanation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def available_count(self) -> int:
        return sum(1 for slot in self.slots if slot.available)


@dataclass(frozen=True)
class _Busy:
    start: datetime
    end: datetime
    kind: str                 # booking | calendar | busy
    label: str


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _source_kind(source) -> str:
    module = getattr(source, "__module__", "") or ""
    if module.endswith("booking.busy"):
        return "booking"
    if module.endswith("integrations.calendars"):
        return "calendar"
    return "busy"


def _booking_labels(host: str, start: datetime, end: datetime) -> dict[tuple[datetime, datetime], list[Booking]]:
    """The host's taken bookings (own and attended) near [start, end), by their interval widened by their buffers."""
    reach = timedelta(days=2)
    window = (Booking.status.in_(TAKEN_STATUSES) & (Booking.start_at < end + reach)
              & (Booking.end_at > start - reach))
    own = Booking.select().where((Booking.user == host) & window)
    attended = (Booking.select().join(BookingHost, on=(BookingHost.booking == Booking.id))
                .where((BookingHost.user == host) & window))
    out: dict[tuple[datetime, datetime], list[Booking]] = {}
    for booking in list(own) + list(attended):
        key = (booking.start_at - timedelta(minutes=booking.buffer_before),
               booking.end_at + timedelta(minutes=booking.buffer_after))
        if booking not in out.setdefault(key, []):
            out[key].append(booking)
    return out


def _labelled_busy(event_type: EventType, host: str, start: datetime, end: datetime,
                   bookings: dict[tuple[datetime, datetime], list[Booking]]) -> list[_Busy]:
    """Every busy interval the engine sees for [start, end), from every busy source, with a label for the host."""
    found: list[_Busy] = []
    calendars = None
    for source, by_host in slots.busy_by_source(event_type, [host], start, end, None):
        kind = _source_kind(source)
        away = (getattr(source, "__module__", "") or "").endswith("scheduling.out_of_office")
        for b0, b1 in by_host.get(host, []):
            label = "Out of office" if away else "Busy"
            if kind == "booking":
                matches = bookings.get((b0, b1)) or []
                if matches:
                    label = "; ".join(f"{m.event_name} with {m.invitee_name}" for m in matches)
            elif kind == "calendar":
                calendars = slots.busy_labels(host, start, end) if calendars is None else calendars
                names = calendars.get((int(b0.timestamp()), int(b1.timestamp())))
                label = "Busy in " + ", ".join(f"“{n}”" for n in names) if names else "Busy in a connected calendar"
            found.append(_Busy(b0.astimezone(UTC), b1.astimezone(UTC), kind, label))
    found.sort(key=lambda b: (b.start, b.end))
    return found


def _busy_reason(b: _Busy, bookings: dict, start: datetime, end: datetime, rules, tz) -> Reason:
    """Why busy time ``b`` excludes the slot [start, end): it overlaps the event itself, a booking's own buffer, or
    the buffer this event type keeps around its slots."""
    when = f"{_clock(b.start, tz)}–{_clock(b.end, tz)}"
    matches = bookings.get((b.start, b.end)) if b.kind == "booking" else None
    if matches:
        if any(m.start_at < end and m.end_at > start for m in matches):
            return Reason("booking", f"Overlaps the booking {b.label} ({_clock(matches[0].start_at, tz)}–"
                                     f"{_clock(matches[0].end_at, tz)})")
        if b.start < end and b.end > start:
            return Reason("buffer", f"Overlaps the buffer around the booking {b.label} ({when})")
    elif b.start < end and b.end > start:
        return Reason(b.kind, f"Overlaps: {b.label} ({when})")
    side = "before" if b.end <= start else "after"
    minutes = rules.before_buffer if side == "before" else rules.after_buffer
    return Reason("buffer", f"Its {minutes}-minute buffer {side} meets: {b.label} ({when})")


def _starts_in_open_classes(event_type: EventType, candidates, start: datetime, end: datetime,
                            length: int) -> set[datetime]:
    """The starts the engine would offer that a seated event type's slot filters drop (seats, issue 23): they
    overlap one of its slots that still has free seats. Empty for other event types."""
    offered = [_utc(c.start) for c in candidates if c.available]
    if not event_type.seats or not offered:
        return set()
    kept = offered
    for seat_filter in slots.SEAT_FILTERS:
        kept = seat_filter(event_type, kept, start, end, None, length)
    return set(offered) - set(kept)


def _clock(moment: datetime, tz) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def explain(event_type: EventType, day: date, viewer_tz: str, now: datetime | None = None) -> DayExplanation:
    """The timeline of ``day`` (a date in ``viewer_tz``) for a personal event type: working hours, overrides, busy
    time, notice, window, and every candidate start with whether the engine offers it and why not."""
    now = now or datetime.now(UTC)
    tz = zone(viewer_tz)
    span_start = datetime.combine(day, time(0), tz).astimezone(UTC)
    span_end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    schedule = effective_schedule(event_type)
    result = DayExplanation(event_type, day, viewer_tz, schedule.timezone if schedule else None, span_start, span_end)
    if event_type.team_id:
        result.notes.append("Team event types are not explained here yet.")
        return result
    if schedule is None:
        result.notes.append("This event type has no availability schedule, so nothing can be booked.")
        return result
    engine_schedule = to_engine(schedule)
    rules = slots.rules_for(event_type)
    window_start, window_end = slots.booking_window(event_type, schedule.timezone, now)
    # the same inputs as available_slots, read around the day so that buffers and long events are covered
    load_start, load_end = span_start - timedelta(days=1), span_end + timedelta(days=1)
    host = event_type.user_id
    bookings = _booking_labels(host, load_start, load_end)
    busy = _labelled_busy(event_type, host, load_start, load_end, bookings)
    day_counts = slots.day_counts_of(event_type, {host: schedule.timezone}, load_start, load_end)[host]
    limits = booking_limits.limits_of(event_type, {host: schedule.timezone}, load_start, load_end)[host]
    candidates = availability_explain.explain_candidates(
        engine_schedule, [(b.start.timestamp(), b.end.timestamp()) for b in busy], rules,
        window_start.timestamp(), window_end.timestamp(), now.timestamp(), day_counts or None,
        int(span_start.timestamp()), int(span_end.timestamp()), limits)

    # the timeline
    intervals = result.intervals
    ranges = availability_explain.working_ranges(engine_schedule, int(span_start.timestamp()),
                                                 int(span_end.timestamp()))
    for _local_date, a, b, override in ranges:
        start, end = max(_utc(a), span_start), min(_utc(b), span_end)
        kind = "override" if override else "hours"
        what = "Date override" if override else "Working hours"
        intervals.append(Interval(start, end, kind, f"{what} {_clock(_utc(a), tz)}–{_clock(_utc(b), tz)}"))
    host_zone = zone(schedule.timezone)
    for local_date in sorted({span_start.astimezone(host_zone).date(), (span_end - timedelta(seconds=1))
                              .astimezone(host_zone).date()}):
        if local_date in engine_schedule.overrides and not any(
                r for r in ranges if r[0] == local_date):
            result.notes.append(f"A date override makes {local_date.isoformat()} unavailable.")
        elif not any(r for r in ranges if r[0] == local_date):
            result.notes.append(f"No working hours on {local_date.strftime('%A')}s in “{schedule.name}”.")
        if rules.max_per_day is not None and day_counts.get(local_date, 0) >= rules.max_per_day:
            result.notes.append(f"{local_date.isoformat()} already has {day_counts.get(local_date, 0)} booking(s) "
                                f"of this event type: the limit is {rules.max_per_day} a day.")
        for reached in limits.reached(local_date, rules.length) if limits is not None else []:
            result.notes.append(f"{local_date.isoformat()}: {describe(reached, rules.length)}.")
    for b in busy:
        if b.end <= span_start or b.start >= span_end:
            continue
        if b.kind == "booking" and bookings.get((b.start, b.end)):
            for booking in bookings[(b.start, b.end)]:
                intervals.append(Interval(booking.start_at, booking.end_at, "booking", b.label))
                if booking.buffer_before:
                    intervals.append(Interval(b.start, booking.start_at, "buffer", f"Buffer before {b.label}"))
                if booking.buffer_after:
                    intervals.append(Interval(booking.end_at, b.end, "buffer", f"Buffer after {b.label}"))
        else:
            intervals.append(Interval(b.start, b.end, b.kind, b.label))
    if now > span_start:
        intervals.append(Interval(span_start, min(now, span_end), "past", "Past"))
    notice_end = now + timedelta(minutes=rules.minimum_notice)
    if rules.minimum_notice and notice_end > span_start and now < span_end:
        intervals.append(Interval(max(now, span_start), min(notice_end, span_end), "notice",
                                  f"Minimum notice ({rules.minimum_notice} min)"))
    if window_start > span_start and window_start > now:
        intervals.append(Interval(span_start, min(window_start, span_end), "outside_window",
                                  "Before the booking window"))
    if window_end < span_end:
        intervals.append(Interval(max(window_end, span_start), span_end, "outside_window", "After the booking window"))
    intervals.sort(key=lambda i: (i.start, i.end))

    # the slots
    length = timedelta(minutes=rules.length)
    in_a_class = _starts_in_open_classes(event_type, candidates, span_start, span_end, rules.length)
    for candidate in candidates:
        start = _utc(candidate.start)
        reasons: list[Reason] = []
        if start in in_a_class:
            reasons.append(Reason("seats", "Overlaps a class of this event type that still has free seats (the "
                                           "host is in it then; invitees book a seat at its own start)"))
        for code in candidate.reasons:
            if isinstance(code, tuple) and code[0] == "limit":
                reasons.append(Reason("limit", describe(code[1], rules.length)))
            elif isinstance(code, tuple):
                reasons.append(_busy_reason(busy[code[1]], bookings, start, start + length, rules, tz))
            else:
                reasons.append(Reason(code, REASON_TEXT[code]))
        result.slots.append(SlotExplanation(start, start + length, candidate.available and not reasons,
                                            tuple(reasons)))
    if not result.slots and not result.notes:
        result.notes.append("The working hours of this day are shorter than the event.")
    return result
