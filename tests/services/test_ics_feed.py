"""Read-only ICS feeds served by a local HTTP server: RRULE expansion, busy rules, connection errors."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.integrations import ics_feed
from app.models import Integration, IntegrationCalendar
from app.services.errors import ValidationFailed
from app.services.integrations import calendars, connections
from app.services.scheduling.slots import available_slots

NOW = datetime(2030, 1, 4, 8, 0, tzinfo=UTC)
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)          # Monday 10:00 Berlin

FEED = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Feed//EN\r\nX-WR-CALNAME:Team rota\r\n"
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
        "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
        # every weekday 10:00-10:30 Berlin, from the previous week on
        "BEGIN:VEVENT\r\nUID:rota\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20291231T100000\r\n"
        "DTEND;TZID=Europe/Berlin:20291231T103000\r\nRRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR\r\nSUMMARY:Rota\r\n"
        "END:VEVENT\r\n"
        # a free (transparent) event at 14:00 Berlin on Monday
        "BEGIN:VEVENT\r\nUID:fyi\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300107T130000Z\r\nDTEND:20300107T140000Z\r\n"
        "TRANSP:TRANSPARENT\r\nSUMMARY:FYI\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n")


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


def slots_on(event_type, day):
    return available_slots(event_type, day, day + timedelta(days=1), now=NOW)


def test_feed_with_rrule_blocks_each_occurrence_and_transparent_events_stay_free(host, event_type, feed_server):
    feed_server.body = FEED.encode()
    integration = calendars.connect_ics(host, url=feed_server.url + "secret-token/basic.ics")
    assert integration.label == "Team rota"
    [cal] = IntegrationCalendar.select().where(IntegrationCalendar.integration == integration)
    assert cal.check_conflicts and not cal.writable and not cal.is_destination
    for week in range(3):
        slots = slots_on(event_type, MONDAY + timedelta(days=7 * week))
        assert SLOT + timedelta(days=7 * week) not in slots
        assert SLOT + timedelta(days=7 * week, minutes=30) in slots
    assert SLOT + timedelta(hours=4) in slots_on(event_type, MONDAY)       # transparent: free


def test_feed_url_is_stored_encrypted_and_shown_without_its_secret_path(host, feed_server):
    feed_server.body = FEED.encode()
    integration = calendars.connect_ics(host, url=feed_server.url + "private-abc123/basic.ics", name="Rota")
    raw = Integration.get_by_id(integration.id)
    assert "private-abc123" not in (raw.credentials or "") and "private-abc123" not in (raw.server_url or "")
    assert connections.credentials(raw)["url"].endswith("private-abc123/basic.ics")
    assert raw.label == "Rota"


def test_webcal_scheme_is_read_over_https():
    assert ics_feed.normalize_url("webcal://example.com/a.ics") == "https://example.com/a.ics"


@pytest.mark.parametrize("status, body, expected", [
    (404, b"", "not found"),
    (200, b"<html>not a calendar</html>", "not a valid iCalendar"),
    (500, b"", "500"),
])
def test_broken_feed_is_an_inline_error_and_nothing_is_stored(host, feed_server, status, body, expected):
    feed_server.status, feed_server.body = status, body
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_ics(host, url=feed_server.url + "feed.ics")
    assert expected in exc.value.errors["feed_url"]
    assert Integration.select().count() == 0


def test_oversized_feed_is_refused(app, host, feed_server):
    app.config["CALENDAR_FEED_MAX_BYTES"] = 1000
    feed_server.body = FEED.encode() + b" " * 2000
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_ics(host, url=feed_server.url + "feed.ics")
    assert "larger than" in exc.value.errors["feed_url"]


def test_private_addresses_are_refused_in_production_mode(app, host, feed_server):
    app.config["CALENDAR_ALLOW_PRIVATE"] = False
    feed_server.body = FEED.encode()
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_ics(host, url=feed_server.url.replace("http://", "https://") + "feed.ics")
    assert "private or local" in exc.value.errors["feed_url"]
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_ics(host, url=feed_server.url + "feed.ics")
    assert "https://" in exc.value.errors["feed_url"]
    assert feed_server.requests == []


def test_the_same_feed_twice_is_refused_with_a_clear_message(host, feed_server, make_user):
    feed_server.body = FEED.encode()
    calendars.connect_ics(host, url=feed_server.url + "secret-token/basic.ics", name="Rota")
    with pytest.raises(ValidationFailed) as caught:
        calendars.connect_ics(host, url=feed_server.url + "secret-token/basic.ics")
    assert caught.value.errors["feed_url"] == "This feed is connected already (“Rota”)."
    assert Integration.select().where(Integration.provider == "ics").count() == 1
    calendars.connect_ics(host, url=feed_server.url + "other-token/basic.ics")          # another feed is fine
    calendars.connect_ics(make_user("olga"), url=feed_server.url + "secret-token/basic.ics")   # and another user
    assert Integration.select().where(Integration.provider == "ics").count() == 3


def test_windows_that_are_over_are_pruned_from_the_busy_cache(host, event_type, feed_server):
    from app.models import CalendarBusyCache
    from tasks import maintenance

    feed_server.body = FEED.encode()
    calendars.connect_ics(host, url=feed_server.url + "secret-token/basic.ics")
    slots_on(event_type, MONDAY)                                            # fills the window around NOW
    slots_on(event_type, MONDAY + timedelta(days=30))                       # and a later one
    starts = sorted(r.window_start for r in CalendarBusyCache.select())
    assert len(starts) == 2
    assert calendars.prune_busy_cache(now=NOW) == 0                        # nothing is over yet
    after_first = starts[0] + calendars.WINDOW + timedelta(days=1, seconds=1)
    assert calendars.prune_busy_cache(now=after_first) == 1
    assert [r.window_start for r in CalendarBusyCache.select()] == [starts[1]]
    task = maintenance.prune_calendar_busy_cache.task_class()          # runs once a day
    runs = [datetime(2026, 6, 1) + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    assert [t for t in runs if task.validate_datetime(t)] == [datetime(2026, 6, 1, 3, 27), datetime(2026, 6, 2, 3, 27)]


# --- bounded expansion of repeating events --------------------------------------------------------------------
def feed_of(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n{e}END:VEVENT\r\n" for e in events)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Feed//EN\r\n{body}END:VCALENDAR\r\n").encode()


MEETING = "UID:meeting\r\nDTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\n"       # Monday 10:00 Berlin
EVERY_SECOND = "UID:every-second\r\nDTSTART:{start}\r\nDURATION:PT1S\r\nRRULE:FREQ=SECONDLY{rest}\r\n"


def expand(data: bytes, budget=None, start=MONDAY, days=28):
    from zoneinfo import ZoneInfo

    from app.integrations.ical import busy_intervals, parse
    return busy_intervals(parse(data, "test"), start, start + timedelta(days=days), ZoneInfo("Europe/Berlin"),
                          budget=budget)


@pytest.mark.parametrize("start", ["20300107T000000Z", "20200101T000000Z", "20291201T000000"])
def test_a_secondly_rule_stops_at_the_cap_and_the_other_events_still_count(start):
    from app.integrations.ical import MAX_OCCURRENCES, Budget

    budget = Budget()
    intervals = expand(feed_of(EVERY_SECOND.format(start=start, rest=""), MEETING), budget)
    assert len(intervals) == MAX_OCCURRENCES and budget.partial
    assert (int(SLOT.timestamp()), int(SLOT.timestamp()) + 3600) in intervals


def test_a_secondly_rule_with_a_huge_count_is_capped_the_same_way():
    from app.integrations.ical import MAX_OCCURRENCES, Budget

    budget = Budget()
    intervals = expand(feed_of(EVERY_SECOND.format(start="20200101T000000Z", rest=";COUNT=900000000")), budget)
    assert len(intervals) == MAX_OCCURRENCES and budget.partial


def test_a_rule_too_costly_to_reach_the_window_is_left_out_and_the_read_is_partial():
    from app.integrations.ical import Budget

    budget = Budget()
    # a count with a filter: the start cannot be moved forward, and stepping from 2020 takes hundreds of millions
    costly = EVERY_SECOND.format(start="20200101T000000Z", rest=";BYHOUR=3;COUNT=900000000")
    intervals = expand(feed_of(costly, MEETING), budget)
    assert intervals == [(int(SLOT.timestamp()), int(SLOT.timestamp()) + 3600)] and budget.partial


def test_a_dense_rule_with_few_occurrences_in_the_window_is_read_whole():
    from app.integrations.ical import Budget

    budget = Budget()
    # 09:00:00-09:00:59 Berlin, every second, every day since 2020: 60 a day, within the cap
    rule = "UID:minute\r\nDTSTART;TZID=Europe/Berlin:20200101T090000\r\nDURATION:PT1S\r\n" \
           "RRULE:FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0\r\n"
    intervals = expand(feed_of(rule), budget)
    assert len(intervals) == 28 * 60 and not budget.partial
    nine = int((MONDAY + timedelta(hours=8)).timestamp())                  # 09:00 Berlin is 08:00 UTC
    assert intervals[0] == (nine, nine + 1) and intervals[59] == (nine + 59, nine + 60)


@pytest.mark.parametrize("event", [
    ("DTSTART;TZID=Europe/Berlin:20150105T100000\r\nDTEND;TZID=Europe/Berlin:20150105T110000\r\n"
     "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\n"),
    "DTSTART:20190101T233000Z\r\nDURATION:PT2H\r\nRRULE:FREQ=DAILY;INTERVAL=3\r\n",
    "DTSTART;TZID=Europe/Berlin:20290601T101500\r\nDURATION:PT20M\r\nRRULE:FREQ=HOURLY;INTERVAL=5\r\n",
    "DTSTART:20291201T000000Z\r\nDURATION:PT10M\r\nRRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=700\r\n",
    "DTSTART:20291201T081500\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;BYDAY=MO,FR\r\nEXDATE:20300111T081500\r\n",
    "DTSTART;VALUE=DATE:20100104\r\nRRULE:FREQ=WEEKLY;INTERVAL=2\r\n",
    "DTSTART;TZID=Europe/Berlin:19990315T090000\r\nDURATION:PT1H\r\nRRULE:FREQ=MONTHLY;BYDAY=2MO\r\n",
])
def test_moving_a_rules_start_forward_gives_the_same_busy_times_as_expanding_it_from_the_start(event):
    """The bounded expansion against recurring-ical-events stepping through every repetition from DTSTART."""
    from zoneinfo import ZoneInfo

    import recurring_ical_events

    from app.integrations.ical import Budget, event_busy, parse

    data = feed_of("UID:series\r\n" + event)
    tz = ZoneInfo("Europe/Berlin")
    lo, hi = int(MONDAY.timestamp()), int((MONDAY + timedelta(days=28)).timestamp())
    everything = recurring_ical_events.of(parse(data, "test")).between(MONDAY - timedelta(days=1),
                                                                       MONDAY + timedelta(days=29))
    expected = sorted(i for i in (event_busy(e, tz) for e in everything) if i and i[0] < hi and i[1] > lo)
    budget = Budget()
    assert expand(data, budget) == expected and expected and not budget.partial


def test_a_feed_with_a_secondly_rule_connects_blocks_its_events_and_tells_the_host_it_was_read_in_part(
        app, host, event_type, feed_server):
    # expanding to the cap takes a while on a busy machine: the page's usual wait would show the slots without it
    app.config["CALENDAR_BUSY_WAIT"] = 120
    feed_server.body = feed_of(EVERY_SECOND.format(start="20200101T000000Z", rest=""), MEETING)
    integration = calendars.connect_ics(host, url=feed_server.url + "busy.ics", name="Noisy")
    slots = slots_on(event_type, MONDAY)
    assert SLOT not in slots and SLOT + timedelta(minutes=60) in slots
    stored = Integration.get_by_id(integration.id)
    assert stored.status == "error" and "Only part of “Noisy”" in stored.last_error
    feed_server.body = feed_of(MEETING)                                    # the rule is removed from the feed
    calendars.refresh_integration(integration.id, [calendars.windows(MONDAY, MONDAY)[0].isoformat()])
    assert Integration.get_by_id(integration.id).status == "connected"
