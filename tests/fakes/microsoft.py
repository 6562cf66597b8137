"""A fake of the Microsoft identity platform (v2.0, ``common`` tenant) and the Graph v1.0 calendar API.

Paths match Microsoft's: ``/common/oauth2/v2.0/authorize`` and ``/token``; Graph under ``/v1.0``: ``/me``,
``/me/calendars``, ``/me/calendars/{id}/calendarView``, ``/me/calendar/getSchedule``,
``/me/calendars/{id}/events``, ``/me/events`` and ``/me/events/{id}``. The authorization request must name
scopes; a refresh token is issued only with ``offline_access``; a refresh must repeat ``scope``. Graph refuses
unknown event properties, wrong types and missing ``start``/``end``; calendarView needs ``startDateTime`` and
``endDateTime``; times are answered in the zone of ``Prefer: outlook.timezone`` (UTC without it).
``teams_available=False`` imitates an account without Teams (no ``onlineMeeting``); ``teams_delayed`` leaves
``onlineMeeting`` empty in the POST answer and fills it when the event is read. Errors use Graph's
``{"error": {"code", "message", "innerError"}}`` shape.

Standalone Teams meetings live in ``online_meetings`` (id -> meeting) behind ``/v1.0/me/onlineMeetings`` (POST),
``/v1.0/me/onlineMeetings/createOrGet`` (POST; a known ``externalId`` answers the existing meeting with 200, a
new one 201) and ``/v1.0/me/onlineMeetings/{id}`` (GET, PATCH, DELETE), all needing ``OnlineMeetings.ReadWrite``.
They accept only ``subject``, ``startDateTime``, ``endDateTime`` (and ``externalId`` on createOrGet), with
offsets; unlike Graph, which defaults missing times to now + 1 hour, the fake requires both on create. A PATCH
that moves the meeting must carry both times. ``teams_available=False`` refuses creation with 403 ``Forbidden``,
as Graph does for a user without a Teams licence. Failures are injected with ``fail()`` as for every route.
"""
from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import jsonify, request

from tests.fakes.oauth_server import (
    ApiError,
    FakeOAuthServer,
    Grant,
    check_email,
    check_keys,
    check_type,
    parse_rfc3339,
)

CAL = ("Calendars.ReadWrite", "Calendars.Read")
CAL_WRITE = ("Calendars.ReadWrite",)
EVENT_FIELDS = {"subject", "body", "start", "end", "location", "attendees", "isOnlineMeeting",
                "onlineMeetingProvider", "transactionId", "showAs", "isAllDay", "allowNewTimeProposals"}
PROVIDERS = {"teamsForBusiness", "skypeForBusiness", "skypeForConsumer", "unknown"}
ONLINE = ("OnlineMeetings.ReadWrite",)
MEETING_FIELDS = {"subject", "startDateTime", "endDateTime"}


class MicrosoftFake(FakeOAuthServer):
    name = "microsoft"
    authorize_path = "/common/oauth2/v2.0/authorize"
    token_path = "/common/oauth2/v2.0/token"
    refresh_requires_scope = True
    refresh_returns_refresh_token = True

    def __init__(self, *, email: str = "grace@contoso.com", **kwargs) -> None:
        self.email = email
        self.teams_available = True
        self.teams_delayed = False
        self.max_page_size = 1000         # Graph may page before $top
        self.calendars: dict[str, dict[str, Any]] = {
            "AAMkCal1": {"name": "Calendar", "isDefaultCalendar": True, "canEdit": True},
            "AAMkCal2": {"name": "Holidays", "isDefaultCalendar": False, "canEdit": False},
        }
        self.events: dict[str, dict[str, Any]] = {}      # id -> event (with "_calendar")
        self.online_meetings: dict[str, dict[str, Any]] = {}   # id -> onlineMeeting
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "authorize_url": self.url + self.authorize_path, "token_url": self.url + self.token_path,
                "api_url": self.url + "/v1.0", **overrides}

    def check_authorize(self, args) -> str | None:
        return None if args.get("scope", "").strip() else "scope is required"

    def issues_refresh_token(self, grant: Grant) -> bool:
        return "offline_access" in grant.scopes

    def token_extra(self) -> dict[str, Any]:
        return {"ext_expires_in": self.token_lifetime}

    def token_error_body(self, error: str, description: str) -> dict[str, Any]:
        code = {"invalid_grant": 70000, "invalid_client": 7000215}.get(error, 900144)
        return {"error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code]}

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        if not isinstance(code, str):
            code = {401: "InvalidAuthenticationToken", 403: "ErrorAccessDenied", 404: "ErrorItemNotFound",
                    429: "TooManyRequests"}.get(status, "ErrorInternalServerError" if status >= 500 else "BadRequest")
        return {"error": {"code": code, "message": message,
                          "innerError": {"request-id": secrets.token_hex(8), "date": datetime.now(UTC).isoformat()}}}

    def add_event(self, calendar_id: str, start: datetime, end: datetime, **fields) -> dict[str, Any]:
        event_id = "AAMkEv" + secrets.token_hex(6)
        event = {"id": event_id, "_calendar": calendar_id, "subject": "busy", "showAs": "busy", "isCancelled": False,
                 "start": _dtz(start, UTC), "end": _dtz(end, UTC), **fields}
        with self.lock:
            self.events[event_id] = event
        return event

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule("/v1.0/me", "me", self._me)
        app.add_url_rule("/v1.0/me/calendars", "calendars", self._calendars)
        app.add_url_rule("/v1.0/me/calendars/<calendar_id>/calendarView", "view", self._calendar_view)
        app.add_url_rule("/v1.0/me/calendar/getSchedule", "schedule", self._schedule, methods=["POST"])
        app.add_url_rule("/v1.0/me/calendars/<calendar_id>/events", "create", self._create, methods=["POST"])
        app.add_url_rule("/v1.0/me/events", "create_default", self._create, methods=["POST"])
        app.add_url_rule("/v1.0/me/events/<event_id>", "event", self._event, methods=["GET", "PATCH", "DELETE"])
        app.add_url_rule("/v1.0/me/onlineMeetings", "meeting_create", self._meeting_create, methods=["POST"])
        app.add_url_rule("/v1.0/me/onlineMeetings/createOrGet", "meeting_create_or_get", self._meeting_create_or_get,
                         methods=["POST"])
        app.add_url_rule("/v1.0/me/onlineMeetings/<meeting_id>", "meeting", self._meeting,
                         methods=["GET", "PATCH", "DELETE"])

    def _me(self):
        self.bearer("User.Read")
        return jsonify(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", displayName="Grace Hopper", mail=self.email,
                       userPrincipalName=self.email)

    def _calendars(self):
        self.bearer(*CAL)
        top, skip = _int_arg("$top", 10, self.max_page_size), _int_arg("$skip", 0)
        ids = list(self.calendars)
        body: dict[str, Any] = {"value": [{"id": cid, "owner": {"address": self.email}, **self.calendars[cid]}
                                          for cid in ids[skip:skip + top]]}
        if skip + top < len(ids):
            body["@odata.nextLink"] = f"{self.url}/v1.0/me/calendars?$top={top}&$skip={skip + top}"
        return jsonify(body)

    def _zone(self):
        match = re.fullmatch(r'outlook\.timezone="([^"]+)"', request.headers.get("Prefer", ""))
        name = match.group(1) if match else "UTC"
        return name, (UTC if name == "UTC" else ZoneInfo(name))

    def _calendar_view(self, calendar_id: str):
        self.bearer(*CAL)
        if calendar_id not in self.calendars:
            raise ApiError(404, "The specified object was not found in the store.")
        if not request.args.get("startDateTime") or not request.args.get("endDateTime"):
            raise ApiError(400, "This request requires a time window specified by the query string parameters "
                           "StartDateTime and EndDateTime.", code="ErrorInvalidParameter")
        start = parse_rfc3339(request.args["startDateTime"], "startDateTime", offset_required=False)
        end = parse_rfc3339(request.args["endDateTime"], "endDateTime", offset_required=False)
        top, skip = _int_arg("$top", 10, self.max_page_size), _int_arg("$skip", 0)
        zone_name, zone = self._zone()
        items = sorted((e for e in self.events.values() if e["_calendar"] == calendar_id
                        and _instant(e["start"]) < end and _instant(e["end"]) > start),
                       key=lambda e: _instant(e["start"]))
        page = [{**_public(e), "start": _dtz(_instant(e["start"]), zone, zone_name),
                 "end": _dtz(_instant(e["end"]), zone, zone_name)} for e in items[skip:skip + top]]
        body: dict[str, Any] = {"value": page}
        if skip + top < len(items):
            body["@odata.nextLink"] = (f"{self.url}/v1.0/me/calendars/{calendar_id}/calendarView?startDateTime="
                                       f"{request.args['startDateTime']}&endDateTime={request.args['endDateTime']}"
                                       f"&$top={top}&$skip={skip + top}")
        return jsonify(body)

    def _schedule(self):
        self.bearer(*CAL)
        body = self.json_body()
        check_keys(body, {"schedules", "startTime", "endTime", "availabilityViewInterval"}, "getSchedule")
        schedules = check_type(body, "schedules", list, required=True)
        start = _check_dtz(check_type(body, "startTime", dict, required=True), "startTime")
        end = _check_dtz(check_type(body, "endTime", dict, required=True), "endTime")
        interval = check_type(body, "availabilityViewInterval", int)
        if interval is not None and not 5 <= interval <= 1440:
            raise ApiError(400, "availabilityViewInterval must be between 5 and 1440", code="ErrorInvalidParameter")
        zone_name, zone = self._zone()
        answer = []
        for email in schedules:
            check_email(email, "schedules[]")
            if email != self.email:
                answer.append({"scheduleId": email, "error": {"message": "mailbox not found",
                                                              "responseCode": "ErrorMailboxNotConnected"}})
                continue
            items = [{"status": e.get("showAs", "busy"), "isPrivate": False, "subject": e.get("subject", ""),
                      "start": _dtz(_instant(e["start"]), zone, zone_name),
                      "end": _dtz(_instant(e["end"]), zone, zone_name)}
                     for e in self.events.values() if not e.get("isCancelled")
                     and _instant(e["start"]) < end and _instant(e["end"]) > start]
            answer.append({"scheduleId": email, "availabilityView": "", "scheduleItems": items})
        return jsonify(value=answer)

    def _create(self, calendar_id: str | None = None):
        self.bearer(*CAL_WRITE)
        calendar_id = calendar_id or next(c for c, v in self.calendars.items() if v["isDefaultCalendar"])
        if calendar_id not in self.calendars:
            raise ApiError(404, "The specified object was not found in the store.")
        body = self.json_body()
        _check_event(body, partial=False)
        with self.lock:
            if body.get("transactionId"):
                for event in self.events.values():
                    if event.get("transactionId") == body["transactionId"]:
                        return jsonify(_public(event)), 201
            event_id = "AAMkEv" + secrets.token_hex(6)
            event = {**body, "id": event_id, "_calendar": calendar_id, "isCancelled": False,
                     "showAs": body.get("showAs", "busy"),
                     "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}",
                     "isOnlineMeeting": False, "onlineMeeting": None}
            if body.get("isOnlineMeeting") and body.get("onlineMeetingProvider") == "teamsForBusiness" \
                    and self.teams_available:
                event["isOnlineMeeting"] = True
                event["_join"] = f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{secrets.token_hex(8)}"
                if not self.teams_delayed:
                    event["onlineMeeting"] = {"joinUrl": event["_join"]}
            self.events[event_id] = event
        return jsonify(_public(event)), 201

    def _event(self, event_id: str):
        self.bearer(*(CAL if request.method == "GET" else CAL_WRITE))
        with self.lock:
            event = self.events.get(event_id)
            if event is None:
                raise ApiError(404, "The specified object was not found in the store.")
            if request.method == "DELETE":
                del self.events[event_id]
                return "", 204
            if request.method == "GET":
                if event.get("_join"):
                    event["onlineMeeting"] = {"joinUrl": event["_join"]}
                return jsonify(_public(event))
        body = self.json_body()
        _check_event(body, partial=True)
        with self.lock:
            merged = {**event, **body}
            if _instant(merged["end"]) <= _instant(merged["start"]):
                raise ApiError(400, "The end must be after the start.", code="ErrorInvalidRequest")
            self.events[event_id] = merged
        return jsonify(_public(merged))

    # -- standalone Teams meetings
    def _meeting_create(self):
        self.bearer(*ONLINE)
        body = self.json_body()
        _check_meeting(body, allowed=MEETING_FIELDS, partial=False)
        self._check_teams()
        with self.lock:
            meeting = self._new_meeting(body)
        return jsonify(meeting), 201

    def _meeting_create_or_get(self):
        self.bearer(*ONLINE)
        body = self.json_body()
        _check_meeting(body, allowed=MEETING_FIELDS | {"externalId"}, partial=False)
        external_id = check_type(body, "externalId", str, required=True)
        if not external_id.strip():
            raise ApiError(400, "externalId must not be empty.", code="BadRequest")
        self._check_teams()
        with self.lock:
            existing = next((m for m in self.online_meetings.values() if m.get("externalId") == external_id), None)
            if existing is not None:
                return jsonify(existing), 200
            meeting = self._new_meeting(body)
        return jsonify(meeting), 201

    def _meeting(self, meeting_id: str):
        self.bearer(*ONLINE)
        with self.lock:
            meeting = self.online_meetings.get(meeting_id)
            if meeting is None:
                raise ApiError(404, "The online meeting was not found.", code="NotFound")
            if request.method == "DELETE":
                del self.online_meetings[meeting_id]
                return "", 204
            if request.method == "GET":
                return jsonify(meeting)
        body = self.json_body()
        _check_meeting(body, allowed=MEETING_FIELDS, partial=True)
        with self.lock:
            if meeting_id not in self.online_meetings:
                raise ApiError(404, "The online meeting was not found.", code="NotFound")
            updated = {**self.online_meetings[meeting_id], **body}
            for key in ("startDateTime", "endDateTime"):
                updated[key] = _graph_instant(parse_rfc3339(updated[key], key))
            self.online_meetings[meeting_id] = updated
        return jsonify(updated)

    def _check_teams(self) -> None:
        if not self.teams_available:
            raise ApiError(403, "The user is not licensed for Microsoft Teams and cannot create online meetings.",
                           code="Forbidden")

    def _new_meeting(self, body: dict[str, Any]) -> dict[str, Any]:
        thread = f"19:meeting_{secrets.token_hex(12)}@thread.v2"
        meeting_id = base64.urlsafe_b64encode(f"1*{self.email}*0**{thread}".encode()).decode()
        meeting = {"id": meeting_id, "creationDateTime": _graph_instant(datetime.now(UTC)),
                   "startDateTime": _graph_instant(parse_rfc3339(body["startDateTime"], "startDateTime")),
                   "endDateTime": _graph_instant(parse_rfc3339(body["endDateTime"], "endDateTime")),
                   "subject": body.get("subject"),
                   "joinWebUrl": "https://teams.microsoft.com/l/meetup-join/" + thread.replace(":", "%3a")
                                 .replace("@", "%40") + "/0",
                   "participants": {"organizer": {"upn": self.email, "role": "presenter"}, "attendees": []}}
        if body.get("externalId"):
            meeting["externalId"] = body["externalId"]
        self.online_meetings[meeting_id] = meeting
        return meeting


def _int_arg(name: str, default: int, cap: int | None = None) -> int:
    try:
        value = int(request.args.get(name, default))
        return min(value, cap) if cap else value
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}", code="BadRequest") from None


def _public(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if not k.startswith("_")}


def _dtz(value: datetime, zone, name: str = "UTC") -> dict[str, str]:
    local = value.astimezone(zone).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": name}


def _instant(value: dict[str, str]) -> datetime:
    zone = UTC if value.get("timeZone", "UTC") == "UTC" else ZoneInfo(value["timeZone"])
    parsed = datetime.fromisoformat(value["dateTime"])
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _check_dtz(value: Any, what: str) -> datetime:
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a dateTimeTimeZone", code="BadRequest")
    check_keys(value, {"dateTime", "timeZone"}, what)
    check_type(value, "dateTime", str, required=True)
    zone = check_type(value, "timeZone", str, required=True)
    try:
        ZoneInfo(zone) if zone != "UTC" else None
        return _instant(value)
    except (ValueError, KeyError, OSError):
        raise ApiError(400, f"{what} is not a valid dateTimeTimeZone", code="BadRequest") from None


def _check_event(body: dict[str, Any], *, partial: bool) -> None:
    unknown = set(body) - EVENT_FIELDS
    if unknown:
        raise ApiError(400, f"Property '{min(unknown)}' does not exist on type 'microsoft.graph.event'.",
                       code="RequestBodyRead")
    check_type(body, "subject", str)
    check_type(body, "transactionId", str)
    check_type(body, "isOnlineMeeting", bool)
    if "onlineMeetingProvider" in body and body["onlineMeetingProvider"] not in PROVIDERS:
        raise ApiError(400, "Invalid onlineMeetingProvider.", code="RequestBodyRead")
    content = check_type(body, "body", dict)
    if content is not None:
        check_keys(content, {"contentType", "content"}, "body")
        if content.get("contentType") not in ("text", "html"):
            raise ApiError(400, "body.contentType must be text or html", code="RequestBodyRead")
        check_type(content, "content", str, required=True)
    location = check_type(body, "location", dict)
    if location is not None:
        check_type(location, "displayName", str, required=True)
    for key in ("start", "end"):
        if key in body or not partial:
            _check_dtz(body.get(key), key)
    if not partial and _instant(body["end"]) <= _instant(body["start"]):
        raise ApiError(400, "The end must be after the start.", code="ErrorInvalidRequest")
    for attendee in check_type(body, "attendees", list) or []:
        if not isinstance(attendee, dict):
            raise ApiError(400, "attendees[] must be objects", code="RequestBodyRead")
        check_keys(attendee, {"emailAddress", "type"}, "attendee")
        address = check_type(attendee, "emailAddress", dict, required=True)
        check_keys(address, {"address", "name"}, "emailAddress")
        check_email(address.get("address"), "emailAddress.address")
        if attendee.get("type", "required") not in ("required", "optional", "resource"):
            raise ApiError(400, "attendee type is invalid", code="RequestBodyRead")


def _graph_instant(value: datetime) -> str:
    """Graph's ``DateTimeOffset`` as it answers it: UTC with seven fractional digits and ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _check_meeting(body: dict[str, Any], *, allowed: set[str], partial: bool) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, f"Property '{min(unknown)}' does not exist on type 'microsoft.graph.onlineMeeting'.",
                       code="BadRequest")
    check_type(body, "subject", str)
    times = {key: parse_rfc3339(body[key], key) for key in ("startDateTime", "endDateTime") if key in body}
    if partial and len(times) == 1:
        raise ApiError(400, "startDateTime and endDateTime must be updated together.", code="BadRequest")
    if not partial:
        for key in ("startDateTime", "endDateTime"):
            if key not in times:
                raise ApiError(400, f"{key} is required.", code="BadRequest")
    if times and times["endDateTime"] <= times["startDateTime"]:
        raise ApiError(400, "endDateTime must be after startDateTime.", code="BadRequest")
