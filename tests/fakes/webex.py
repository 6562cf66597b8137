"""A fake of Webex's OAuth server and the Meetings REST API LinkTime uses.

Paths match Webex's: ``/v1/authorize``, ``/v1/access_token`` (client id and secret in the form body only),
``/v1/people/me`` (needs ``spark:people_read``), ``/v1/meetings`` (POST, needs ``meeting:schedules_write``)
and ``/v1/meetings/{meetingId}`` (GET needs ``meeting:schedules_read``; PUT and DELETE the write scope).
POST needs ``title``, ``start`` and ``end``; PUT replaces the meeting and needs ``title``, ``password``,
``start`` and ``end``; unknown fields, wrong types, a title over 128 or an agenda over 1300 characters, or
an end not after the start -> 400. Errors use Webex's ``{"message", "errors": [{"description"}],
"trackingId"}`` shape; the token endpoint answers RFC 6749 errors.
"""
from __future__ import annotations

import secrets
from typing import Any

from flask import jsonify, request

from tests.fakes.oauth_server import (
    ApiError,
    FakeOAuthServer,
    check_email,
    check_keys,
    check_type,
    parse_rfc3339,
)

FIELDS = {"title", "agenda", "password", "start", "end", "timezone", "recurrence", "enabledAutoRecordMeeting",
          "allowAnyUserToBeCoHost", "enabledJoinBeforeHost", "enableConnectAudioBeforeHost", "joinBeforeHostMinutes",
          "excludePassword", "publicMeeting", "reminderTime", "enableAutomaticLock", "automaticLockMinutes",
          "allowFirstUserToBeCoHost", "allowAuthenticatedDevices", "invitees", "sendEmail", "hostEmail"}
BOOLEANS = {"enabledAutoRecordMeeting", "allowAnyUserToBeCoHost", "enabledJoinBeforeHost", "excludePassword",
            "enableConnectAudioBeforeHost", "publicMeeting", "enableAutomaticLock", "allowFirstUserToBeCoHost",
            "allowAuthenticatedDevices", "sendEmail"}


class WebexFake(FakeOAuthServer):
    name = "webex"
    authorize_path = "/v1/authorize"
    token_path = "/v1/access_token"
    client_auth_methods = ("client_secret_post",)

    def __init__(self, *, email: str = "kim@example.com", **kwargs) -> None:
        self.email = email
        self.meetings: dict[str, dict[str, Any]] = {}
        kwargs.setdefault("token_lifetime", 1209599)
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "authorize_url": self.url + self.authorize_path, "token_url": self.url + self.token_path,
                "api_url": self.url + "/v1", **overrides}

    def check_authorize(self, args) -> str | None:
        return None if args.get("scope", "").strip() else "scope is required"

    def token_extra(self) -> dict[str, Any]:
        return {"refresh_token_expires_in": 7775999}

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        return {"message": message, "errors": [{"description": message}], "trackingId": secrets.token_hex(8)}

    def add_routes(self, app) -> None:
        app.add_url_rule("/v1/people/me", "me", self._me)
        app.add_url_rule("/v1/meetings", "create", self._create, methods=["POST"])
        app.add_url_rule("/v1/meetings/<meeting_id>", "meeting", self._meeting, methods=["GET", "PUT", "DELETE"])

    def _me(self):
        self.bearer("spark:people_read")
        return jsonify(id="Y2lzY29zcGFyazovL3VzL1BFT1BMRS8x", emails=[self.email], displayName="Kim Example",
                       orgId="Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi8x", type="person")

    def _create(self):
        self.bearer("meeting:schedules_write")
        body = self.json_body()
        _check_meeting(body, required=("title", "start", "end"))
        meeting_id = secrets.token_hex(16)
        number = str(secrets.randbelow(9 * 10**9) + 10**9)
        meeting = {k: v for k, v in body.items() if k not in ("invitees", "sendEmail")}
        meeting.update(id=meeting_id, meetingNumber=number, meetingType="meetingSeries", state="active",
                       password=body.get("password") or secrets.token_urlsafe(6), hostEmail=self.email,
                       timezone=body.get("timezone", "UTC"), siteUrl="linktime.webex.com",
                       webLink=f"https://linktime.webex.com/linktime/j.php?MTID=m{secrets.token_hex(16)}",
                       sipAddress=f"{number}@linktime.webex.com", enabledJoinBeforeHost=body.get(
                           "enabledJoinBeforeHost", False))
        meeting["_invitees"] = body.get("invitees", [])
        with self.lock:
            self.meetings[meeting_id] = meeting
        return jsonify(_public(meeting))

    def _meeting(self, meeting_id: str):
        self.bearer("meeting:schedules_read" if request.method == "GET" else "meeting:schedules_write")
        with self.lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None:
                raise ApiError(404, "The requested resource could not be found.")
            if request.method == "GET":
                return jsonify(_public(meeting))
            if request.method == "DELETE":
                if request.args.get("sendEmail") not in (None, "true", "false"):
                    raise ApiError(400, "sendEmail must be true or false")
                del self.meetings[meeting_id]
                return "", 204
        body = self.json_body()
        _check_meeting(body, required=("title", "password", "start", "end"))
        with self.lock:
            kept = {k: meeting[k] for k in ("id", "meetingNumber", "meetingType", "state", "hostEmail", "siteUrl",
                                            "webLink", "sipAddress", "_invitees")}
            self.meetings[meeting_id] = {**{k: v for k, v in body.items() if k != "sendEmail"}, **kept}
        return jsonify(_public(self.meetings[meeting_id]))


def _public(meeting: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meeting.items() if not k.startswith("_")}


def _check_meeting(body: dict[str, Any], *, required: tuple[str, ...]) -> None:
    check_keys(body, FIELDS, "meeting")
    for key in ("title", "agenda", "password", "start", "end", "timezone", "recurrence", "hostEmail"):
        check_type(body, key, str, required=key in required)
    for key in BOOLEANS:
        check_type(body, key, bool)
    if len(body["title"]) > 128:
        raise ApiError(400, "title must be at most 128 characters")
    if len(body.get("agenda") or "") > 1300:
        raise ApiError(400, "agenda must be at most 1300 characters")
    if parse_rfc3339(body["end"], "end") <= parse_rfc3339(body["start"], "start"):
        raise ApiError(400, "end must be after start")
    for invitee in check_type(body, "invitees", list) or []:
        if not isinstance(invitee, dict):
            raise ApiError(400, "invitees[] must be objects")
        check_keys(invitee, {"email", "displayName", "coHost"}, "invitee")
        check_email(invitee.get("email"), "invitees[].email")
        check_type(invitee, "displayName", str)
