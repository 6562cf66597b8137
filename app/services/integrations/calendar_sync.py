"""Bookings in the host's calendar: the event is created, moved or deleted through the outbox.

The booking events queue one ``calendar_sync`` outbox row per change when the host has a destination
calendar (or the booking already has an event). The handler reconciles: a confirmed booking gets its event
created (``If-None-Match: *``) or replaced (``If-Match``), a cancelled one has it deleted; running it twice
changes nothing. A failure is recorded on the connection (the integrations page shows it) and on the
booking's activity, retried when transient, and never touches the booking itself.

Every provider is written through its adapter (``app.services.integrations.calendar_providers``) from one
``EventDraft``.
The CalDAV event carries the invitee as ATTENDEE with ``SCHEDULE-AGENT=CLIENT``: LinkTime sends the invitation
email itself, so a scheduling server (iCloud) must not send a second one. Google Calendar and Outlook Calendar
events are written through their APIs (the remote event id is kept in ``href``).
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.oauth import Attendee
from app.models import Booking, BookingCalendarEvent, Integration, IntegrationCalendar
from app.models.base import utcnow
from app.services import events, outbox
from app.services.booking import lifecycle
from app.services.booking.bookings import add_activity, location_label
from app.services.integrations import connections
from app.services.integrations.calendar_providers import provider_of
from app.services.integrations.calendar_providers.base import EventDraft
from app.services.scheduling import video_connections
from app.statements import Param, Statement

log = logging.getLogger(__name__)
KIND = "calendar_sync"


def event_ics(booking: Booking) -> bytes:
    from app.services.booking.notifications import PRODID, ics_uid

    host = booking.user
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", ics_uid(booking))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", _summary(booking))
    organizer = vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = vText(host.name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{booking.invitee_email}")
    attendee.params["cn"] = vText(booking.invitee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    attendee.params["schedule-agent"] = vText("CLIENT")
    event.add("attendee", attendee)
    where = _where(booking)
    if where:
        event.add("location", where)
    if booking.meeting_link:
        event.add("url", booking.meeting_link)
    event.add("description", _description(booking))
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()


def _where(booking: Booking) -> str | None:
    return booking.meeting_link or location_label(booking) or None


def _summary(booking: Booking) -> str:
    return f"{booking.event_name} with {booking.invitee_name}"


def _description(booking: Booking) -> str:
    """The event's text. It links to the host's booking page in the dashboard, never to the invitee's own
    manage page: people who can see the host's calendar must not be able to cancel or move the booking."""
    from flask import current_app

    lines = [f"Invitee: {booking.invitee_name} <{booking.invitee_email}>"]
    if booking.invitee_phone:
        lines.append(f"Phone: {booking.invitee_phone}")
    if booking.meeting_link:
        lines.append(f"Join: {booking.meeting_link}")
    if booking.notes:
        lines.append(f"Notes: {booking.notes}")
    lines.append(f"Booking: {current_app.config['BASE_URL']}/dashboard/bookings/{booking.id}")
    return "\n".join(lines)


@events.subscribe(lifecycle.READY, lifecycle.UPDATED)
def _queue_sync(_message_id: str, payload: dict) -> None:
    """The booking's change is ready (after its video link, when there is one) or its link changed later."""
    booking = lifecycle.booking_of(payload)
    if booking is None:
        return
    if payload["event"] == lifecycle.UPDATED:
        if payload["what"] == lifecycle.LINK_REPLACED:
            return     # the event was made again here, and is rewritten with the new link by the same handler
    elif (payload.get("facts") or {}).get("calendarEventMade"):
        return     # the video step (Google Meet) wrote the event itself, or will on its next try
    queue(booking)


_HAS_DESTINATION = Statement(lambda: IntegrationCalendar.select(IntegrationCalendar.id).where(
    (IntegrationCalendar.user == Param("user")) & IntegrationCalendar.is_destination).limit(1).tuples())
_HAS_EVENT = Statement(lambda: BookingCalendarEvent.select(BookingCalendarEvent.id).where(
    BookingCalendarEvent.booking == Param("booking")).limit(1).tuples())


def queue(booking: Booking) -> None:
    """Queue the reconciliation of the booking's calendar event, if it has one or the host has a destination."""
    wanted = (_HAS_DESTINATION.first(user=booking.user_id) is not None
              or _HAS_EVENT.first(booking=booking.id) is not None)
    if wanted:
        outbox.add(KIND, {"booking_id": booking.id}, user_id=booking.user_id)


def draft(booking: Booking) -> EventDraft:
    """The booking's event as every calendar provider writes it."""
    from app.services.booking.notifications import ics_uid

    return EventDraft(key=booking.id, uid=ics_uid(booking), summary=_summary(booking),
                      description=_description(booking), location=_where(booking) or "", start=booking.start_at,
                      end=booking.end_at, timezone=booking.user.timezone,
                      attendees=(Attendee(booking.invitee_email, booking.invitee_name or None),),
                      ics=lambda: event_ics(booking))


def _retrying(booking: Booking, message, error: str) -> None:
    """A temporary failure: the outbox tries again; the booking's activity says so once (first attempt)."""
    if int(getattr(message, "attempts", 1) or 1) <= 1:
        add_activity(booking.id, "calendar", f"Could not update the calendar yet: {error}; LinkTime will try again.")


@outbox.handler(KIND, pass_message=True)
def sync_booking(payload: dict, message=None, now=None) -> None:
    booking = Booking.get_or_none(Booking.id == payload["booking_id"])
    if booking is None:
        return
    mapping = BookingCalendarEvent.get_or_none(BookingCalendarEvent.booking == booking)
    integration = mapping.integration if mapping else None
    destination = None
    if mapping is None and booking.status == "CONFIRMED":
        destination = (IntegrationCalendar.select().where((IntegrationCalendar.user == booking.user_id)
                                                          & IntegrationCalendar.is_destination).first())
        if destination is None:
            return
        integration = destination.integration
    if integration is None:
        return
    provider = provider_of(integration)
    if provider is None or not provider.writable:
        return
    if integration.status == "revoked" or not integration.credentials:
        return     # access was revoked: nothing can be changed there any more
    service = connections.service_name(integration)
    try:
        if booking.status == "CANCELLED":
            if mapping is not None:
                provider.delete_event(integration, mapping)
                mapping.delete_instance()
                add_activity(booking.id, "calendar", f"Removed from the calendar ({service})")
        elif mapping is not None:
            meet = booking.location_type in provider.video_locations
            written = provider.update_event(integration, mapping, draft(booking), with_meet=meet)
            BookingCalendarEvent.update(href=written.href, etag=written.etag, updated_at=utcnow()).where(
                BookingCalendarEvent.id == mapping.id).execute()
            if written.recreated and meet:      # deleted in the calendar meanwhile: its conference is new
                if video_connections.conference_recreated(booking, integration, written.event):
                    queue(booking)          # the event's description and location get the new link
            if booking.previous_start_at is not None:
                add_activity(booking.id, "calendar", f"Moved in the calendar ({service})")
        else:
            create_remote_event(booking, integration, destination)
    except GrantRevoked as exc:
        add_activity(booking.id, "calendar", f"Could not update the calendar: {service} access was revoked")
        raise outbox.PermanentFailure(str(exc)) from exc
    except IntegrationError as exc:
        error = provider.failure_text(integration, exc)
        connections.record_error(integration.id, error)
        if exc.transient:
            _retrying(booking, message, error)
            raise   # the outbox retries
        add_activity(booking.id, "calendar", f"Could not update the calendar: {exc.message}")
        raise outbox.PermanentFailure(str(exc)) from exc
    connections.record_ok(integration.id)


def create_remote_event(booking: Booking, integration: Integration, calendar: IntegrationCalendar, *,
                        with_meet: bool = False):
    """Create the booking's event in ``calendar`` (idempotent) and remember it; ``with_meet`` asks Google for a
    Meet conference (app.services.integrations.meetings reads the link from the answer). Returns the provider's answer
    (``oauth.CalendarEvent`` for Google and Outlook, None for CalDAV). Raises IntegrationError."""
    from app.services.booking.notifications import ics_uid

    written = provider_of(integration).create_event(integration, calendar.remote_id, draft(booking),
                                                    with_meet=with_meet)
    BookingCalendarEvent.create(booking=booking, integration=integration, calendar_remote_id=calendar.remote_id,
                                href=written.href, uid=ics_uid(booking), etag=written.etag)
    add_activity(booking.id, "calendar", f"Added to the calendar “{calendar.name}” "
                                         f"({connections.service_name(integration)})")
    return written.event
