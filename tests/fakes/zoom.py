"""A fake of Zoom's OAuth server and the API v2 meeting endpoints LinkTime uses.

Paths match Zoom's: ``/oauth/authorize``, ``/oauth/token`` (client authentication by HTTP Basic only; every
refresh answers a new refresh token and kills the old one), ``/oauth/revoke``; API ``/v2/users/me``,
``/v2/users/me/meetings`` (POST), ``/v2/meetings/{meetingId}`` (GET, PATCH -> 204, DELETE -> 204).
Meeting bodies are checked: unknown fields, wrong types (``type``/``duration`` integers, ``settings``
booleans), ``topic`` over 200 or ``agenda`` over 2000 characters, a ``start_time`` that is neither GMT
(``...Z``) nor local with a ``timezone`` -> 400 ``{"code": 300, "message"}``. Zoom's errors: 401
``{"code": 124, "message": "Invalid access token."}``, 404 ``{"code": 3001, ...}``; token errors
``{"reason", "error"}``.
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import jsonify, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, check_keys, check_type

MEETING_FIELDS = {"topic", "type", "start_time", "duration", "timezone", "agenda", "password", "settings",
                  "schedule_for", "recurrence", "default_password", "pre_schedule"}
SETTINGS = {"host_video", "participant_video", "waiting_room", "join_before_host", "mute_upon_entry",
            "auto_recording", "approval_type", "audio", "use_pmi", "watermark", "enforce_login"}


class ZoomFake(FakeOAuthServer):
    name = "zoom"
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"
    client_auth_methods = ("client_secret_basic",)
    rotate_refresh_tokens = True

    def __init__(self, *, email: str = "lin@example.com", **kwargs) -> None:
        self.email = email
        self.meetings: dict[int, dict[str, Any]] = {}
        self.join_url_base = "https://us05web.zoom.us/j/"     # tests may make it answer a bad link
        kwargs.setdefault("granted_scopes", {"meeting:write", "user:read"})
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "authorize_url": self.url + self.authorize_path, "token_url": self.url + self.token_path,
                "revoke_url": self.url + "/oauth/revoke", "api_url": self.url + "/v2", **overrides}

    def token_extra(self) -> dict[str, Any]:
        return {"api_url": self.url, "token_type": "bearer"}

    def token_error_body(self, error: str, description: str) -> dict[str, Any]:
        return {"reason": description, "error": error}

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        if not isinstance(code, int):
            code = {401: 124, 404: 3001, 429: 429}.get(status, 300 if status < 500 else status)
        if status == 401:
            message = "Invalid access token."
        return {"code": code, "message": message}

    def add_routes(self, app) -> None:
        app.add_url_rule("/oauth/revoke", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule("/v2/users/me", "me", self._me)
        app.add_url_rule("/v2/users/me/meetings", "create", self._create, methods=["POST"])
        app.add_url_rule("/v2/meetings/<int:meeting_id>", "meeting", self._meeting,
                         methods=["GET", "PATCH", "DELETE"])

    def _revoke(self):
        self._authenticate_client()
        token = request.form.get("token") or request.args.get("token", "")
        if not self.revoke_token(token):
            return jsonify(reason="Invalid Token!", error="invalid_request"), 400
        return jsonify(status="success")

    def _me(self):
        self.bearer("user:read", "user:read:user")
        return jsonify(id="KDcuGIm1QgePTO8WbOqwIQ", first_name="Lin", last_name="Example", email=self.email,
                       type=2, timezone="Europe/Berlin", account_id="q6gBJVO5TzexKYTb_I2rpg")

    def _create(self):
        self.bearer("meeting:write", "meeting:write:meeting")
        body = self.json_body()
        _check_meeting(body, partial=False)
        meeting_id = secrets.randbelow(9 * 10**10) + 10**10
        password = secrets.token_hex(3)
        meeting = {**body, "id": meeting_id, "uuid": secrets.token_urlsafe(16), "host_id": "KDcuGIm1QgePTO8WbOqwIQ",
                   "host_email": self.email, "type": body.get("type", 2), "status": "waiting",
                   "password": body.get("password", password), "created_at": datetime.now().isoformat(),
                   "join_url": f"{self.join_url_base}{meeting_id}?pwd={secrets.token_urlsafe(12)}",
                   "start_url": f"https://us05web.zoom.us/s/{meeting_id}?zak={secrets.token_urlsafe(16)}",
                   "settings": {"host_video": False, "participant_video": False, "waiting_room": True,
                                **body.get("settings", {})}}
        with self.lock:
            self.meetings[meeting_id] = meeting
        return jsonify(meeting), 201

    def _meeting(self, meeting_id: int):
        self.bearer("meeting:write", "meeting:write:meeting", "meeting:read")
        with self.lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None:
                raise ApiError(404, f"Meeting does not exist: {meeting_id}.")
            if request.method == "GET":
                return jsonify(meeting)
            if request.method == "DELETE":
                del self.meetings[meeting_id]
                return "", 204
        body = self.json_body()
        _check_meeting(body, partial=True)
        with self.lock:
            settings = {**meeting["settings"], **body.pop("settings", {})}
            meeting.update(body, settings=settings)
        return "", 204


def _check_meeting(body: dict[str, Any], *, partial: bool) -> None:
    check_keys(body, MEETING_FIELDS, "meeting")
    topic = check_type(body, "topic", str, required=not partial)
    if topic is not None and len(topic) > 200:
        raise ApiError(400, "topic must be at most 200 characters")
    kind = check_type(body, "type", int)
    if kind is not None and kind not in (1, 2, 3, 8):
        raise ApiError(400, "Invalid meeting type")
    duration = check_type(body, "duration", int, required=not partial and body.get("type", 2) == 2)
    if duration is not None and duration <= 0:
        raise ApiError(400, "duration must be positive")
    zone = check_type(body, "timezone", str)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, f"Invalid timezone: {zone}") from None
    start = check_type(body, "start_time", str, required=not partial and body.get("type", 2) == 2)
    if start is not None:
        try:
            datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ" if start.endswith("Z") else "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ApiError(400, "start_time must be yyyy-MM-ddTHH:mm:ssZ or yyyy-MM-ddTHH:mm:ss") from None
        if not start.endswith("Z") and zone is None:
            raise ApiError(400, "a local start_time needs a timezone")
    agenda = check_type(body, "agenda", str)
    if agenda is not None and len(agenda) > 2000:
        raise ApiError(400, "agenda must be at most 2000 characters")
    settings = check_type(body, "settings", dict)
    for key, value in (settings or {}).items():
        if key not in SETTINGS:
            raise ApiError(400, f"unknown setting {key}")
        if key in ("host_video", "participant_video", "waiting_room", "join_before_host", "mute_upon_entry",
                   "use_pmi", "watermark", "enforce_login") and not isinstance(value, bool):
            raise ApiError(400, f"settings.{key} must be a boolean")
