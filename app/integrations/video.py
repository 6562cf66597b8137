"""Video providers: one interface for the services that make a booking's meeting, and the registry of them.

An adapter turns plain meeting data (``MeetingDetails``) into calls of its provider's client and answers the
remote meeting's id and join link; ``app.services.integrations.meetings`` holds the connection, the token
and the booking.
``VIDEO_PROVIDERS`` maps an event type's location to its adapter.

Adding a video provider: write its client (an ``OAuthClient`` subclass, listed in ``oauth.PROVIDERS`` with
category "video") and an adapter class in one module under ``app/integrations/``, then add one line below.
A provider whose meeting is the conference of the booking's calendar event (Google Meet) sets
``in_calendar_event`` and also implements ``CalendarConference``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.integrations import google, microsoft, webex, zoom


@dataclass(frozen=True)
class MeetingDetails:
    """What a meeting is made from. ``key`` is stable per booking (providers that deduplicate a retried create
    use it); ``calendar_id``/``event_id`` name the booking's calendar event, for ``in_calendar_event`` providers."""
    key: str
    topic: str
    start: datetime
    end: datetime
    timezone: str                       # the host's zone
    calendar_id: str | None = None
    event_id: str | None = None

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class VideoProvider(Protocol):
    location: str                       # the event-type location it serves ("zoom")
    connection: str                     # the provider (``oauth.PROVIDERS``) whose connection makes its meetings
    name: str                           # shown to people ("Zoom")
    in_calendar_event: bool             # the meeting is the calendar event's conference: moved/deleted with it

    def create_meeting(self, client: Any, access_token: str, details: MeetingDetails) -> tuple[str, str]:
        """Make the meeting; returns (remote id, join link). Raises ``IntegrationError``."""

    def update_meeting(self, client: Any, access_token: str, remote_id: str, details: MeetingDetails) -> str | None:
        """Move the meeting to the details' time; returns the join link when the provider answers one."""

    def delete_meeting(self, client: Any, access_token: str, remote_id: str) -> None:
        """Delete the meeting (one that is gone already is not an error)."""


class CalendarConference(VideoProvider, Protocol):
    """A video provider whose meeting lives in the booking's calendar event of its ``connection``."""
    calendar_name: str                  # "Google Calendar"
    no_calendar: str                    # why there is no link when the connection has no writable calendar
    not_in_calendar: str                # why there is none when the booking's event is in another calendar

    def conference(self, event: Any) -> tuple[str, str]:
        """(event id, join link) of a calendar event made with a conference; raises when it has none."""


VIDEO_PROVIDERS: dict[str, VideoProvider] = {
    "google_meet": google.GoogleMeet(),
    "zoom": zoom.ZoomMeetings(),
    "teams": microsoft.TeamsMeetings(),
    "webex": webex.WebexMeetings(),
}
