"""Google: OAuth 2.0 (authorization code + PKCE, offline access) and Calendar API v3, with Google Meet links.

Endpoints (overridable in the config for tests):
  authorize  https://accounts.google.com/o/oauth2/v2/auth   (access_type=offline, prompt=consent)
  token      https://oauth2.googleapis.com/token            (client_secret_post)
  revoke     https://oauth2.googleapis.com/revoke
  userinfo   https://openidconnect.googleapis.com/v1/userinfo
  api        https://www.googleapis.com/calendar/v3

A Meet link is asked for by inserting the event with ``conferenceDataVersion=1`` and
``conferenceData.createRequest`` (``requestId``, ``conferenceSolutionKey.type = hangoutsMeet``); the link is
read back from ``hangoutLink`` or the ``video`` entry point. When Google reports the conference as
``pending`` the event is read once more.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from app.integrations.errors import NotFound, PermanentError
from app.integrations.oauth import (
    Attendee,
    BusyTimes,
    CalendarEvent,
    CalendarInfo,
    OAuthClient,
    epoch,
    parse_instant,
    utc_iso,
)

FREEBUSY_MAX_CALENDARS = 50          # Google's limit of calendars per freeBusy query
SEND_UPDATES = ("all", "externalOnly", "none")
_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"


class GoogleClient(OAuthClient):
    name = "google"
    defaults: ClassVar[dict[str, str]] = {
        "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_url": "https://oauth2.googleapis.com/token",
        "revoke_url": "https://oauth2.googleapis.com/revoke",
        "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
        "api_url": "https://www.googleapis.com/calendar/v3",
    }
    client_auth = "client_secret_post"
    # offline access gives a refresh token; consent makes Google send one again on a reconnect
    authorize_params: ClassVar[dict[str, str]] = {"access_type": "offline", "prompt": "consent",
                                                  "include_granted_scopes": "true"}

    def can_write_calendars(self, scope: Any) -> bool:
        if not isinstance(scope, str):      # the token endpoint did not say
            return True
        scopes = scope.split()
        return EVENTS_SCOPE in scopes or "https://www.googleapis.com/auth/calendar" in scopes

    def _is_rate_limited(self, response: requests.Response, code: str | None) -> bool:
        return response.status_code == 429 or (response.status_code == 403 and code in _RATE_LIMIT_REASONS)

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(self._request(method, self.url("api_url", path), access_token=access_token, **kwargs))

    # -- account
    def get_email(self, access_token: str) -> str:
        body = self._json(self._request("GET", self.url("userinfo_url"), access_token=access_token))
        if not body.get("email"):
            raise PermanentError("Google did not share the account's email address.", provider=self.name)
        return body["email"]

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        calendars: list[CalendarInfo] = []
        params: dict[str, Any] = {"maxResults": 250}
        while True:
            body = self._api("GET", "/users/me/calendarList", access_token, params=params)
            for item in body.get("items") or []:
                calendars.append(CalendarInfo(
                    id=item["id"], name=item.get("summaryOverride") or item.get("summary") or item["id"],
                    primary=bool(item.get("primary")), writable=item.get("accessRole") in ("owner", "writer"),
                    timezone=item.get("timeZone"), color=item.get("backgroundColor")))
            if not body.get("nextPageToken"):
                return calendars
            params = {**params, "pageToken": body["nextPageToken"]}

    # -- busy times
    def busy_times(self, access_token: str, calendar_ids: Sequence[str], start: datetime,
                   end: datetime) -> BusyTimes:
        """Busy intervals of ``calendar_ids`` between ``start`` and ``end`` (POST /freeBusy, 50 at a time)."""
        result = BusyTimes()
        ids = list(dict.fromkeys(calendar_ids))
        for offset in range(0, len(ids), FREEBUSY_MAX_CALENDARS):
            chunk = ids[offset:offset + FREEBUSY_MAX_CALENDARS]
            body = self._api("POST", "/freeBusy", access_token, json={
                "timeMin": utc_iso(start), "timeMax": utc_iso(end), "timeZone": "UTC",
                "items": [{"id": calendar_id} for calendar_id in chunk]})
            calendars = body.get("calendars") or {}
            for calendar_id in chunk:
                entry = calendars.get(calendar_id)
                if entry is None:
                    result.errors[calendar_id] = "missing from the answer"
                    continue
                if entry.get("errors"):
                    result.errors[calendar_id] = ", ".join(str(e.get("reason")) for e in entry["errors"])
                for busy in entry.get("busy") or []:
                    result.intervals.append((epoch(parse_instant(busy["start"])),
                                             epoch(parse_instant(busy["end"]))))
        result.intervals.sort()
        return result

    # -- events
    def create_event(self, access_token: str, calendar_id: str, *, summary: str, start: datetime,
                     end: datetime, description: str | None = None, location: str | None = None,
                     attendees: Iterable[Attendee] = (), timezone: str | None = None, with_meet: bool = False,
                     event_id: str | None = None, request_id: str | None = None,
                     send_updates: str = "all") -> CalendarEvent:
        """Insert an event; ``with_meet`` asks for a Google Meet conference and reads its link back.

        ``event_id`` (5-1024 chars of a-v and 0-9) makes the insert idempotent: if the id exists already
        (a retried task), the existing event is returned.
        """
        body = _event_body(summary=summary, start=start, end=end, description=description, location=location,
                           attendees=attendees, timezone=timezone)
        if event_id:
            body["id"] = event_id
        if with_meet:
            body["conferenceData"] = {"createRequest": {
                "requestId": request_id or uuid.uuid4().hex,
                "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
        try:
            event = self._api("POST", f"/calendars/{_seg(calendar_id)}/events", access_token, json=body,
                              params={"conferenceDataVersion": 1, "sendUpdates": _send_updates(send_updates)})
        except PermanentError as exc:
            if not (event_id and exc.status == 409):
                raise
            event = self._api("GET", f"/calendars/{_seg(calendar_id)}/events/{_seg(event_id)}", access_token)
        if with_meet and _conference_status(event) == "pending":
            event = self._api("GET", f"/calendars/{_seg(calendar_id)}/events/{_seg(event['id'])}", access_token)
        return _to_event(event, calendar_id)

    def get_event(self, access_token: str, calendar_id: str, event_id: str) -> CalendarEvent:
        return _to_event(self._api("GET", f"/calendars/{_seg(calendar_id)}/events/{_seg(event_id)}",
                                   access_token), calendar_id)

    def update_event(self, access_token: str, calendar_id: str, event_id: str, *, summary: str | None = None,
                     start: datetime | None = None, end: datetime | None = None, description: str | None = None,
                     location: str | None = None, attendees: Iterable[Attendee] | None = None,
                     timezone: str | None = None, send_updates: str = "all") -> CalendarEvent:
        """PATCH the given fields; the conference (Meet link) is kept."""
        body = _event_body(summary=summary, start=start, end=end, description=description, location=location,
                           attendees=attendees, timezone=timezone)
        event = self._api("PATCH", f"/calendars/{_seg(calendar_id)}/events/{_seg(event_id)}", access_token,
                          json=body, params={"conferenceDataVersion": 1, "sendUpdates": _send_updates(send_updates)})
        return _to_event(event, calendar_id)

    def add_meet(self, access_token: str, calendar_id: str, event_id: str, *, request_id: str | None = None,
                 send_updates: str = "none") -> CalendarEvent:
        """Ask for a Meet conference on an existing event (PATCH with a new ``createRequest``); the link is read
        back as on insert. Google ignores a ``requestId`` it has seen for the event, so each call sends a new
        one unless ``request_id`` is given."""
        body = {"conferenceData": {"createRequest": {"requestId": request_id or uuid.uuid4().hex,
                                                     "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}
        path = f"/calendars/{_seg(calendar_id)}/events/{_seg(event_id)}"
        event = self._api("PATCH", path, access_token, json=body,
                          params={"conferenceDataVersion": 1, "sendUpdates": _send_updates(send_updates)})
        if _conference_status(event) == "pending":
            event = self._api("GET", path, access_token)
        return _to_event(event, calendar_id)

    def delete_event(self, access_token: str, calendar_id: str, event_id: str, *,
                     send_updates: str = "all") -> bool:
        """True if deleted now, False if it was gone already (404/410), so a retried task is harmless."""
        try:
            self._request("DELETE", self.url("api_url", f"/calendars/{_seg(calendar_id)}/events/{_seg(event_id)}"),
                          access_token=access_token, params={"sendUpdates": _send_updates(send_updates)})
        except NotFound:
            return False
        return True


class GoogleMeet:
    """The video adapter (``app.integrations.video``) for Google Meet: the conference of the booking's Google
    Calendar event, so it moves and goes with that event. ``details`` is a ``video.MeetingDetails`` naming the
    event (``calendar_id``, ``event_id``); the service creates the event itself when there is none yet."""
    location, connection, name, in_calendar_event = "google_meet", "google", "Google Meet", True
    calendar_name = "Google Calendar"
    no_calendar = "Google Calendar is not connected (Settings → Integrations), so this booking has no Google Meet link."
    not_in_calendar = "The booking's calendar event is not in Google Calendar, so it has no Meet link."

    def create_meeting(self, client: GoogleClient, access_token: str, details) -> tuple[str, str]:
        """The Meet of the existing event (asked for now when the event was written without one); raises
        ``NotFound`` when the event was deleted in Google."""
        event = client.get_event(access_token, details.calendar_id, details.event_id)
        if not event.meeting_url:
            event = client.add_meet(access_token, details.calendar_id, details.event_id)
        return self.conference(event)

    def conference(self, event: CalendarEvent) -> tuple[str, str]:
        if not event.meeting_url:
            raise PermanentError("Google created the calendar event without a Meet link (Meet may be turned off "
                                 "for this Google account).", provider="google")
        return event.id, event.meeting_url

    def update_meeting(self, client: GoogleClient, access_token: str, remote_id: str, details) -> str | None:
        return None     # calendar_sync moves the event, and its conference with it

    def delete_meeting(self, client: GoogleClient, access_token: str, remote_id: str) -> None:
        return None     # deleted with the event (calendar_sync)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _send_updates(value: str) -> str:
    if value not in SEND_UPDATES:
        raise ValueError(f"sendUpdates must be one of {SEND_UPDATES}")
    return value


def _event_body(*, summary, start, end, description, location, attendees, timezone) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if summary is not None:
        body["summary"] = summary
    if description is not None:
        body["description"] = description
    if location is not None:
        body["location"] = location
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            body[key] = {"dateTime": utc_iso(value), **({"timeZone": timezone} if timezone else {})}
    if attendees is not None:
        body["attendees"] = [{"email": a.email, **({"displayName": a.name} if a.name else {})}
                             for a in attendees]
    return body


def _conference_status(event: dict[str, Any]) -> str | None:
    request = (event.get("conferenceData") or {}).get("createRequest") or {}
    return (request.get("status") or {}).get("statusCode")


def meet_link(event: dict[str, Any]) -> str | None:
    """The Meet join link of an event resource: ``hangoutLink`` or the ``video`` entry point."""
    if event.get("hangoutLink"):
        return event["hangoutLink"]
    for entry in (event.get("conferenceData") or {}).get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return entry["uri"]
    return None


def _to_event(event: dict[str, Any], calendar_id: str) -> CalendarEvent:
    if not event.get("id"):
        raise PermanentError("Google answered an event without an id.", provider="google")
    return CalendarEvent(id=event["id"], calendar_id=calendar_id, html_link=event.get("htmlLink"),
                         meeting_url=meet_link(event), raw=event)
