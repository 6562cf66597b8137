"""A small CalDAV client (RFC 4791) over ``requests``: discovery, busy time, and the events bookings create.

Discovery: PROPFIND ``current-user-principal`` on the server URL (falling back to ``/.well-known/caldav``),
PROPFIND ``calendar-home-set`` on the principal, PROPFIND Depth 1 on the home for the calendars (those that
hold VEVENTs). Busy time: REPORT ``calendar-query`` with a ``time-range`` filter, expanded client-side
(``app.integrations.ical``). Events: PUT with ``If-None-Match: *`` to create, ``If-Match`` to replace, DELETE.
Every request has a timeout (per read and for the whole exchange) and goes through the outbound address guard;
errors are raised in the vocabulary of ``app.integrations.errors``: transient (timeouts, 5xx, 429), auth revoked
(401/403), not found (404/410), precondition failed (412) or permanent (the rest). The user name and password
go only to the server's own host and hosts under the same parent domain (``ical.credentials_allowed``): an
address the server hands out (a principal, a calendar home, a calendar) on another site gets no credentials.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urljoin, urlsplit

from app.integrations import ical
from app.integrations.errors import IntegrationError, NotFound, PermanentError, PreconditionFailed
from app.integrations.ical import Budget, Interval, OwnUids

ICLOUD_URL = "https://caldav.icloud.com/"
DAV, CALDAV, APPLE = "DAV:", "urn:ietf:params:xml:ns:caldav", "http://apple.com/ns/ical/"
NS = {"d": DAV, "c": CALDAV, "a": APPLE}
MAX_XML_BYTES = 20_000_000
MAX_EVENT_BYTES = 1_000_000

PROPFIND_PRINCIPAL = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>'
                      b'<d:current-user-principal/><d:resourcetype/></d:prop></d:propfind>')
PROPFIND_HOME = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
                 b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/>'
                 b'<d:displayname/></d:prop></d:propfind>')
PROPFIND_CALENDARS = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
                      b'xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="http://apple.com/ns/ical/"><d:prop>'
                      b'<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/>'
                      b'<d:current-user-privilege-set/><a:calendar-color/></d:prop></d:propfind>')
REPORT_BUSY = ('<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" '
               'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
               '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
               '<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter>'
               '</c:calendar-query>')


@dataclass(frozen=True)
class RemoteCalendar:
    url: str               # absolute URL of the calendar collection
    name: str
    color: str | None
    writable: bool


@dataclass(frozen=True)
class Account:
    principal_url: str
    display_name: str | None
    calendars: list[RemoteCalendar]


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class CalDAVClient:
    def __init__(self, base_url: str, username: str, password: str, *, timeout: float, allow_private: bool) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.auth = (username, password)
        self.timeout = timeout
        self.allow_private = allow_private

    # -- plumbing --------------------------------------------------------------------------------------------
    def _request(self, method: str, url: str, what: str, *, body: bytes | None = None, headers: dict | None = None,
                 max_bytes: int = MAX_XML_BYTES, ok=(200, 201, 204, 207)):
        try:
            return ical.http(method, url, timeout=self.timeout, allow_private=self.allow_private, max_bytes=max_bytes,
                             what=what, auth=self.auth, headers=headers, data=body, ok=ok,
                             credentials_for=self.base_url)
        except IntegrationError as exc:
            exc.provider = exc.provider or "caldav"
            raise

    def _propfind(self, url: str, body: bytes, depth: str, what: str) -> tuple[str, list[tuple[str, dict]]]:
        response, data = self._request("PROPFIND", url, what, body=body,
                                       headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        return response.url, _multistatus(data, response.url, what)

    # -- discovery -------------------------------------------------------------------------------------------
    def discover(self) -> Account:
        what = "Connecting to the CalDAV server"
        url, responses = self._propfind(self.base_url, PROPFIND_PRINCIPAL, "0", what)
        principal = _first_href(responses, "current-user-principal", url)
        if principal is None:
            root = urljoin(self.base_url, "/.well-known/caldav")
            try:
                url, responses = self._propfind(root, PROPFIND_PRINCIPAL, "0", what)
                principal = _first_href(responses, "current-user-principal", url)
            except NotFound:
                principal = None
        if principal is None:
            # No principal: the URL may be a calendar (or the calendar home) itself.
            calendars = self._calendars(self.base_url)
            if not calendars:
                raise PermanentError("This address is not a CalDAV server or calendar. Check the server URL.",
                                     provider="caldav")
            return Account(self.base_url, None, calendars)
        url, responses = self._propfind(principal, PROPFIND_HOME, "0", what)
        home = _first_href(responses, "calendar-home-set", url) or principal
        display = next((p.get("displayname") for _h, p in responses if p.get("displayname")), None)
        return Account(principal, display, self._calendars(home))

    def _calendars(self, home: str) -> list[RemoteCalendar]:
        _url, responses = self._propfind(home, PROPFIND_CALENDARS, "1", "Listing the calendars")
        found = []
        for href, props in responses:
            if not props.get("is_calendar"):
                continue
            components = props.get("components")
            if components is not None and "VEVENT" not in components:
                continue   # a task list or address book
            name = (props.get("displayname") or "").strip() or urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1]
            found.append(RemoteCalendar(url=href, name=name[:200], color=props.get("color"),
                                        writable=props.get("writable", True)))
        return sorted(found, key=lambda c: c.name.lower())

    # -- busy time -------------------------------------------------------------------------------------------
    def busy(self, calendar_url: str, start: datetime, end: datetime, tz,
             own_uids: OwnUids | None = None, budget: Budget | None = None) -> list[Interval]:
        """Busy intervals of one calendar; ``own_uids`` names LinkTime's own booking events to leave out.
        ``budget`` bounds the expansion of the calendar's events (``budget.partial``: something was left out)."""
        what = "Reading busy times"
        body = REPORT_BUSY.format(start=_utc(start), end=_utc(end)).encode()
        response, data = self._request("REPORT", calendar_url, what, body=body,
                                       headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
        objects = []
        for _href, props in _multistatus(data, response.url, what):
            raw = props.get("calendar-data")
            if not raw:
                continue
            try:
                objects.append(ical.parse(raw.encode("utf-8"), what))
            except PermanentError:
                continue   # one broken event must not hide every other one
        candidates = ical.linktime_uids(objects)
        skip = own_uids(candidates) if own_uids and candidates else set()
        budget = budget if budget is not None else Budget()
        intervals: list[Interval] = []
        for calendar in objects:
            intervals.extend(ical.busy_intervals(calendar, start, end, tz, skip, budget))
        intervals.sort()
        return intervals

    # -- events ----------------------------------------------------------------------------------------------
    @staticmethod
    def event_url(calendar_url: str, uid: str) -> str:
        base = calendar_url if calendar_url.endswith("/") else calendar_url + "/"
        return urljoin(base, quote(uid, safe="") + ".ics")

    def put_event(self, url: str, ics: bytes, *, etag: str | None = None, create: bool = False) -> str | None:
        """Create (``create``: fails with PreconditionFailed if it exists) or replace an event. Returns its etag."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        response, _ = self._request("PUT", url, "Saving the event", body=ics, headers=headers,
                                    max_bytes=MAX_EVENT_BYTES, ok=(200, 201, 204))
        return response.headers.get("ETag") or self.etag(url)

    def etag(self, url: str) -> str | None:
        response, _ = self._request("GET", url, "Reading the event", max_bytes=MAX_EVENT_BYTES, ok=(200,))
        return response.headers.get("ETag")

    def delete_event(self, url: str, *, etag: str | None = None) -> None:
        """Delete an event; one already gone counts as deleted."""
        headers = {"If-Match": etag} if etag else {}
        try:
            self._request("DELETE", url, "Deleting the event", headers=headers, max_bytes=MAX_EVENT_BYTES,
                          ok=(200, 202, 204))
        except NotFound:
            return
        except PreconditionFailed:
            self._request("DELETE", url, "Deleting the event", max_bytes=MAX_EVENT_BYTES, ok=(200, 202, 204, 404))


# --- XML ---------------------------------------------------------------------------------------------------
def _multistatus(data: bytes, base_url: str, what: str) -> list[tuple[str, dict]]:
    """(absolute href, properties found with 200) for each ``response`` of a 207 multistatus body."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise PermanentError(f"{what}: the server's answer is not CalDAV (invalid XML).",
                             provider="caldav") from exc
    if root.tag != f"{{{DAV}}}multistatus":
        raise PermanentError(f"{what}: the server's answer is not CalDAV.", provider="caldav")
    out = []
    for resp in root.findall("d:response", NS):
        href_el = resp.find("d:href", NS)
        if href_el is None or not (href_el.text or "").strip():
            continue
        href = urljoin(base_url, href_el.text.strip())
        props: dict = {}
        for propstat in resp.findall("d:propstat", NS):
            status = (propstat.findtext("d:status", "", NS) or "")
            if " 200 " not in status + " ":
                continue
            prop = propstat.find("d:prop", NS)
            if prop is None:
                continue
            for el in prop:
                _read_prop(el, href, props)
        out.append((href, props))
    return out


def _read_prop(el: ET.Element, href: str, props: dict) -> None:
    tag = el.tag
    if tag in (f"{{{DAV}}}current-user-principal", f"{{{CALDAV}}}calendar-home-set"):
        inner = el.find("d:href", NS)
        if inner is not None and (inner.text or "").strip():
            props[tag.split("}")[1]] = urljoin(href, inner.text.strip())
    elif tag == f"{{{DAV}}}resourcetype":
        props["is_calendar"] = el.find("c:calendar", NS) is not None
    elif tag == f"{{{DAV}}}displayname":
        props["displayname"] = el.text or ""
    elif tag == f"{{{CALDAV}}}supported-calendar-component-set":
        props["components"] = {c.get("name", "").upper() for c in el.findall("c:comp", NS)}
    elif tag == f"{{{DAV}}}current-user-privilege-set":
        names = {p.tag for priv in el.findall("d:privilege", NS) for p in priv}
        props["writable"] = bool(names & {f"{{{DAV}}}write", f"{{{DAV}}}all", f"{{{DAV}}}write-content"})
    elif tag == f"{{{APPLE}}}calendar-color":
        color = (el.text or "").strip()
        props["color"] = color[:7] if color.startswith("#") else None
    elif tag == f"{{{CALDAV}}}calendar-data":
        props["calendar-data"] = el.text or ""


def _first_href(responses: list[tuple[str, dict]], name: str, _url: str) -> str | None:
    for _href, props in responses:
        if props.get(name):
            return props[name]
    return None
