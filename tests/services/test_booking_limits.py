"""Booking limits (issue 23 point 3) through the services: what the booking page offers, what the booking service
accepts, and what the troubleshooter says, for an event type's own limits and the host's across all event types."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.models import Booking, EventType, Schedule
from app.services.booking import bookings as svc
from app.services.errors import ValidationFailed
from app.services.scheduling import booking_limits, troubleshooter
from app.services.scheduling import event_types as et
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.slots import available_slots
from app.timezones import zone
from tests import factories

NY = "America/New_York"
NOW = datetime(2030, 3, 29, 12, 0, tzinfo=UTC)      # a Friday
MONDAY = date(2030, 4, 1)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone=NY)


def _set(event_type: EventType, **fields) -> EventType:
    EventType.update(**fields).where(EventType.id == event_type.id).execute()
    return EventType.get_by_id(event_type.id)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone(NY)).astimezone(UTC)


def _days_offered(event_type: EventType, first: date, days: int) -> set[date]:
    start, end = _at(first, 0), _at(first + timedelta(days=days), 0)
    return {s.astimezone(zone(NY)).date() for s in available_slots(event_type, start, end, now=NOW)}


def _weekdays(first: date, days: int) -> set[date]:
    return {first + timedelta(days=n) for n in range(days) if (first + timedelta(days=n)).weekday() < 5}


def test_a_weekly_limit_hides_the_rest_of_the_week_and_the_next_week_opens(host):
    event_type = _set(factories.event_type(host), max_per_week=2)
    factories.booking_row(event_type, _at(MONDAY, 9))
    assert _days_offered(event_type, MONDAY, 14) == _weekdays(MONDAY, 14)
    factories.booking_row(event_type, _at(MONDAY + timedelta(days=3), 9))      # Thursday: 2 of 2
    assert _days_offered(event_type, MONDAY, 14) == _weekdays(MONDAY + timedelta(days=7), 7)


def test_weeks_start_on_monday_in_the_schedules_zone(host):
    event_type = _set(factories.event_type(host), max_per_week=1)
    schedule = effective_schedule(event_type)
    Schedule.update(weekly={str(d): [["09:00", "17:00"]] for d in range(7)}).where(Schedule.id == schedule.id).execute()
    sunday = MONDAY + timedelta(days=6)
    factories.booking_row(event_type, _at(sunday, 16, 30))      # Sunday afternoon: the week Mon 1 – Sun 7
    assert _days_offered(event_type, MONDAY, 14) == {MONDAY + timedelta(days=n) for n in range(7, 14)}
    Booking.delete().execute()
    factories.booking_row(event_type, _at(sunday, 21))     # Sunday 21:00 New York = Monday 01:00 UTC
    assert _days_offered(event_type, MONDAY, 14) == {MONDAY + timedelta(days=n) for n in range(7, 14)}


def test_monthly_and_yearly_limits(host):
    event_type = _set(factories.event_type(host), max_per_month=1, window_days=120)
    factories.booking_row(event_type, _at(date(2030, 4, 10), 9))
    offered = _days_offered(event_type, MONDAY, 45)
    assert not any(d.month == 4 for d in offered) and date(2030, 5, 1) in offered
    event_type = _set(event_type, max_per_month=None, max_per_year=1)
    assert _days_offered(event_type, MONDAY, 45) == set()
    Booking.delete().execute()
    factories.booking_row(event_type, _at(date(2029, 12, 31), 9))       # last year's booking does not count
    assert _days_offered(event_type, MONDAY, 7) == _weekdays(MONDAY, 7)


def test_booked_minutes_per_day_leave_room_for_what_still_fits(host):
    event_type = _set(factories.event_type(host), max_minutes_per_day=90)
    factories.booking_row(event_type, _at(MONDAY, 9), minutes=60)
    assert MONDAY in _days_offered(event_type, MONDAY, 1)          # 60 + 30 = 90: still fits
    long = factories.new_event_type(host, name="Long", duration=45, max_minutes_per_day=90)
    factories.booking_row(long, _at(MONDAY, 13), minutes=60)       # 60 minutes of the long one
    assert MONDAY not in _days_offered(long, MONDAY, 1)            # 60 + 45 > 90
    assert MONDAY + timedelta(days=1) in _days_offered(long, MONDAY, 2)


def test_minutes_per_week(host):
    event_type = _set(factories.event_type(host), max_minutes_per_week=60)
    factories.booking_row(event_type, _at(MONDAY, 9), minutes=45)
    assert _days_offered(event_type, MONDAY, 14) == _weekdays(MONDAY + timedelta(days=7), 7)


def test_host_wide_limits_count_every_event_type_and_team_bookings_attended(host, make_user):
    other = factories.new_event_type(host, name="Other", duration=30)
    event_type = factories.event_type(host)
    booking_limits.save_host_limits(host, {"max_per_day": "2", "max_per_week": ""})
    factories.booking_row(other, _at(MONDAY, 9))
    assert MONDAY in _days_offered(event_type, MONDAY, 1)
    teammate = make_user("tom", timezone=NY)
    team = factories.team(teammate, [host])
    team_type = factories.team_event_type(teammate, team, [teammate, host], kind="collective")
    svc.create_booking(team_type, factories.booking_request(_at(MONDAY, 11), timezone=NY), now=NOW)
    assert MONDAY not in _days_offered(event_type, MONDAY, 1)       # one own + one team booking: 2 of 2
    assert MONDAY not in _days_offered(other, MONDAY, 1)
    assert MONDAY + timedelta(days=1) in _days_offered(event_type, MONDAY + timedelta(days=1), 1)
    # the team event type itself: the host is at their limit that day, so a collective slot needs them: none
    starts = available_slots(team_type, _at(MONDAY, 0), _at(MONDAY + timedelta(days=1), 0), now=NOW)
    assert starts == []


def test_the_booking_service_refuses_a_booking_over_the_limit(host):
    event_type = _set(factories.event_type(host), max_per_week=1)
    svc.create_booking(event_type, factories.booking_request(_at(MONDAY, 9), timezone=NY), now=NOW)
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, factories.booking_request(_at(MONDAY, 11), email="b@example.com",
                                                                 timezone=NY), now=NOW)
    assert Booking.select().count() == 1


def test_rescheduling_within_the_period_does_not_count_the_booking_itself(host):
    event_type = _set(factories.event_type(host), max_per_week=1, max_minutes_per_day=30)
    booking = svc.create_booking(event_type, factories.booking_request(_at(MONDAY, 9), timezone=NY), now=NOW).booking
    moved = svc.reschedule_booking(booking, _at(MONDAY, 14), reason=None, by="invitee", now=NOW)
    assert moved.start_at == _at(MONDAY, 14)


def test_a_recurring_series_counts_its_own_occurrences(host):
    event_type = _set(factories.event_type(host), max_per_month=2,
                      recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4})
    request = factories.booking_request(_at(MONDAY, 9), timezone=NY, occurrences=4)
    with pytest.raises(svc.SlotUnavailable) as caught:
        svc.create_booking(event_type, request, now=NOW)
    assert "Apr" in str(caught.value)
    assert Booking.select().count() == 0
    request = factories.booking_request(_at(MONDAY, 9), timezone=NY, occurrences=2)
    assert len(svc.create_booking(event_type, request, now=NOW).bookings) == 2


def test_the_editor_and_the_settings_validate_the_numbers(host):
    event_type = factories.event_type(host)
    with pytest.raises(ValidationFailed) as caught:
        et.update_event_type(event_type, et.EventTypeInput(max_per_week="0", max_minutes_per_day="lots"))
    assert set(caught.value.errors) == {"max_per_week", "max_minutes_per_day"}
    updated = et.update_event_type(event_type, et.EventTypeInput(max_per_week="3", max_per_year=""))
    assert updated.max_per_week == 3 and updated.max_per_year is None
    with pytest.raises(ValidationFailed) as caught:
        booking_limits.save_host_limits(host, {"max_minutes_per_week": "99999"})
    assert "max_minutes_per_week" in caught.value.errors
    assert booking_limits.save_host_limits(host, {"max_per_week": "4"}).max_per_week == 4
    assert booking_limits.get_host_limits(host).max_per_week == 4


def test_the_troubleshooter_says_which_limit_was_reached(host):
    event_type = _set(factories.event_type(host), max_per_week=2)
    booking_limits.save_host_limits(host, {"max_minutes_per_day": "60"})
    factories.booking_row(event_type, _at(MONDAY, 9))
    factories.booking_row(event_type, _at(MONDAY + timedelta(days=1), 9), minutes=45)
    explanation = troubleshooter.explain(event_type, MONDAY + timedelta(days=1), NY, NOW)
    labels = {r.label for s in explanation.slots for r in s.reasons if r.code == "limit"}
    assert "Weekly limit reached (2 of 2)" in labels
    assert any(label.startswith("Daily booked-minutes limit across all your event types reached (45 of 60")
               for label in labels)
    assert all(not s.available for s in explanation.slots)
    assert any("Weekly limit reached" in note for note in explanation.notes)


def test_bookings_far_from_the_window_count_for_the_month_and_the_year(host, make_user):
    """Bookings outside the window's weeks are counted per month by the database: they still fill a month or a
    year, and never a day or a week of the window."""
    event_type = _set(factories.event_type(host), max_per_month=2, window_days=120)
    late = date(2030, 4, 22)                                   # the last full week of April
    factories.booking_row(event_type, _at(date(2030, 4, 2), 9))
    assert late in _days_offered(event_type, late, 7)
    factories.booking_row(event_type, _at(date(2030, 4, 3), 9))
    assert not any(d.month == 4 for d in _days_offered(event_type, late, 7))
    assert date(2030, 5, 1) in _days_offered(event_type, late, 10)
    Booking.delete().execute()
    event_type = _set(event_type, max_per_month=None, max_per_year=3, max_per_week=1, max_per_day=1)
    for day in (date(2030, 1, 7), date(2030, 2, 11), date(2030, 3, 4)):
        factories.booking_row(event_type, _at(day, 9))
    assert _days_offered(event_type, MONDAY, 14) == set()
    Booking.delete().where(Booking.start_at < _at(date(2030, 1, 8), 0)).execute()
    assert _days_offered(event_type, MONDAY, 7) == _weekdays(MONDAY, 7)       # 2 of 3; the weeks are untouched
    # host-wide: a team booking far away counts once, though the host both has it filed and attends it
    booking_limits.save_host_limits(host, {"max_per_year": "3"})
    _set(event_type, max_per_year=None)
    teammate = make_user("tom", timezone=NY)
    team = factories.team(host, [teammate])
    team_type = factories.team_event_type(host, team, [host, teammate], kind="collective")
    made = svc.create_booking(team_type, factories.booking_request(_at(date(2030, 4, 22), 11), timezone=NY),
                              now=NOW).booking
    assert made.user_id == host.id                      # filed under the host, who also attends it
    assert _days_offered(EventType.get_by_id(event_type.id), MONDAY, 7) == set()    # 2 + 1 of 3
    Booking.delete().where(Booking.start_at < _at(date(2030, 2, 12), 0)).execute()
    assert _days_offered(EventType.get_by_id(event_type.id), MONDAY, 7) == _weekdays(MONDAY, 7)


@pytest.mark.parametrize(("first", "far_days"), [
    (date(2030, 3, 25), [date(2030, 1, 14), date(2030, 11, 5), date(2030, 12, 10)]),   # the year before and after
    (date(2030, 1, 7), [date(2030, 6, 3), date(2030, 9, 9), date(2030, 10, 7)]),     # only after the window
])
def test_a_yearly_total_from_far_bookings_fills_no_week_of_the_window(host, first, far_days):
    event_type = _set(factories.event_type(host), max_per_year=3, max_per_week=1, window_type="range",
                      window_start=date(2030, 1, 1), window_end=date(2030, 12, 31))
    now = datetime(2029, 12, 1, tzinfo=UTC)
    offered = lambda: {s.astimezone(zone(NY)).date() for s in available_slots(  # noqa: E731
        EventType.get_by_id(event_type.id), _at(first, 0), _at(first + timedelta(days=14), 0), now=now)}
    for day in far_days[:2]:
        factories.booking_row(event_type, _at(day, 9))
    assert offered() == _weekdays(first, 14)          # 2 of 3 a year; the window's weeks hold none
    factories.booking_row(event_type, _at(far_days[2], 9))
    assert offered() == set()
