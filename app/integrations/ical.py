"""What CalDAV and ICS feed clients share: the guarded HTTP seam and busy time from iCalendar.

Failures are raised in the one vocabulary of ``app.integrations.errors`` (``classify_status`` maps a status).

Busy rules (RFC 5545): an event is busy unless ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED``; an all-day event
(``DTSTART`` a date) blocks its days from midnight to midnight in the host's zone, as does a floating time;
recurring events are expanded (RRULE, RDATE, EXDATE, moved and cancelled occurrences) with
``recurring-ical-events``.

Expansion is bounded, whatever a feed's rules say (``FREQ=SECONDLY`` is millions of occurrences a month): a series
is expanded one stretch at a time and at most ``MAX_OCCURRENCES`` occurrences are taken from one calendar per
28-day window; a rule that starts long before the window has its start moved forward by whole repetitions (the
same occurrences in the window, without stepping through years of them); a rule that would still take more than
``MAX_EXPANSION_STEPS`` steps to reach the window is left out. Either way the read is marked ``partial`` on the
``Budget`` passed in, so the host can be told.
"""
from __future__ import annotations

import copy
import ipaddress
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urljoin, urlsplit

import recurring_ical_events
import requests
from icalendar import Calendar

from app import net as guard
from app.integrations.errors import PermanentError, TransientError, classify_status

log = logging.getLogger(__name__)

Interval = tuple[int, int]        # epoch seconds, UTC
OwnUids = Callable[[set[str]], set[str]]   # candidate LinkTime UIDs -> those that are this host's bookings
LINKTIME_UID_SUFFIX = "@linktime"
MAX_REDIRECTS = 5


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
         ok: tuple[int, ...] = (200, 201, 204, 207),
         credentials_for: str | None = None) -> tuple[requests.Response, bytes]:
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


# --- bounded expansion --------------------------------------------------------------------------------------
MAX_OCCURRENCES = 10_000          # busy intervals taken from one calendar per 28-day window; the rest is left out
MAX_EXPANDED = 10 * MAX_OCCURRENCES   # occurrences worked out per window, counting those that are not busy
MAX_EXPANSION_STEPS = 2_000_000   # estimated steps one calendar's rules may take before reaching the window
_STRETCH = 2_500                  # occurrences a dense series is asked for at a time (then more, or a longer stretch)
_SKIPPED_SERIES = tuple(recurring_ical_events.CalendarQuery.suppressed_errors)

_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_PERIOD_DAYS = {"YEARLY": 365.25, "MONTHLY": 30.44, "WEEKLY": 7.0, "DAILY": 1.0, "HOURLY": 1 / 24,
                "MINUTELY": 1 / 1440, "SECONDLY": 1 / 86400}
_FIXED_STEP = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1), "HOURLY": timedelta(hours=1),
               "MINUTELY": timedelta(minutes=1), "SECONDLY": timedelta(seconds=1)}
_BY_PARTS = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH",
             "BYSETPOS")


class Budget:
    """What one calendar may still cost to read: ``occurrences`` busy intervals left to take, ``expanded``
    occurrences left to work out (busy or not), ``steps`` left for rules to reach the window. ``partial`` is set
    once something was left out. One budget serves every object of a calendar (a CalDAV calendar answers with
    one iCalendar object per event); ``windows``: how many 28-day windows the read covers."""

    def __init__(self, windows: int = 1) -> None:
        self.occurrences = MAX_OCCURRENCES * max(1, windows)
        self.expanded = MAX_EXPANDED * max(1, windows)
        self.steps = MAX_EXPANSION_STEPS
        self.partial = False


def _first(rule, key, default=None):
    value = rule.get(key)
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def _count(rule, key) -> int:
    value = rule.get(key)
    if value is None:
        return 0
    return len(set(value)) if isinstance(value, list) else 1


def _per_period(rule, freq: str) -> float:
    """An upper bound on the occurrences one period of ``rule`` makes: the BY... parts coarser than the frequency
    multiply it (``FREQ=DAILY;BYHOUR=9,17`` is two a day), the finer ones only filter."""
    rank = _FREQS.index(freq)
    times = 1
    for part, unit in (("BYHOUR", "HOURLY"), ("BYMINUTE", "MINUTELY"), ("BYSECOND", "SECONDLY")):
        if rank < _FREQS.index(unit):
            times *= max(1, _count(rule, part))
    days = 1
    by_day, month_days = _count(rule, "BYDAY"), _count(rule, "BYMONTHDAY")
    if freq == "WEEKLY":
        days = max(1, by_day)
    elif freq == "MONTHLY":
        days = min(31, month_days or 5 * by_day or 1)
    elif freq == "YEARLY":
        if _count(rule, "BYYEARDAY"):
            days = _count(rule, "BYYEARDAY")
        elif _count(rule, "BYWEEKNO"):
            days = 7 * _count(rule, "BYWEEKNO")
        elif _count(rule, "BYMONTH"):
            days = _count(rule, "BYMONTH") * (month_days or 5 * by_day or 1)
        else:
            days = 12 * month_days or 53 * by_day or 1
        days = min(366, days)
    return float(days * times)


def _rules(event) -> list:
    rules = event.get("RRULE")
    if rules is None:
        return []
    return list(rules) if isinstance(rules, list) else [rules]


def _naive(value) -> datetime:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else datetime.combine(value, time(0))


def _duration(event) -> timedelta:
    start = event["DTSTART"].dt
    try:
        if "DTEND" in event:
            return max(timedelta(0), _naive(event["DTEND"].dt) - _naive(start))
        if "DURATION" in event:
            return max(timedelta(0), event["DURATION"].dt)
    except (TypeError, ValueError):
        pass
    return timedelta(days=1)


def _fast_forward(event, rule, freq: str, span_start: datetime):
    """A copy of ``event`` whose fixed-period rule starts just before ``span_start`` (whole repetitions later, so
    the same occurrences from there on), or None when that is not possible or not worth it."""
    start = event["DTSTART"].dt
    interval = int(_first(rule, "INTERVAL", 1) or 1)
    step = _FIXED_STEP[freq] * max(1, interval)
    if not isinstance(start, datetime) and step % timedelta(days=1):
        return None
    # The latest start a repetition may have and still end before the span, on the event's own clock, with room
    # for a change of UTC offset (or any offset at all for a floating time).
    latest = span_start - _duration(event) - step
    if isinstance(start, datetime) and start.tzinfo is not None:
        latest_wall = latest.astimezone(start.tzinfo).replace(tzinfo=None) - timedelta(hours=3)
    else:
        latest_wall = latest.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=15)
    whole = (latest_wall - _naive(start)) // step
    if whole <= 0:
        return None
    count = _first(rule, "COUNT")
    moved = copy.copy(event)
    if count is not None:
        if any(rule.get(part) for part in _BY_PARTS):
            return None          # a repetition is not always an occurrence: the count cannot be carried over
        if int(count) <= whole:  # every occurrence is before the span; only the rest of the event matters
            del moved["RRULE"]
            return moved
        new_rule = copy.copy(rule)
        new_rule["COUNT"] = [int(count) - whole]
        moved["RRULE"] = new_rule
    shift = step * whole
    moved.pop("DTSTART")
    moved.add("DTSTART", start + shift)
    if "DTEND" in event:
        moved.pop("DTEND")
        moved.add("DTEND", event["DTEND"].dt + shift)
    return moved


def _interval(rule) -> int:
    return max(1, int(_first(rule, "INTERVAL", 1) or 1))


def _steps_before(event, rules: list, span_start: datetime) -> float:
    """An estimate of the occurrences ``rules`` step through from DTSTART up to ``span_start``."""
    start = event["DTSTART"].dt
    anchor = start if isinstance(start, datetime) else datetime.combine(start, time(0))
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    days = max(0.0, (span_start - anchor).total_seconds() / 86400)
    total = 0.0
    for rule in rules:
        freq = str(_first(rule, "FREQ", "")).upper()
        if freq in _PERIOD_DAYS:
            steps = days / (_PERIOD_DAYS[freq] * _interval(rule)) * _per_period(rule, freq)
            count = _first(rule, "COUNT")
            total += min(steps, float(count)) if count is not None else steps
    return total


def _per_day(rules: list) -> float:
    """An upper bound on the occurrences ``rules`` make in one day."""
    total = 0.0
    for rule in rules:
        freq = str(_first(rule, "FREQ", "")).upper()
        if freq in _PERIOD_DAYS:
            total += _per_period(rule, freq) / (_PERIOD_DAYS[freq] * _interval(rule))
    return total


@dataclass(frozen=True)
class _Dense:
    """How to expand a series with many occurrences a day: ``stretch`` at a time, and whether its times are
    fixed instants (then the day either side of the window, there for floating and all-day times, is not read)."""
    stretch: timedelta
    fixed: bool


def _bounded(calendar: Calendar, span_start: datetime, budget: Budget) -> tuple[Calendar, dict[str, _Dense]]:
    """``calendar`` with its rules moved forward to ``span_start`` where possible and left out where still too
    costly, and how to expand each dense series (by UID)."""
    replaced: dict[int, object] = {}
    dense: dict[str, _Dense] = {}
    for event in calendar.walk("VEVENT"):
        if "DTSTART" not in event or "RECURRENCE-ID" in event or not _rules(event):
            continue
        try:
            current, rules = event, _rules(event)
            if len(rules) == 1 and str(_first(rules[0], "FREQ", "")).upper() in _FIXED_STEP:
                current = _fast_forward(event, rules[0], str(_first(rules[0], "FREQ")).upper(), span_start) or event
                rules = _rules(current)
            cost = _steps_before(current, rules, span_start)
            per_day = _per_day(rules)
        except (TypeError, ValueError, KeyError, OverflowError):
            cost = per_day = float("inf")   # a rule this cannot size up is not expanded blindly either
        if cost > budget.steps:
            current = copy.copy(event)
            del current["RRULE"]   # its repetitions are left out (DTSTART, RDATEs and moved ones stay)
            per_day = 0.0
            budget.partial = True
            log.info("the repeat rule of event %s is too costly to expand; it is left out", event.get("UID"))
        else:
            budget.steps -= cost
        if per_day * 3 > _STRETCH:        # more than a stretch in three days: expand it a stretch at a time
            uid = str(event.get("UID", ""))
            start = event["DTSTART"].dt
            stretch = timedelta(days=_STRETCH / per_day)
            fixed = isinstance(start, datetime) and start.tzinfo is not None
            if uid in dense:
                stretch, fixed = min(stretch, dense[uid].stretch), fixed and dense[uid].fixed
            dense[uid] = _Dense(stretch, fixed)
        if current is not event:
            replaced[id(event)] = current
    if not replaced:
        return calendar, dense
    bounded = copy.copy(calendar)
    bounded.subcomponents = [replaced.get(id(c), c) for c in calendar.subcomponents]
    return bounded, dense


def _occurrences(series, start: datetime, end: datetime, dense: _Dense | None, budget: Budget) -> Iterator:
    """The occurrences of one series that may be busy in [start, end), lazily, while the budget lasts; a dense
    series a stretch at a time (each twice the last, so a rule that filters most repetitions out takes few
    queries)."""
    if dense is None:
        spans: Iterator = iter([(start - timedelta(days=1), end + timedelta(days=1))])
    else:
        margin = timedelta(0) if dense.fixed else timedelta(hours=15)   # a floating time: any UTC offset
        spans = _stretches(start - margin, end + margin, dense.stretch)
    seen: set = set()
    for lo, hi in spans:
        for occurrence in series.between(lo, hi):
            if dense is not None:
                if occurrence.id in seen:      # one that overlaps two stretches
                    continue
                seen.add(occurrence.id)
            if budget.expanded <= 0:
                budget.partial = True
                return
            budget.expanded -= 1
            yield occurrence


def _stretches(start: datetime, end: datetime, length: timedelta) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        stop = min(end, start + length)
        yield start, stop
        start, length = stop, length * 2


def _may_overlap(occurrence, tz, lo: int, hi: int) -> bool:
    """Whether an occurrence's own start and end (placed as ``event_busy`` places them) overlap [lo, hi)."""
    try:
        start, end = _instant(occurrence.start, tz), _instant(occurrence.end, tz)
    except (TypeError, ValueError, OverflowError):
        return True          # let event_busy decide
    return start.timestamp() < hi and end.timestamp() > lo


def busy_intervals(calendar: Calendar, start: datetime, end: datetime, tz,
                   skip_uids: set[str] | frozenset = frozenset(), budget: Budget | None = None) -> list[Interval]:
    """Busy intervals overlapping [start, end) of one iCalendar object (expanded), sorted.

    ``skip_uids``: events to leave out (the host's own LinkTime bookings count through the bookings themselves).
    ``budget``: what this calendar may still cost (shared by the objects of one calendar); ``budget.partial``
    tells whether something was left out.
    """
    budget = budget if budget is not None else Budget()
    lo, hi = int(start.timestamp()), int(end.timestamp())
    # A day either side: all-day and floating events are placed in the host's zone afterwards.
    bounded, dense = _bounded(calendar, start - timedelta(days=1), budget)
    query = recurring_ical_events.of(bounded, skip_bad_series=True)
    found: list[Interval] = []
    # Dense series last: one of them may use up the budget, and must not crowd out everything after it.
    for series in sorted(query.series, key=lambda series: str(series.uid) in dense):
        if budget.occurrences <= 0 or budget.expanded <= 0:
            budget.partial = True
            break
        uid = str(series.uid)
        if skip_uids and uid in skip_uids:
            continue
        try:
            for occurrence in _occurrences(series, start, end, dense.get(uid), budget):
                if not _may_overlap(occurrence, tz, lo, hi):
                    continue     # in the day either side; cheaper to tell from the times than from a copy
                interval = event_busy(occurrence.as_component(False), tz)
                if interval and interval[0] < hi and interval[1] > lo:
                    if budget.occurrences <= 0:
                        budget.partial = True
                        break
                    budget.occurrences -= 1
                    found.append(interval)
        except _SKIPPED_SERIES:
            continue
        except (ValueError, TypeError, OverflowError):
            budget.partial = True
            log.info("the repetitions of event %s could not be worked out; it is left out", uid)
            continue
    found.sort()
    return found


def parse(data: bytes, what: str) -> Calendar:
    try:
        return Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError and friends on malformed input
        raise PermanentError(f"{what}: the answer is not a valid iCalendar file.") from exc
