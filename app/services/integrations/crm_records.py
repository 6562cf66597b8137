"""What each CRM gets for a booking change, exactly as spec pages 03, 04, 05 and 25 say ("What happens when…").

One adapter per provider in ``ADAPTERS`` (``app.services.integrations.crm_sync`` looks the connection's provider up
there and never branches on its name). An adapter carries one change of one booking over with ``apply(work, facts,
change)``; ``work`` (a ``Work``) calls the provider with a valid token and stores each remote id the moment it exists
(``work.keep``), so a retry of the same change never makes a second record:

- HubSpot: the contact upserted by email (batch upsert, ``idProperty: email``), a meeting with title, times,
  description and outcome SCHEDULED associated with it; a reschedule moves the times and sets RESCHEDULED; a
  cancellation sets CANCELED and keeps the meeting.
- Attio: the person asserted by email address; a note per booking with the title, times and description (never a
  meeting link); a reschedule adds a "[RESCHEDULED]" note with the new and previous times, a cancellation a
  "[CANCELLED]" note with the reason.
- Salesforce: the Contact found by email with SOQL (created with FirstName, LastName, Email, Phone, or, when it exists,
  only FirstName and Phone updated), an Event with Subject, times, Description and WhoId; a reschedule moves the
  times and notes the previous time in the Description; a cancellation prefixes the Subject with "[Cancelled]".

Names follow ``crm_names.split_name`` (one word is the last name). A change that finds nothing made yet for the
booking (the CRM was connected after the booking was made) makes the records first; a cancellation of a booking
never synced leaves the CRM alone.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.integrations import attio, hubspot, salesforce
from app.integrations.crm_names import split_name
from app.models import Booking
from app.services.integrations import oauth_connections
from app.timezones import is_valid_timezone, zone

CREATED, RESCHEDULED, CANCELLED = "booking.created", "booking.rescheduled", "booking.cancelled"
DEFAULT_DESCRIPTION = "Booked via LinkTime"


@dataclass(frozen=True)
class Facts:
    """The booking as every CRM is told about it (the time of the change itself comes with the change)."""
    email: str
    name: str
    first_name: str
    last_name: str
    phone: str | None
    title: str
    description: str
    timezone: str


def facts_of(booking: Booking) -> Facts:
    first, last = split_name(booking.invitee_name)
    host_zone = booking.user.timezone
    return Facts(email=booking.invitee_email.strip(), name=booking.invitee_name, first_name=first, last_name=last,
                 phone=phone_of(booking), title=f"{booking.event_name} with {booking.invitee_name}",
                 description=(booking.notes or "").strip() or DEFAULT_DESCRIPTION,
                 timezone=host_zone if is_valid_timezone(host_zone) else "UTC")


def phone_of(booking: Booking) -> str | None:
    """The invitee's phone: the answer to the event type's phone question, else the phone location's number."""
    event_type = booking.event_type if booking.event_type_id else None
    answers = booking.answers or {}
    for question in (event_type.questions if event_type is not None else None) or []:
        value = answers.get(question.get("id"))
        if question.get("type") == "phone" and isinstance(value, str) and value.strip():
            return value.strip()
    return (booking.invitee_phone or "").strip() or None


def change_of(booking: Booking, change: str, key: str) -> dict[str, Any]:
    """The change as it is queued (times as of the change, so a later move does not rewrite an earlier note)."""
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None
    return {"change": change, "key": key, "start": iso(booking.start_at), "end": iso(booking.end_at),
            "previous_start": iso(booking.previous_start_at), "previous_end": iso(booking.previous_end_at),
            "reason": (booking.cancel_reason or "").strip() or None}


def when(change: dict, facts: Facts, prefix: str = "") -> str:
    """``Tue 10 Mar 2026, 10:00–10:30 (Europe/Berlin)`` of the change's times (or its previous ones)."""
    start, end = parse_iso(change[prefix + "start"]), parse_iso(change[prefix + "end"])
    tz = zone(facts.timezone)
    start, end = start.astimezone(tz), end.astimezone(tz)
    return f"{start:%a %d %b %Y, %H:%M}–{end:%H:%M} ({facts.timezone})"


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _times(change: dict, prefix: str = "") -> tuple[datetime, datetime]:
    return parse_iso(change[prefix + "start"]), parse_iso(change[prefix + "end"])


class Work:
    """One sync's access to its CRM: ``call(fn)`` runs ``fn(access_token)`` with a valid token (renewed one at a
    time per connection, a 401 renewed once), ``ids`` are the remote ids made so far and ``keep(key, value)`` stores
    one at once."""

    def __init__(self, integration, ids: dict, save: Callable[[dict], None]) -> None:
        self.integration = integration
        self.ids = ids
        self._save = save

    def call(self, fn):
        return oauth_connections.oauth_call(self.integration.id, fn)

    def client(self):
        return oauth_connections.oauth_client(self.integration.provider, self.integration)

    def keep(self, key: str, value: Any) -> None:
        self.ids[key] = value
        self._save(self.ids)


class Adapter(ABC):
    """What one CRM gets for each change of a booking (``CREATED``, ``RESCHEDULED``, ``CANCELLED``)."""
    provider = ""
    name = ""

    @abstractmethod
    def apply(self, work: Work, facts: Facts, change: dict) -> None:
        """Carry ``change`` over to the CRM, keeping each remote id with ``work.keep`` as soon as it exists."""


class HubSpotAdapter(Adapter):
    provider, name = hubspot.PROVIDER, "HubSpot"

    def apply(self, work: Work, facts: Facts, change: dict) -> None:
        client = work.client()
        kind = change["change"]
        start, end = _times(change)
        if "meeting" not in work.ids:
            if kind == CANCELLED and not work.ids:
                return
            if "contact" not in work.ids:
                work.keep("contact", work.call(lambda token: client.upsert_contact(
                    token, facts.email, facts.first_name, facts.last_name, facts.phone)))
            outcome = {CREATED: "SCHEDULED", RESCHEDULED: "RESCHEDULED"}.get(kind, "CANCELED")
            work.keep("meeting", work.call(lambda token: client.create_meeting(
                token, work.ids["contact"], facts.title, start, end, facts.description, outcome)))
            return
        if kind == RESCHEDULED:
            work.call(lambda token: client.update_meeting(token, work.ids["meeting"], start=start, end=end,
                                                          outcome="RESCHEDULED"))
        elif kind == CANCELLED:
            work.call(lambda token: client.update_meeting(token, work.ids["meeting"], outcome="CANCELED"))


class AttioAdapter(Adapter):
    provider, name = attio.PROVIDER, "Attio"

    def apply(self, work: Work, facts: Facts, change: dict) -> None:
        client = work.client()
        kind = change["change"]
        notes = dict(work.ids.get("notes") or {})
        if change["key"] in notes:
            return                               # this change's note is there already
        if kind == CANCELLED and not work.ids:
            return
        if "person" not in work.ids:
            work.keep("person", work.call(lambda token: client.assert_person(
                token, facts.email, facts.first_name, facts.last_name, facts.phone)))
        title, content = self.note(facts, change, first=not notes)
        note_id = work.call(lambda token: client.add_note(token, work.ids["person"], title, content))
        notes[change["key"]] = note_id
        work.keep("notes", notes)

    @staticmethod
    def note(facts: Facts, change: dict, *, first: bool) -> tuple[str, str]:
        """The note's title and plain text (no meeting link: the CRM's timeline is seen by the whole team)."""
        kind = change["change"]
        if kind == RESCHEDULED and not first:
            previous = when(change, facts, "previous_") if change.get("previous_start") else "not known"
            return (f"[RESCHEDULED] {facts.title}",
                    f"New time: {when(change, facts)}\nPrevious time: {previous}\n\n{facts.description}")
        if kind == CANCELLED:
            return (f"[CANCELLED] {facts.title}",
                    f"Time: {when(change, facts)}\nReason: {change.get('reason') or 'No reason given'}")
        return facts.title, f"Time: {when(change, facts)}\n\n{facts.description}"


class _SalesforceSession(salesforce.SalesforceApi):
    """The REST calls with the connection's stored token: a renewal (ahead of expiry, or after a 401) goes through
    ``oauth_connections.oauth_token``, which renews one at a time per connection and saves the new token."""

    def __init__(self, integration_id: str, client: salesforce.SalesforceClient) -> None:
        self._integration_id = integration_id
        super().__init__(client, oauth_connections.oauth_token(integration_id))

    def _renew(self) -> None:
        self.token = oauth_connections.oauth_token(self._integration_id, stale=self.token.access_token)


class SalesforceAdapter(Adapter):
    provider, name = salesforce.PROVIDER, "Salesforce"
    CANCELLED_PREFIX = "[Cancelled] "

    def apply(self, work: Work, facts: Facts, change: dict) -> None:
        api = _SalesforceSession(work.integration.id, work.client())
        kind = change["change"]
        start, end = _times(change)
        description = facts.description
        if kind == RESCHEDULED and change.get("previous_start"):
            description = f"{description}\n\nRescheduled: previously {when(change, facts, 'previous_')}."
        if "event" not in work.ids:
            if kind == CANCELLED and not work.ids:
                return
            if "contact" not in work.ids:
                work.keep("contact", api.upsert_contact(facts.email, facts.first_name or None,
                                                        facts.last_name or None, facts.phone))
            subject = (self.CANCELLED_PREFIX if kind == CANCELLED else "") + facts.title
            work.keep("event", api.create_event(work.ids["contact"], subject, start, end, description))
            return
        if kind == RESCHEDULED:
            api.update_event(work.ids["event"], start=start, end=end, description=description)
        elif kind == CANCELLED:
            api.update_event(work.ids["event"], subject=self.CANCELLED_PREFIX + facts.title)


ADAPTERS: dict[str, Adapter] = {adapter.provider: adapter
                                for adapter in (HubSpotAdapter(), AttioAdapter(), SalesforceAdapter())}
