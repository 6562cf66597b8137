"""Webex: OAuth 2.0 (authorization code + PKCE) and the Meetings REST API.

Endpoints (overridable in the config for tests):
  authorize  https://webexapis.com/v1/authorize
  token      https://webexapis.com/v1/access_token   (client_secret_post; refresh tokens live 90 days)
  api        https://webexapis.com/v1

``POST /meetings`` needs ``title``, ``start`` and ``end`` and answers the meeting with its ``webLink``.
``PUT /meetings/{id}`` replaces the meeting: it needs the full body (``title``, ``password``, ``start``,
``end`` at least), so an update reads the meeting first and sends its writable fields with the changes.
There is no public revocation endpoint for an integration's grant.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from app.integrations.errors import NotFound, PermanentError
from app.integrations.oauth import Attendee, Meeting, OAuthClient, utc_iso

TITLE_MAX = 128
AGENDA_MAX = 1300
# fields of a meeting that PUT accepts back (the rest of GET's answer is read-only)
WRITABLE = ("title", "agenda", "password", "start", "end", "timezone", "recurrence", "enabledAutoRecordMeeting",
            "allowAnyUserToBeCoHost", "enabledJoinBeforeHost", "enableConnectAudioBeforeHost",
            "joinBeforeHostMinutes", "excludePassword", "publicMeeting", "reminderTime",
            "enableAutomaticLock", "automaticLockMinutes", "allowFirstUserToBeCoHost", "allowAuthenticatedDevices")


class WebexClient(OAuthClient):
    name = "webex"
    defaults: ClassVar[dict[str, str]] = {
        "authorize_url": "https://webexapis.com/v1/authorize",
        "token_url": "https://webexapis.com/v1/access_token",
        "api_url": "https://webexapis.com/v1",
    }
    client_auth = "client_secret_post"

    def _api(self, method: str, path: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(self._request(method, self.url("api_url", path), access_token=access_token, **kwargs))

    def get_email(self, access_token: str) -> str:
        emails = self._api("GET", "/people/me", access_token).get("emails") or []
        if not emails:
            raise PermanentError("Webex did not share the account's email address.", provider=self.name)
        return emails[0]

    def create_meeting(self, access_token: str, *, title: str, start: datetime, end: datetime,
                       timezone: str | None = None, agenda: str | None = None,
                       invitees: Iterable[Attendee] = (), send_email: bool = False) -> Meeting:
        """Schedule a meeting; LinkTime sends its own emails, so Webex's invitations are off by default."""
        body: dict[str, Any] = {"title": title[:TITLE_MAX], "start": utc_iso(start), "end": utc_iso(end),
                                "enabledJoinBeforeHost": False, "sendEmail": send_email}
        if timezone:
            body["timezone"] = timezone
        if agenda:
            body["agenda"] = agenda[:AGENDA_MAX]
        people = [{"email": a.email, **({"displayName": a.name} if a.name else {})} for a in invitees]
        if people:
            body["invitees"] = people
        return _to_meeting(self._api("POST", "/meetings", access_token, json=body))

    def get_meeting(self, access_token: str, meeting_id: str) -> Meeting:
        return _to_meeting(self._api("GET", f"/meetings/{_seg(meeting_id)}", access_token))

    def update_meeting(self, access_token: str, meeting_id: str, *, title: str | None = None,
                       start: datetime | None = None, end: datetime | None = None, timezone: str | None = None,
                       agenda: str | None = None, send_email: bool = False) -> Meeting:
        """Read the meeting, change the given fields and PUT the full body back (Webex has no partial PUT)."""
        current = self._api("GET", f"/meetings/{_seg(meeting_id)}", access_token)
        body = {key: current[key] for key in WRITABLE if current.get(key) is not None}
        changes = {"title": title[:TITLE_MAX] if title is not None else None,
                   "start": utc_iso(start) if start else None, "end": utc_iso(end) if end else None,
                   "timezone": timezone, "agenda": agenda[:AGENDA_MAX] if agenda is not None else None}
        body.update({key: value for key, value in changes.items() if value is not None})
        body["sendEmail"] = send_email
        missing = [key for key in ("title", "password", "start", "end") if not body.get(key)]
        if missing:
            raise PermanentError(f"Webex meeting lacks {', '.join(missing)}; cannot update it.", provider=self.name)
        return _to_meeting(self._api("PUT", f"/meetings/{_seg(meeting_id)}", access_token, json=body))

    def delete_meeting(self, access_token: str, meeting_id: str, *, send_email: bool = False) -> bool:
        """True if deleted now, False if it was gone already."""
        try:
            self._request("DELETE", self.url("api_url", f"/meetings/{_seg(meeting_id)}"), access_token=access_token,
                          params={"sendEmail": "true" if send_email else "false"})
        except NotFound:
            return False
        return True


class WebexMeetings:
    """The video adapter (``app.integrations.video``; ``details`` is a ``video.MeetingDetails``)."""
    location, connection, name, in_calendar_event = "webex", "webex", "Webex", False

    def create_meeting(self, client: WebexClient, access_token: str, details) -> tuple[str, str]:
        created = client.create_meeting(access_token, title=details.topic, start=details.start, end=details.end,
                                        timezone=details.timezone)
        return created.id, created.join_url

    def update_meeting(self, client: WebexClient, access_token: str, remote_id: str, details) -> str | None:
        return client.update_meeting(access_token, remote_id, start=details.start, end=details.end).join_url

    def delete_meeting(self, client: WebexClient, access_token: str, remote_id: str) -> None:
        client.delete_meeting(access_token, remote_id)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _to_meeting(body: dict[str, Any]) -> Meeting:
    if not body.get("id") or not body.get("webLink"):
        raise PermanentError("Webex answered a meeting without an id or webLink.", provider="webex")
    return Meeting(id=body["id"], join_url=body["webLink"], password=body.get("password"), raw=body)
