"""What every calendar provider adapter implements (``CalendarProvider``), the values its calls take and return,
and helpers the adapters share.

Busy reads and event writes raise the one failure vocabulary of ``app.integrations.errors``: ``TransientError``
(try again later), ``AuthRevoked`` (the connection needs the user; ``GrantRevoked`` for an OAuth grant that is
gone, after which the connection is disconnected already), ``NotFound`` and other ``PermanentError``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from app.integrations.errors import IntegrationError, PermanentError
from app.integrations.ical import LINKTIME_UID_SUFFIX, Interval, OwnUids
from app.integrations.oauth import Attendee
from app.models import Booking, BookingHost, Integration, User
from app.net import host_name_ok
from app.services.integrations.connections import UNREADABLE_MESSAGE, cfg, credentials
from app.timezones import zone

MAX_FIELD = 2000


@dataclass(frozen=True)
class RemoteCalendar:
    remote_id: str          # the provider's id of the calendar (a CalDAV collection's URL, a Google calendar id)
    name: str
    color: str | None
    writable: bool


@dataclass
class BusyRead:
    """Busy time of some calendars of one connection: what was read, and why the rest was not."""
    intervals: dict[str, list[Interval]] = field(default_factory=dict)   # calendar id -> sorted intervals
    errors: dict[str, str] = field(default_factory=dict)                 # calendar id -> why it was not read
    partial: list[str] = field(default_factory=list)                     # names of calendars read in part


@dataclass(frozen=True)
class EventDraft:
    """A booking's event as every provider writes it."""
    key: str                    # the booking's id: makes a first create idempotent (event id, transaction id, URL)
    uid: str                    # the iCalendar UID
    summary: str
    description: str
    location: str
    start: datetime
    end: datetime
    timezone: str               # the host's zone name
    attendees: tuple[Attendee, ...]
    ics: Callable[[], bytes]    # the whole iCalendar object (CalDAV)


@dataclass(frozen=True)
class WrittenEvent:
    href: str                   # where the event is: a CalDAV URL, or the provider's event id
    etag: str | None = None
    event: Any = None           # the provider's answer (``oauth.CalendarEvent``: the Meet link), if any
    recreated: bool = False     # an update found the event deleted in the calendar and created it again


@runtime_checkable
class CalendarProvider(Protocol):
    """One kind of calendar connection. ``writable``: it can hold booking events (else the write methods raise
    ``PermanentError``); ``video_locations``: event-type locations whose conference the event itself carries."""
    name: str
    writable: bool
    video_locations: tuple[str, ...]

    def list_calendars(self, integration: Integration) -> list[RemoteCalendar]: ...

    def read_busy(self, integration: Integration, calendars: Sequence, lo: datetime, hi: datetime, tz, *,
                  windows: int = 1) -> BusyRead:
        """Busy intervals of ``calendars`` (rows with ``id``, ``remote_id``, ``name``) in [lo, hi); ``windows``:
        how many 28-day windows the read covers. A failure of one calendar lands in ``errors``; one of the whole
        connection raises."""

    def failure_text(self, integration: Integration, exc: IntegrationError) -> str:
        """What the connection's card and the cache say about a failure of the whole connection."""

    def create_event(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool = True,
                     with_meet: bool = False) -> WrittenEvent: ...

    def update_event(self, integration: Integration, mapping, draft: EventDraft, *,
                     with_meet: bool = False) -> WrittenEvent:
        """Move / rewrite the event of ``mapping`` (a ``BookingCalendarEvent``); one deleted in the calendar
        meanwhile is created again (``recreated``; ``with_meet``: with a new conference)."""

    def delete_event(self, integration: Integration, mapping) -> None:
        """Delete the event; one already gone counts as deleted."""


class ReadOnly:
    """The write methods of a provider that cannot hold events (an ICS feed)."""
    writable = False

    def _refuse(self, *_args, **_kwargs):
        raise PermanentError("This calendar is read-only: LinkTime cannot add events to it.", provider=self.name)

    create_event = update_event = delete_event = _refuse


# --- helpers the adapters share ----------------------------------------------------------------------------
def secret(integration: Integration, *keys: str) -> dict:
    """The stored secret of a CalDAV account or ICS feed; a ``PermanentError`` when it cannot be read (the
    encryption key changed): the card asks to connect again, instead of an empty login or a crash."""
    data = credentials(integration)
    if not all(data.get(key) for key in keys):
        raise PermanentError(UNREADABLE_MESSAGE, provider=integration.provider)
    return data


def timeout() -> float:
    return float(cfg("CALENDAR_TIMEOUT"))


def allow_private() -> bool:
    return bool(cfg("CALENDAR_ALLOW_PRIVATE"))


def host_tz(user_id: str):
    return zone(User.get_by_id(user_id).timezone)


def own_uids(user_id: str) -> OwnUids:
    """The host's LinkTime bookings among candidate event UIDs (the team bookings they attend too): they are busy
    (or free) through the bookings."""
    def check(candidates: set[str]) -> set[str]:
        ids = [uid[: -len(LINKTIME_UID_SUFFIX)] for uid in candidates]
        found = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            found.update(b.id for b in Booking.select(Booking.id).where(
                (Booking.user == user_id) & Booking.id.in_(chunk)).namedtuples())
            found.update(row[0] for row in BookingHost.select(BookingHost.booking).where(
                (BookingHost.user == user_id) & BookingHost.booking.in_(chunk)).tuples())
        return {f"{booking_id}{LINKTIME_UID_SUFFIX}" for booking_id in found}
    return check


def clean_url(raw: str | None, field: str, errors: dict[str, str], example: str, *, credentials_hint: str) -> str:
    """The address as it will be stored, or an inline message in ``errors[field]``.

    ``credentials_hint``: what to tell someone who wrote a user name or password into the address."""
    url = (raw or "").strip()
    if not url:
        errors[field] = "Enter the address."
        return ""
    if len(url) > MAX_FIELD or any(c.isspace() for c in url):
        errors[field] = f"Enter a valid address, e.g. {example}."
        return url
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        errors[field] = f"Enter a valid address, e.g. {example}."
        return url
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors[field] = f"Enter an http:// or https:// address, e.g. {example}."
    elif parts.username is not None or parts.password is not None:
        errors[field] = f"Leave the user name and password out of the address (no “name:password@”). {credentials_hint}"
    elif not host_name_ok(parts.hostname):
        errors[field] = f"“{parts.hostname}” is not a valid server name. Check the address, e.g. {example}."
    elif parts.scheme == "http" and not cfg("CALENDAR_ALLOW_PRIVATE"):
        errors[field] = "Use an https:// address: calendar passwords are not sent over plain http."
    return url
