"""Calendar providers: one adapter per kind of calendar connection, behind one interface
(``base.CalendarProvider``: list calendars, busy time for a window, create / move / delete a booking's event).

``app.services.integrations.calendars`` (busy time) and ``app.services.integrations.calendar_sync`` (booking events)
only go through ``CALENDAR_PROVIDERS``. A new calendar provider is one module with an adapter class and one line here.
"""
from __future__ import annotations

from app.services.integrations.calendar_providers.base import CalendarProvider
from app.services.integrations.calendar_providers.caldav import CalDAVCalendars
from app.services.integrations.calendar_providers.google import GoogleCalendars
from app.services.integrations.calendar_providers.ics import IcsFeedCalendar
from app.services.integrations.calendar_providers.outlook import OutlookCalendars

CALENDAR_PROVIDERS: dict[str, CalendarProvider] = {
    "google": GoogleCalendars(),
    "microsoft": OutlookCalendars(),
    "caldav": CalDAVCalendars(),          # iCloud too (a CalDAV server)
    "ics": IcsFeedCalendar(),
}


def provider_of(integration) -> CalendarProvider | None:
    """The adapter of a connection, or None when it is no calendar (a video service)."""
    return CALENDAR_PROVIDERS.get(integration.provider)
