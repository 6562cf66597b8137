"""Bookings and the host's calendar, end to end against Radicale (and misbehaving servers).

Huey runs immediately in tests, so the outbox rows a booking writes are processed when it commits.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from app.db import db
from app.models import (
    Booking,
    BookingActivity,
    BookingCalendarEvent,
    EventType,
    Integration,
    OutboxMessage,
)
from app.services.booking import bookings as svc
from app.services.integrations import calendars, connections
from tests import factories
from tests.conftest import BACKEND, DATABASE_URL, login
from tests.fakes.radicale_server import vevent

NOW = datetime(2030, 1, 4, 8, 0, tzinfo=UTC)
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)          # Monday 10:00 Berlin
APP_PASSWORD = "app-pass-1234"


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


@pytest.fixture
def event_type(host):
    et = factories.event_type(host)
    et.location_type, et.location_detail = "custom_link", "https://meet.example.com/hana"
    et.save()
    return et


@pytest.fixture
def work(radicale):
    return radicale.make_calendar("Work")


@pytest.fixture
def connected(host, radicale, work):
    return calendars.connect_caldav(host, server_url=radicale.url, username="alice", password=APP_PASSWORD)


def request(start=SLOT, **kw):
    data = {"invitee_name": "Ivan Invitee", "invitee_email": "ivan@example.com", "invitee_timezone": "Europe/Berlin"}
    data.update(kw)
    return svc.BookingRequest(start=start, **data)


def only_event(radicale, calendar_url) -> tuple[str, object]:
    found = radicale.events(calendar_url)
    assert len(found) == 1, found
    href, text = next(iter(found.items()))
    return href, Calendar.from_ical(text).walk("VEVENT")[0]


def test_booking_appears_in_radicale_reschedule_moves_it_and_cancel_removes_it(event_type, radicale, work, connected):
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    href, event = only_event(radicale, work)
    assert event["DTSTART"].dt == SLOT and event["DTEND"].dt == SLOT + timedelta(minutes=30)
    assert str(event["UID"]) == f"{booking.id}@linktime"
    assert str(event["ATTENDEE"]) == "mailto:ivan@example.com"
    assert event["ATTENDEE"].params["SCHEDULE-AGENT"] == "CLIENT"
    assert str(event["LOCATION"]) == "https://meet.example.com/hana"
    mapping = BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
    assert mapping.href.endswith(href) and mapping.etag

    moved = svc.reschedule_booking(booking, SLOT + timedelta(days=1, hours=2), reason=None, by="host", now=NOW)
    href2, event = only_event(radicale, work)
    assert href2 == href and event["DTSTART"].dt == moved.start_at
    assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).etag != mapping.etag

    svc.cancel_booking(moved, reason="ill", by="invitee")
    assert radicale.events(work) == {}
    assert BookingCalendarEvent.select().count() == 0
    kinds = [a.message for a in BookingActivity.select().where(BookingActivity.kind == "calendar")]
    assert any("Added to the calendar" in m for m in kinds) and any("Removed" in m for m in kinds)


def test_the_bookings_own_calendar_event_does_not_block_moving_it_or_rebooking_after_cancel(event_type, radicale,
                                                                                          work, connected):
    """The destination calendar is also checked for conflicts: LinkTime's own events count through the bookings."""
    from app.services.scheduling.slots import available_slots
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    assert len(radicale.events(work)) == 1
    calendars.refresh_integration(connected.id, [w.isoformat() for w in calendars.windows(SLOT, SLOT)])
    # the booking blocks its own time (through the bookings) but not a move by 15 minutes ...
    assert SLOT not in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
    event_type.slot_interval = 15
    event_type.save()
    moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=15), reason=None, by="host", now=NOW)
    assert moved.start_at == SLOT + timedelta(minutes=15)
    # ... and once cancelled, the time is free at once even though the cache still holds the calendar event.
    svc.cancel_booking(moved, reason=None, by="host")
    radicale.put_event(work, "stale", vevent(f"{booking.id}@linktime", "20300107T091500Z", "20300107T094500Z"))
    assert SLOT + timedelta(minutes=15) in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)
    assert svc.create_booking(event_type, request(start=SLOT + timedelta(minutes=15)), now=NOW).created


def test_no_destination_means_no_event(host, event_type, radicale, work, connected):
    calendars.save_selection(host, conflict_ids=[], destination_id=None)
    svc.create_booking(event_type, request(), now=NOW)
    assert radicale.events(work) == {}
    assert OutboxMessage.select().where(OutboxMessage.kind == "calendar_sync").count() == 0


def test_event_added_a_minute_ago_is_respected_at_booking_time_even_with_a_warm_cache(event_type, radicale, work,
                                                                                     connected):
    from app.services.scheduling.slots import available_slots
    assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=1), now=NOW)   # cache now warm
    radicale.put_event(work, "new", vevent("new", "20300107T090000Z", "20300107T093000Z"))
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, request(), now=NOW)
    assert Booking.select().count() == 0


def test_failing_destination_records_the_error_and_never_fails_the_booking(host, event_type, feed_server, app):
    """A calendar server answering 500: the booking stands, the error shows on the integration, the outbox retries."""
    feed_server.status = 500
    integration = _integration_at(host, feed_server.url, destination=True, check=False)
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    fresh = Integration.get_by_id(integration.id)
    assert fresh.status == "error" and "500" in fresh.last_error
    row = OutboxMessage.get(OutboxMessage.kind == "calendar_sync")
    assert row.done_at is None and row.failed_at is None and "500" in row.last_error   # a retry is scheduled


def test_refused_credentials_fail_the_sync_permanently_but_not_the_booking(host, event_type, radicale, work, connected):
    Integration.update(credentials=connections.sealed({"username": "alice", "password": "revoked"})).execute()
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    row = OutboxMessage.get(OutboxMessage.kind == "calendar_sync")
    assert row.failed_at is not None
    assert "401" in Integration.get_by_id(connected.id).last_error
    assert BookingActivity.select().where(BookingActivity.message.contains("Could not update the calendar")).exists()


# --- through HTTP: the test client opens and closes the database connection itself --------------------------
@pytest.fixture
def web_host(make_user):
    return make_user("hana", timezone="Europe/Berlin")


@contextmanager
def data(app):
    with app.app_context(), db.connection_context():
        yield


def test_slow_calendar_neither_blocks_the_booking_page_beyond_the_wait_nor_fails_a_booking(app, web_host,
                                                                                          feed_server, client,
                                                                                          monkeypatch):
    import tasks
    monkeypatch.setattr(tasks.huey, "immediate", False)    # a queued refresh stays queued, as with a real consumer
    # the wait (3 s) far from the provider's timeout (8 s), so a busy CPU cannot blur "waited" and "gave up"
    app.config.update(CALENDAR_BUSY_WAIT=3.0, CALENDAR_BOOKING_WAIT=3.0, CALENDAR_TIMEOUT=8)
    feed_server.delay = 9
    with data(app):
        _integration_at(web_host, feed_server.url, destination=False, check=True)
    day = _next_monday()
    url = f"/hana/30-min/slots?tz=Europe/Berlin&date={day}"
    started = time.monotonic()
    page = client.get(url, headers={"HX-Request": "true"})
    elapsed = time.monotonic() - started
    assert page.status_code == 200 and 3.0 <= elapsed < 7.5, elapsed      # waited, but only CALENDAR_BUSY_WAIT
    html = page.get_data(as_text=True)
    assert 'class="slot"' in html and "could not be checked" in html

    calendars.wait_for_background(30)       # the read gave up after CALENDAR_TIMEOUT and recorded the failure
    started = time.monotonic()
    again = client.get(url, headers={"HX-Request": "true"})
    assert time.monotonic() - started < 2.5                               # a known failure: no wait at all
    assert "could not be checked" in again.get_data(as_text=True)

    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)   # 10:00 Berlin
    with data(app):
        event_type = EventType.get((EventType.user == web_host) & (EventType.slug == "30-min"))
        started = time.monotonic()
        booking = svc.create_booking(event_type, request(start=start)).booking
        assert time.monotonic() - started < 7.5 and booking.status == "CONFIRMED"
        assert "did not answer" in Integration.get().last_error
    calendars.wait_for_background(30)


def test_failing_calendar_shows_a_note_and_still_offers_times(app, web_host, feed_server, client):
    feed_server.status = 500
    with data(app):
        integration = _integration_at(web_host, feed_server.url, destination=False, check=True)
    day = _next_monday()
    html = client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day}").get_data(as_text=True)
    assert 'class="slot"' in html and "could not be checked" in html
    with data(app):
        assert "500" in Integration.get_by_id(integration.id).last_error


def test_no_app_password_in_plain_text_in_the_database(app, client, web_host, radicale):
    radicale.make_calendar("Work")
    login(client, web_host)
    response = client.post("/settings/integrations/caldav",
                           data={"server_url": radicale.url, "username": "alice", "password": APP_PASSWORD})
    assert response.status_code == 302
    with data(app):
        assert Integration.select().count() == 1
        assert APP_PASSWORD.encode() not in _database_bytes()


# --- helpers ------------------------------------------------------------------------------------------------
def _integration_at(host, url: str, *, destination: bool, check: bool) -> Integration:
    """A CalDAV connection to ``url`` stored directly (the misbehaving server could not pass discovery)."""
    return factories.connection(host, provider="caldav", label="Flaky", account_email="alice", server_url=url,
                                credentials={"username": "a", "password": "b"},
                                calendars=[{"remote_id": url + "cal/", "name": "Flaky calendar", "writable": True,
                                            "check_conflicts": check, "is_destination": destination}])


def _next_monday() -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 - today.weekday() + 7)


def _database_bytes() -> bytes:
    if BACKEND != "postgres":
        path = Path(DATABASE_URL[len("sqlite:///"):])
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    from app.db import db
    chunks = [str(row[0]).encode() for table in db.get_tables()
              for row in db.execute_sql(f'SELECT t::text FROM "{table}" t').fetchall()]
    return b"\n".join(chunks)
