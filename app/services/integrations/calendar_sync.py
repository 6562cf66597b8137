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

A team booking (issue 15) has an event in the destination calendar of every attending host
(``team_bookings.hosts_of_booking``): one ``calendar_sync`` row per host (``user_id`` in the payload), so one
host's failing calendar never holds up another's, and one ``BookingCalendarEvent`` per host, found through its
connection's user (unique per booking and connection). A host no longer attending (a round-robin reschedule that
assigned another host) has theirs deleted. The video link is the organizer's (one per booking): a Google Meet
made in the organizer's event reaches the other hosts' events as their location and description.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import peewee
from icalendar import Calendar, Event, vCalAddress, vText

from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.oauth import Attendee
from app.models import Booking, BookingCalendarEvent, Integration, IntegrationCalendar, User
from app.models.base import utcnow
from app.services import events, outbox
from app.services.booking import lifecycle
from app.services.booking.bookings import add_activity, location_label
from app.services.booking.guests import guest_emails
from app.services.booking.team_bookings import hosts_of_booking
from app.services.integrations import connections
from app.services.integrations.calendar_providers import provider_of
from app.services.integrations.calendar_providers.base import EventDraft
from app.services.scheduling import video_connections
from app.statements import Param, Statement

log = logging.getLogger(__name__)
KIND = "calendar_sync"


def event_ics(booking: Booking, hosts: list[User] | None = None) -> bytes:
    """The CalDAV event: the organizer (``Booking.user``) as ORGANIZER, the invitee, its guests and a team booking's
    other hosts as ATTENDEEs (``SCHEDULE-AGENT=CLIENT``: LinkTime emails them itself)."""
    from app.services.booking.notifications import PRODID, ics_uid

    host = booking.user
    hosts = hosts_of_booking(booking) if hosts is None else hosts
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
    for other in hosts:
        if other.id != host.id:
            address = vCalAddress(f"mailto:{other.email}")
            address.params["cn"] = vText(other.name)
            address.params["role"] = vText("REQ-PARTICIPANT")
            address.params["partstat"] = vText("ACCEPTED")
            address.params["schedule-agent"] = vText("CLIENT")
            event.add("attendee", address)
    for email in guest_emails(booking):       # the invitee's guests (issue 23)
        address = vCalAddress(f"mailto:{email}")
        address.params["role"] = vText("REQ-PARTICIPANT")
        address.params["partstat"] = vText("ACCEPTED")
        address.params["schedule-agent"] = vText("CLIENT")
        event.add("attendee", address)
    where = _where(booking)
    if where:
        event.add("location", where)
    if booking.meeting_link:
        event.add("url", booking.meeting_link)
    event.add("description", _description(booking, hosts))
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()


def _where(booking: Booking) -> str | None:
    return booking.meeting_link or location_label(booking) or None


def _summary(booking: Booking) -> str:
    return f"{booking.event_name} with {booking.invitee_name}"


def _description(booking: Booking, hosts: list[User]) -> str:
    """The event's text. It links to the host's booking page in the dashboard, never to the invitee's own
    manage page: people who can see the host's calendar must not be able to cancel or move the booking."""
    from flask import current_app

    lines = [f"Invitee: {booking.invitee_name} <{booking.invitee_email}>"]
    guests = guest_emails(booking)
    if guests:
        lines.append("Guests: " + ", ".join(guests))
    if len(hosts) > 1:
        lines.append("Hosts: " + ", ".join(user.name for user in hosts))
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
        # the video step (Google Meet) wrote the organizer's event itself, or will on its next try
        queue(booking, skip=booking.user_id)
        return
    queue(booking)


_HAS_DESTINATION = Statement(lambda: IntegrationCalendar.select(IntegrationCalendar.id).where(
    (IntegrationCalendar.user == Param("user")) & IntegrationCalendar.is_destination).limit(1).tuples())
_HAS_EVENT = Statement(lambda: BookingCalendarEvent.select(BookingCalendarEvent.id).where(
    BookingCalendarEvent.booking == Param("booking")).limit(1).tuples())


def _users_with_event(booking_id: str) -> list[str]:
    return [row[0] for row in Integration.select(Integration.user).join(BookingCalendarEvent).where(
        BookingCalendarEvent.booking == booking_id).distinct().order_by(Integration.user).tuples()]


def _hosts_to_sync(booking: Booking, hosts: list[User]) -> list[str]:
    """The hosts whose event may change: every attending host with a destination calendar, and every host who has
    the booking's event (one no longer attending has it deleted)."""
    ids = [user.id for user in hosts]
    if ids == [booking.user_id] and _HAS_EVENT.first(booking=booking.id) is None:    # a personal booking, mostly
        return ids if _HAS_DESTINATION.first(user=booking.user_id) is not None else []
    with_destination = {row[0] for row in IntegrationCalendar.select(IntegrationCalendar.user).where(
        IntegrationCalendar.user.in_(ids) & IntegrationCalendar.is_destination).tuples()}
    with_event = _users_with_event(booking.id)
    wanted = [user_id for user_id in ids if user_id in with_destination or user_id in with_event]
    return wanted + [user_id for user_id in with_event if user_id not in wanted]


def queue(booking: Booking, *, skip: str | None = None) -> None:
    """Queue the reconciliation of the booking's calendar event of each host who has one or a destination calendar
    (``skip``: a host whose event is written elsewhere)."""
    for user_id in _hosts_to_sync(booking, hosts_of_booking(booking)):
        if user_id != skip:
            outbox.add(KIND, {"booking_id": booking.id, "user_id": user_id}, user_id=user_id)


def draft(booking: Booking, host: User | None = None, hosts: list[User] | None = None) -> EventDraft:
    """The booking's event as every calendar provider writes it, for ``host``'s calendar (the organizer's by
    default); ``hosts``: every attending host (read from the booking when not given)."""
    from app.services.booking.notifications import ics_uid

    host = host or booking.user
    hosts = hosts_of_booking(booking) if hosts is None else hosts
    return EventDraft(key=booking.id, uid=ics_uid(booking), summary=_summary(booking),
                      description=_description(booking, hosts), location=_where(booking) or "",
                      start=booking.start_at, end=booking.end_at, timezone=host.timezone,
                      attendees=(Attendee(booking.invitee_email, booking.invitee_name or None),
                                 *(Attendee(email, None) for email in guest_emails(booking))),
                      ics=lambda: event_ics(booking, hosts))


def _retrying(booking: Booking, message, error: str) -> None:
    """A temporary failure: the outbox tries again; the booking's activity says so once (first attempt)."""
    if int(getattr(message, "attempts", 1) or 1) <= 1:
        add_activity(booking.id, "calendar", f"Could not update the calendar yet: {error}; LinkTime will try again.")


@outbox.handler(KIND, pass_message=True)
def sync_booking(payload: dict, message=None, now=None) -> None:
    """Reconcile one host's event of the booking (``user_id``; a row queued before team bookings: every host's)."""
    booking = Booking.get_or_none(Booking.id == payload["booking_id"])
    if booking is None:
        return
    hosts = hosts_of_booking(booking)
    user_ids = [payload["user_id"]] if payload.get("user_id") else _hosts_to_sync(booking, hosts)
    for user_id in user_ids:
        _sync_host(booking, user_id, hosts, message)


def _mapping_of(booking: Booking, user_id: str) -> BookingCalendarEvent | None:
    return (BookingCalendarEvent.select(BookingCalendarEvent, Integration).join(Integration)
            .where((BookingCalendarEvent.booking == booking.id) & (Integration.user == user_id)).first())


def _of(booking: Booking, user: User | None, hosts: list[User]) -> str:
    """" of Adam" in a team booking's activity lines (whose calendar), nothing for a personal booking."""
    return f" of {user.name}" if user is not None and (len(hosts) > 1 or user.id != booking.user_id) else ""


def _sync_host(booking: Booking, user_id: str, hosts: list[User], message) -> None:
    attending = {user.id: user for user in hosts}
    host = attending.get(user_id)
    mapping = _mapping_of(booking, user_id)
    integration = mapping.integration if mapping else None
    destination = None
    wanted = booking.status == "CONFIRMED" and host is not None
    if mapping is None and wanted:
        destination = (IntegrationCalendar.select().where((IntegrationCalendar.user == user_id)
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
    whose = _of(booking, host or User.get_or_none(User.id == user_id), hosts)
    try:
        if not wanted:          # cancelled, or this host no longer attends (reassigned)
            if mapping is not None:
                provider.delete_event(integration, mapping)
                mapping.delete_instance()
                add_activity(booking.id, "calendar", f"Removed from the calendar{whose} ({service})")
        elif mapping is not None:
            # the organizer's event holds the Google Meet; the other hosts' events carry its link as text
            meet = booking.location_type in provider.video_locations and user_id == booking.user_id
            written = provider.update_event(integration, mapping, draft(booking, host, hosts), with_meet=meet)
            BookingCalendarEvent.update(href=written.href, etag=written.etag, updated_at=utcnow()).where(
                BookingCalendarEvent.id == mapping.id).execute()
            if written.recreated and meet:      # deleted in the calendar meanwhile: its conference is new
                if video_connections.conference_recreated(booking, integration, written.event):
                    queue(booking)          # every host's event gets the new link in its description and location
            if booking.previous_start_at is not None:
                add_activity(booking.id, "calendar", f"Moved in the calendar{whose} ({service})")
        else:
            create_remote_event(booking, integration, destination, host=host, hosts=hosts)
    except GrantRevoked as exc:
        add_activity(booking.id, "calendar", f"Could not update the calendar{whose}: {service} access was revoked")
        raise outbox.PermanentFailure(str(exc)) from exc
    except IntegrationError as exc:
        error = provider.failure_text(integration, exc)
        connections.record_error(integration.id, error)
        if exc.transient:
            _retrying(booking, message, error)
            raise   # the outbox retries
        add_activity(booking.id, "calendar", f"Could not update the calendar{whose}: {exc.message}")
        raise outbox.PermanentFailure(str(exc)) from exc
    connections.record_ok(integration.id)


def create_remote_event(booking: Booking, integration: Integration, calendar: IntegrationCalendar, *,
                        with_meet: bool = False, host: User | None = None, hosts: list[User] | None = None):
    """Create the booking's event in ``calendar`` (idempotent) and remember it; ``with_meet`` asks Google for a
    Meet conference (app.services.integrations.meetings reads the link from the answer). ``host``: whose calendar
    (the organizer's by default). Returns the provider's answer (``oauth.CalendarEvent`` for Google and Outlook,
    None for CalDAV). Raises IntegrationError."""
    from app.db import transaction
    from app.services.booking.notifications import ics_uid

    host = host or booking.user
    hosts = hosts_of_booking(booking) if hosts is None else hosts
    written = provider_of(integration).create_event(integration, calendar.remote_id, draft(booking, host, hosts),
                                                    with_meet=with_meet)
    try:
        with transaction():
            BookingCalendarEvent.create(booking=booking, integration=integration,
                                        calendar_remote_id=calendar.remote_id, href=written.href,
                                        uid=ics_uid(booking), etag=written.etag)
    except peewee.IntegrityError:   # a concurrent attempt recorded the same (idempotently created) event first
        BookingCalendarEvent.update(href=written.href, etag=written.etag, updated_at=utcnow()).where(
            (BookingCalendarEvent.booking == booking.id)
            & (BookingCalendarEvent.integration == integration.id)).execute()
        return written.event
    add_activity(booking.id, "calendar", f"Added to the calendar “{calendar.name}”{_of(booking, host, hosts)} "
                                         f"({connections.service_name(integration)})")
    return written.event
