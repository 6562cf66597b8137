"""Microsoft: identity platform v2.0 (authorization code + PKCE) and Microsoft Graph v1.0, with Teams links.

Endpoints (overridable in the config for tests):
  authorize  https://login.microsoftonline.com/common/oauth2/v2.0/authorize
  token      https://login.microsoftonline.com/common/oauth2/v2.0/token   (client_secret_post; scope on refresh)
  api        https://graph.microsoft.com/v1.0

Busy times come from ``calendarView`` per chosen calendar (``Prefer: outlook.timezone="UTC"``, paged with
``@odata.nextLink``) - ``showAs`` free / workingElsewhere and cancelled events do not block - or from
``getSchedule`` for whole mailboxes. A Teams meeting is an event created with ``isOnlineMeeting: true`` and
``onlineMeetingProvider: teamsForBusiness``; the link is ``onlineMeeting.joinUrl`` (read once more if Graph
has not filled it in yet). A Teams meeting without a calendar event is an ``onlineMeeting`` (delegated
``OnlineMeetings.ReadWrite``): created with ``POST /me/onlineMeetings`` or, with an external id so that a retry
gets the same meeting back, ``POST /me/onlineMeetings/createOrGet``; moved with PATCH (start and end always
together) and removed with DELETE. The link is ``joinWebUrl``. There is no revocation endpoint for a single
grant.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.integrations.errors import NotFound, PermanentError
from app.integrations.oauth import (
    Attendee,
    BusyTimes,
    CalendarEvent,
    CalendarInfo,
    Meeting,
    OAuthClient,
    epoch,
    parse_instant,
    utc_iso,
)

PREFER_UTC = {"Prefer": 'outlook.timezone="UTC"'}
FREE_STATES = {"free", "workingElsewhere"}
MAX_PAGES = 50


class MicrosoftClient(OAuthClient):
    name = "microsoft"
    defaults: ClassVar[dict[str, str]] = {
        "authorize_url": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "token_url": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "api_url": "https://graph.microsoft.com/v1.0",
    }
    client_auth = "client_secret_post"
    authorize_params: ClassVar[dict[str, str]] = {"response_mode": "query"}
    send_scope_on_refresh = True

    def can_write_calendars(self, scope: Any) -> bool:
        if not isinstance(scope, str):      # the token endpoint did not say
            return True
        # Graph may answer the scopes as full URLs
        return any(s.rsplit("/", 1)[-1].lower() == "calendars.readwrite" for s in scope.split())

    @staticmethod
    def email_verified(claims: Mapping[str, Any]) -> bool:
        """Microsoft does not send ``email_verified``; its optional ``xms_edov`` claim ("email domain owner
        verified") is taken instead (anyone can put any address on a Microsoft tenant user)."""
        value = claims.get("email_verified")
        if value is None:
            value = claims.get("xms_edov")
        return value is True or (isinstance(value, str) and value.lower() == "true")

    def _api(self, method: str, path_or_url: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        url = path_or_url if path_or_url.startswith("http") else self.url("api_url", path_or_url)
        return self._json(self._request(method, url, access_token=access_token, **kwargs))

    def _pages(self, path: str, access_token: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
        url: str | None = path
        for _ in range(MAX_PAGES):
            body = self._api("GET", url, access_token, **kwargs)
            yield from body.get("value") or []
            url = body.get("@odata.nextLink")
            if not url:
                return
            if not url.startswith(self.url("api_url")):
                raise PermanentError("Graph sent a next page on another host.", provider=self.name)
            kwargs.pop("params", None)             # the next link carries the query
        raise PermanentError("Graph kept paging past the limit.", provider=self.name)

    # -- account
    def get_email(self, access_token: str) -> str:
        me = self._api("GET", "/me", access_token, params={"$select": "id,displayName,mail,userPrincipalName"})
        email = me.get("mail") or me.get("userPrincipalName")
        if not email:
            raise PermanentError("Microsoft did not share the account's email address.", provider=self.name)
        return email

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        return [CalendarInfo(id=item["id"], name=item.get("name") or item["id"],
                             primary=bool(item.get("isDefaultCalendar")), writable=bool(item.get("canEdit")),
                             color=item.get("hexColor") or None)
                for item in self._pages("/me/calendars", access_token, params={"$top": 100})]

    # -- busy times
    def busy_times(self, access_token: str, calendar_ids: Sequence[str], start: datetime, end: datetime, *,
                   all_day_tz: tzinfo | None = None) -> BusyTimes:
        """Busy intervals of each calendar from its calendarView; a calendar that fails lands in ``errors``.

        An all-day event is a date, not an instant: with ``all_day_tz`` (the host's zone) it blocks that
        day from midnight to midnight there, instead of from midnight UTC.
        """
        result = BusyTimes()
        params = {"startDateTime": _graph_iso(start), "endDateTime": _graph_iso(end),
                  "$select": "start,end,showAs,isCancelled,isAllDay", "$top": 500}
        for calendar_id in dict.fromkeys(calendar_ids):
            try:
                for item in self._pages(f"/me/calendars/{_seg(calendar_id)}/calendarView", access_token,
                                        params=params, headers=PREFER_UTC):
                    if item.get("isCancelled") or item.get("showAs") in FREE_STATES:
                        continue
                    zone = all_day_tz if item.get("isAllDay") and all_day_tz else None
                    result.intervals.append((_instant(item["start"], zone), _instant(item["end"], zone)))
            except NotFound as exc:
                result.errors[calendar_id] = exc.code or "not found"
        result.intervals.sort()
        return result

    def get_schedule(self, access_token: str, emails: Sequence[str], start: datetime, end: datetime, *,
                     interval_minutes: int = 30) -> BusyTimes:
        """Busy intervals of whole mailboxes (POST /me/calendar/getSchedule)."""
        body = self._api("POST", "/me/calendar/getSchedule", access_token, headers=PREFER_UTC, json={
            "schedules": list(emails),
            "startTime": {"dateTime": _graph_local(start), "timeZone": "UTC"},
            "endTime": {"dateTime": _graph_local(end), "timeZone": "UTC"},
            "availabilityViewInterval": interval_minutes})
        result = BusyTimes()
        for schedule in body.get("value") or []:
            if schedule.get("error"):
                result.errors[schedule.get("scheduleId", "?")] = str(
                    schedule["error"].get("responseCode") or schedule["error"].get("message"))
                continue
            for item in schedule.get("scheduleItems") or []:
                if item.get("status") not in FREE_STATES:
                    result.intervals.append((_instant(item["start"]), _instant(item["end"])))
        result.intervals.sort()
        return result

    # -- events
    def create_event(self, access_token: str, calendar_id: str | None, *, subject: str, start: datetime,
                     end: datetime, body: str | None = None, body_type: str = "text", location: str | None = None,
                     attendees: Iterable[Attendee] = (), teams: bool = False,
                     transaction_id: str | None = None) -> CalendarEvent:
        """Create an event in ``calendar_id`` (None: the default calendar); ``teams`` adds a Teams meeting.

        ``transaction_id`` lets Graph recognise a retried POST instead of creating a second event.
        """
        payload = _event_body(subject=subject, start=start, end=end, body=body, body_type=body_type,
                              location=location, attendees=attendees)
        if teams:
            payload.update(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness")
        if transaction_id:
            payload["transactionId"] = transaction_id
        path = f"/me/calendars/{_seg(calendar_id)}/events" if calendar_id else "/me/events"
        event = self._api("POST", path, access_token, json=payload)
        if teams and not _join_url(event) and event.get("id"):
            event = self._api("GET", f"/me/events/{_seg(event['id'])}", access_token)
        return _to_event(event, calendar_id)

    def get_event(self, access_token: str, event_id: str) -> CalendarEvent:
        return _to_event(self._api("GET", f"/me/events/{_seg(event_id)}", access_token), None)

    def update_event(self, access_token: str, event_id: str, *, subject: str | None = None,
                     start: datetime | None = None, end: datetime | None = None, body: str | None = None,
                     body_type: str = "text", location: str | None = None,
                     attendees: Iterable[Attendee] | None = None) -> CalendarEvent:
        """PATCH the given fields (a reschedule moves start and end; the Teams meeting stays)."""
        payload = _event_body(subject=subject, start=start, end=end, body=body, body_type=body_type,
                              location=location, attendees=attendees)
        return _to_event(self._api("PATCH", f"/me/events/{_seg(event_id)}", access_token, json=payload), None)

    def delete_event(self, access_token: str, event_id: str) -> bool:
        """True if deleted now, False if it was gone already."""
        try:
            self._request("DELETE", self.url("api_url", f"/me/events/{_seg(event_id)}"), access_token=access_token)
        except NotFound:
            return False
        return True

    # -- Teams online meetings (no calendar event)
    def create_online_meeting(self, access_token: str, *, subject: str, start: datetime, end: datetime,
                              external_id: str | None = None) -> Meeting:
        """A standalone Teams meeting; with ``external_id`` a retried call answers the meeting made first."""
        payload: dict[str, Any] = {"subject": subject, "startDateTime": utc_iso(start), "endDateTime": utc_iso(end)}
        if external_id:
            payload["externalId"] = external_id
        path = "/me/onlineMeetings/createOrGet" if external_id else "/me/onlineMeetings"
        return _to_meeting(self._api("POST", path, access_token, json=payload))

    def update_online_meeting(self, access_token: str, meeting_id: str, *, subject: str | None = None,
                              start: datetime | None = None, end: datetime | None = None) -> Meeting:
        """PATCH the given fields; Graph moves a meeting only with both ``start`` and ``end``."""
        if (start is None) != (end is None):
            raise ValueError("an online meeting is moved with both start and end")
        payload: dict[str, Any] = {}
        if subject is not None:
            payload["subject"] = subject
        if start is not None and end is not None:
            payload.update(startDateTime=utc_iso(start), endDateTime=utc_iso(end))
        return _to_meeting(self._api("PATCH", f"/me/onlineMeetings/{_seg(meeting_id)}", access_token,
                                     json=payload))

    def delete_online_meeting(self, access_token: str, meeting_id: str) -> bool:
        """True if deleted now, False if it was gone already."""
        try:
            self._request("DELETE", self.url("api_url", f"/me/onlineMeetings/{_seg(meeting_id)}"),
                          access_token=access_token)
        except NotFound:
            return False
        return True


class TeamsMeetings:
    """The video adapter (``app.integrations.video``) for Teams: standalone online meetings through the Teams
    connection; the booking id is the external id, so a repeated create returns the same meeting.
    ``details`` is a ``video.MeetingDetails``."""
    location, connection, name, in_calendar_event = "teams", "teams", "Microsoft Teams", False

    def create_meeting(self, client: MicrosoftClient, access_token: str, details) -> tuple[str, str]:
        created = client.create_online_meeting(access_token, subject=details.topic, start=details.start,
                                               end=details.end, external_id=details.key)
        return created.id, created.join_url

    def update_meeting(self, client: MicrosoftClient, access_token: str, remote_id: str, details) -> str | None:
        return client.update_online_meeting(access_token, remote_id, start=details.start, end=details.end).join_url

    def delete_meeting(self, client: MicrosoftClient, access_token: str, remote_id: str) -> None:
        client.delete_online_meeting(access_token, remote_id)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _graph_local(value: datetime) -> str:
    """Graph's ``dateTimeTimeZone.dateTime``: wall time without offset (here in UTC)."""
    if value.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _graph_iso(value: datetime) -> str:
    return _graph_local(value) + "Z"


def _instant(value: dict[str, Any], wall_clock_zone: tzinfo | None = None) -> int:
    """Epoch seconds of a Graph ``dateTimeTimeZone`` (UTC when asked with Prefer; IANA names otherwise).

    ``wall_clock_zone`` reads the wall time in that zone whatever the answer says (all-day events)."""
    if wall_clock_zone is not None:
        return epoch(parse_instant(value["dateTime"], wall_clock_zone))
    zone_name = value.get("timeZone") or "UTC"
    try:
        zone = UTC if zone_name.upper() in ("UTC", "Z") else ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PermanentError(f"Graph answered an unknown time zone {zone_name!r}.", provider="microsoft") from exc
    return epoch(parse_instant(value["dateTime"], zone))


def _event_body(*, subject, start, end, body, body_type, location, attendees) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if subject is not None:
        payload["subject"] = subject
    if body is not None:
        payload["body"] = {"contentType": "html" if body_type == "html" else "text", "content": body}
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            payload[key] = {"dateTime": _graph_local(value), "timeZone": "UTC"}
    if location is not None:
        payload["location"] = {"displayName": location}
    if attendees is not None:
        payload["attendees"] = [{"emailAddress": {"address": a.email, **({"name": a.name} if a.name else {})},
                                 "type": "required"} for a in attendees]
    return payload


def _join_url(event: dict[str, Any]) -> str | None:
    return (event.get("onlineMeeting") or {}).get("joinUrl") or None


def _to_event(event: dict[str, Any], calendar_id: str | None) -> CalendarEvent:
    if not event.get("id"):
        raise PermanentError("Graph answered an event without an id.", provider="microsoft")
    return CalendarEvent(id=event["id"], calendar_id=calendar_id, html_link=event.get("webLink"),
                         meeting_url=_join_url(event), raw=event)


def _to_meeting(body: dict[str, Any]) -> Meeting:
    join_url = body.get("joinWebUrl") or body.get("joinUrl")      # joinUrl: the name before joinWebUrl
    if not body.get("id") or not join_url:
        raise PermanentError("Graph answered an online meeting without an id or join link.", provider="microsoft")
    return Meeting(id=body["id"], join_url=join_url, password=None, raw=body)
