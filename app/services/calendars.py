"""Connected calendars: connect CalDAV / iCloud accounts and ICS feeds, choose the calendars checked for
conflicts and the one that receives bookings, and busy time from every connected calendar.

Google Calendar and Outlook Calendar connect through ``app.services.oauth_connections``; what all connections share
(credentials, status, disconnecting) is in ``app.services.connections``.

Busy time never makes the booking page wait on a slow provider. Intervals are cached per calendar in fixed
28-day windows (``calendar_busy_cache``, plus an in-process copy of the parsed intervals). A window older than
CALENDAR_BUSY_TTL is used as it is and refreshed by a queued task; a window never read is fetched in a
background thread that the page waits for at most CALENDAR_BUSY_WAIT seconds (the fetch goes on and fills
the cache; the page shows a note that a calendar could not be read). At booking time (``fresh_busy``) the
booking's own time range is read fresh from every checked calendar, waiting at most CALENDAR_BOOKING_WAIT;
a calendar that does not answer in time is checked with its cached intervals, so a slow or failing
provider never fails a booking (and a read that differs from the cache has the cached window refreshed).
"""
from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app

from app import queue
from app.db import db, transaction
from app.integrations import caldav, ics_feed
from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.ical import (
    LINKTIME_UID_SUFFIX,
    MAX_OCCURRENCES,
    AuthError,
    Budget,
    CalendarError,
    Interval,
)
from app.models import (
    Booking,
    BookingCalendarEvent,
    CalendarBusyCache,
    EventType,
    Integration,
    IntegrationCalendar,
    User,
)
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.net import host_name_ok
from app.services import audit
from app.services.connections import (
    SERVICES,
    UNREADABLE_MESSAGE,
    cfg,
    credentials,
    lock_user,
    record_error,
    record_ok,
    sealed,
    service_name,
    sync_calendars,
)
from app.services.errors import ValidationFailed
from app.services.oauth_connections import OAUTH_PROVIDERS, oauth_call, oauth_client
from app.services.slots import busy_refresher, busy_source
from app.services.timezones import zone
from app.statements import Param, Statement

log = logging.getLogger(__name__)

WINDOW = timedelta(days=28)
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)       # a Monday: windows start on Mondays 00:00 UTC
MAX_FIELD = 2000
MARGIN = timedelta(minutes=240)               # the longest buffer an event type can have
ENQUEUE_THROTTLE = 60                          # seconds between queued refreshes of one window

def _secret(integration: Integration, *keys: str) -> dict:
    """The stored secret of a CalDAV account or ICS feed; a permanent CalendarError when it cannot be read (the
    encryption key changed): the card asks to connect again, instead of an empty login or a crash."""
    secret = credentials(integration)
    if not all(secret.get(key) for key in keys):
        raise CalendarError(UNREADABLE_MESSAGE)
    return secret


def feed_url(integration: Integration) -> str:
    return _secret(integration, "url")["url"]


def caldav_client(integration: Integration) -> caldav.CalDAVClient:
    secret = _secret(integration, "username", "password")
    return caldav.CalDAVClient(integration.server_url or "", secret.get("username", ""), secret.get("password", ""),
                               timeout=float(cfg("CALENDAR_TIMEOUT")),
                               allow_private=bool(cfg("CALENDAR_ALLOW_PRIVATE")))



# --- connecting --------------------------------------------------------------------------------------------
def _clean_url(raw: str | None, field: str, errors: dict[str, str], example: str, *, credentials_hint: str) -> str:
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


def _connect_error(exc: CalendarError, url_field: str) -> dict[str, str]:
    if isinstance(exc, AuthError):
        return {"password": "The server refused this user name and password. For iCloud use an app-specific "
                            "password (appleid.apple.com → Sign-In and Security → App-Specific Passwords)."}
    message = str(exc).split(": ", 1)[-1]
    return {url_field: f"We could not connect: {message}"}



def connect_caldav(user: User, *, server_url: str, username: str, password: str, ip: str | None = None) -> Integration:
    """Discover the account's calendars and store the connection; a failure stores nothing."""
    errors: dict[str, str] = {}
    url = _clean_url(server_url, "server_url", errors, "https://caldav.example.com/",
                     credentials_hint="Enter them in the User name and Password fields.")
    username = (username or "").strip()
    if not username:
        errors["username"] = "Enter the user name (for iCloud: your Apple ID email)."
    elif len(username) > 254:
        errors["username"] = "Use at most 254 characters."
    if not password:
        errors["password"] = "Enter the password (for iCloud: an app-specific password)."
    elif len(password) > 1000:
        errors["password"] = "Use at most 1000 characters."
    if errors:
        raise ValidationFailed(errors)
    client = caldav.CalDAVClient(url, username, password, timeout=float(cfg("CALENDAR_TIMEOUT")),
                                 allow_private=bool(cfg("CALENDAR_ALLOW_PRIVATE")))
    try:
        account = client.discover()
    except CalendarError as exc:
        raise ValidationFailed(_connect_error(exc, "server_url")) from None
    if not account.calendars:
        raise ValidationFailed({"server_url": "This account has no calendars that hold events."})
    secret = sealed({"username": username, "password": password})
    with transaction(immediate=True):
        lock_user(user)
        integration = (Integration.select().where((Integration.user == user) & (Integration.provider == "caldav")
                                                  & (Integration.server_url == url)
                                                  & (Integration.account_email == username)).first())
        if integration is None:
            integration = Integration.create(user=user, provider="caldav", label=account.display_name or username,
                                             account_email=username, server_url=url, credentials=secret)
        else:   # connecting the same account again: new password, calendars brought up to date
            integration.credentials, integration.status, integration.last_error = secret, "connected", None
            integration.updated_at = utcnow()
            integration.save()
        sync_calendars(user, integration, [(c.url, c.name, c.color, c.writable) for c in account.calendars])
        audit.record("integration.connected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": service_name(integration), "account": username})
    return integration


def connect_ics(user: User, *, url: str, name: str | None = None, ip: str | None = None) -> Integration:
    errors: dict[str, str] = {}
    url = _clean_url(ics_feed.normalize_url(url or ""), "feed_url", errors, "https://example.com/calendar.ics",
                     credentials_hint="Use the feed's secret address; a calendar that needs a password can be "
                                      "connected as a CalDAV account, with the password in its own field.")
    name = (name or "").strip()
    if len(name) > 200:
        errors["feed_name"] = "Use at most 200 characters."
    if errors:
        raise ValidationFailed(errors)
    for existing in Integration.select().where((Integration.user == user) & (Integration.provider == "ics")):
        if credentials(existing).get("url") == url:
            raise ValidationFailed({"feed_url": f"This feed is connected already (“{existing.label}”)."})
    try:
        feed = ics_feed.fetch(url, timeout=float(cfg("CALENDAR_TIMEOUT")),
                              allow_private=bool(cfg("CALENDAR_ALLOW_PRIVATE")),
                              max_bytes=int(cfg("CALENDAR_FEED_MAX_BYTES")))
    except CalendarError as exc:
        raise ValidationFailed({"feed_url": f"We could not read this feed: {str(exc).split(': ', 1)[-1]}"}) from None
    label = name or ics_feed.name_of(feed) or (urlsplit(url).hostname or "Calendar feed")
    with transaction(immediate=True):
        lock_user(user)
        integration = Integration.create(user=user, provider="ics", label=label[:200],
                                         server_url=ics_feed.display_url(url), credentials=sealed({"url": url}))
        IntegrationCalendar.create(integration=integration, user=user, remote_id="feed", name=label[:200],
                                   writable=False, check_conflicts=True)
        audit.record("integration.connected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": SERVICES["ics"]})
    return integration



def _oauth_busy(integration: Integration, remote_ids: dict[str, str], lo: datetime, hi: datetime,
                errors: dict[str, str]) -> dict[str, list[Interval]]:
    """calendar id -> busy intervals, one query per calendar (Google's freeBusy merges the calendars asked
    together; Graph's calendarView is per calendar), each calendar's intervals cached on their own."""
    provider = integration.provider
    client = oauth_client(provider)
    company = OAUTH_PROVIDERS[provider][1]
    options = {}
    if provider == "microsoft":      # all-day events block the host's day, not a UTC day
        options["all_day_tz"] = zone(User.get_by_id(integration.user_id).timezone)
    out: dict[str, list[Interval]] = {}
    for cal_id, remote_id in remote_ids.items():
        busy = oauth_call(integration, lambda token, r=remote_id: client.busy_times(token, [r], lo, hi, **options))
        if busy.errors:
            errors[cal_id] = f"{company} could not read this calendar ({', '.join(busy.errors.values())})."
        else:
            own = _own_event_times(integration.id, remote_id, lo, hi)
            out[cal_id] = _subtract([(int(a), int(b)) for a, b in busy.intervals], own)
    return out


def _own_event_times(integration_id: str, remote_id: str, lo: datetime, hi: datetime) -> list[Interval]:
    """Times of the events LinkTime wrote into this Google calendar for the host's bookings. freeBusy does not
    say which event is busy, so these times are taken out of its answer: bookings are busy through the
    bookings themselves (as CalDAV events with a LinkTime UID are), and a booking being moved or cancelled
    must not be blocked by its own event."""
    rows = (Booking.select(Booking.start_at, Booking.end_at).join(BookingCalendarEvent)
            .where((BookingCalendarEvent.integration == integration_id)
                   & (BookingCalendarEvent.calendar_remote_id == remote_id)
                   & (Booking.start_at < hi) & (Booking.end_at > lo)).namedtuples())
    return sorted((int(r.start_at.timestamp()), int(r.end_at.timestamp())) for r in rows)


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            pieces = [p for a, b in pieces for p in ((a, min(b, h_start)), (max(a, h_end), b)) if p[0] < p[1]]
        out.extend(pieces)
    return sorted(out)



def calendars_of(user: User) -> dict[str, list[IntegrationCalendar]]:
    out: dict[str, list[IntegrationCalendar]] = {}
    for cal in (IntegrationCalendar.select().where(IntegrationCalendar.user == user)
                .order_by(IntegrationCalendar.position, IntegrationCalendar.name)):
        out.setdefault(cal.integration_id, []).append(cal)
    return out


def save_selection(user: User, *, conflict_ids: list[str], destination_id: str | None) -> None:
    """Which calendars are checked for conflicts, and the one (or none) that receives new bookings."""
    calendars = {c.id: c for c in IntegrationCalendar.select().where(IntegrationCalendar.user == user)}
    destination_id = destination_id or None
    if destination_id is not None:
        target = calendars.get(destination_id)
        if target is None:
            raise ValidationFailed({"destination": "Choose one of your connected calendars."})
        if not target.writable:
            raise ValidationFailed({"destination": f"“{target.name}” is read-only; choose a calendar LinkTime can "
                                                   "add events to."})
    wanted = set(conflict_ids)
    with transaction(immediate=True):
        lock_user(user)
        for cal in calendars.values():
            check, dest = cal.id in wanted, cal.id == destination_id
            if (cal.check_conflicts, cal.is_destination) != (check, dest):
                IntegrationCalendar.update(check_conflicts=check, is_destination=dest).where(
                    IntegrationCalendar.id == cal.id).execute()



# --- busy time: windows and the cache ------------------------------------------------------------------------
def windows(start: datetime, end: datetime) -> list[datetime]:
    """Starts of the fixed windows that cover [start, end)."""
    first = EPOCH + WINDOW * ((start - EPOCH) // WINDOW)
    out = []
    while first < end:
        out.append(first)
        first += WINDOW
    return out


def prune_busy_cache(now: datetime | None = None) -> int:
    """Delete cached windows that ended more than a day ago (no page asks for past times); returns how many."""
    cutoff = (now or datetime.now(UTC)) - WINDOW - timedelta(days=1)
    return CalendarBusyCache.delete().where(CalendarBusyCache.window_start < cutoff).execute()


_memory: dict[str, tuple] = {}   # cache row id -> (fetched_at, intervals, their starts, longest length)
_memory_lock = threading.Lock()
_inflight: dict[tuple[str, datetime], threading.Thread] = {}
_inflight_lock = threading.Lock()
_enqueued: dict[tuple[str, datetime], float] = {}
_fresh: ContextVar[dict[str, list[Interval]] | None] = ContextVar("linktime_fresh_busy", default=None)


def _parsed(row_id: str, fetched_at: datetime, raw_loader) -> tuple[list[Interval], list[int], int]:
    hit = _memory.get(row_id)
    if hit is not None and hit[0] == fetched_at:
        return hit[1], hit[2], hit[3]
    intervals = [(int(i[0]), int(i[1])) for i in json.loads(raw_loader())]
    starts = [i[0] for i in intervals]
    longest = max((e - s for s, e in intervals), default=0)
    with _memory_lock:
        if len(_memory) > 5000:
            _memory.clear()
        _memory[row_id] = (fetched_at, intervals, starts, longest)
    return intervals, starts, longest


def _own_uids(user_id: str):
    """The host's LinkTime bookings among candidate event UIDs: they are busy (or free) through the bookings."""
    def check(candidates: set[str]) -> set[str]:
        ids = [uid[: -len(LINKTIME_UID_SUFFIX)] for uid in candidates]
        found = set()
        for i in range(0, len(ids), 500):
            found.update(b.id for b in Booking.select(Booking.id).where(
                (Booking.user == user_id) & Booking.id.in_(ids[i:i + 500])).namedtuples())
        return {f"{booking_id}{LINKTIME_UID_SUFFIX}" for booking_id in found}
    return check


def _host_tz(user_id: str):
    user = User.get_by_id(user_id)
    return zone(user.timezone)


def fetch_windows(integration: Integration, calendars: list[IntegrationCalendar], starts: list[datetime]) -> None:
    """Read busy times of ``calendars`` (one connection) for the windows ``starts`` and store them."""
    if not calendars or not starts:
        return
    lo, hi = min(starts), max(starts) + WINDOW
    tz = _host_tz(integration.user_id)
    results: dict[str, list[Interval]] = {}
    errors: dict[str, str] = {}
    partial: list[str] = []     # names of calendars with more events than are read (ical.Budget)
    try:
        if integration.provider == "ics":
            feed = ics_feed.fetch(feed_url(integration), timeout=float(cfg("CALENDAR_TIMEOUT")),
                                  allow_private=bool(cfg("CALENDAR_ALLOW_PRIVATE")),
                                  max_bytes=int(cfg("CALENDAR_FEED_MAX_BYTES")))
            budget = Budget(windows=len(starts))
            busy = ics_feed.busy(feed, lo, hi, tz, _own_uids(integration.user_id), budget)
            results = {cal.id: busy for cal in calendars}
            if budget.partial:
                partial.append(integration.label)
        elif integration.provider == "caldav":
            client = caldav_client(integration)
            for cal in calendars:
                try:
                    budget = Budget(windows=len(starts))
                    results[cal.id] = client.busy(cal.remote_id, lo, hi, tz, _own_uids(integration.user_id), budget)
                    if budget.partial:
                        partial.append(cal.name)
                except CalendarError as exc:
                    if isinstance(exc, AuthError):
                        raise
                    errors[cal.id] = str(exc)
        elif integration.provider in OAUTH_PROVIDERS:
            results = _oauth_busy(integration, {cal.id: cal.remote_id for cal in calendars}, lo, hi, errors)
        else:
            return
    except CalendarError as exc:
        errors = {cal.id: str(exc) for cal in calendars}
    except GrantRevoked:
        return      # the connection is gone (revoke_oauth deleted its calendars and told the user)
    except IntegrationError as exc:
        errors = {cal.id: f"{service_name(integration)}: {exc.message}" for cal in calendars}
    now = utcnow()
    for cal in calendars:
        for window in starts:
            if cal.id in results:
                w_lo, w_hi = int(window.timestamp()), int((window + WINDOW).timestamp())
                part = [i for i in results[cal.id] if i[0] < w_hi and i[1] > w_lo]
                _store(cal.id, window, {"intervals": json.dumps(part, separators=(",", ":")), "fetched_at": now,
                                        "error": None, "error_at": None})
            else:
                _store(cal.id, window, {"error": errors.get(cal.id, "not read")[:2000], "error_at": now})
    bump_pages_version(integration.user_id)  # the public pages' slots (and their "could not read" note) changed
    if errors:
        first = next(iter(errors.values()))
        record_error(integration.id, first)
        log.info("calendar %s (%s) could not be read: %s", integration.id, integration.provider, first)
    elif partial:
        message = partial_message(partial)
        record_error(integration.id, message)
        log.info("calendar %s (%s) was read in part: %s", integration.id, integration.provider, message)
    else:
        record_ok(integration.id)


def partial_message(names: list[str]) -> str:
    """What the host is told about calendars whose events were not all read (see ``ical.Budget``)."""
    which = ", ".join(f"“{name}”" for name in names)
    return (f"Only part of {which} is checked for conflicts: it has more events than LinkTime reads "
            f"(over {MAX_OCCURRENCES:,} in four weeks) or a repeating event too costly to work out.")


def _store(calendar_id: str, window: datetime, values: dict) -> None:
    row = {"calendar": calendar_id, "window_start": window, "intervals": values.get("intervals", "[]"), **values}
    update = {getattr(CalendarBusyCache, k): v for k, v in values.items()}
    try:
        (CalendarBusyCache.insert(id=_new_id(), **row)
         .on_conflict(conflict_target=[CalendarBusyCache.calendar, CalendarBusyCache.window_start], update=update)
         .execute())
    except Exception:  # the calendar was disconnected meanwhile (foreign key), or the database is busy
        log.info("busy cache of calendar %s not stored", calendar_id, exc_info=True)


def _new_id() -> str:
    from app.ids import new_id
    return new_id()


def refresh_integration(integration_id: str, window_isos: list[str]) -> None:
    """Task body: refresh the given windows of every conflict-checked calendar of one connection."""
    integration = Integration.get_or_none(Integration.id == integration_id)
    if integration is None:
        return
    calendars = list(IntegrationCalendar.select().where((IntegrationCalendar.integration == integration)
                                                        & IntegrationCalendar.check_conflicts))
    fetch_windows(integration, calendars, [datetime.fromisoformat(w) for w in window_isos])


def _fetch_in_thread(app, integration_id: str, starts: list[datetime]) -> None:
    try:
        with app.app_context(), db.connection_context():
            refresh_integration(integration_id, [w.isoformat() for w in starts])
    except Exception:
        log.exception("reading busy times of integration %s failed", integration_id)
    finally:
        with _inflight_lock:
            for w in starts:
                if _inflight.get((integration_id, w)) is threading.current_thread():
                    del _inflight[(integration_id, w)]


def _start_fetches(wanted: dict[str, list[datetime]]) -> list[threading.Thread]:
    """One background thread per connection (unless that window is being read already)."""
    app = current_app._get_current_object()
    threads = []
    with _inflight_lock:
        for integration_id, starts in wanted.items():
            running = {_inflight[(integration_id, w)] for w in starts if (integration_id, w) in _inflight}
            todo = [w for w in starts if (integration_id, w) not in _inflight]
            threads.extend(running)
            if todo:
                thread = threading.Thread(target=_fetch_in_thread, args=(app, integration_id, todo), daemon=True,
                                          name=f"busy-{integration_id}")
                for w in todo:
                    _inflight[(integration_id, w)] = thread
                threads.append(thread)
                thread.start()
    return threads


def _wait(threads: list[threading.Thread], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def wait_for_background(seconds: float = 30) -> None:
    """Let running busy-time reads finish (tests; graceful shutdown)."""
    with _inflight_lock:
        threads = set(_inflight.values())
    _wait(list(threads), seconds)


def _enqueue_refresh(integration_id: str, starts: list[datetime]) -> None:
    now = time.monotonic()
    due = [w for w in starts if now - _enqueued.get((integration_id, w), -1e9) > ENQUEUE_THROTTLE]
    if not due:
        return
    for w in due:
        _enqueued[(integration_id, w)] = now
    try:
        queue.enqueue("refresh_calendar_busy", integration_id, [w.isoformat() for w in due])
    except Exception:
        log.exception("could not queue the busy-time refresh of integration %s", integration_id)


_CHECKED = Statement(lambda: IntegrationCalendar.select(IntegrationCalendar.id, IntegrationCalendar.integration,
                                                         IntegrationCalendar.name)
                     .where((IntegrationCalendar.user == Param("user")) & IntegrationCalendar.check_conflicts)
                     .namedtuples())
# the host's checked calendars as read when a booking began (fresh_busy), so its conflict check reads them once
_checked_now: ContextVar[tuple[str, list] | None] = ContextVar("linktime_checked_calendars", default=None)


def _checked_calendars(user_id: str) -> list:
    known = _checked_now.get()
    if known is not None and known[0] == user_id:
        return known[1]
    return _CHECKED.rows(user=user_id)


def _cache_rows(calendar_ids: list[str], starts: list[datetime]) -> dict[tuple[str, datetime], object]:
    rows = (CalendarBusyCache.select(CalendarBusyCache.id, CalendarBusyCache.calendar, CalendarBusyCache.window_start,
                                     CalendarBusyCache.fetched_at, CalendarBusyCache.error)
            .where(CalendarBusyCache.calendar.in_(calendar_ids) & CalendarBusyCache.window_start.in_(starts)))
    return {(r.calendar, r.window_start): r for r in rows.namedtuples()}


def _load_intervals(row) -> tuple[list[Interval], list[int], int]:
    return _parsed(row.id, row.fetched_at,
                   lambda: CalendarBusyCache.select(CalendarBusyCache.intervals)
                   .where(CalendarBusyCache.id == row.id).scalar() or "[]")


@busy_source
def _calendar_busy(event_type: EventType, start: datetime, end: datetime, _exclude_booking_id: str | None):
    calendars = _checked_calendars(event_type.user_id)
    if not calendars:
        return []
    start, end = start - MARGIN, end + MARGIN    # the engine keeps buffers clear of busy time
    starts = windows(start, end)
    ids = [c.id for c in calendars]
    rows = _cache_rows(ids, starts)
    fresh = _fresh.get()
    if fresh is None:
        ttl = timedelta(seconds=int(cfg("CALENDAR_BUSY_TTL")))
        now = utcnow()
        cold: dict[str, list[datetime]] = {}
        stale: dict[str, list[datetime]] = {}
        for cal in calendars:
            for w in starts:
                row = rows.get((cal.id, w))
                if row is None:     # never tried: worth a short wait
                    cold.setdefault(cal.integration, []).append(w)
                elif row.fetched_at is None or row.error or now - row.fetched_at > ttl:
                    # failed before (the provider may be down: do not make every page wait) or old
                    stale.setdefault(cal.integration, []).append(w)
        if cold:
            _wait(_start_fetches({k: sorted(set(v)) for k, v in cold.items()}), float(cfg("CALENDAR_BUSY_WAIT")))
            rows = _cache_rows(ids, starts)
        for integration_id, ws in stale.items():
            if integration_id not in cold:
                _enqueue_refresh(integration_id, sorted(set(ws)))
    lo, hi = int(start.timestamp()), int(end.timestamp())
    busy: list[tuple[datetime, datetime]] = []
    for cal in calendars:
        if fresh is not None and cal.id in fresh:
            chosen = [i for i in fresh[cal.id] if i[0] < hi and i[1] > lo]
        else:
            chosen = []
            for w in starts:
                row = rows.get((cal.id, w))
                if row is None or row.fetched_at is None:
                    continue
                intervals, begins, longest = _load_intervals(row)
                first = bisect.bisect_left(begins, lo - longest)    # sorted by start; none is longer than longest
                stop = bisect.bisect_left(begins, hi)
                chosen.extend(i for i in intervals[first:stop] if i[1] > lo)
        busy.extend((datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in chosen)
    return busy


@busy_refresher
@contextmanager
def fresh_busy(event_type: EventType, start: datetime, end: datetime) -> Iterator[None]:
    """While booking: read [start, end) fresh from every checked calendar (bounded wait) and use that."""
    calendars = _checked_calendars(event_type.user_id)
    token = _checked_now.set((event_type.user_id, calendars))
    try:
        if not calendars:
            yield
        else:
            with _read_fresh(event_type, calendars, start, end):
                yield
    finally:
        _checked_now.reset(token)


@contextmanager
def _read_fresh(event_type: EventType, calendars: list, start: datetime, end: datetime) -> Iterator[None]:
    fresh: dict[str, list[Interval]] = {}
    lock = threading.Lock()
    app = current_app._get_current_object()
    tz = _host_tz(event_type.user_id)
    by_integration: dict[str, list[str]] = {}
    for cal in calendars:
        by_integration.setdefault(cal.integration, []).append(cal.id)

    def read(integration_id: str, calendar_ids: list[str]) -> None:
        try:
            with app.app_context(), db.connection_context():
                integration = Integration.get_or_none(Integration.id == integration_id)
                if integration is None:
                    return
                lo, hi = start - timedelta(days=1), end + timedelta(days=1)
                if integration.provider == "ics":
                    feed = ics_feed.fetch(feed_url(integration), timeout=float(cfg("CALENDAR_TIMEOUT")),
                                          allow_private=bool(cfg("CALENDAR_ALLOW_PRIVATE")),
                                          max_bytes=int(cfg("CALENDAR_FEED_MAX_BYTES")))
                    busy = ics_feed.busy(feed, lo, hi, tz, _own_uids(integration.user_id))
                    found = dict.fromkeys(calendar_ids, busy)
                elif integration.provider in OAUTH_PROVIDERS:
                    remote = {c.id: c.remote_id for c in IntegrationCalendar.select().where(
                        IntegrationCalendar.id.in_(calendar_ids))}
                    found = _oauth_busy(integration, remote, lo, hi, {})
                else:
                    client = caldav_client(integration)
                    remote = {c.id: c.remote_id for c in IntegrationCalendar.select().where(
                        IntegrationCalendar.id.in_(calendar_ids))}
                    own = _own_uids(integration.user_id)
                    found = {cid: client.busy(remote[cid], lo, hi, tz, own) for cid in calendar_ids if cid in remote}
                with lock:
                    fresh.update(found)
        except IntegrationError as exc:
            log.info("fresh busy times of integration %s not read: %s", integration_id, exc)
        except Exception:
            log.exception("fresh busy times of integration %s failed", integration_id)

    threads = [threading.Thread(target=read, args=item, daemon=True) for item in by_integration.items()]
    for thread in threads:
        thread.start()
    _wait(threads, float(cfg("CALENDAR_BOOKING_WAIT")))
    with lock:
        snapshot = dict(fresh)
    token = _fresh.set(snapshot)
    try:
        yield
    finally:
        _fresh.reset(token)
        try:
            _catch_up(snapshot, {cal.id: cal.integration for cal in calendars}, start - timedelta(days=1),
                      end + timedelta(days=1))
        except Exception:
            log.exception("could not compare fresh busy times with the cache")


def _catch_up(fresh: dict[str, list[Interval]], integration_of: dict[str, str], lo: datetime, hi: datetime) -> None:
    """A booking-time read that differs from the cache (an event added or removed since the last refresh) has the
    cached windows refreshed now, so the booking page catches up without waiting for CALENDAR_BUSY_TTL."""
    if not fresh:
        return
    starts = windows(lo, hi)
    rows = _cache_rows(list(fresh), starts)
    a, b = int(lo.timestamp()), int(hi.timestamp())

    def clipped(intervals) -> set[Interval]:
        return {(max(s, a), min(e, b)) for s, e in intervals if s < b and e > a}

    stale: set[str] = set()
    for cal_id, intervals in fresh.items():
        cached_rows = [rows.get((cal_id, w)) for w in starts]
        if any(r is None or r.fetched_at is None for r in cached_rows):
            continue            # never read: the page reads it anyway
        cached = [i for r in cached_rows for i in _load_intervals(r)[0]]
        if clipped(intervals) != clipped(cached):
            stale.add(integration_of[cal_id])
    for integration_id in stale:
        _enqueue_refresh(integration_id, starts)


def unreadable(user_id: str, start: datetime, end: datetime) -> list[str]:
    """Names of checked calendars whose busy times for [start, end) could not be read (for the booking page)."""
    calendars = _checked_calendars(user_id)
    if not calendars:
        return []
    starts = windows(start, end)
    rows = _cache_rows([c.id for c in calendars], starts)
    names = []
    for cal in calendars:
        for w in starts:
            row = rows.get((cal.id, w))
            if row is None or row.fetched_at is None or row.error:
                names.append(cal.name)
                break
    return names


def cache_state(user: User) -> dict[str, object]:
    """calendar id -> its most recent cache row (for the integrations page)."""
    out: dict[str, object] = {}
    rows = (CalendarBusyCache.select(CalendarBusyCache.calendar, CalendarBusyCache.fetched_at, CalendarBusyCache.error,
                                     CalendarBusyCache.error_at)
            .join(IntegrationCalendar).where(IntegrationCalendar.user == user)
            .order_by(CalendarBusyCache.window_start).namedtuples())
    for row in rows:
        out[row.calendar] = row
    return out
