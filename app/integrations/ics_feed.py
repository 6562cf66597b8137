"""Read-only ICS feeds (a calendar's "secret address in iCal format", webcal:// links): fetch, parse, busy time.

The feed is fetched with a timeout (per read and for the whole answer) and a size cap through the outbound address
guard (https and public addresses only, unless private addresses are allowed); busy rules and RRULE expansion,
bounded, as in ``app.integrations.ical``.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from icalendar import Calendar

from app.integrations import ical
from app.integrations.errors import IntegrationError, PermanentError
from app.integrations.ical import Budget, Interval, OwnUids


def normalize_url(raw: str) -> str:
    """``webcal://`` and ``webcals://`` mean https; anything but http(s) is refused by ``fetch``."""
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("webcal", "webcals"):
        url = urlunsplit(("https", *parts[1:]))
    return url


def display_url(url: str) -> str:
    """The feed's address without its (often secret) path and query: ``https://host``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def fetch(url: str, *, timeout: float, allow_private: bool, max_bytes: int) -> Calendar:
    """The feed, parsed; failures are ``app.integrations.errors`` classes with ``provider="ics"``."""
    what = "Reading the calendar feed"
    try:
        _response, data = ical.http("GET", url, timeout=timeout, allow_private=allow_private, max_bytes=max_bytes,
                                    what=what, headers={"Accept": "text/calendar, */*;q=0.5"}, ok=(200,))
        calendar = ical.parse(data, what)
    except IntegrationError as exc:
        exc.provider = exc.provider or "ics"
        raise
    if calendar.name != "VCALENDAR":
        raise PermanentError(f"{what}: the answer is not an iCalendar feed.", provider="ics")
    return calendar


def name_of(calendar: Calendar) -> str | None:
    name = calendar.get("X-WR-CALNAME")
    return str(name).strip()[:200] or None if name else None


def busy(calendar: Calendar, start: datetime, end: datetime, tz, own_uids: OwnUids | None = None,
         budget: Budget | None = None) -> list[Interval]:
    """Busy intervals of the feed in [start, end); ``budget`` bounds the expansion (``budget.partial``)."""
    candidates = ical.linktime_uids([calendar])
    skip = own_uids(candidates) if own_uids and candidates else set()
    return ical.busy_intervals(calendar, start, end, tz, skip, budget)
