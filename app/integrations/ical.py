"""What CalDAV and ICS feed clients share: error classes, the guarded HTTP seam, and busy time from iCalendar.

Busy rules (RFC 5545): an event is busy unless ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED``; an all-day event
(``DTSTART`` a date) blocks its days from midnight to midnight in the host's zone, as does a floating time;
recurring events are expanded (RRULE, RDATE, EXDATE, moved and cancelled occurrences) with
``recurring-ical-events``.
"""
from __future__ import annotations

import ipaddress
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


# Second-level labels under which registrations are made (example.co.uk): the "site" is then three labels.
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "go", "gob", "gov", "mil", "ne", "net", "or", "org"})


def _site(host: str) -> str:
    """What a host name shares with its sibling hosts: the last two labels (``icloud.com`` for
    ``p42-caldav.icloud.com``), three under a country's second level (``example.co.uk``); an IP address or a
    one-label name is only itself."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def credentials_allowed(owner_url: str, url: str) -> bool:
    """Whether the user name and password given for ``owner_url`` may be sent with a request to ``url``: the same
    host or one under the same parent domain (iCloud sends ``caldav.icloud.com`` on to ``pNN-caldav.icloud.com``),
    and over https unless it is the very same origin."""
    try:
        owner, target = _origin(owner_url), _origin(url)
    except ValueError:
        return False
    if not owner[1] or not target[1]:
        return False
    if owner == target:
        return True
    return target[0] == "https" and _site(owner[1]) == _site(target[1])


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip("."), parts.port or (443 if scheme == "https" else 80)


def http(method: str, url: str, *, timeout: float, allow_private: bool, max_bytes: int, what: str,
         auth: tuple[str, str] | None = None, headers: dict | None = None, data: bytes | None = None,
         ok: tuple[int, ...] = (200, 201, 204, 207), credentials_for: str | None = None) -> tuple[requests.Response, bytes]:
    """One request through the webhook address guard (https and public addresses only unless allowed).

    Returns the response and its body (at most ``max_bytes``); other statuses raise a classified error.
    ``timeout`` bounds each connect and read and also the whole exchange (every redirect hop, the headers and the
    body), so a server trickling its answer fails as a transient error once it is used up.
    Redirects keep the method and body (PROPFIND must stay PROPFIND); the guard checks every hop. ``auth`` is sent
    only where ``credentials_allowed`` for ``credentials_for`` (default: ``url``, the first hop): a redirect or a
    server-supplied address on another site gets the request without them.
    """
    owner = credentials_for or url
    with guard.deadline(timeout):
        for _hop in range(MAX_REDIRECTS + 1):
            hop_auth = auth if auth is not None and credentials_allowed(owner, url) else None
            response = _send(method, url, timeout=timeout, allow_private=allow_private, what=what, auth=hop_auth,
                             headers=headers, data=data)
            try:
                location = response.headers.get("Location")
                if response.status_code in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    continue
                if response.status_code in (401, 403) and auth is not None and hop_auth is None:
                    raise PermanentError(f"{what}: the server sent us on to {urlsplit(url).hostname}, which asks "
                                         f"for the password; it is only sent to {urlsplit(owner).hostname} and "
                                         "hosts of the same domain.", status=response.status_code)
                if response.status_code not in ok:
                    raise classify_status(response.status_code, what)
                body = _read_body(response, max_bytes=max_bytes, timeout=timeout, what=what)
                response.url = url
                return response, body
            finally:
                response.close()
    raise PermanentError(f"{what}: too many redirects.")


def _read_body(response: requests.Response, *, max_bytes: int, timeout: float, what: str) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > max_bytes:
                raise PermanentError(f"{what}: the answer is larger than {max_bytes // 1_000_000} MB.")
            chunks.append(chunk)
    except requests.RequestException as exc:
        if guard.expired():
            raise TransientError(f"{what}: the server did not send its answer within {timeout:g} seconds.") from exc
        raise TransientError(f"{what}: the connection broke while reading the answer.") from exc
    if guard.expired():   # an answer without a length ends where the time ran out: not the whole answer
        raise TransientError(f"{what}: the server did not send its answer within {timeout:g} seconds.")
    return b"".join(chunks)


def _send(method: str, url: str, *, timeout: float, allow_private: bool, what: str, auth, headers, data):
    parts = urlsplit(url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise PermanentError(f"{what}: not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise PermanentError(f"{what}: not an http(s) URL.")
    if parts.scheme != "https" and not allow_private:
        raise PermanentError(f"{what}: only https:// servers can be used on this instance.")
    if not guard.host_name_ok(host):
        raise PermanentError(f"{what}: {host} is not a valid host name.")
    session = guard.session(allow_private)
    try:
        return session.request(method, url, auth=auth, headers=headers, data=data, timeout=timeout,
                               stream=True, allow_redirects=False)
    except guard.AddressNotAllowed as exc:
        raise PermanentError(f"{what}: {host} is a private or local network address.") from exc
    except requests.Timeout as exc:
        raise TransientError(f"{what}: the server did not answer within {timeout:g} seconds.") from exc
    except ValueError as exc:   # requests' InvalidURL, an IDNA UnicodeError: no request can be made to it
        raise PermanentError(f"{what}: not a valid URL.") from exc
    except requests.RequestException as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, guard.AddressNotAllowed):
                raise PermanentError(f"{what}: {host} is a private or local network address.") from exc
            if isinstance(cause, guard.InvalidHostName):
                raise PermanentError(f"{what}: {host} is not a valid host name.") from exc
            cause = cause.__cause__ or cause.__context__
        if guard.expired():
            raise TransientError(f"{what}: the server did not answer within {timeout:g} seconds.") from exc
        raise TransientError(f"{what}: could not connect to {host}.") from exc


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
