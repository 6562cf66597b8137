"""The calendar provider registry: every calendar connection kind has an adapter behind one interface, and the
busy-time cache and the booking's calendar event go through the registry only (a provider added to it is read
and written without any other change)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from app.integrations import oauth
from app.integrations.errors import PermanentError, TransientError
from app.models import (
    BookingActivity,
    BookingCalendarEvent,
    CalendarBusyCache,
    EventType,
    Integration,
    IntegrationCalendar,
)
from app.services.booking import bookings as svc
from app.services.integrations import calendars, connections
from app.services.integrations.calendar_providers import CALENDAR_PROVIDERS, provider_of
from app.services.integrations.calendar_providers.base import (
    BusyRead,
    CalendarProvider,
    EventDraft,
    WrittenEvent,
    host_tz,
)
from app.services.integrations.calendar_sync import draft
from tests.fakes.radicale_server import vevent

NOW = datetime(2030, 1, 4, 8, 0, tzinfo=UTC)
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)          # Monday 10:00 Berlin


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


def test_every_calendar_provider_has_an_adapter_with_the_whole_interface():
    calendar_oauth = {name for name, info in oauth.PROVIDERS.items() if info.category == "calendar"}
    assert set(CALENDAR_PROVIDERS) == calendar_oauth | {"caldav", "ics"}
    for name, adapter in CALENDAR_PROVIDERS.items():
        assert isinstance(adapter, CalendarProvider), name
        assert adapter.name == name
    assert [n for n, a in CALENDAR_PROVIDERS.items() if not a.writable] == ["ics"]
    assert CALENDAR_PROVIDERS["google"].video_locations == ("google_meet",)
    assert provider_of(Integration(provider="zoom")) is None       # a video service has no calendars


def test_an_ics_feed_is_read_only(host):
    feed = CALENDAR_PROVIDERS["ics"]
    integration = Integration(provider="ics", label="Rota", user=host)
    assert [(c.remote_id, c.name, c.writable) for c in feed.list_calendars(integration)] == [("feed", "Rota", False)]
    for write in (lambda: feed.create_event(integration, "feed", None),
                  lambda: feed.update_event(integration, None, None), lambda: feed.delete_event(integration, None)):
        with pytest.raises(PermanentError, match="read-only"):
            write()


def test_caldav_adapter_lists_reads_and_writes_against_radicale(host, radicale):
    work = radicale.make_calendar("Work")
    radicale.put_event(work, "other", vevent("other", "20300107T120000Z", "20300107T130000Z"))
    integration = calendars.connect_caldav(host, server_url=radicale.url, username="alice", password="app-pass-1234")
    adapter = provider_of(integration)
    assert [(c.remote_id, c.name, c.writable) for c in adapter.list_calendars(integration)] == [(work, "Work", True)]
    [cal] = IntegrationCalendar.select().where(IntegrationCalendar.integration == integration)
    read = adapter.read_busy(integration, [cal], MONDAY, MONDAY + timedelta(days=1), host_tz(host.id))
    noon = int(datetime(2030, 1, 7, 12, tzinfo=UTC).timestamp())
    assert read == BusyRead(intervals={cal.id: [(noon, noon + 3600)]})

    event = EventDraft(key="bk1", uid="bk1@linktime", summary="Intro", description="", location="", start=SLOT,
                       end=SLOT + timedelta(minutes=30), timezone="Europe/Berlin", attendees=(),
                       ics=lambda: (vevent("bk1@linktime", "20300107T090000Z", "20300107T093000Z")).encode())
    written = adapter.create_event(integration, work, event)
    assert written.href.startswith(work) and written.etag and not written.recreated
    mapping = BookingCalendarEvent(href=written.href, etag=written.etag, calendar_remote_id=work)
    assert adapter.update_event(integration, mapping, event).etag
    adapter.delete_event(integration, mapping)
    assert [href.rsplit("/", 1)[-1] for href in radicale.events(work)] == ["other.ics"]
    again = adapter.update_event(integration, mapping, event)       # deleted meanwhile: created again
    assert again.recreated and len(radicale.events(work)) == 2


@dataclass
class FakeProvider:
    """A calendar provider that lives only in this test: registered, it is read and written like the others."""
    name: str = "fakecal"
    writable: bool = True
    video_locations: tuple[str, ...] = ()
    busy: list = field(default_factory=list)
    fail: Exception | None = None
    calls: list = field(default_factory=list)

    def list_calendars(self, integration):
        return []

    def read_busy(self, integration, calendars, lo, hi, tz, *, windows=1):
        self.calls.append(("busy", [c.id for c in calendars], windows))
        if self.fail is not None:
            raise self.fail
        return BusyRead(intervals={c.id: list(self.busy) for c in calendars})

    def failure_text(self, integration, exc):
        return f"Fake calendar: {exc.message}"

    def create_event(self, integration, calendar_id, draft, *, first=True, with_meet=False):
        self.calls.append(("create", calendar_id, draft.key, draft.start))
        return WrittenEvent(f"{calendar_id}/{draft.key}", "e1")

    def update_event(self, integration, mapping, draft, *, with_meet=False):
        self.calls.append(("update", mapping.href, draft.start))
        return WrittenEvent(mapping.href, "e2")

    def delete_event(self, integration, mapping):
        self.calls.append(("delete", mapping.href))


@pytest.fixture
def fake(monkeypatch, host):
    provider = FakeProvider()
    monkeypatch.setitem(CALENDAR_PROVIDERS, "fakecal", provider)
    integration = Integration.create(user=host, provider="fakecal", label="Fake", credentials="sealed")
    IntegrationCalendar.create(integration=integration, user=host, remote_id="cal-1", name="Fake cal",
                               writable=True, check_conflicts=True, is_destination=True)
    return provider


def test_a_registered_provider_fills_the_busy_cache_and_its_failures_are_in_its_words(host, fake):
    [cal] = IntegrationCalendar.select().where(IntegrationCalendar.name == "Fake cal")
    noon = int(datetime(2030, 1, 7, 12, tzinfo=UTC).timestamp())
    fake.busy = [(noon, noon + 3600)]
    window = calendars.windows(MONDAY, MONDAY + timedelta(days=1))
    calendars.fetch_windows(cal.integration, [cal], window)
    [row] = CalendarBusyCache.select().where(CalendarBusyCache.calendar == cal)
    assert row.intervals == f"[[{noon},{noon + 3600}]]" and row.error is None
    assert fake.calls == [("busy", [cal.id], 1)]

    fake.fail = TransientError("busy, try later", provider="fakecal")
    calendars.fetch_windows(cal.integration, [cal], window)
    row = CalendarBusyCache.get_by_id(row.id)
    assert row.error == "Fake calendar: busy, try later"
    assert Integration.get_by_id(cal.integration_id).last_error == "Fake calendar: busy, try later"


def test_a_registered_provider_receives_the_bookings_events(host, fake):
    event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    request = svc.BookingRequest(start=SLOT, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
                                 invitee_timezone="Europe/Berlin")
    booking = svc.create_booking(event_type, request, now=NOW).booking
    assert ("create", "cal-1", booking.id, SLOT) in fake.calls
    mapping = BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
    assert (mapping.href, mapping.etag) == (f"cal-1/{booking.id}", "e1")
    moved = svc.reschedule_booking(booking, SLOT + timedelta(hours=2), reason=None, by="host", now=NOW)
    assert ("update", mapping.href, SLOT + timedelta(hours=2)) in fake.calls
    assert BookingCalendarEvent.get_by_id(mapping.id).etag == "e2"
    svc.cancel_booking(moved, reason=None, by="host")
    assert ("delete", mapping.href) in fake.calls
    assert not BookingCalendarEvent.select().where(BookingCalendarEvent.booking == booking).exists()
    notes = [a.message for a in BookingActivity.select().where(BookingActivity.booking == booking)]
    assert any(f"({connections.service_name(mapping.integration)})" in n for n in notes)


def test_the_event_draft_carries_what_every_provider_writes(host, fake):
    event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    request = svc.BookingRequest(start=SLOT, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
                                 invitee_timezone="Europe/Berlin")
    booking = svc.create_booking(event_type, request, now=NOW).booking
    made = draft(booking)
    assert (made.key, made.uid, made.start, made.end, made.timezone) == (
        booking.id, f"{booking.id}@linktime", SLOT, SLOT + timedelta(minutes=30), "Europe/Berlin")
    assert [(a.email, a.name) for a in made.attendees] == [("ivan@example.com", "Ivan Invitee")]
    assert f"UID:{booking.id}@linktime".encode() in made.ics()
