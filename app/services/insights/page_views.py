"""Recording views of the public booking pages (spec page 22), and keeping the rollups.

A view is classified in the request (bots dropped, referrer reduced to its domain, visitor id hashed) and
appended to an in-process buffer: a few microseconds, no database work in the request. A background thread
writes the buffer in batches (every ``FLUSH_INTERVAL`` seconds, sooner when ``BATCH_SIZE`` views are
waiting), an ``atexit`` hook writes what is left on a normal shutdown, and a periodic queue task flushes
too. A crash (or ``kill -9``) loses at most the views of the last interval, about a second.

A flush inserts the raw ``PageView`` rows and, in the same transaction, adds to the daily rollups: views per
host/day/page, unique visitors per host/day/page (a visitor counts once: the insert into ``PageVisitor``
returns only ids not seen before, so concurrent flushes from several processes stay exact), and arrivals
per referrer.

No cookie: the visitor id is an HMAC of the host, the client address and the user agent, keyed with a salt
derived from SECRET_KEY and the UTC date. It changes every day, so a visitor counts once per day and page;
over a range, unique visitors are the sum of each day's (the same person on two days counts twice, by
design: ids cannot be linked across days).

A routing form's page (``/<username>/route/<slug>``) is a page of its host like the booking pages: its views count
in the host's totals and, per page, under the key ``form_page(form id)`` ("form:<id>"; not an event type id).
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import os
import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import peewee

from app.db import db
from app.models import User
from app.models.analytics import (
    ALL_PAGES,
    PageView,
    PageViewDaily,
    PageViewReferrer,
    PageVisitor,
)

log = logging.getLogger("linktime.analytics")

DIRECT = "Direct"
KEEP_DAYS = 2 * 365 + 2        # a year and the year before it (the 1-year preset's previous period)
BATCH_SIZE = 500
FLUSH_INTERVAL = 1.0           # seconds between background flushes
MAX_BUFFER = 200_000           # views kept in memory while the database is unreachable; newer ones are dropped

HOST_RE = re.compile(r"[a-z0-9._\-\[\]:]{1,253}")   # what a URL's host can be (IDNs arrive as punycode)

# Crawlers, link-preview fetchers, monitors, HTTP libraries and headless browsers.
BOT_PATTERN = re.compile(
    r"(?<!cu)bot\b|bot/|bots|crawl|spider|slurp|archiver|scrape|fetch|preview|monitor|uptime|pingdom|"
    r"headless|phantomjs|selenium|puppeteer|playwright|lighthouse|pagespeed|gtmetrix|"
    r"curl/|wget/|httpie|werkzeug/|python-|python/|aiohttp|httpx|go-http-client|java/|okhttp|libwww|lwp::|"
    r"node-fetch|axios/|undici|ruby|php/|perl|postman|insomnia|apache-httpclient|"
    r"facebookexternalhit|facebookcatalog|embedly|quora link|outbrain|vkshare|w3c_validator|"
    r"whatsapp|telegram|discord|slack|skypeuripreview|bitlybot|tumblr|mastodon|"
    r"google-inspectiontool|googleother|feedfetcher|mediapartners|adsbot|chrome-lighthouse",
    re.IGNORECASE)


FORM_PAGE = "form:"            # the page key of a routing form's views: "form:<form id>" (issue 18)


def form_page(form_id: str) -> str:
    """The page key under which a routing form's views are kept (in ``PageView.event_type_id`` and the rollups'
    ``page``): it never equals an event type id, so the event pages' numbers are not touched."""
    return FORM_PAGE + form_id


# --- classification (in the request) -----------------------------------------------------------------------
def is_bot(user_agent: str | None) -> bool:
    """Obvious automated clients: no user agent, or one naming a crawler, fetcher, library or headless browser."""
    ua = (user_agent or "").strip()
    return len(ua) < 10 or BOT_PATTERN.search(ua) is not None


@lru_cache(maxsize=8)
def _daily_salt(secret_key: str, day: date) -> bytes:
    return hmac.new(secret_key.encode(), f"linktime-page-views:{day.isoformat()}".encode(), hashlib.sha256).digest()


def visitor_id(secret_key: str, day: date, host_id: str, ip: str | None, user_agent: str | None) -> str:
    """The anonymous visitor id: 16 hex digits of an HMAC keyed by the day's salt. Rotates at UTC midnight;
    includes the host, so one person's ids on two hosts' pages cannot be linked either."""
    message = f"{host_id}\n{ip or ''}\n{user_agent or ''}".encode()
    return hmac.new(_daily_salt(secret_key, day), message, hashlib.sha256).hexdigest()[:16]


def referrer_label(referrer: str | None, own_hosts: frozenset[str] | set[str] = frozenset()) -> str | None:
    """The referring site's domain (``www.`` dropped), ``"Direct"`` without a usable referrer, or None for a
    move between the host's own pages (not a new arrival, so not counted as a referrer)."""
    value = (referrer or "").strip()
    if not value:
        return DIRECT
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return DIRECT
    if not HOST_RE.fullmatch(host):
        return DIRECT
    if parts.scheme == "android-app" and host:       # Android apps send android-app://com.example.app/
        return host[:255]
    if parts.scheme not in ("http", "https") or not host:
        return DIRECT
    if host in own_hosts:
        return None
    host = host.removeprefix("www.")
    return host[:255] or DIRECT


@dataclass(slots=True)
class View:
    user_id: str
    event_type_id: str | None
    viewed_at: datetime
    visitor: str
    referrer: str | None
    embed: bool

    @property
    def day(self) -> date:
        return self.viewed_at.date()


def make_view(*, secret_key: str, host_id: str, event_type_id: str | None, ip: str | None,
              user_agent: str | None, referrer: str | None, embed: bool, own_hosts: frozenset[str] | set[str],
              now: datetime | None = None) -> View | None:
    """A classified view, or None for a bot."""
    if is_bot(user_agent):
        return None
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return View(user_id=host_id, event_type_id=event_type_id, viewed_at=now,
                visitor=visitor_id(secret_key, now.date(), host_id, ip, user_agent),
                referrer=referrer_label(referrer, own_hosts), embed=embed)


# --- writing ---------------------------------------------------------------------------------------------
def _pages(view: View) -> tuple[str, ...]:
    return (ALL_PAGES, view.event_type_id) if view.event_type_id else (ALL_PAGES,)


def _chunks(rows: list, size: int):
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def write_views(views: list[View]) -> None:
    """Store ``views`` and add them to the rollups, in one transaction."""
    if not views:
        return
    with db.atomic():
        # A host deleted since the view was recorded: its views go with it (as its stored ones did).
        hosts = {v.user_id for v in views}
        live = {uid for (uid,) in User.select(User.id).where(User.id.in_(list(hosts))).tuples()}
        if live != hosts:
            views = [v for v in views if v.user_id in live]
            if not views:
                return
        for chunk in _chunks(views, 1000):
            PageView.insert_many([
                {"user": v.user_id, "event_type_id": v.event_type_id, "viewed_at": v.viewed_at, "day": v.day,
                 "visitor": v.visitor, "referrer": v.referrer, "embed": v.embed} for v in chunk]).execute()
        counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])   # (user, page, embed, day) -> views, visitors
        referrers: dict[tuple, int] = defaultdict(int)                  # (user, embed, day, referrer) -> views
        visitors = set()
        for v in views:
            for page in _pages(v):
                counts[(v.user_id, page, v.embed, v.day)][0] += 1
                visitors.add((v.user_id, v.day, page, v.embed, v.visitor))
            if v.referrer is not None:
                referrers[(v.user_id, v.embed, v.day, v.referrer)] += 1
        # Only ids not seen before come back: those are the new unique visitors.
        for chunk in _chunks(sorted(visitors), 500):
            inserted = (PageVisitor.insert_many([{"user": u, "day": d, "page": p, "embed": e, "visitor": x}
                                                 for u, d, p, e, x in chunk])
                        .on_conflict_ignore()
                        .returning(PageVisitor.user, PageVisitor.page, PageVisitor.embed, PageVisitor.day)
                        .tuples().execute())
            for user_id, page, embed, day in inserted:
                counts[(user_id, page, bool(embed), as_date(day))][1] += 1
        daily = [{"user": u, "page": p, "embed": e, "day": d, "views": n, "visitors": m}
                 for (u, p, e, d), (n, m) in sorted(counts.items())]
        for chunk in _chunks(daily, 500):
            (PageViewDaily.insert_many(chunk)
             .on_conflict(conflict_target=[PageViewDaily.user, PageViewDaily.page, PageViewDaily.embed,
                                           PageViewDaily.day],
                          update={PageViewDaily.views: PageViewDaily.views + peewee.EXCLUDED.views,
                                  PageViewDaily.visitors: PageViewDaily.visitors + peewee.EXCLUDED.visitors})
             .execute())
        refs = [{"user": u, "embed": e, "day": d, "referrer": r, "views": n}
                for (u, e, d, r), n in sorted(referrers.items())]
        for chunk in _chunks(refs, 500):
            (PageViewReferrer.insert_many(chunk)
             .on_conflict(conflict_target=[PageViewReferrer.user, PageViewReferrer.embed, PageViewReferrer.day,
                                           PageViewReferrer.referrer],
                          update={PageViewReferrer.views: PageViewReferrer.views + peewee.EXCLUDED.views})
             .execute())


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class Recorder:
    """The in-process buffer of views and the thread that writes it."""

    def __init__(self, batch_size: int = BATCH_SIZE, interval: float = FLUSH_INTERVAL,
                 max_buffer: int = MAX_BUFFER) -> None:
        self.batch_size = batch_size
        self.interval = interval
        self.max_buffer = max_buffer
        self.dropped = 0
        self._buffer: deque[View] = deque()
        self._write_lock = threading.Lock()     # one writer at a time; flush() waits for a running write
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._closed = False

    def add(self, view: View) -> None:
        if len(self._buffer) >= self.max_buffer:
            self.dropped += 1
            return
        self._buffer.append(view)
        if not self._closed:
            self._ensure_thread()
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Write every buffered view now; returns how many were written. Safe from any thread."""
        written = 0
        with self._write_lock:
            while self._buffer:
                batch = []
                while self._buffer and len(batch) < self.batch_size:
                    batch.append(self._buffer.popleft())
                try:
                    self._write(batch)
                except (peewee.OperationalError, peewee.InterfaceError):
                    self._buffer.extendleft(reversed(batch))   # the database is away: keep them for later
                    raise
                except Exception:
                    # Anything else is not a passing outage, and retrying would block every later view. It
                    # should not happen (hosts are checked in the batch's transaction, values are clean):
                    # drop this batch, keep the rest.
                    log.exception("dropped %d page view(s) the database refused", len(batch))
                    self.dropped += len(batch)
                    continue
                written += len(batch)
        return written

    def _write(self, batch: list[View]) -> None:
        opened = db.is_closed()
        if opened:
            db.connect()
        try:
            write_views(batch)
        finally:
            if opened:
                db.close()

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        with self._start_lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()     # after a fork the parent's thread is gone: start our own
            self._thread = threading.Thread(target=self._run, name="page-view-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._closed:
                break
            if not self._buffer:
                continue
            try:
                self.flush()
            except Exception:   # the database may be away for a moment: keep the views, try again later
                log.exception("could not write %d page view(s); will retry", len(self._buffer))
                self._wake.wait(min(30.0, self.interval * 10))

    def close(self) -> None:
        """Stop the background thread (what is buffered stays until ``flush``)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def flush_at_exit(self) -> None:
        try:
            written = self.flush()
            if written:
                log.info("wrote %d buffered page view(s) at shutdown", written)
        except Exception:
            log.exception("could not write %d buffered page view(s) at shutdown", len(self._buffer))


recorder = Recorder()
atexit.register(recorder.flush_at_exit)


def record(view: View | None) -> None:
    if view is not None:
        recorder.add(view)


def flush() -> int:
    return recorder.flush()


def purge(today: date | None = None) -> dict[str, int]:
    """Drop visitor sets of finished days (their counts live in the rollups) and everything older than
    ``KEEP_DAYS``."""
    today = today or datetime.now(UTC).date()
    cutoff = today - timedelta(days=KEEP_DAYS)
    with db.atomic():
        return {
            "visitors": PageVisitor.delete().where(PageVisitor.day < today - timedelta(days=1)).execute(),
            "views": PageView.delete().where(PageView.day < cutoff).execute(),
            "daily": PageViewDaily.delete().where(PageViewDaily.day < cutoff).execute(),
            "referrers": PageViewReferrer.delete().where(PageViewReferrer.day < cutoff).execute(),
        }


def rebuild_rollups(user_id: str | None = None) -> None:
    """Recompute the daily and referrer rollups from the raw views (after an import, or to check them)."""
    def mine(model):
        return (model.user == user_id) if user_id else peewee.SQL("1 = 1")

    where = mine(PageView)
    with db.atomic():
        for model in (PageViewDaily, PageViewReferrer):
            model.delete().where(mine(model)).execute()
        everything = (PageView.select(PageView.user, peewee.Value(ALL_PAGES).alias("page"), PageView.embed,
                                      PageView.day, peewee.fn.COUNT(PageView.id),
                                      peewee.fn.COUNT(PageView.visitor.distinct()))
                      .where(where).group_by(PageView.user, PageView.embed, PageView.day))
        PageViewDaily.insert_from(everything, [PageViewDaily.user, PageViewDaily.page, PageViewDaily.embed,
                                               PageViewDaily.day, PageViewDaily.views,
                                               PageViewDaily.visitors]).execute()
        per_page = (PageView.select(PageView.user, PageView.event_type_id, PageView.embed, PageView.day,
                                    peewee.fn.COUNT(PageView.id), peewee.fn.COUNT(PageView.visitor.distinct()))
                    .where(where & PageView.event_type_id.is_null(False))
                    .group_by(PageView.user, PageView.event_type_id, PageView.embed, PageView.day))
        PageViewDaily.insert_from(per_page, [PageViewDaily.user, PageViewDaily.page, PageViewDaily.embed,
                                             PageViewDaily.day, PageViewDaily.views,
                                             PageViewDaily.visitors]).execute()
        refs = (PageView.select(PageView.user, PageView.embed, PageView.day, PageView.referrer,
                                peewee.fn.COUNT(PageView.id))
                .where(where & PageView.referrer.is_null(False))
                .group_by(PageView.user, PageView.embed, PageView.day, PageView.referrer))
        PageViewReferrer.insert_from(refs, [PageViewReferrer.user, PageViewReferrer.embed, PageViewReferrer.day,
                                            PageViewReferrer.referrer, PageViewReferrer.views]).execute()
