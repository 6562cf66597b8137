"""Event type and schedule services: defaults, validation, and the slots they produce."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.models import EventType, Schedule
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import event_types as et
from app.services.scheduling import schedules
from app.services.scheduling.slots import available_slots, booking_window


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def test_new_account_gets_working_hours_and_a_30_minute_meeting(host):
    [schedule] = Schedule.select().where(Schedule.user == host)
    assert schedule.name == "Working hours" and schedule.is_default and schedule.timezone == "America/New_York"
    assert schedule.weekly["0"] == [["09:00", "17:00"]] and schedule.weekly["5"] == [] and schedule.weekly["6"] == []
    [event_type] = EventType.select().where(EventType.user == host)
    assert (event_type.name, event_type.slug, event_type.duration, event_type.status, event_type.location_type) == \
        ("30 Minute Meeting", "30-min", 30, "active", "none")
    assert event_type.reminders == [1440]


def test_slug_is_suggested_from_the_name_and_made_unique(host):
    first = et.create_event_type(host, et.EventTypeInput(name="Intro Call — Café", duration=15))
    second = et.create_event_type(host, et.EventTypeInput(name="Intro Call — Café", duration=15))
    assert first.slug == "intro-call-cafe" and second.slug == "intro-call-cafe-2"


@pytest.mark.parametrize("data,field", [
    (et.EventTypeInput(name="X", slug="30-min", duration=30), "slug"),
    (et.EventTypeInput(name="X", slug="Bad Slug", duration=30), "slug"),
    (et.EventTypeInput(name="X", slug="a--b", duration=30), "slug"),
    (et.EventTypeInput(name="X", duration=4), "duration"),
    (et.EventTypeInput(name="X", duration=721), "duration"),
    (et.EventTypeInput(name="X", duration="ten"), "duration"),
    (et.EventTypeInput(name="", duration=30), "name"),
    (et.EventTypeInput(name="X", duration=30, buffer_before=241), "buffer_before"),
    (et.EventTypeInput(name="X", duration=30, location_type="in_person", location_detail=""), "location_detail"),
    (et.EventTypeInput(name="X", duration=30, location_type="custom_link", location_detail="ftp://x"),
     "location_detail"),
    (et.EventTypeInput(name="X", duration=30, location_type="carrier_pigeon"), "location_type"),
    (et.EventTypeInput(name="X", duration=30, window_type="range", window_start="2026-05-02",
                       window_end="2026-05-01"), "window_end"),
    (et.EventTypeInput(name="X", duration=30, questions=[{"label": "Pick", "type": "select", "options": ["a"]}]),
     "questions"),
    (et.EventTypeInput(name="X", duration=30, color="blue"), "color"),
    (et.EventTypeInput(name="X", duration=30, schedule_id="not-mine"), "schedule_id"),
])
def test_invalid_event_type_input_is_refused_and_nothing_is_created(host, data, field):
    before = EventType.select().count()
    with pytest.raises(ValidationFailed) as info:
        et.create_event_type(host, data)
    assert field in info.value.errors
    assert EventType.select().count() == before


def test_update_changes_only_given_fields_and_keeps_slug_unique(host):
    other = et.create_event_type(host, et.EventTypeInput(name="Demo", duration=45))
    [default] = [e for e in et.list_event_types(host) if e.slug == "30-min"]
    with pytest.raises(ValidationFailed):
        et.update_event_type(other, et.EventTypeInput(slug="30-min"))
    et.update_event_type(other, et.EventTypeInput(buffer_after=10))
    fresh = EventType.get_by_id(other.id)
    assert (fresh.slug, fresh.duration, fresh.buffer_after) == ("demo", 45, 10)
    assert EventType.get_by_id(default.id).slug == "30-min"


def test_duplicate_is_a_draft_copy_with_a_new_slug(host):
    [original] = et.list_event_types(host)
    copy = et.duplicate_event_type(original)
    assert copy.slug == "30-min-2" and copy.status == "draft" and copy.duration == original.duration


def test_another_users_event_type_and_schedule_are_not_found(host, make_user):
    other = make_user("omar")
    [theirs] = et.list_event_types(other)
    with pytest.raises(NotFound):
        et.get_event_type(host, theirs.id)
    their_schedule = Schedule.get(Schedule.user == other)
    with pytest.raises(NotFound):
        schedules.get_schedule(host, their_schedule.id)


def test_description_markdown_is_sanitized():
    html = et.render_description("**Hi** <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://a.example)")
    assert "<strong>Hi</strong>" in html and "<script" not in html and "javascript:" not in html
    assert 'href="https://a.example"' in html


@pytest.mark.parametrize("ranges,problem", [
    ([["10:00", "09:00"]], "must be after the start"),
    ([["09:00", "12:00"], ["11:00", "13:00"]], "overlaps"),
    ([["9am", "12:00"]], "use times like"),
    ([["25:00", "26:00"]], "use times like"),
])
def test_invalid_weekly_hours_are_refused_and_nothing_changes(host, ranges, problem):
    schedule = schedules.default_schedule_for(host)
    with pytest.raises(ValidationFailed) as info:
        schedules.update_schedule(schedule, weekly={**schedule.weekly, "2": ranges})
    assert problem in info.value.errors["day-2"]
    assert Schedule.get_by_id(schedule.id).weekly["2"] == [["09:00", "17:00"]]


def test_unknown_time_zone_is_refused(host):
    schedule = schedules.default_schedule_for(host)
    with pytest.raises(ValidationFailed) as info:
        schedules.update_schedule(schedule, timezone="Atlantis/Capital")
    assert "timezone" in info.value.errors
    assert Schedule.get_by_id(schedule.id).timezone == "America/New_York"


def test_ranges_are_sorted_and_touching_ranges_are_allowed(host):
    schedule = schedules.default_schedule_for(host)
    schedules.update_schedule(schedule, weekly={**schedule.weekly, "0": [["13:00", "17:00"], ["09:00", "13:00"]]})
    assert Schedule.get_by_id(schedule.id).weekly["0"] == [["09:00", "13:00"], ["13:00", "17:00"]]


def test_vacation_override_marks_every_date_unavailable(host):
    schedule = schedules.default_schedule_for(host)
    schedules.set_override(schedule, date(2026, 8, 3), date(2026, 8, 7), [])
    stored = Schedule.get_by_id(schedule.id).overrides
    assert [d for d in stored] == [f"2026-08-0{n}" for n in range(3, 8)] and all(v == [] for v in stored.values())
    with pytest.raises(ValidationFailed):
        schedules.set_override(schedule, date(2026, 8, 7), date(2026, 8, 3), [])


def test_default_schedule_cannot_be_deleted(host):
    schedule = schedules.default_schedule_for(host)
    with pytest.raises(ValidationFailed):
        schedules.delete_schedule(schedule)


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # Monday 08:00 in New York


def test_slots_follow_the_default_schedule_in_the_hosts_zone(host):
    [event_type] = et.list_event_types(host)
    slots = available_slots(event_type, NOW, NOW + timedelta(days=1), now=NOW)
    # 09:00-17:00 EDT = 13:00-21:00 UTC, every 30 minutes, last start 16:30 EDT
    assert slots[0] == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert slots[-1] == datetime(2026, 6, 1, 20, 30, tzinfo=UTC)
    assert len(slots) == 16


def test_override_and_named_schedule_change_the_slots(host):
    [event_type] = et.list_event_types(host)
    schedule = schedules.default_schedule_for(host)
    schedules.set_override(schedule, date(2026, 6, 1), None, [["10:00", "11:00"]])
    slots = available_slots(event_type, NOW, NOW + timedelta(days=1), now=NOW)
    assert slots == [datetime(2026, 6, 1, 14, 0, tzinfo=UTC), datetime(2026, 6, 1, 14, 30, tzinfo=UTC)]
    berlin = schedules.create_schedule(host, "Berlin mornings", "Europe/Berlin")
    schedules.update_schedule(berlin, weekly={str(d): [["08:00", "09:00"]] for d in range(7)})
    et.update_event_type(event_type, et.EventTypeInput(schedule_id=berlin.id))
    slots = available_slots(EventType.get_by_id(event_type.id), NOW, NOW + timedelta(days=1), now=NOW)
    assert slots[:2] == [datetime(2026, 6, 2, 6, 0, tzinfo=UTC), datetime(2026, 6, 2, 6, 30, tzinfo=UTC)]


def test_fixed_date_range_window_limits_the_slots(host):
    [event_type] = et.list_event_types(host)
    et.update_event_type(event_type, et.EventTypeInput(window_type="range", window_start="2026-06-03",
                                                       window_end="2026-06-03"))
    event_type = EventType.get_by_id(event_type.id)
    start, end = booking_window(event_type, "America/New_York", NOW)
    assert start == datetime(2026, 6, 3, 4, 0, tzinfo=UTC) and end == datetime(2026, 6, 4, 4, 0, tzinfo=UTC)
    slots = available_slots(event_type, NOW, NOW + timedelta(days=10), now=NOW)
    assert {s.astimezone(UTC).date() for s in slots} == {date(2026, 6, 3)}


def test_rolling_window_stops_after_n_days(host):
    [event_type] = et.list_event_types(host)
    et.update_event_type(event_type, et.EventTypeInput(window_type="rolling", window_days=2))
    slots = available_slots(EventType.get_by_id(event_type.id), NOW, NOW + timedelta(days=30), now=NOW)
    assert max(slots).date() <= date(2026, 6, 3)


@pytest.mark.parametrize("end", ["00:00", "24:00"])
def test_a_range_from_midnight_to_midnight_is_the_whole_day_not_unavailable(end):
    from app.services.scheduling.availability import SlotRules, compute_slots

    cleaned, problem = schedules.validate_ranges([["00:00", end]], "Monday")
    assert problem is None
    stored = Schedule(timezone="Europe/Berlin", weekly={"0": cleaned}, overrides={})
    day = date(2026, 6, 1)  # a Monday
    start = datetime(2026, 5, 31, 22, 0, tzinfo=UTC)  # 00:00 Berlin (CEST)
    slots = compute_slots(schedules.to_engine(stored), [], SlotRules(length=30), start, start + timedelta(days=1),
                          start - timedelta(days=1))
    assert len(slots) == 48 and slots[0] == start and slots[-1] == start + timedelta(hours=23, minutes=30)
    assert day.weekday() == 0
