"""Google Calendar: busy time by freeBusy, events through the Calendar API (with a Meet conference when the
event type's location is Google Meet). LinkTime emails the invitee itself, so Google is told not to send
invitations or updates (``sendUpdates=none``); a first insert carries an id derived from the booking."""
from __future__ import annotations

from app.models import Integration
from app.services.integrations.calendar_providers.base import EventDraft
from app.services.integrations.calendar_providers.oauth import OAuthCalendars, google_event_id
from app.services.integrations.oauth_connections import oauth_call


def _fields(draft: EventDraft) -> dict:
    return {"summary": draft.summary, "start": draft.start, "end": draft.end, "description": draft.description,
            "location": draft.location, "attendees": list(draft.attendees), "timezone": draft.timezone,
            "send_updates": "none"}


class GoogleCalendars(OAuthCalendars):
    name = "google"
    video_locations = ("google_meet",)

    def _create(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool,
                with_meet: bool):
        client = self.client()
        ids = {"event_id": google_event_id(draft.key), "request_id": f"linktime-{draft.key}"} if first else {}
        return oauth_call(integration, lambda t: client.create_event(t, calendar_id, with_meet=with_meet, **ids,
                                                                     **_fields(draft)))

    def _update(self, integration: Integration, mapping, draft: EventDraft):
        client = self.client()
        return oauth_call(integration, lambda t: client.update_event(t, mapping.calendar_remote_id, mapping.href,
                                                                     **_fields(draft)))

    def delete_event(self, integration: Integration, mapping) -> None:
        client = self.client()
        oauth_call(integration, lambda t: client.delete_event(t, mapping.calendar_remote_id, mapping.href,
                                                              send_updates="none"))
