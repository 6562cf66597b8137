"""The availability troubleshooter explains the slot engine: for generated days (daylight-saving days included)
its explanation agrees with ``available_slots`` slot by slot, and every start it does not offer has a reason."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models import Booking, CalendarBusyCache, EventType, Schedule
from app.models.base import utcnow
from app.services.integrations import calendars
from app.services.scheduling import booking_limits, troubleshooter
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.slots import available_slots
from app.timezones import zone
from tests import factories

BERLIN = "Europe/Berlin"
# the last Sundays of March and October: Berlin skips 02:00-03:00 and repeats 02:00-03:00
DST_DAYS = [date(2030, 3, 31), date(2030, 10, 27)]
PLAIN_DAYS = [date(2030, 4, 2), date(2030, 4, 6), date(2030, 11, 4)]
NOW = datetime(2030, 3, 25, 7, 0, tzinfo=UTC)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone=BERLIN)


def _cache(calendar_id: str, intervals: list[tuple[datetime, datetime]], around: datetime) -> None:
    """Busy time of a connected calendar, as the calendar busy source reads it: every window a week around
    ``around`` read just now (so nothing is fetched)."""
    CalendarBusyCache.delete().where(CalendarBusyCache.calendar == calendar_id).execute()
    by_window: dict[datetime, list] = {w: [] for w in calendars.windows(around - timedelta(days=4),
                                                                        around + timedelta(days=5))}
    for a, b in intervals:
        for w in calendars.windows(a, b):
            by_window.setdefault(w, []).append([int(a.timestamp()), int(b.timestamp())])
    for w, part in by_window.items():
        CalendarBusyCache.create(calendar=calendar_id, window_start=w, fetched_at=utcnow(),
                                 intervals=json.dumps(sorted(part)))


def _agrees(event_type: EventType, day: date, now: datetime, viewer_tz: str = BERLIN):
    explanation = troubleshooter.explain(event_type, day, viewer_tz, now)
    offered = available_slots(event_type, explanation.span_start - timedelta(days=1),
                              explanation.span_end + timedelta(days=1), now=now)
    offered = [s for s in offered if explanation.span_start <= s < explanation.span_end]
    available = [slot.start for slot in explanation.slots if slot.available]
    assert available == offered
    starts = [slot.start for slot in explanation.slots]
    assert starts == sorted(set(starts))
    for slot in explanation.slots:
        assert slot.available == (not slot.reasons), slot
    return explanation


def test_a_plain_day_lists_hours_bookings_buffers_and_calendar_busy_with_reasons(host):
    event_type = factories.event_type(host)
    EventType.update(buffer_before=15, minimum_notice=0).where(EventType.id == event_type.id).execute()
    event_type = EventType.get_by_id(event_type.id)
    day = date(2030, 4, 2)   # a Tuesday, Berlin is UTC+2
    factories.booking_row(event_type, datetime(2030, 4, 2, 9, 0, tzinfo=UTC), name="Ivan", buffer_after=10)
    integration = factories.connection(host, provider="ics", label="Rota")
    cal = factories.connection_calendar(integration, name="Work", check_conflicts=True)
    _cache(cal.id, [(datetime(2030, 4, 2, 12, 0, tzinfo=UTC), datetime(2030, 4, 2, 13, 0, tzinfo=UTC))],
           datetime(2030, 4, 2, tzinfo=UTC))
    explanation = _agrees(event_type, day, NOW)
    kinds = {(i.kind, i.label) for i in explanation.intervals}
    assert ("hours", "Working hours 09:00–17:00") in kinds
    assert any(k == "booking" and "Ivan" in label for k, label in kinds)
    assert any(k == "buffer" for k, _ in kinds)
    assert any(k == "calendar" and "Work" in label for k, label in kinds)
    by_start = {s.start.astimezone(zone(BERLIN)).time(): s for s in explanation.slots}
    assert by_start[time(11, 0)].available is False
    assert any(r.code == "booking" for r in by_start[time(11, 0)].reasons)
    assert any(r.code == "buffer" for r in by_start[time(11, 30)].reasons)   # the booking's 10-minute buffer
    assert any(r.code == "calendar" and "Work" in r.label for r in by_start[time(14, 0)].reasons)
    assert any(r.code == "calendar" for r in by_start[time(14, 30)].reasons)
    assert [r.code for r in by_start[time(15, 0)].reasons] == ["buffer"]   # its own 15-minute buffer before
    assert by_start[time(15, 30)].available and by_start[time(9, 0)].available


def test_notice_past_window_limit_and_override_are_reasons(host):
    event_type = factories.event_type(host)
    EventType.update(minimum_notice=120, max_per_day=1, window_days=3).where(EventType.id == event_type.id).execute()
    event_type = EventType.get_by_id(event_type.id)
    now = datetime(2030, 4, 2, 8, 10, tzinfo=UTC)   # 10:10 Berlin
    explanation = _agrees(event_type, date(2030, 4, 2), now)
    codes = {s.start.astimezone(zone(BERLIN)).time(): {r.code for r in s.reasons} for s in explanation.slots}
    assert codes[time(9, 0)] == {"past"} and codes[time(11, 0)] == {"notice"} and codes[time(12, 30)] == set()
    assert {r.code for s in _agrees(event_type, date(2030, 4, 9), now).slots for r in s.reasons} == {"after_window"}
    factories.booking_row(event_type, datetime(2030, 4, 3, 7, 0, tzinfo=UTC))
    later = _agrees(event_type, date(2030, 4, 3), now)
    assert later.slots and all({r.code for r in s.reasons} >= {"day_limit"} for s in later.slots)
    assert any("limit" in note for note in later.notes)
    schedule = effective_schedule(event_type)
    Schedule.update(overrides={"2030-04-04": []}).where(Schedule.id == schedule.id).execute()
    off = _agrees(event_type, date(2030, 4, 4), now)
    assert off.slots == [] and any("override" in note for note in off.notes)
    weekend = _agrees(event_type, date(2030, 4, 6), now)
    assert weekend.slots == [] and any("No working hours" in note for note in weekend.notes)


@pytest.mark.parametrize("day", DST_DAYS)
def test_a_daylight_saving_day_agrees_with_the_engine(host, day):
    event_type = factories.event_type(host)
    schedule = effective_schedule(event_type)
    Schedule.update(weekly={str(d): [["00:00", "04:00"], ["22:00", "00:00"]] for d in range(7)}).where(
        Schedule.id == schedule.id).execute()
    for interval in (15, 45, None):
        EventType.update(slot_interval=interval).where(EventType.id == event_type.id).execute()
        explanation = _agrees(EventType.get_by_id(event_type.id), day, NOW)
        assert explanation.slots


HOURS = st.lists(st.tuples(st.integers(0, 23), st.integers(1, 24)).map(lambda p: (min(p), max(p)))
                 .filter(lambda p: p[0] < p[1]), max_size=2)


def _ranges(pairs):
    out, last = [], -1
    for a, b in sorted(pairs):
        if a >= last:
            out.append([f"{a:02d}:00", "00:00" if b == 24 else f"{b:02d}:00"])
            last = b
    return out


@settings(max_examples=80, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(day=st.sampled_from(DST_DAYS + PLAIN_DAYS),
       weekly=HOURS, override=st.one_of(st.none(), HOURS),
       duration=st.sampled_from([15, 30, 45, 60, 90]), interval=st.sampled_from([None, 10, 15, 20, 45]),
       before=st.sampled_from([0, 5, 15]), after=st.sampled_from([0, 10, 30]),
       notice=st.sampled_from([0, 60, 600]), max_per_day=st.sampled_from([None, 1, 2]),
       bookings=st.lists(st.tuples(st.integers(0, 47), st.sampled_from([15, 30, 60]), st.sampled_from([0, 10])),
                         min_size=1, max_size=4),
       window_days=st.sampled_from([0, 1, 60]),
       busy=st.lists(st.tuples(st.integers(0, 95), st.integers(1, 8)), max_size=3),
       now_offset=st.integers(-48, 30), viewer=st.sampled_from([BERLIN, "UTC", "America/New_York"]),
       limits=st.fixed_dictionaries({}, optional={
           "max_per_week": st.integers(1, 6), "max_per_month": st.integers(1, 8), "max_per_year": st.integers(1, 9),
           "max_minutes_per_day": st.sampled_from([30, 60, 90, 120]),
           "max_minutes_per_week": st.sampled_from([60, 120, 240])}),
       host_limits=st.fixed_dictionaries({}, optional={
           "max_per_day": st.integers(1, 4), "max_per_week": st.integers(1, 6),
           "max_minutes_per_day": st.sampled_from([45, 90, 180])}),
       earlier=st.lists(st.integers(-12, 12), max_size=4))
def test_generated_days_agree_with_the_engine_slot_by_slot(host, day, weekly, override, duration, interval, before,
                                                            after, notice, max_per_day, bookings, window_days, busy,
                                                            now_offset, viewer, limits, host_limits, earlier):
    """Booking limits included (issue 23): the event type's own and the host's, with bookings earlier and later in
    the week or month (``earlier``: days from ``day``, of this event type or, when odd, of another one)."""
    event_type = factories.event_type(host)
    EventType.update(duration=duration, slot_interval=interval, buffer_before=before, buffer_after=after,
                     minimum_notice=notice, max_per_day=max_per_day, window_days=window_days,
                     **{name: limits.get(name) for name in booking_limits.EVENT_TYPE_FIELDS}
                     ).where(EventType.id == event_type.id).execute()
    booking_limits.save_host_limits(host, {name: str(value) for name, value in host_limits.items()})
    event_type = EventType.get_by_id(event_type.id)
    schedule = effective_schedule(event_type)
    overrides = {} if override is None else {day.isoformat(): _ranges(override)}
    Schedule.update(weekly={str(d): _ranges(weekly) for d in range(7)}, overrides=overrides,
                    timezone=BERLIN).where(Schedule.id == schedule.id).execute()
    Booking.delete().where(Booking.user == host.id).execute()
    midnight = datetime.combine(day, time(0), zone(BERLIN)).astimezone(UTC)
    for half_hour, minutes, buffer in bookings:
        factories.booking_row(event_type, midnight + timedelta(minutes=30 * half_hour), minutes=minutes,
                              buffer_before=buffer, buffer_after=buffer)
    other = EventType.get_or_none((EventType.user == host.id) & (EventType.slug == "other")) or \
        factories.new_event_type(host, name="Other", slug="other", duration=45)
    for shift in earlier:
        factories.booking_row(other if shift % 2 else event_type, midnight + timedelta(days=shift, hours=10),
                              minutes=45 if shift % 2 else duration)
    from app.models import IntegrationCalendar
    cal = IntegrationCalendar.get_or_none(IntegrationCalendar.user == host.id)
    if cal is None:
        cal = factories.connection_calendar(factories.connection(host, provider="ics", label="Rota"), name="Work",
                                            check_conflicts=True)
    _cache(cal.id, [(midnight + timedelta(minutes=15 * q), midnight + timedelta(minutes=15 * (q + n)))
                    for q, n in busy], midnight)
    now = midnight + timedelta(hours=now_offset, minutes=7)
    explanation = _agrees(event_type, day, now, viewer)
    for slot in explanation.slots:
        assert slot.available or slot.reasons


def test_a_date_range_window_explains_the_days_before_it(host):
    event_type = factories.event_type(host)
    EventType.update(window_type="range", window_start=date(2030, 4, 3), window_end=date(2030, 4, 3)).where(
        EventType.id == event_type.id).execute()
    event_type = EventType.get_by_id(event_type.id)
    before = _agrees(event_type, date(2030, 4, 2), NOW)
    assert before.slots and {r.code for s in before.slots for r in s.reasons} == {"before_window"}
    assert any(i.kind == "outside_window" for i in before.intervals)
    inside = _agrees(event_type, date(2030, 4, 3), NOW)
    assert inside.available_count == 16
    after = _agrees(event_type, date(2030, 4, 4), NOW)
    assert {r.code for s in after.slots for r in s.reasons} == {"after_window"}


def test_a_seated_class_with_free_seats_is_explained_as_the_engine_offers_it(host):
    """A seated event type: its class with a free seat stays offered at its own start, and the starts overlapping
    that class (where the host is teaching) are explained as such, in agreement with the engine."""
    event_type = factories.event_type(host)
    EventType.update(seats=3, minimum_notice=0, slot_interval=15).where(EventType.id == event_type.id).execute()
    event_type = EventType.get_by_id(event_type.id)
    class_start = datetime(2030, 4, 2, 9, 0, tzinfo=UTC)     # 11:00 Berlin
    factories.booking_row(event_type, class_start, name="Ivan", seated=True)
    explanation = _agrees(event_type, date(2030, 4, 2), NOW)
    by_start = {s.start.astimezone(zone(BERLIN)).time(): s for s in explanation.slots}
    assert by_start[time(11, 0)].available
    assert [r.code for r in by_start[time(10, 45)].reasons] == ["seats"]
    assert [r.code for r in by_start[time(11, 15)].reasons] == ["seats"]
    assert by_start[time(10, 30)].available and by_start[time(11, 30)].available


def test_out_of_office_days_are_named_in_the_timeline_and_the_reasons(host):
    from app.services.scheduling import out_of_office

    event_type = factories.event_type(host)
    out_of_office.add_entry(host, out_of_office.EntryInput(start_date=date(2030, 4, 2), end_date=date(2030, 4, 3)),
                            today=date(2030, 3, 25))
    explanation = _agrees(event_type, date(2030, 4, 2), NOW)
    assert explanation.slots and not explanation.available_count
    assert all(r.label.startswith("Overlaps: Out of office") for s in explanation.slots for r in s.reasons)
    assert any(i.label == "Out of office" for i in explanation.intervals)
