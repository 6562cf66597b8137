"""Connected calendars: connect CalDAV / iCloud accounts and ICS feeds, choose the calendars checked for
conflicts and the one that receives bookings, and busy time from every connected calendar.

Google Calendar and Outlook Calendar connect through ``app.services.integrations.oauth_connections``; what all
connections share (credentials, status, disconnecting) is in ``app.services.integrations.connections``. What
differs by provider (connecting a CalDAV account or a feed, reading busy time) is in its adapter,
``app.services.integrations.calendar_providers``.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from flask import current_app

from app import queue
from app.db import db, transaction
from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.ical import MAX_OCCURRENCES, Interval
from app.models import (
    CalendarBusyCache,
    EventType,
    Integration,
    IntegrationCalendar,
    User,
)
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services.errors import ValidationFailed
from app.services.integrations.calendar_providers import provider_of
from app.services.integrations.calendar_providers.base import host_tz
from app.services.integrations.calendar_providers.caldav import connect_caldav  # noqa: F401 (connecting is the adapter's)
from app.services.integrations.calendar_providers.ics import connect_ics  # noqa: F401
from app.services.integrations.connections import cfg, lock_user, record_error, record_ok
from app.services.scheduling.slots import busy_labeler, busy_refresher, busy_source
from app.statements import Param, Statement

log = logging.getLogger(__name__)

WINDOW = timedelta(days=28)
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)       # a Monday: windows start on Mondays 00:00 UTC
MARGIN = timedelta(minutes=240)               # the longest buffer an event type can have
ENQUEUE_THROTTLE = 60                          # seconds between queued refreshes of one window

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


def fetch_windows(integration: Integration, calendars: list[IntegrationCalendar], starts: list[datetime]) -> None:
    """Read busy times of ``calendars`` (one connection) for the windows ``starts`` and store them."""
    provider = provider_of(integration)
    if not calendars or not starts or provider is None:
        return
    lo, hi = min(starts), max(starts) + WINDOW
    results: dict[str, list[Interval]] = {}
    partial: list[str] = []     # names of calendars with more events than are read (ical.Budget)
    try:
        read = provider.read_busy(integration, calendars, lo, hi, host_tz(integration.user_id), windows=len(starts))
        results, errors, partial = read.intervals, read.errors, read.partial
    except GrantRevoked:
        return      # the connection is gone (revoke_oauth deleted its calendars and told the user)
    except IntegrationError as exc:
        errors = {cal.id: provider.failure_text(integration, exc) for cal in calendars}
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
                                                         IntegrationCalendar.name, IntegrationCalendar.user)
                     .where((IntegrationCalendar.user == Param("user")) & IntegrationCalendar.check_conflicts)
                     .namedtuples())
# the hosts' checked calendars as read when a booking began (fresh_busy), so its conflict check reads them once
_checked_now: ContextVar[dict[str, list] | None] = ContextVar("linktime_checked_calendars", default=None)


def _checked_calendars(user_id: str) -> list:
    return _checked_of([user_id])


def _checked_of(user_ids: Sequence[str]) -> list:
    """The checked calendars of these hosts (one query for several)."""
    known = _checked_now.get()
    if known is not None and all(user in known for user in user_ids):
        return [cal for user in user_ids for cal in known[user]]
    if len(user_ids) == 1:
        return _CHECKED.rows(user=user_ids[0])
    return list(IntegrationCalendar.select(IntegrationCalendar.id, IntegrationCalendar.integration,
                                           IntegrationCalendar.name, IntegrationCalendar.user)
                .where(IntegrationCalendar.user.in_(list(user_ids)) & IntegrationCalendar.check_conflicts)
                .namedtuples())


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
def _calendar_busy(_event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime,
                   _exclude_booking_id: str | None) -> dict[str, list[tuple[datetime, datetime]]]:
    calendars = _checked_of(hosts)
    busy: dict[str, list[tuple[datetime, datetime]]] = {host: [] for host in hosts}
    if not calendars:
        return busy
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
        busy[cal.user].extend((datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in chosen)
    return busy


@busy_refresher
@contextmanager
def fresh_busy(_event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime) -> Iterator[None]:
    """While booking: read [start, end) fresh from every checked calendar of the hosts (one bounded wait for all of
    them, read in parallel) and use that."""
    calendars = _checked_of(hosts)
    by_host: dict[str, list] = {host: [] for host in hosts}
    for cal in calendars:
        by_host[cal.user].append(cal)
    token = _checked_now.set(by_host)
    try:
        if not calendars:
            yield
        else:
            with _read_fresh(calendars, start, end):
                yield
    finally:
        _checked_now.reset(token)


@contextmanager
def _read_fresh(calendars: list, start: datetime, end: datetime) -> Iterator[None]:
    fresh: dict[str, list[Interval]] = {}
    lock = threading.Lock()
    app = current_app._get_current_object()
    by_integration: dict[str, list[str]] = {}
    for cal in calendars:
        by_integration.setdefault(cal.integration, []).append(cal.id)

    def read(integration_id: str, calendar_ids: list[str]) -> None:
        try:
            with app.app_context(), db.connection_context():
                integration = Integration.get_or_none(Integration.id == integration_id)
                if integration is None:
                    return
                provider = provider_of(integration)
                if provider is None:
                    return
                rows = IntegrationCalendar.select().where(IntegrationCalendar.id.in_(calendar_ids))
                found = provider.read_busy(integration, list(rows), start - timedelta(days=1),
                                           end + timedelta(days=1), host_tz(integration.user_id)).intervals
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


@busy_labeler
def calendar_busy_labels(host: str, start: datetime, end: datetime) -> dict[tuple[int, int], list[str]]:
    """Epoch intervals -> names of the host's checked calendars whose cached busy time holds them, for the
    availability troubleshooter (what the busy source read just before; nothing is fetched here)."""
    checked = _checked_of([host])
    if not checked:
        return {}
    lo, hi = start - MARGIN, end + MARGIN
    starts = windows(lo, hi)
    rows = _cache_rows([c.id for c in checked], starts)
    out: dict[tuple[int, int], list[str]] = {}
    for calendar in checked:
        for w in starts:
            row = rows.get((calendar.id, w))
            if row is None or row.fetched_at is None:
                continue
            for a, b in _load_intervals(row)[0]:
                names = out.setdefault((a, b), [])
                if calendar.name not in names:
                    names.append(calendar.name)
    return out
