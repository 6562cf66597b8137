"""What the OAuth calendar providers (Google Calendar, Outlook Calendar) share: the calendar list, busy time per
calendar without LinkTime's own events, and the writes through the provider's events API with a fresh token."""
from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from app.integrations.errors import IntegrationError, NotFound
from app.integrations.ical import Interval
from app.models import Booking, BookingCalendarEvent, Integration
from app.services.integrations.calendar_providers.base import BusyRead, EventDraft, RemoteCalendar, WrittenEvent
from app.services.integrations.connections import service_name
from app.services.integrations.oauth_connections import OAUTH_PROVIDERS, oauth_call, oauth_client


class OAuthCalendars(ABC):
    """A calendar provider behind ``oauth_call``; subclasses write events (``_create``, ``_update``,
    ``delete_event``) with their client's arguments."""
    name = ""
    writable = True
    video_locations: tuple[str, ...] = ()

    def client(self):
        return oauth_client(self.name)

    def list_calendars(self, integration: Integration) -> list[RemoteCalendar]:
        client = self.client()
        return [RemoteCalendar(c.id, c.name, c.color, c.writable)
                for c in oauth_call(integration, client.list_calendars)]

    def _busy_options(self, tz) -> dict:
        return {}

    def read_busy(self, integration: Integration, calendars: Sequence, lo: datetime, hi: datetime, tz, *,
                  windows: int = 1) -> BusyRead:
        """One query per calendar (Google's freeBusy merges the calendars asked together; Graph's calendarView
        is per calendar), each calendar's intervals cached on their own."""
        client, options = self.client(), self._busy_options(tz)
        company = OAUTH_PROVIDERS[self.name][1]
        read = BusyRead()
        for cal in calendars:
            busy = oauth_call(integration, lambda token, r=cal.remote_id: client.busy_times(token, [r], lo, hi,
                                                                                             **options))
            if busy.errors:
                read.errors[cal.id] = f"{company} could not read this calendar ({', '.join(busy.errors.values())})."
            else:
                own = own_event_times(integration.id, cal.remote_id, lo, hi)
                read.intervals[cal.id] = subtract([(int(a), int(b)) for a, b in busy.intervals], own)
        return read

    def failure_text(self, integration: Integration, exc: IntegrationError) -> str:
        return f"{service_name(integration)}: {exc.message}"

    @abstractmethod
    def _create(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool,
                with_meet: bool):
        """Create the event in the provider's calendar; answers the provider's event."""

    @abstractmethod
    def _update(self, integration: Integration, mapping, draft: EventDraft):
        """Update the mapped event; answers the provider's event."""

    def create_event(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool = True,
                     with_meet: bool = False) -> WrittenEvent:
        event = self._create(integration, calendar_id, draft, first=first, with_meet=with_meet)
        return WrittenEvent(event.id, None, event)

    def update_event(self, integration: Integration, mapping, draft: EventDraft, *,
                     with_meet: bool = False) -> WrittenEvent:
        try:
            event = self._update(integration, mapping, draft)
        except NotFound:      # deleted in the calendar meanwhile: add it again (a Meet with a new link)
            written = self.create_event(integration, mapping.calendar_remote_id, draft, first=False,
                                        with_meet=with_meet)
            return replace(written, recreated=True)
        return WrittenEvent(event.id, None, event)


def own_event_times(integration_id: str, remote_id: str, lo: datetime, hi: datetime) -> list[Interval]:
    """Times of the events LinkTime wrote into this calendar for the host's bookings. freeBusy does not say which
    event is busy, so these times are taken out of its answer: bookings are busy through the bookings
    themselves (as CalDAV events with a LinkTime UID are), and a booking being moved or cancelled must not be
    blocked by its own event."""
    rows = (Booking.select(Booking.start_at, Booking.end_at).join(BookingCalendarEvent)
            .where((BookingCalendarEvent.integration == integration_id)
                   & (BookingCalendarEvent.calendar_remote_id == remote_id)
                   & (Booking.start_at < hi) & (Booking.end_at > lo)).namedtuples())
    return sorted((int(r.start_at.timestamp()), int(r.end_at.timestamp())) for r in rows)


def subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            pieces = [p for a, b in pieces for p in ((a, min(b, h_start)), (max(a, h_end), b)) if p[0] < p[1]]
        out.extend(pieces)
    return sorted(out)


def google_event_id(key: str) -> str:
    """The event's id in Google (base32hex of the booking id: Google allows a-v and 0-9), so a retried insert
    finds the event it created before instead of adding a second one."""
    return base64.b32hexencode(key.encode()).decode().rstrip("=").lower()
