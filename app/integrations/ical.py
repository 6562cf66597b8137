"""What CalDAV and ICS feed clients share: error classes, the guarded HTTP seam, and busy time from iCalendar.

Busy rules (RFC 5545): an event is busy unless ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED``; an all-day event
(``DTSTART`` a date) blocks its days from midnight to midnight in the host's zone, as does a floating time;
recurring events are expanded (RRULE, RDATE, EXDATE, moved and cancelled occurrences) with
``recurring-ical-events``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urljoin, urlsplit

import recurring_ical_events
import requests
from icalendar import Calendar

from app.integrations.errors import IntegrationError
from app.services import webhook_delivery as guard

log = logging.getLogger(__name__)

Interval = tuple[int, int]        # epoch seconds, UTC
OwnUids = Callable[[set[str]], set[str]]   # candidate LinkTime UIDs -> those that are this host's bookings
LINKTIME_UID_SUFFIX = "@linktime"
MAX_REDIRECTS = 5


class CalendarError(IntegrationError):
    """A calendar server (CalDAV, ICS feed) could not do what was asked. ``transient``: worth trying again later.

    One family with the OAuth providers' errors (``app.integrations.errors``): ``except IntegrationError``
    catches both; the subclasses here keep the CalDAV-specific cases (412, bad credentials)."""
    transient = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, provider="caldav", status=status)


class TransientError(CalendarError):
    transient = True


class PermanentError(CalendarError):
    pass


class AuthError(PermanentError):
    """The server refused the credentials (401/403)."""


class NotFoundError(PermanentError):
    pass


class PreconditionFailed(PermanentError):
    """412: the If-Match / If-None-Match condition did not hold."""


def classify_status(status: int, what: str) -> CalendarError:
    if status == 401:
        return AuthError(f"{what}: the server refused the user name or password (401).", status=status)
    if status == 403:
        return AuthError(f"{what}: access denied (403).", status=status)
    if status in (404, 410):
        return NotFoundError(f"{what}: not found on the server ({status}).", status=status)
    if status == 412:
        return PreconditionFailed(f"{what}: the event changed on the server (412).", status=status)
    if status == 429 or status >= 500:
        return TransientError(f"{what}: the server answered {status}; will try again.", status=status)
    return PermanentError(f"{what}: the server answered {status}.", status=status)


def http(method: str, url: str, *, timeout: float, allow_private: bool, max_bytes: int, what: str,
         auth: tuple[str, str] | None = None, headers: dict | None = None, data: bytes | None = None,
         ok: tuple[int, ...] = (200, 201, 204, 207)) -> tuple[requests.Response, bytes]:
    """One request through the webhook address guard (https and public addresses only unless allowed).

    Returns the response and its body (at most ``max_bytes``); other statuses raise a classified error.
    Redirects keep the method and body (PROPFIND must stay PROPFIND); the guard checks every hop, and the
    credentials follow only to the same origin or to https.
    """
    for _hop in range(MAX_REDIRECTS + 1):
        response = _send(method, url, timeout=timeout, allow_private=allow_private, what=what, auth=auth,
                         headers=headers, data=data)
        try:
            location = response.headers.get("Location")
            if response.status_code in (301, 302, 303, 307, 308) and location:
                target = urljoin(url, location)
                old, new = urlsplit(url), urlsplit(target)
                if (old.scheme, old.netloc) != (new.scheme, new.netloc) and new.scheme != "https":
                    auth = None
                url = target
                continue
            if response.status_code not in ok:
                raise classify_status(response.status_code, what)
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PermanentError(f"{what}: the answer is larger than {max_bytes // 1_000_000} MB.")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise TransientError(f"{what}: the connection broke while reading the answer.") from exc
            response.url = url
            return response, b"".join(chunks)
        finally:
            response.close()
    raise PermanentError(f"{what}: too many redirects.")


def _send(method: str, url: str, *, timeout: float, allow_private: bool, what: str, auth, headers, data):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentError(f"{what}: not an http(s) URL.")
    if parts.scheme != "https" and not allow_private:
        raise PermanentError(f"{what}: only https:// servers can be used on this instance.")
    session = guard.session(allow_private)
    try:
        return session.request(method, url, auth=auth, headers=headers, data=data, timeout=timeout,
                               stream=True, allow_redirects=False)
    except guard.AddressNotAllowed as exc:
        raise PermanentError(f"{what}: {parts.hostname} is a private or local network address.") from exc
    except requests.Timeout as exc:
        raise TransientError(f"{what}: the server did not answer within {timeout:g} seconds.") from exc
    except requests.RequestException as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, guard.AddressNotAllowed):
                raise PermanentError(f"{what}: {parts.hostname} is a private or local network address.") from exc
            cause = cause.__cause__ or cause.__context__
        raise TransientError(f"{what}: could not connect to {parts.hostname}.") from exc


# --- busy time ---------------------------------------------------------------------------------------------
def _instant(value, tz) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    return datetime.combine(value, time(0), tz).astimezone(UTC)


def event_busy(event, tz) -> Interval | None:
    """The busy interval of one (expanded) VEVENT, or None when it does not make the host busy."""
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if "DTSTART" not in event:
        return None
    raw_start = event["DTSTART"].dt
    if "DTEND" in event:
        raw_end = event["DTEND"].dt
    elif "DURATION" in event:
        raw_end = raw_start + event["DURATION"].dt
    elif isinstance(raw_start, date) and not isinstance(raw_start, datetime):
        raw_end = raw_start + timedelta(days=1)
    else:
        return None    # a point in time (RFC 5545: DTSTART without an end takes no time)
    start, end = _instant(raw_start, tz), _instant(raw_end, tz)
    if end <= start:
        return None
    return int(start.timestamp()), int(end.timestamp())


def linktime_uids(calendars: list[Calendar]) -> set[str]:
    """UIDs that look like events LinkTime created for its own bookings (``<booking id>@linktime``)."""
    return {str(c["UID"]) for cal in calendars for c in cal.walk("VEVENT")
            if "UID" in c and str(c["UID"]).endswith(LINKTIME_UID_SUFFIX)}


def busy_intervals(calendar: Calendar, start: datetime, end: datetime, tz,
                   skip_uids: set[str] | frozenset = frozenset()) -> list[Interval]:
    """Busy intervals overlapping [start, end) of one iCalendar object (expanded), sorted.

    ``skip_uids``: events to leave out (the host's own LinkTime bookings count through the bookings themselves).
    """
    lo, hi = int(start.timestamp()), int(end.timestamp())
    query = recurring_ical_events.of(calendar, skip_bad_series=True)
    found: list[Interval] = []
    # A day either side: all-day and floating events are placed in the host's zone afterwards.
    for event in query.between(start - timedelta(days=1), end + timedelta(days=1)):
        if skip_uids and str(event.get("UID", "")) in skip_uids:
            continue
        interval = event_busy(event, tz)
        if interval and interval[0] < hi and interval[1] > lo:
            found.append(interval)
    found.sort()
    return found


def parse(data: bytes, what: str) -> Calendar:
    try:
        return Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError and friends on malformed input
        raise PermanentError(f"{what}: the answer is not a valid iCalendar file.") from exc
