"""Google Calendar and Outlook Calendar misbehaving, against the local fakes: a slow or failing busy-time endpoint
neither holds the booking page beyond CALENDAR_BUSY_WAIT nor fails a booking; a failing event insert leaves the
booking confirmed, shows on Settings → Integrations and is retried by the outbox; and the booking's own time is
read fresh at booking time (also for an ICS feed) even when the busy cache is warm."""
from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from app.models import (
    Booking,
    BookingActivity,
    BookingCalendarEvent,
    EventType,
    Integration,
    OutboxMessage,
)
from app.services import outbox
from app.services.booking import bookings as svc
from app.services.integrations import calendar_sync, calendars
from app.services.scheduling.slots import available_slots
from tests.conftest import login
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.web import test_google_calendar as g
from tests.web import test_outlook_calendar as o
from tests.web.conftest import data

NOW, SLOT = g.NOW, g.SLOT                    # Friday 2030-01-04 08:00 UTC; Monday 2030-01-07 10:00 Berlin
BUSY_WAIT = 0.5                              # CALENDAR_BUSY_WAIT and CALENDAR_BOOKING_WAIT here
HTTP_TIMEOUT = 8                             # INTEGRATION_HTTP_TIMEOUT: what an unbounded wait would take at least
SLOW = HTTP_TIMEOUT + 1                      # the fake holds a slow request this long
BOUND = BUSY_WAIT + 6                        # generous (a saturated CPU slows a page by seconds), below the timeout


@dataclass(frozen=True)
class Provider:
    name: str
    fake: type
    email: str
    callback: str
    destination: str                         # remote id of the calendar that receives bookings
    busy_paths: tuple[str, ...]              # one per checked calendar (Google: one path for both)
    events_path: str                         # where the booking's event is created

    def settings(self, fake) -> dict:
        module = g if self.name == "google" else o
        return module._settings(fake)

    def connect(self, host) -> Integration:
        return (g if self.name == "google" else o).connect_service(host)

    def events(self, fake) -> list[dict]:
        """The events in the destination calendar."""
        if self.name == "google":
            return list(fake.events[self.destination].values())
        return [e for e in fake.events.values() if e["_calendar"] == self.destination]

    def add_busy(self, fake, start: datetime, end: datetime) -> None:
        """The host adds an event in their calendar app (straight into the fake's store)."""
        fake.add_event(self.destination, start, end)

    @staticmethod
    def start_of(event: dict) -> datetime:
        value = datetime.fromisoformat(event["start"]["dateTime"])
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


PROVIDERS = {
    "google": Provider("google", GoogleFake, g.EMAIL, g.CALLBACK, g.EMAIL, ("/calendar/v3/freeBusy",),
                       f"/calendar/v3/calendars/{g.EMAIL}/events"),
    "microsoft": Provider("microsoft", MicrosoftFake, o.EMAIL, o.CALLBACK, o.DEFAULT,
                          (f"/v1.0/me/calendars/{o.DEFAULT}/calendarView",
                           f"/v1.0/me/calendars/{o.HOLIDAYS}/calendarView"),
                          f"/v1.0/me/calendars/{o.DEFAULT}/events"),
}


@pytest.fixture(params=["google", "microsoft"])
def provider(request) -> str:
    return request.param


@pytest.fixture
def spec(provider) -> Provider | None:
    return PROVIDERS.get(provider)


@pytest.fixture
def fake(request, provider, spec):
    if provider == "ics":
        server = request.getfixturevalue("feed_server")
        server.body = feed(("long-ago", datetime(2020, 1, 6, 9, tzinfo=UTC)))   # nothing near SLOT
        yield server
        return
    with spec.fake(email=spec.email, redirect_uris=(spec.callback,)) as server:
        yield server


@pytest.fixture
def app(app_factory, spec, fake):
    settings = spec.settings(fake) if spec else {}
    return app_factory(BASE_URL=g.BASE, **{**settings, "INTEGRATION_HTTP_TIMEOUT": HTTP_TIMEOUT,
                                           "CALENDAR_BUSY_WAIT": BUSY_WAIT, "CALENDAR_BOOKING_WAIT": BUSY_WAIT})


@pytest.fixture
def settled():
    """Joins, after the test, the threads it left reading a slow provider (the page's background read, the
    booking's fresh read), so none of them touches the database once the tables are emptied."""
    before = set(threading.enumerate())
    yield
    calendars.wait_for_background(SLOW * 4)
    for thread in set(threading.enumerate()) - before:
        if not thread.name.startswith("fake-"):
            thread.join(SLOW * 4)


def event_type_of(host) -> EventType:
    return EventType.get((EventType.user == host) & (EventType.slug == "30-min"))


def next_monday() -> date:
    """A Monday one to two weeks ahead (the public page works with the real clock)."""
    today = datetime.now(UTC).date()
    return today + timedelta(days=14 - today.weekday())


def slots_page(client, day: date) -> tuple[str, float]:
    started = time.monotonic()
    response = client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day}", headers={"HX-Request": "true"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    return response.get_data(as_text=True), elapsed


def ten_o_clock(day: date) -> datetime:
    """09:00 UTC: 10:00 (winter) or 11:00 (summer) in Berlin, a working hour either way."""
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)


def slot_attr(start: datetime) -> str:
    return f'data-start="{start:%Y-%m-%dT%H:%M:%SZ}"'


# --- 1. slow or failing busy times ----------------------------------------------------------------------------
def test_slow_busy_times_hold_the_slots_no_longer_than_the_wait_and_a_booking_still_succeeds(
        app, client, host, provider, spec, fake, settled):
    with data(app):
        integration = spec.connect(host)
    fake.slow(SLOW, times=2, path=spec.busy_paths[0])      # the page's read and the booking's fresh read
    day = next_monday()

    page, elapsed = slots_page(client, day)
    assert elapsed < BOUND, elapsed                          # an unbounded wait would take HTTP_TIMEOUT at least
    assert 'id="calendar-note"' in page and "calendars could not be checked just now" in page
    assert slot_attr(ten_o_clock(day)) in page               # the times are shown without the calendar
    started = time.monotonic()                               # the whole booking page (month calendar) too
    full = client.get(f"/hana/30-min?tz=Europe/Berlin&date={day}")
    assert time.monotonic() - started < BOUND and full.status_code == 200
    assert "calendars could not be checked just now" in full.get_data(as_text=True)

    with data(app):
        started = time.monotonic()
        booking = svc.create_booking(event_type_of(host), g.request(start=ten_o_clock(day))).booking
        elapsed = time.monotonic() - started
        assert elapsed < BOUND, elapsed
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    calendars.wait_for_background(SLOW * 4)                 # the page's read gave up after HTTP_TIMEOUT ...
    with data(app):
        assert "did not answer" in Integration.get_by_id(integration.id).last_error    # ... and said so
        assert [spec.start_of(e) for e in spec.events(fake)] == [ten_o_clock(day)]   # the event was written


def test_failing_busy_times_give_the_note_and_still_offer_times_and_bookings(app, client, host, provider, spec,
                                                                          fake):
    with data(app):
        integration = spec.connect(host)
    for path in spec.busy_paths:
        fake.fail(500, times=100, path=path)
    day = next_monday()

    page, elapsed = slots_page(client, day)
    assert elapsed < BOUND, elapsed
    assert 'id="calendar-note"' in page and "could not be checked" in page
    assert slot_attr(ten_o_clock(day)) in page and page.count('class="slot"') > 5
    calendars.wait_for_background(10)
    with data(app):
        row = Integration.get_by_id(integration.id)
        assert row.status == "error" and "500" in row.last_error
        assert calendars.unreadable(host.id, ten_o_clock(day), ten_o_clock(day) + timedelta(hours=1))

        booking = svc.create_booking(event_type_of(host), g.request(start=ten_o_clock(day))).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    assert fake.calls(path=spec.busy_paths[0])               # the fresh read was tried, failed, and did not matter


# --- 2. the booking's event cannot be created ------------------------------------------------------------------
def test_failed_event_insert_keeps_the_booking_shows_the_error_and_the_outbox_creates_it_later(
        app, client, host, provider, spec, fake):
    with data(app):
        integration = spec.connect(host)
        fake.fail(500, path=spec.events_path)
        booking = svc.create_booking(event_type_of(host), g.request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert len(fake.calls("POST", spec.events_path)) == 1 and spec.events(fake) == []
        assert BookingCalendarEvent.select().count() == 0
        row = Integration.get_by_id(integration.id)
        assert row.status == "error" and "500" in row.last_error
        last_error = row.last_error
        [message] = OutboxMessage.select().where(OutboxMessage.kind == calendar_sync.KIND)
        assert message.done_at is None and message.failed_at is None and "500" in message.last_error
        assert message.next_attempt_at > datetime.now(UTC)                          # a retry is scheduled

    login(client, host)
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f'id="error-{integration.id}"' in page and html.escape(last_error, quote=False) in page
    assert "Needs attention" in page

    with data(app):                                          # the fake is healthy again: the retry makes the event
        later = message.next_attempt_at + timedelta(seconds=1)
        assert outbox.process(message.id, max_attempts=9, retry_delay=60, now=later) == "done"
        [event] = spec.events(fake)
        assert spec.start_of(event) == SLOT
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]
        row = Integration.get_by_id(integration.id)
        assert row.status == "connected" and row.last_error is None
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert f'id="error-{integration.id}"' not in page


def test_timed_out_insert_that_landed_is_found_by_the_retry_not_duplicated(app, host, provider, spec, fake,
                                                                            settled):
    with data(app):
        integration = spec.connect(host)
        fake.slow(SLOW, path=spec.events_path)           # LinkTime gives up after HTTP_TIMEOUT; the provider not
        booking = svc.create_booking(event_type_of(host), g.request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert "did not answer" in Integration.get_by_id(integration.id).last_error
        [message] = OutboxMessage.select().where(OutboxMessage.kind == calendar_sync.KIND)
        assert message.done_at is None and message.failed_at is None
        deadline = time.monotonic() + SLOW * 3
        while not spec.events(fake) and time.monotonic() < deadline:
            time.sleep(0.1)
        [event] = spec.events(fake)                       # the first insert did land at the provider

        later = message.next_attempt_at + timedelta(seconds=1)
        assert outbox.process(message.id, max_attempts=9, retry_delay=60, now=later) == "done"
        assert [e["id"] for e in spec.events(fake)] == [event["id"]]      # found again, not added twice
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking).href == event["id"]
        assert Integration.get_by_id(integration.id).status == "connected"


def test_failed_event_insert_is_shown_in_the_bookings_activity(app, host, provider, spec, fake):
    with data(app):
        spec.connect(host)
        fake.fail(500, path=spec.events_path)
        booking = svc.create_booking(event_type_of(host), g.request(), now=NOW).booking
        messages = [a.message for a in BookingActivity.select().where((BookingActivity.booking == booking)
                                                                      & (BookingActivity.kind == "calendar"))]
        assert any("500" in m for m in messages), messages


# --- 3. fresh read at booking time ------------------------------------------------------------------------------
def feed(*events: tuple[str, datetime]) -> bytes:
    """An ICS feed with a 30-minute busy event at each (uid, start)."""
    body = "".join(f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
                   f"DTEND:{start + timedelta(minutes=30):%Y%m%dT%H%M%SZ}\r\nSUMMARY:Busy\r\nEND:VEVENT\r\n"
                   for uid, start in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//EN\r\n{body}END:VCALENDAR\r\n".encode()


@pytest.mark.parametrize("provider", ["google", "microsoft", "ics"])
def test_event_added_after_the_cache_was_warmed_blocks_the_booking_and_the_reschedule(app, host, provider, spec,
                                                                                     fake):
    app.config["CALENDAR_BUSY_WAIT"] = 10          # let the first read fill the cache
    app.config["CALENDAR_BOOKING_WAIT"] = 10
    added: list[tuple[str, datetime]] = []

    def add_event(start: datetime) -> None:          # the host adds an event in their calendar app
        added.append((f"added-{len(added)}", start))
        if provider == "ics":
            fake.body = feed(*added)
        else:
            spec.add_busy(fake, start, start + timedelta(minutes=30))

    with data(app):
        event_type = event_type_of(host)
        if provider == "ics":
            calendars.connect_ics(host, url=fake.url, name="Feed")
        else:
            spec.connect(host)
        assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=4), now=NOW)   # the cache is warm
        assert calendars.unreadable(host.id, SLOT, SLOT + timedelta(hours=4)) == []

        add_event(SLOT)
        assert SLOT in available_slots(event_type, SLOT, SLOT + timedelta(hours=4), now=NOW)   # still: cached
        with pytest.raises(svc.SlotUnavailable):
            svc.create_booking(event_type, g.request(), now=NOW)
        assert Booking.select().count() == 0
        booking = svc.create_booking(event_type, g.request(start=SLOT + timedelta(hours=1)), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"     # the fresh read blocks only the added time

        moved_to = SLOT + timedelta(hours=3)                           # the same for a reschedule
        offered = available_slots(event_type, SLOT, SLOT + timedelta(hours=4), now=NOW)
        assert moved_to in offered and SLOT not in offered             # the cache caught up with the first event
        add_event(moved_to)
        assert moved_to in available_slots(event_type, SLOT, SLOT + timedelta(hours=4), now=NOW)
        with pytest.raises(svc.SlotUnavailable):
            svc.reschedule_booking(booking, moved_to, reason=None, by="invitee", now=NOW)
        assert Booking.get_by_id(booking.id).start_at == SLOT + timedelta(hours=1)


@pytest.mark.parametrize("trouble", ["slow", "500"])
def test_provider_in_trouble_at_booking_time_is_checked_with_its_cached_busy_times(app, host, provider, spec, fake,
                                                                                  trouble, settled):
    app.config["CALENDAR_BUSY_WAIT"] = 10          # let the first read fill the cache
    with data(app):
        event_type = event_type_of(host)
        spec.connect(host)
        spec.add_busy(fake, SLOT, SLOT + timedelta(minutes=30))
        offered = available_slots(event_type, SLOT, SLOT + timedelta(hours=2), now=NOW)
        assert SLOT not in offered and SLOT + timedelta(hours=1) in offered       # cached, with the event
        for path in spec.busy_paths:
            if trouble == "slow":
                fake.slow(SLOW, times=2, path=path)
            else:
                fake.fail(500, times=100, path=path)

        started = time.monotonic()
        with pytest.raises(svc.SlotUnavailable):                 # the cached event still counts ...
            svc.create_booking(event_type, g.request(), now=NOW)
        booking = svc.create_booking(event_type, g.request(start=SLOT + timedelta(hours=1)), now=NOW).booking
        assert time.monotonic() - started < 2 * BOUND            # ... and neither booking waited on the provider
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        assert Booking.select().count() == 1

