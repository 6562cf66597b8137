"""Video links of bookings: Google Meet, Zoom, Microsoft Teams and Webex meetings, through the outbox.

An event type whose location is a video provider (``app.integrations.video.VIDEO_PROVIDERS``) gets a meeting per
booking. The meeting is a step of the booking lifecycle (``app.services.booking.lifecycle``): booking.created queues one
``meeting`` outbox row and holds the change, so the confirmation emails, the booking.created webhooks and the
calendar event (the lifecycle's READY consumers) carry the link. Whatever the first attempt gives, the step is
done after it (``_release``): a failure never fails or holds up the booking. The host sees the reason on the
booking, and a transient failure is tried again on a schedule (``RETRY_DELAYS``) until the meeting starts; a link
created later is told with the lifecycle's UPDATED event (emails to both sides, the calendar event rewritten).

Google Meet is the conference of the booking's Google Calendar event (``in_calendar_event``): the event is created
here (in the destination calendar when that is a Google calendar, else in the first writable calendar of the
Google connection) with a conference request, and calendar_sync moves and deletes it with the booking. Zoom
(host and participant video on, waiting room off, spec pages 06/24), Webex and Teams meetings are moved on a
reschedule and deleted on a cancel. A disconnected provider leaves existing links alone.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.db import transaction
from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.errors import NotFound as RemoteNotFound
from app.integrations.video import VIDEO_PROVIDERS, CalendarConference, MeetingDetails, VideoProvider
from app.models import (
    Booking,
    BookingCalendarEvent,
    BookingMeeting,
    Integration,
    IntegrationCalendar,
)
from app.models.base import utcnow
from app.services import outbox
from app.services.booking import lifecycle
from app.services.booking.bookings import add_activity
from app.services.integrations import connections
from app.services.integrations.oauth_connections import oauth_call, oauth_client
from app.services.scheduling.video_connections import (  # noqa: F401 (VIDEO_LOCATIONS, available_locations: public here too)
    LOCATION_NAMES,
    VIDEO_LOCATIONS,
    available_locations,
    connection,
    relinker,
)
from app.services.scheduling.video_connections import usable as _usable

log = logging.getLogger(__name__)

KIND = "meeting"
RETRY_DELAYS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)   # seconds after the 1st, 2nd, ... failed attempt


class NotConnected(Exception):
    pass


# --- queueing: the lifecycle's "meeting" step ----------------------------------------------------------------
@lifecycle.step(KIND)
def _queue(event_id: str, envelope: dict, booking: Booking | None) -> bool:
    """Queue the meeting's creation, move or deletion; booking.created is held until the first attempt."""
    if booking is None or booking.location_type not in VIDEO_PROVIDERS:
        return False
    name = envelope["event"]
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    if name == "booking.created":
        if meeting is None:
            BookingMeeting.create(booking=booking, provider=booking.location_type)
        # the created event's envelope goes along: the lifecycle's READY carries it, with the link
        outbox.add(KIND, {"booking_id": booking.id, "event_id": event_id, "envelope": envelope},
                   user_id=booking.user_id)
        return True
    if meeting is not None:
        outbox.add(KIND, {"booking_id": booking.id}, user_id=booking.user_id)
    return False


def retry(booking: Booking) -> None:
    """The host asks for the link again (the booking page's button)."""
    with transaction():
        changed = BookingMeeting.update(status="pending", error=None, updated_at=utcnow()).where(
            (BookingMeeting.booking == booking) & (BookingMeeting.status == "failed")).execute()
        if changed:     # a second click (or a retry that got there first) finds it pending: nothing more to queue
            outbox.add(KIND, {"booking_id": booking.id}, user_id=booking.user_id)


# --- the handler ---------------------------------------------------------------------------------------------
@outbox.handler(KIND, pass_message=True)
def sync_meeting(payload: dict, message, now: datetime) -> None:
    booking = Booking.get_or_none(Booking.id == payload["booking_id"])
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == payload["booking_id"])
    if booking is None or meeting is None:
        return
    failure: IntegrationError | NotConnected | None = None
    creating = booking.status != "CANCELLED" and meeting.status != "created"
    try:
        if booking.status == "CANCELLED":
            _delete(booking, meeting)
        elif not creating:
            _move(booking, meeting)
        else:
            _create(booking, meeting)
    except (IntegrationError, NotConnected) as exc:
        failure = exc
    except Exception as exc:   # a bug or a malformed answer must not hold the confirmation back
        log.exception("meeting of booking %s failed", booking.id)
        failure = IntegrationError(f"unexpected error ({type(exc).__name__})", provider=meeting.provider)
    attempt = int(message.attempts or 1)
    retry_at = None
    if (failure is not None and getattr(failure, "transient", False) and attempt <= len(RETRY_DELAYS)
            and booking.status == "CONFIRMED" and booking.start_at > now):
        retry_at = now + timedelta(seconds=RETRY_DELAYS[attempt - 1])
    _release(booking.id, payload, failure, created=creating and failure is None, retrying=retry_at is not None)
    if retry_at is not None:
        raise outbox.RetryAt(retry_at, str(failure))


def _name(meeting: BookingMeeting) -> str:
    return LOCATION_NAMES.get(meeting.provider, meeting.provider)


def _adapter(meeting: BookingMeeting) -> VideoProvider:
    return VIDEO_PROVIDERS[meeting.provider]


def _in_calendar_event(meeting: BookingMeeting) -> bool:
    adapter = VIDEO_PROVIDERS.get(meeting.provider)
    return adapter is not None and adapter.in_calendar_event


def _call(integration: Integration, fn):
    return oauth_call(integration, fn)


def _client(provider: str):
    return oauth_client(provider)


def _topic(booking: Booking) -> str:
    return f"{booking.event_name} with {booking.invitee_name}"


def _details(booking: Booking, **calendar_event) -> MeetingDetails:
    return MeetingDetails(key=booking.id, topic=_topic(booking), start=booking.start_at, end=booking.end_at,
                          timezone=booking.user.timezone, **calendar_event)


def _create(booking: Booking, meeting: BookingMeeting) -> None:
    adapter = _adapter(meeting)
    if adapter.in_calendar_event:
        _create_in_calendar_event(booking, meeting, adapter)
        return
    integration = connection(booking.user_id, meeting.provider)
    if integration is None:
        raise NotConnected(f"{_name(meeting)} is not connected (Settings → Integrations), so this booking has no "
                           f"{_name(meeting)} link.")
    client, details = _client(integration.provider), _details(booking)
    remote_id, link = _call(integration, lambda t: adapter.create_meeting(client, t, details))
    _saved(booking, meeting, integration, remote_id, link)


def _event_calendar(user_id: str, provider: str) -> tuple[Integration, IntegrationCalendar] | None:
    """Where the booking's event goes when the meeting is its conference: the destination if it is a calendar of
    ``provider``, else the first writable calendar of the (oldest) ``provider`` connection."""
    destination = (IntegrationCalendar.select(IntegrationCalendar, Integration).join(Integration)
                   .where((IntegrationCalendar.user == user_id) & IntegrationCalendar.is_destination
                          & (Integration.provider == provider)))
    found = _usable(destination).first()
    if found is None:
        found = _usable(IntegrationCalendar.select(IntegrationCalendar, Integration).join(Integration).where(
            (IntegrationCalendar.user == user_id) & (Integration.provider == provider) & IntegrationCalendar.writable)
        ).order_by(Integration.created_at, IntegrationCalendar.position).first()
    return (found.integration, found) if found is not None else None


def _create_in_calendar_event(booking: Booking, meeting: BookingMeeting, adapter: CalendarConference) -> None:
    """A meeting that is the conference of the booking's calendar event (Google Meet): asked for on the event an
    earlier attempt made, else the event is created here with it (calendar_sync owns it afterwards)."""
    from app.services.integrations import calendar_sync

    # the organizer's event (a team booking's other hosts have theirs, without a conference)
    mapping = (BookingCalendarEvent.select(BookingCalendarEvent, Integration).join(Integration)
               .where((BookingCalendarEvent.booking == booking.id) & (Integration.user == booking.user_id)).first())
    if mapping is not None and mapping.integration.provider == adapter.connection:   # an earlier attempt made it
        integration = mapping.integration
        client = _client(adapter.connection)
        details = _details(booking, calendar_id=mapping.calendar_remote_id, event_id=mapping.href)
        try:
            remote_id, link = _call(integration, lambda t: adapter.create_meeting(client, t, details))
        except RemoteNotFound:          # deleted in the calendar meanwhile: make it again below
            mapping.delete_instance()
            mapping = None
        else:
            _saved(booking, meeting, integration, remote_id, link)
            return
    if mapping is not None:
        raise NotConnected(adapter.not_in_calendar)
    place = _event_calendar(booking.user_id, adapter.connection)
    if place is None:
        raise NotConnected(adapter.no_calendar)
    integration, calendar = place
    event = calendar_sync.create_remote_event(booking, integration, calendar, with_meet=True)
    remote_id, link = adapter.conference(event)
    _saved(booking, meeting, integration, remote_id, link)


@relinker
def meet_recreated(booking: Booking, integration: Integration, event) -> bool:
    """The calendar event of a booking whose meeting is its conference (Google Meet) was made again (it had been
    deleted in the calendar): its conference is new, so the new link replaces the old one and both sides are told.
    True when the link changed."""
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    if meeting is None or not _in_calendar_event(meeting) or not event.meeting_url:
        return False
    if event.meeting_url == booking.meeting_link:
        return False
    _saved(booking, meeting, integration, event.id, event.meeting_url)
    if booking.status == "CONFIRMED" and meeting.confirmation_sent:
        with transaction():
            lifecycle.updated(booking, lifecycle.LINK_REPLACED)
    return True


def _web_link(link: str) -> str:
    if not link.lower().startswith(("https://", "http://")):
        raise IntegrationError("the provider answered a meeting link that is not a web address", provider="")
    return link


def _saved(booking: Booking, meeting: BookingMeeting, integration: Integration, remote_id: str, link: str) -> None:
    link = _web_link(link)
    with transaction():
        Booking.update(meeting_link=link[:500], updated_at=utcnow()).where(Booking.id == booking.id).execute()
        BookingMeeting.update(status="created", error=None, integration=integration, remote_id=str(remote_id)[:255],
                              updated_at=utcnow()).where(BookingMeeting.id == meeting.id).execute()
        add_activity(booking.id, "meeting", f"{_name(meeting)} meeting created: {link[:500]}")
    connections.record_ok(integration.id)


def _meeting_integration(meeting: BookingMeeting) -> Integration:
    integration = Integration.get_or_none(Integration.id == meeting.integration_id) if meeting.integration_id else None
    if integration is None or not integration.credentials or integration.status == "revoked":
        raise NotConnected(f"{_name(meeting)} was disconnected, so its meeting could not be changed; the link "
                           "stays as it was.")
    return integration


def _move(booking: Booking, meeting: BookingMeeting) -> None:
    adapter = _adapter(meeting)
    if adapter.in_calendar_event:
        return          # the meeting belongs to the calendar event, which calendar_sync moves
    integration = _meeting_integration(meeting)
    client, details = _client(integration.provider), _details(booking)
    link = _call(integration, lambda t: adapter.update_meeting(client, t, meeting.remote_id, details))
    link = _web_link(link) if link else None
    with transaction():
        if link and link != booking.meeting_link:
            Booking.update(meeting_link=link[:500], updated_at=utcnow()).where(Booking.id == booking.id).execute()
        BookingMeeting.update(error=None, updated_at=utcnow()).where(BookingMeeting.id == meeting.id).execute()
        add_activity(booking.id, "meeting", f"{_name(meeting)} meeting moved to the new time")


def _delete(booking: Booking, meeting: BookingMeeting) -> None:
    adapter = _adapter(meeting)
    if meeting.status != "created" or adapter.in_calendar_event:
        return          # nothing was created; a Meet goes with its calendar event (calendar_sync)
    integration = _meeting_integration(meeting)
    client = _client(integration.provider)
    _call(integration, lambda t: adapter.delete_meeting(client, t, meeting.remote_id))
    with transaction():
        BookingMeeting.update(status="deleted", error=None, updated_at=utcnow()).where(
            BookingMeeting.id == meeting.id).execute()
        add_activity(booking.id, "meeting", f"{_name(meeting)} meeting deleted")


def _release(booking_id: str, payload: dict, failure: Exception | None, *, created: bool, retrying: bool) -> None:
    """Record the outcome. After the first attempt the lifecycle step is done (the confirmation emails, the
    booking.created webhooks and the calendar event go out, with the link when there is one); a link that
    arrives later, or a Meet given up, is told with the lifecycle's UPDATED event."""
    with transaction():
        booking = Booking.get_by_id(booking_id)
        meeting = BookingMeeting.get(BookingMeeting.booking == booking_id)
        in_event = _in_calendar_event(meeting)
        if failure is not None:
            reason = _reason(meeting, failure)
            # a failed move or delete keeps the meeting "created" (its link still works)
            BookingMeeting.update(status="created" if meeting.status == "created" else "failed", error=reason,
                                  updated_at=utcnow()).where(BookingMeeting.id == meeting.id).execute()
            add_activity(booking_id, "meeting", f"{_name(meeting)} link: {reason}")
            if meeting.integration_id and not isinstance(failure, NotConnected):
                connections.record_error(meeting.integration_id, f"{_name(meeting)}: {reason}")
        if meeting.confirmation_sent:
            if created and booking.status == "CONFIRMED":
                lifecycle.updated(booking, lifecycle.LINK_ADDED)         # created by a retry: tell both sides
            elif failure is not None and not retrying and in_event:
                lifecycle.updated(booking, lifecycle.LINK_GIVEN_UP)      # Meet given up: the event without it
            return
        BookingMeeting.update(confirmation_sent=True).where(BookingMeeting.id == meeting.id).execute()
        envelope = payload.get("envelope")
        if envelope:
            envelope = {**envelope, "data": {**envelope["data"], "meetingLink": booking.meeting_link}}
        # a Meet made the calendar event itself, or will on its next try
        lifecycle.step_done(KIND, booking, "booking.created", payload.get("event_id"), envelope,
                            calendarEventMade=in_event and (retrying or created))


def _reason(meeting: BookingMeeting, failure: Exception) -> str:
    if isinstance(failure, NotConnected):
        return str(failure)
    if isinstance(failure, GrantRevoked):
        return f"{_name(meeting)} access was revoked; connect {_name(meeting)} again in Settings → Integrations."
    if isinstance(failure, RemoteNotFound):
        return f"{_name(meeting)} no longer has this meeting."
    message = getattr(failure, "message", None) or str(failure)
    retry = " LinkTime will try again." if getattr(failure, "transient", False) else ""
    return f"{_name(meeting)} could not create or change the meeting: {message[:500]}.{retry}"
