"""Zoom: OAuth 2.0 (authorization code + PKCE, HTTP Basic client authentication) and API v2 meetings.

Endpoints (overridable in the config for tests):
  authorize  https://zoom.us/oauth/authorize   (scopes are fixed in the Marketplace app, not sent)
  token      https://zoom.us/oauth/token       (Basic client_id:client_secret; refresh rotates the token)
  revoke     https://zoom.us/oauth/revoke
  api        https://api.zoom.us/v2

A booking's meeting is a scheduled meeting (type 2) with host and participant video on and the waiting room
off (spec pages 06/24). ``PATCH /meetings/{id}`` and ``DELETE /meetings/{id}`` answer 204; the join link does
not change on a reschedule.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from app.integrations.errors import NotFound, PermanentError
from app.integrations.oauth import Meeting, OAuthClient, utc_iso

TOPIC_MAX = 200
AGENDA_MAX = 2000
MEETING_SETTINGS = {"host_video": True, "participant_video": True, "waiting_room": False}


class ZoomClient(OAuthClient):
    name = "zoom"
    defaults: ClassVar[dict[str, str]] = {
        "authorize_url": "https://zoom.us/oauth/authorize",
        "token_url": "https://zoom.us/oauth/token",
        "revoke_url": "https://zoom.us/oauth/revoke",
        "api_url": "https://api.zoom.us/v2",
    }
    client_auth = "client_secret_basic"
    send_scope_on_authorize = False

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(self._request(method, self.url("api_url", path), access_token=access_token, **kwargs))

    def get_user(self, access_token: str) -> dict[str, Any]:
        return self._api("GET", "/users/me", access_token)

    def get_email(self, access_token: str) -> str:
        email = self.get_user(access_token).get("email")
        if not email:
            raise PermanentError("Zoom did not share the account's email address.", provider=self.name)
        return email

    def create_meeting(self, access_token: str, *, topic: str, start: datetime, duration_minutes: int,
                       timezone: str, agenda: str | None = None) -> Meeting:
        """A scheduled meeting for a booking; the answer's ``join_url`` is the link for the invitee."""
        body = _meeting_body(topic=topic, start=start, duration_minutes=duration_minutes, timezone=timezone,
                             agenda=agenda)
        body.update(type=2, settings=dict(MEETING_SETTINGS))
        return _to_meeting(self._api("POST", "/users/me/meetings", access_token, json=body))

    def get_meeting(self, access_token: str, meeting_id: str | int) -> Meeting:
        return _to_meeting(self._api("GET", f"/meetings/{_meeting_id(meeting_id)}", access_token))

    def update_meeting(self, access_token: str, meeting_id: str | int, *, topic: str | None = None,
                       start: datetime | None = None, duration_minutes: int | None = None,
                       timezone: str | None = None, agenda: str | None = None) -> None:
        """PATCH the given fields (Zoom answers 204 without a body)."""
        body = _meeting_body(topic=topic, start=start, duration_minutes=duration_minutes, timezone=timezone,
                             agenda=agenda)
        self._request("PATCH", self.url("api_url", f"/meetings/{_meeting_id(meeting_id)}"),
                      access_token=access_token, json=body)

    def delete_meeting(self, access_token: str, meeting_id: str | int) -> bool:
        """True if deleted now, False if it was gone already."""
        try:
            self._request("DELETE", self.url("api_url", f"/meetings/{_meeting_id(meeting_id)}"),
                          access_token=access_token)
        except NotFound:
            return False
        return True


class ZoomMeetings:
    """The video adapter (``app.integrations.video``; ``details`` is a ``video.MeetingDetails``): the join link
    does not change on a reschedule."""
    location, connection, name, in_calendar_event = "zoom", "zoom", "Zoom", False

    def create_meeting(self, client: ZoomClient, access_token: str, details) -> tuple[str, str]:
        created = client.create_meeting(access_token, topic=details.topic, start=details.start,
                                        timezone=details.timezone, duration_minutes=details.minutes)
        return created.id, created.join_url

    def update_meeting(self, client: ZoomClient, access_token: str, remote_id: str, details) -> str | None:
        client.update_meeting(access_token, remote_id, start=details.start, timezone=details.timezone,
                              duration_minutes=details.minutes)
        return None

    def delete_meeting(self, client: ZoomClient, access_token: str, remote_id: str) -> None:
        client.delete_meeting(access_token, remote_id)


def _meeting_id(value: str | int) -> str:
    text = str(value)
    if not text.isdigit():
        raise ValueError("a Zoom meeting id is a number")
    return text


def _meeting_body(*, topic, start, duration_minutes, timezone, agenda) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if topic is not None:
        body["topic"] = topic[:TOPIC_MAX]
    if start is not None:
        body["start_time"] = utc_iso(start)          # yyyy-MM-ddTHH:mm:ssZ: an instant in GMT
    if duration_minutes is not None:
        if int(duration_minutes) <= 0:
            raise ValueError("duration must be positive")
        body["duration"] = int(duration_minutes)
    if timezone is not None:
        body["timezone"] = timezone
    if agenda is not None:
        body["agenda"] = agenda[:AGENDA_MAX]
    return body


def _to_meeting(body: dict[str, Any]) -> Meeting:
    if body.get("id") is None or not body.get("join_url"):
        raise PermanentError("Zoom answered a meeting without an id or join_url.", provider="zoom")
    return Meeting(id=str(body["id"]), join_url=body["join_url"], password=body.get("password"), raw=body)
