"""Bookings in the host's calendar: the event is created, moved or deleted through the outbox.

The booking events queue one ``calendar_sync`` outbox row per change when the host has a destination
calendar (or the booking already has an event). The handler reconciles: a confirmed booking gets its event
created (``If-None-Match: *``) or replaced (``If-Match``), a cancelled one has it deleted; running it twice
changes nothing. A failure is recorded on the connection (the integrations page shows it) and on the
booking's activity, retried when transient, and never touches the booking itself.

The event carries the invitee as ATTENDEE with ``SCHEDULE-AGENT=CLIENT``: LinkTime sends the invitation
email itself, so a scheduling server (iCloud) must not send a second one.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from app.integrations.caldav import CalDAVClient
from app.integrations.ical import CalendarError, NotFoundError, PreconditionFailed
from app.models import Booking, BookingCalendarEvent, Integration, IntegrationCalendar
from app.models.base import utcnow
from app.services import calendars, events, outbox
from app.services.bookings import add_activity, location_label

log = logging.getLogger(__name__)
KIND = "calendar_sync"


def event_ics(booking: Booking) -> bytes:
    from app.services.notifications import PRODID, ics_uid, invitee_links

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
    event.add("summary", f"{booking.event_name} with {booking.invitee_name}")
    organizer = vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = vText(host.name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{booking.invitee_email}")
    attendee.params["cn"] = vText(booking.invitee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    attendee.params["schedule-agent"] = vText("CLIENT")
    event.add("attendee", attendee)
    where = booking.meeting_link or location_label(booking)
    if where:
        event.add("location", where)
    if booking.meeting_link:
        event.add("url", booking.meeting_link)
    lines = [f"Invitee: {booking.invitee_name} <{booking.invitee_email}>"]
    if booking.invitee_phone:
        lines.append(f"Phone: {booking.invitee_phone}")
    if booking.meeting_link:
        lines.append(f"Join: {booking.meeting_link}")
    if booking.notes:
        lines.append(f"Notes: {booking.notes}")
    lines.append(f"Booking: {invitee_links(booking)['view']}")
    event.add("description", "\n".join(lines))
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()


@events.subscribe("booking.created", "booking.rescheduled", "booking.cancelled")
def _queue_sync(_event_id: str, envelope: dict) -> None:
    booking_id = envelope["data"]["id"]
    host_id = envelope["data"]["host"]["id"]
    wanted = (IntegrationCalendar.select().where((IntegrationCalendar.user == host_id)
                                                 & IntegrationCalendar.is_destination).exists()
              or BookingCalendarEvent.select().where(BookingCalendarEvent.booking == booking_id).exists())
    if wanted:
        outbox.add(KIND, {"booking_id": booking_id}, user_id=host_id)


def _client(integration: Integration) -> CalDAVClient:
    return calendars.caldav_client(integration)


def _save(client: CalDAVClient, url: str, ics: bytes, etag: str | None, *, create: bool) -> str | None:
    try:
        return client.put_event(url, ics, etag=etag, create=create)
    except PreconditionFailed:
        # Created by an earlier attempt, or edited in the calendar since: ours to overwrite.
        return client.put_event(url, ics, etag=client.etag(url))
    except NotFoundError:
        if create:
            raise
        return client.put_event(url, ics, create=True)


@outbox.handler(KIND)
def sync_booking(payload: dict) -> None:
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
    if integration is None or integration.provider != "caldav":
        return
    try:
        client = _client(integration)
        if booking.status == "CANCELLED":
            if mapping is not None:
                client.delete_event(mapping.href, etag=mapping.etag)
                mapping.delete_instance()
                add_activity(booking.id, "calendar", f"Removed from the calendar ({calendars.service_name(integration)})")
        elif mapping is not None:
            etag = _save(client, mapping.href, event_ics(booking), mapping.etag, create=False)
            BookingCalendarEvent.update(etag=etag, updated_at=utcnow()).where(
                BookingCalendarEvent.id == mapping.id).execute()
            if booking.previous_start_at is not None:
                add_activity(booking.id, "calendar", "Moved in the calendar "
                                                     f"({calendars.service_name(integration)})")
        else:
            from app.services.notifications import ics_uid
            url = client.event_url(destination.remote_id, booking.id)
            etag = _save(client, url, event_ics(booking), None, create=True)
            BookingCalendarEvent.create(booking=booking, integration=integration, calendar_remote_id=destination.remote_id,
                                        href=url, uid=ics_uid(booking), etag=etag)
            add_activity(booking.id, "calendar", f"Added to the calendar “{destination.name}” "
                                                 f"({calendars.service_name(integration)})")
    except CalendarError as exc:
        calendars.record_error(integration.id, str(exc))
        if exc.transient:
            raise   # the outbox retries
        add_activity(booking.id, "calendar", f"Could not update the calendar: {exc}")
        raise outbox.PermanentFailure(str(exc)) from exc
    calendars.record_ok(integration.id)
