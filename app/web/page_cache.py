"""A per-process cache of rendered public pages (profile, booking page, month and day partials).

Only requests without a signed-in user and without pending flash messages are served from it or stored in it,
and only 200 answers are stored. The key holds the host's ``pages_version`` (read with the host on every
request), which every change to the host's bookings, hours, event types, profile or calendars raises in its own
transaction: after a change no process serves an older copy. Entries also expire after
PUBLIC_PAGE_CACHE_SECONDS, which bounds how far the moving clock (minimum notice, today's slots) can lag.
Security headers are added to a cached answer by the usual after-request hooks, as for a fresh one.

The key holds only the query parameters the page reads (``PARAMS``), each in a canonical form, so a query string
with unknown parameters (``?utm_source=...``, ``?x=1``) shares the entry of the page without them, and spellings
of one value (``date=20261205`` and ``date=2026-12-05``) share one entry. Pages made for one visitor (``name``,
``email`` prefill, the form step's ``time``) are never stored. The cache is bounded in bytes
(PUBLIC_PAGE_CACHE_BYTES; least recently used entries go first), and an entry larger than an eighth of that
budget is not kept at all.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Response, current_app, g, request, session

from app.web.htmx import is_history_restore, is_htmx


@dataclass(frozen=True)
class _Entry:
    body: bytes
    mimetype: str
    expires: float


_lock = threading.Lock()
_entries: OrderedDict[tuple, _Entry] = OrderedDict()
_size = 0                # bytes held by _entries, as counted by _cost()
_ENTRY_OVERHEAD = 512    # bytes of an entry besides its body: key tuple, strings, dataclass, dict slot
_LARGEST_SHARE = 8       # an entry may take at most 1/8 of the byte budget


def _cost(key: tuple, entry: _Entry) -> int:
    return len(entry.body) + _ENTRY_OVERHEAD + sum(len(part) for part in key if isinstance(part, str))


@dataclass(frozen=True)
class Version:
    """Who a public page belongs to and the version of their pages (``pages_version``)."""
    host_id: str
    pages_version: int
    event_type_id: str | None = None


_sql: dict[tuple[int, str], str] = {}


def _statement(kind: str) -> str:
    """The lookup's SQL, built by Peewee once per database and kind: building a query costs ~0.4 ms in
    Python, running this one ~0.02 ms, and it runs on every public request."""
    from app.db import db
    from app.models import EventType, User

    key = (id(db.obj), kind)
    if key not in _sql:
        if kind == "host":
            query = User.select(User.id, User.pages_version).where(
                (User.username == "") & (User.is_disabled == False))
        else:
            query = (EventType.select(User.id, User.pages_version, EventType.id).join(User)
                     .where((User.username == "") & (EventType.slug == "") & (EventType.status == "active")
                            & (User.is_disabled == False) & EventType.personal()))
        _sql[key] = query.sql()[0]
    return _sql[key]


def version_of(username: str, slug: str | None = None) -> Version | None:
    """The enabled host (and, with ``slug``, their active event type) of a public URL, or None."""
    from app.db import db

    if slug is None:
        row = db.execute_sql(_statement("host"), (username.lower(), False)).fetchone()
    else:
        row = db.execute_sql(_statement("event_type"), (username.lower(), slug.lower(), "active", False)).fetchone()
    return Version(*row) if row else None


# --- which query parameters a public page reads -----------------------------------------------------------
# app/web/booking_view.py: view_state() reads tz, hour, duration (booking routes only), embed, hideHeader, name and
# email; the booking page also month, date (and time/fold for the form step); the month partial month; the day
# partial date. Anything else in a query string changes nothing on the page.
_VIEW = ("tz", "hour", "embed", "hideHeader")
PARAMS: dict[str, tuple[str, ...]] = {
    "public.profile": _VIEW,
    "public.booking_page": (*_VIEW, "duration", "month", "date"),
    "public.calendar": (*_VIEW, "duration", "month"),
    "public.slots": (*_VIEW, "duration", "date"),
}
# A page made for one visitor is never shared: prefilled name/email, a routing form's answers (``q_<question>``)
# and its response (``routing``) ride along in every link, and the booking page's form step (time) carries one-time
# tokens.
PERSONAL: dict[str, tuple[str, ...]] = {endpoint: ("name", "email", "routing") for endpoint in PARAMS}
PERSONAL["public.booking_page"] = ("name", "email", "routing", "time")
PREFILL_PREFIX = "q_"
INVALID = "\x00"  # a parameter that is given but unusable (which some pages treat unlike an absent one)
_TRUE = ("true", "1", "yes", "on")


def _canonical(name: str, value: str) -> str | None:
    """``value`` of parameter ``name`` in the one spelling that renders the same page; None = as if absent."""
    from app.services.validation import parse_date, parse_month
    from app.timezones import is_valid_timezone

    if name in ("embed", "hideHeader"):
        return "true" if value.lower() in _TRUE else None
    if value == "":
        return None
    if name == "tz":
        value = value.strip()
        return value if is_valid_timezone(value) else INVALID
    if name == "hour":
        return value if value in ("12", "24") else INVALID
    if name == "duration":
        try:
            minutes = int(value)
        except ValueError:
            return INVALID
        return str(minutes) if 0 < minutes <= 100_000 else INVALID
    if name == "month":
        month = parse_month(value)
        return f"{month:%Y-%m}" if month else INVALID
    if name == "date":
        day = parse_date(value)
        return day.isoformat() if day else INVALID
    return None


def canonical_params(endpoint: str | None = None) -> tuple[tuple[str, str], ...] | None:
    """The query parameters of this request that its page reads, canonical and in a fixed order; None when the
    page is personal (or the endpoint is not a cached one)."""
    endpoint = endpoint or request.endpoint or ""
    names = PARAMS.get(endpoint)
    if names is None or any(request.args.get(name) for name in PERSONAL[endpoint]) \
            or any(key.startswith(PREFILL_PREFIX) for key in request.args):
        return None
    out = []
    for name in names:
        value = _canonical(name, request.args.get(name, ""))
        if value is not None:
            out.append((name, value))
    return tuple(out)


def own_query(endpoint: str | None = None) -> str:
    """The query string (``?a=b...`` or "") a page may put into a link to itself: for a shared page its usable
    canonical parameters, never the visitor's own query string (another visitor may be served that page);
    for a personal page the visitor's query string."""
    params = canonical_params(endpoint)
    if params is None:
        query = request.query_string.decode("latin-1")
        return ("?" + query) if query else ""
    usable = [(name, value) for name, value in params if value != INVALID]
    return ("?" + urlencode(usable)) if usable else ""


def _key(version: Version | None) -> tuple | None:
    if version is None or current_app.config["PUBLIC_PAGE_CACHE_SECONDS"] <= 0 or request.method != "GET":
        return None
    if g.get("user") is not None or session.get("_flashes"):
        return None
    params = canonical_params()
    if params is None:
        return None
    # g.site_host: "" on the main site, the verified custom domain on one (app/web/host_routing.py)
    # g.page_variant: what else the view put on the page (app/web/voice_widget.py: the voice button)
    return (version.host_id, version.event_type_id, version.pages_version, request.endpoint, params,
            is_htmx(), is_history_restore(), g.get("site_host", ""), g.get("page_variant", ""))


def cached(version: Version | None) -> Response | None:
    """The stored answer for this request, or None."""
    key = _key(version)
    if key is None:
        return None
    global _size
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            del _entries[key]
            _size -= _cost(key, entry)
            return None
        _entries.move_to_end(key)
    response = Response(entry.body, mimetype=entry.mimetype)
    response.vary.add("HX-Request")
    return response


def store(version: Version | None, response: Response) -> Response:
    """Keep ``response`` for later requests like this one (when it may be shared); returns it unchanged."""
    key = _key(version)
    if key is None or response.status_code != 200 or response.direct_passthrough:
        return response
    global _size
    cfg = current_app.config
    budget = cfg["PUBLIC_PAGE_CACHE_BYTES"]
    entry = _Entry(response.get_data(), response.mimetype, time.monotonic() + cfg["PUBLIC_PAGE_CACHE_SECONDS"])
    cost = _cost(key, entry)
    if cost * _LARGEST_SHARE > budget:
        return response
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _size -= _cost(key, old)
        _entries[key] = entry
        _size += cost
        while _size > budget:
            old_key, old = _entries.popitem(last=False)
            _size -= _cost(old_key, old)
    return response


def stats() -> tuple[int, int]:
    """(entries, bytes) held now."""
    with _lock:
        return len(_entries), _size


def clear() -> None:
    global _size
    with _lock:
        _entries.clear()
        _size = 0
