"""A fake of Google's OAuth 2.0 server, OpenID userinfo and Calendar API v3 (the parts LinkTime uses).

Paths match Google's (on one loopback host): ``/o/oauth2/v2/auth``, ``/token``, ``/revoke``, ``/v1/userinfo``,
``/calendar/v3/users/me/calendarList``, ``/calendar/v3/freeBusy``, ``/calendar/v3/calendars/{id}/events[/{id}]``.
A refresh token is issued only for ``access_type=offline``. Calendar reads need ``calendar.readonly`` (or
``calendar``), event writes ``calendar.events`` (or ``calendar``). Event bodies are checked field by field
(unknown fields, wrong types, start not before end, bad ``sendUpdates`` / ``conferenceDataVersion`` -> 400).
A conference is created only with ``conferenceDataVersion=1``; ``meet_pending`` makes Google report it as
``pending`` on insert (it is ``success`` when read again); ``meet_disabled`` makes every conference request end in
``failure`` without a link (Meet turned off for the account). A PATCH with ``conferenceDataVersion=1`` and a
``createRequest`` whose ``requestId`` is new for the event adds a conference, as Google does. Errors use Google's
``{"error": {"code", "message", "errors": [{"domain", "reason"}], "status"}}`` shape.
"""
from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request

from tests.fakes.oauth_server import (
    ApiError,
    FakeOAuthServer,
    Grant,
    check_email,
    check_keys,
    check_type,
    merge_intervals,
    parse_rfc3339,
)

READ = ("https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar")
WRITE = ("https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar")
EVENT_FIELDS = {"id", "summary", "description", "location", "start", "end", "attendees", "conferenceData",
                "transparency", "status", "reminders"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS", 410: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GoogleFake(FakeOAuthServer):
    name = "google"
    authorize_path = "/o/oauth2/v2/auth"
    token_path = "/token"

    def __init__(self, *, email: str = "ada@example.com", **kwargs) -> None:
        self.email = email
        self.meet_pending = False
        self.meet_disabled = False
        self.max_page_size = 250          # Google may answer fewer items than maxResults, with a next page
        self.calendars: dict[str, dict[str, Any]] = {
            email: {"summary": email, "primary": True, "accessRole": "owner", "timeZone": "Europe/Berlin"},
            "team@group.calendar.google.com": {"summary": "Team", "accessRole": "reader", "timeZone": "UTC"},
        }
        self.events: dict[str, dict[str, dict[str, Any]]] = {cid: {} for cid in self.calendars}
        self.deleted: set[tuple[str, str]] = set()
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "authorize_url": self.url + self.authorize_path, "token_url": self.url + "/token",
                "revoke_url": self.url + "/revoke", "userinfo_url": self.url + "/v1/userinfo",
                "api_url": self.url + "/calendar/v3", **overrides}

    def issues_refresh_token(self, grant: Grant) -> bool:
        return grant.params.get("access_type") == "offline"

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        reason = code if isinstance(code, str) else {401: "authError", 404: "notFound"}.get(status, "backendError")
        return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN"),
                          "errors": [{"domain": "global", "reason": reason, "message": message}]}}

    # -- test helpers
    def add_event(self, calendar_id: str, start: datetime, end: datetime, **fields) -> dict[str, Any]:
        event_id = fields.pop("id", None) or secrets.token_hex(8)
        event = {"id": event_id, "status": "confirmed", "start": {"dateTime": start.isoformat()},
                 "end": {"dateTime": end.isoformat()}, **fields}
        with self.lock:
            self.events[calendar_id][event_id] = event
        return event

    def add_calendar(self, calendar_id: str, summary: str, access_role: str = "owner") -> None:
        with self.lock:
            self.calendars[calendar_id] = {"summary": summary, "accessRole": access_role, "timeZone": "UTC"}
            self.events[calendar_id] = {}

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule("/revoke", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule("/v1/userinfo", "userinfo", self._userinfo, methods=["GET"])
        app.add_url_rule("/calendar/v3/users/me/calendarList", "calendar_list", self._calendar_list)
        app.add_url_rule("/calendar/v3/freeBusy", "freebusy", self._freebusy, methods=["POST"])
        app.add_url_rule("/calendar/v3/calendars/<calendar_id>/events", "insert", self._insert, methods=["POST"])
        app.add_url_rule("/calendar/v3/calendars/<calendar_id>/events/<event_id>", "event", self._event,
                         methods=["GET", "PATCH", "DELETE"])

    def _revoke(self):
        token = request.form.get("token", "")
        if not token or not self.revoke_token(token):
            return jsonify(error="invalid_token", error_description="Token expired or revoked"), 400
        return jsonify({})

    def _userinfo(self):
        token = self.bearer()
        if not token.scopes & {"email", "openid"}:
            raise ApiError(403, "insufficient scope", code="insufficientPermissions")
        return jsonify(sub="108000000000000000001", email=self.email, email_verified=True)

    def _calendar_list(self):
        self.bearer(*READ)
        try:
            size = int(request.args.get("maxResults", 100))
            offset = int(request.args.get("pageToken", "0") or 0)
        except ValueError:
            raise ApiError(400, "Invalid value for maxResults or pageToken", code="invalid") from None
        if not 1 <= size <= 250:
            raise ApiError(400, "maxResults out of range", code="invalid")
        size = min(size, self.max_page_size)
        ids = list(self.calendars)
        items = [{"kind": "calendar#calendarListEntry", "id": cid, **self.calendars[cid]}
                 for cid in ids[offset:offset + size]]
        body: dict[str, Any] = {"kind": "calendar#calendarList", "items": items}
        if offset + size < len(ids):
            body["nextPageToken"] = str(offset + size)
        return jsonify(body)

    def _freebusy(self):
        self.bearer(*READ)
        body = self.json_body()
        check_keys(body, {"timeMin", "timeMax", "timeZone", "items", "groupExpansionMax",
                          "calendarExpansionMax"}, "freeBusy request")
        time_min = parse_rfc3339(check_type(body, "timeMin", str, required=True), "timeMin")
        time_max = parse_rfc3339(check_type(body, "timeMax", str, required=True), "timeMax")
        if time_min >= time_max:
            raise ApiError(400, "The specified time range is empty.", code="timeRangeEmpty")
        items = check_type(body, "items", list, required=True)
        if len(items) > 50:
            raise ApiError(400, "Too many calendars requested.", code="tooManyCalendarsRequested")
        calendars = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ApiError(400, "items[].id is required", code="required")
            cid = item["id"]
            if cid not in self.events:
                calendars[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            spans = []
            for event in self.events[cid].values():
                if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
                    continue
                start, end = _when(event["start"]), _when(event["end"])
                if start < time_max and end > time_min:
                    spans.append((max(start, time_min), min(end, time_max)))
            calendars[cid] = {"busy": [{"start": _z(s), "end": _z(e)} for s, e in merge_intervals(spans)]}
        return jsonify(kind="calendar#freeBusy", timeMin=_z(time_min), timeMax=_z(time_max), calendars=calendars)

    def _calendar(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        if calendar_id not in self.events:
            raise ApiError(404, "Not Found", code="notFound")
        return self.events[calendar_id]

    def _query_params(self) -> int:
        send = request.args.get("sendUpdates")
        if send is not None and send not in ("all", "externalOnly", "none"):
            raise ApiError(400, "Invalid sendUpdates value", code="invalidParameter")
        version = request.args.get("conferenceDataVersion", "0")
        if version not in ("0", "1"):
            raise ApiError(400, "Invalid conferenceDataVersion value", code="invalidParameter")
        return int(version)

    def _insert(self, calendar_id: str):
        self.bearer(*WRITE)
        version = self._query_params()
        events = self._calendar(calendar_id)
        body = self.json_body()
        _check_event(body, partial=False)
        event_id = body.get("id") or secrets.token_hex(13)
        if not re.fullmatch(r"[a-v0-9]{5,1024}", event_id):
            raise ApiError(400, "Invalid resource id value.", code="invalid")
        with self.lock:
            if event_id in events or (calendar_id, event_id) in self.deleted:
                raise ApiError(409, "The requested identifier already exists.", code="duplicate")
            event = {**body, "id": event_id, "status": "confirmed", "kind": "calendar#event",
                     "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
                     "created": _z(datetime.now(UTC)), "organizer": {"email": calendar_id, "self": True}}
            create = (body.get("conferenceData") or {}).get("createRequest")
            event.pop("conferenceData", None)
            if version == 1 and create:
                self._provision(event, create)
            events[event_id] = event
        return jsonify(event)

    def _provision(self, event: dict[str, Any], create: dict[str, Any]) -> None:
        """Give ``event`` the conference ``create`` asks for (or a failed request when Meet is off)."""
        if self.meet_disabled:
            event["conferenceData"] = {"createRequest": {**create, "status": {"statusCode": "failure"}}}
            event.pop("hangoutLink", None)
            return
        event["conferenceData"] = self._conference(create, pending=self.meet_pending)
        if not self.meet_pending:
            event["hangoutLink"] = event["conferenceData"]["entryPoints"][0]["uri"]

    @staticmethod
    def _conference(create: dict[str, Any], *, pending: bool) -> dict[str, Any]:
        code = "-".join("".join(secrets.choice(string.ascii_lowercase) for _ in range(n)) for n in (3, 4, 3))
        data: dict[str, Any] = {
            "createRequest": {**create, "status": {"statusCode": "pending" if pending else "success"}},
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": code}
        if not pending:
            data["entryPoints"] = [{"entryPointType": "video", "uri": f"https://meet.google.com/{code}",
                                    "label": f"meet.google.com/{code}"}]
        return data

    def _event(self, calendar_id: str, event_id: str):
        self.bearer(*((READ + WRITE) if request.method == "GET" else WRITE))
        version = self._query_params()
        events = self._calendar(calendar_id)
        with self.lock:
            event = events.get(event_id)
            if event is None:
                if (calendar_id, event_id) in self.deleted:
                    raise ApiError(410, "Resource has been deleted", code="deleted")
                raise ApiError(404, "Not Found", code="notFound")
            if request.method == "DELETE":
                del events[event_id]
                self.deleted.add((calendar_id, event_id))
                return "", 204
            if request.method == "GET":
                status = (event.get("conferenceData") or {}).get("createRequest", {}).get("status", {})
                if status.get("statusCode") == "pending":       # provisioned by the time it is read again
                    event["conferenceData"] = self._conference(event["conferenceData"]["createRequest"],
                                                               pending=False)
                    event["hangoutLink"] = event["conferenceData"]["entryPoints"][0]["uri"]
                return jsonify(event)
        body = self.json_body()
        _check_event(body, partial=True)
        if "id" in body and body["id"] != event_id:
            raise ApiError(400, "The event id cannot be changed.", code="invalid")
        with self.lock:
            merged = {**event, **body}
            if _when(merged["end"]) <= _when(merged["start"]):
                raise ApiError(400, "The specified time range is empty.", code="timeRangeEmpty")
            if "conferenceData" in body:
                merged["conferenceData"] = event.get("conferenceData")
                if merged["conferenceData"] is None:
                    merged.pop("conferenceData")
                create = body["conferenceData"]["createRequest"]
                known = ((event.get("conferenceData") or {}).get("createRequest") or {}).get("requestId")
                if version == 1 and create["requestId"] != known:     # a request id seen before is ignored
                    self._provision(merged, create)
            events[event_id] = merged
        return jsonify(merged)


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return parse_rfc3339(value["dateTime"], "dateTime", offset_required="timeZone" not in value)
    return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)


def _check_time(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be an object", code="invalid")
    check_keys(value, {"dateTime", "date", "timeZone"}, what)
    if ("dateTime" in value) == ("date" in value):
        raise ApiError(400, f"{what} needs exactly one of dateTime and date", code="invalid")
    check_type(value, "timeZone", str)
    if "date" in value:
        check_type(value, "date", str, required=True)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value["date"]):
            raise ApiError(400, f"{what}.date is not a date", code="invalid")
    else:
        parse_rfc3339(value["dateTime"], f"{what}.dateTime", offset_required="timeZone" not in value)


def _check_event(body: dict[str, Any], *, partial: bool) -> None:
    check_keys(body, EVENT_FIELDS, "event")
    for key in ("id", "summary", "description", "location", "transparency", "status"):
        check_type(body, key, str)
    for key in ("start", "end"):
        if key in body or not partial:
            if key not in body:
                raise ApiError(400, "Missing end time." if key == "end" else "Missing start time.",
                               code="required")
            _check_time(body[key], key)
    if not partial and _when(body["end"]) <= _when(body["start"]):
        raise ApiError(400, "The specified time range is empty.", code="timeRangeEmpty")
    for attendee in check_type(body, "attendees", list) or []:
        if not isinstance(attendee, dict):
            raise ApiError(400, "attendees[] must be objects", code="invalid")
        check_keys(attendee, {"email", "displayName", "optional", "responseStatus"}, "attendee")
        check_email(attendee.get("email"), "attendees[].email")
        check_type(attendee, "displayName", str)
    conference = check_type(body, "conferenceData", dict)
    if conference is not None:
        create = check_type(conference, "createRequest", dict, required=True)
        check_type(create, "requestId", str, required=True)
        key = check_type(create, "conferenceSolutionKey", dict, required=True)
        if key.get("type") not in ("hangoutsMeet", "eventHangout", "eventNamedHangout", "addOn"):
            raise ApiError(400, "Invalid conference type value.", code="invalid")
