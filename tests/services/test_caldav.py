"""CalDAV against a real Radicale server: discovery, busy times in the slot engine, connection errors."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.integrations import caldav as caldav_client
from app.integrations.errors import AuthRevoked, PermanentError
from app.integrations.errors import NotFound as RemoteNotFound
from app.models import (
    AuditLog,
    CalendarBusyCache,
    Integration,
    IntegrationCalendar,
)
from app.services.errors import NotFound, ValidationFailed
from app.services.integrations import calendars, oauth_connections
from app.services.scheduling.slots import available_slots
from tests.fakes.radicale_server import vevent

NOW = datetime(2030, 1, 4, 8, 0, tzinfo=UTC)           # Friday
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)              # Berlin is UTC+1: 09:00 Berlin = 08:00 UTC
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)          # Monday 10:00 Berlin


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


@pytest.fixture
def work(radicale):
    return radicale.make_calendar("Work")


@pytest.fixture
def connected(host, radicale, work):
    return calendars.connect_caldav(host, server_url=radicale.url, username="alice", password="app-pass-1234")


def day_slots(event_type, day=MONDAY):
    return available_slots(event_type, day, day + timedelta(days=1), now=NOW)


def test_connect_discovers_calendars_and_makes_the_first_writable_one_the_destination(host, radicale, work):
    radicale.make_calendar("Family")
    integration = calendars.connect_caldav(host, server_url=radicale.url, username="alice", password="app-pass-1234")
    assert (integration.provider, integration.status, integration.account_email) == ("caldav", "connected", "alice")
    cals = list(IntegrationCalendar.select().where(IntegrationCalendar.integration == integration)
                .order_by(IntegrationCalendar.position))
    assert [c.name for c in cals] == ["Family", "Work"]
    assert all(c.check_conflicts and c.writable for c in cals)
    assert [c.is_destination for c in cals] == [True, False]
    assert cals[1].remote_id == work
    entry = AuditLog.get(AuditLog.action == "integration.connected")
    assert '"service":"CalDAV"' in entry.details


def test_wrong_password_is_an_inline_error_and_nothing_is_stored(host, radicale, work):
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_caldav(host, server_url=radicale.url, username="alice", password="wrong")
    assert "password" in exc.value.errors
    assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0


def test_unreachable_server_and_bad_url_are_inline_errors(host, radicale):
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_caldav(host, server_url="http://127.0.0.1:9/", username="a", password="b")
    assert "could not connect" in exc.value.errors["server_url"]
    with pytest.raises(ValidationFailed) as exc:
        calendars.connect_caldav(host, server_url="ftp://example.com", username="", password="")
    assert set(exc.value.errors) == {"server_url", "username", "password"}
    assert Integration.select().count() == 0


def test_event_created_in_radicale_blocks_that_slot(event_type, radicale, work, connected):
    assert SLOT in day_slots(event_type)
    calendars_cache_cleared()
    radicale.put_event(work, "dentist", vevent("dentist", "20300107T090000Z", "20300107T100000Z"))
    slots = day_slots(event_type)
    assert SLOT not in slots and SLOT + timedelta(minutes=30) not in slots
    assert SLOT + timedelta(hours=1) in slots and SLOT - timedelta(minutes=30) in slots


def test_busy_times_are_cached_per_window(event_type, radicale, work, connected):
    radicale.put_event(work, "a", vevent("a", "20300107T090000Z", "20300107T100000Z"))
    day_slots(event_type)
    rows = list(CalendarBusyCache.select())
    assert rows and all(r.fetched_at is not None and r.error is None for r in rows)
    # An event added later is not seen until the cache is refreshed (the page never waits on the provider) ...
    radicale.put_event(work, "b", vevent("b", "20300107T120000Z", "20300107T130000Z"))
    assert SLOT + timedelta(hours=3) in day_slots(event_type)
    # ... and the refresh task brings it in.
    monday = calendars.windows(MONDAY, MONDAY + timedelta(days=1))
    calendars.refresh_integration(connected.id, [w.isoformat() for w in monday])
    assert SLOT + timedelta(hours=3) not in day_slots(event_type)


def test_an_event_found_by_the_booking_time_check_reaches_the_page_at_once(event_type, radicale, work, connected):
    from app.services.booking import bookings

    day_slots(event_type)                                   # the cache is warm
    radicale.put_event(work, "late", vevent("late", "20300107T120000Z", "20300107T130000Z"))
    assert SLOT + timedelta(hours=3) in day_slots(event_type)          # the cache does not know it yet
    request = bookings.BookingRequest(start=SLOT, invitee_name="Ivan", invitee_email="ivan@example.com",
                                      invitee_timezone="Europe/Berlin")
    bookings.create_booking(event_type, request, now=NOW)
    # the booking's fresh read of Monday saw the new event: the window was refreshed (queue in immediate mode)
    assert SLOT + timedelta(hours=3) not in day_slots(event_type)


def test_all_day_event_blocks_the_whole_day_in_the_hosts_zone(event_type, radicale, work, connected):
    radicale.put_event(work, "holiday", vevent("holiday", "20300107", "20300108", all_day=True))
    assert day_slots(event_type) == []
    assert day_slots(event_type, MONDAY + timedelta(days=1))   # Tuesday is free


def test_transparent_and_cancelled_events_leave_the_time_free(event_type, radicale, work, connected):
    radicale.put_event(work, "free", vevent("free", "20300107T090000Z", "20300107T100000Z",
                                            extra="TRANSP:TRANSPARENT\r\n"))
    radicale.put_event(work, "off", vevent("off", "20300107T100000Z", "20300107T110000Z",
                                           extra="STATUS:CANCELLED\r\n"))
    slots = day_slots(event_type)
    assert SLOT in slots and SLOT + timedelta(hours=1) in slots


def test_recurring_event_blocks_every_occurrence_except_excluded_ones(event_type, radicale, work, connected):
    radicale.put_event(work, "standup", vevent(
        "standup", "20291231T090000Z", "20291231T093000Z",
        extra="RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE:20300114T090000Z\r\n"))
    assert SLOT not in day_slots(event_type)                                       # 7 January
    assert SLOT + timedelta(days=21) not in day_slots(event_type, MONDAY + timedelta(days=21))
    assert SLOT + timedelta(days=7) in day_slots(event_type, MONDAY + timedelta(days=7))   # EXDATE


def test_moved_occurrence_of_a_series_is_busy_at_its_new_time(event_type, radicale, work, connected):
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\n"
           "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20291231T090000Z\r\n"
           "DTEND:20291231T093000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\nSUMMARY:Series\r\nEND:VEVENT\r\n"
           "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20300107T090000Z\r\n"
           "DTSTART:20300107T130000Z\r\nDTEND:20300107T133000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"
           "END:VCALENDAR\r\n")
    radicale.put_event(work, "s", ics)
    slots = day_slots(event_type)
    assert SLOT in slots and SLOT + timedelta(hours=4) not in slots


def test_unticked_calendar_is_not_checked(host, event_type, radicale, work, connected):
    radicale.put_event(work, "x", vevent("x", "20300107T090000Z", "20300107T100000Z"))
    cal = IntegrationCalendar.get(IntegrationCalendar.remote_id == work)
    calendars.save_selection(host, conflict_ids=[], destination_id=cal.id)
    assert SLOT in day_slots(event_type)


def test_destination_must_be_the_users_own_writable_calendar(host, make_user, connected):
    with pytest.raises(ValidationFailed):
        calendars.save_selection(host, conflict_ids=[], destination_id="nope")
    other = make_user("otto")
    with pytest.raises(NotFound):
        oauth_connections.disconnect(other, connected.id)


def test_disconnect_deletes_credentials_calendars_and_cache(host, event_type, radicale, work, connected):
    day_slots(event_type)
    oauth_connections.disconnect(host, connected.id)
    assert Integration.select().count() == 0
    assert IntegrationCalendar.select().count() == 0 and CalendarBusyCache.select().count() == 0
    assert AuditLog.select().where(AuditLog.action == "integration.disconnected").count() == 1


def test_client_classifies_errors(radicale, work):
    bad = caldav_client.CalDAVClient(radicale.url, "alice", "nope", timeout=5, allow_private=True)
    with pytest.raises(AuthRevoked):
        bad.discover()
    good = caldav_client.CalDAVClient(radicale.url, "alice", "app-pass-1234", timeout=5, allow_private=True)
    with pytest.raises(RemoteNotFound):
        good.busy(radicale.url + "alice/missing/", MONDAY, MONDAY + timedelta(days=1), UTC)
    refused = caldav_client.CalDAVClient(radicale.url, "alice", "app-pass-1234", timeout=5, allow_private=False)
    with pytest.raises(PermanentError):
        refused.discover()     # plain http to a loopback address is refused in production mode


def calendars_cache_cleared():
    CalendarBusyCache.delete().execute()
