"""Outlook Calendar (Microsoft Graph): busy time by calendarView, all-day events placed in the host's zone;
events through Graph, a first create carrying the booking id as ``transactionId`` so a retried POST finds the
event it created before instead of adding a second one."""
from __future__ import annotations

from app.models import Integration
from app.services.integrations.calendar_providers.base import EventDraft
from app.services.integrations.calendar_providers.oauth import OAuthCalendars
from app.services.integrations.oauth_connections import oauth_call


def _fields(draft: EventDraft) -> dict:
    return {"subject": draft.summary, "start": draft.start, "end": draft.end, "body": draft.description,
            "location": draft.location, "attendees": list(draft.attendees)}


class OutlookCalendars(OAuthCalendars):
    name = "microsoft"

    def _busy_options(self, tz) -> dict:
        return {"all_day_tz": tz}      # all-day events block the host's day, not a UTC day

    def _create(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool,
                with_meet: bool):
        client = self.client()
        ids = {"transaction_id": draft.key} if first else {}
        return oauth_call(integration, lambda t: client.create_event(t, calendar_id, **ids, **_fields(draft)))

    def _update(self, integration: Integration, mapping, draft: EventDraft):
        client = self.client()
        return oauth_call(integration, lambda t: client.update_event(t, mapping.href, **_fields(draft)))

    def delete_event(self, integration: Integration, mapping) -> None:
        client = self.client()
        oauth_call(integration, lambda t: client.delete_event(t, mapping.href))
