"""Video links of bookings: Google Meet, Zoom, Microsoft Teams and Webex meetings, through the outbox.

An event type whose location is a video provider gets a meeting per booking. The booking.created event queues
one ``meeting`` outbox row, and the confirmation emails, the booking.created webhooks and the calendar event
wait for its first attempt, so they carry the link (``holds_confirmation``). Whatever that attempt gives, they
go out after it: a failure never fails or holds up the booking. The host sees the reason on the booking, and
a transient failure is tried again on a schedule (``RETRY_DELAYS``) until the meeting starts; a link created
later is sent to both sides by email and written into the calendar event.

Google Meet is the conference of the booking's Google Calendar event: the event is created here (in the
destination calendar when that is a Google calendar, else in the first writable calendar of the Google
connection) with a conference request, and calendar_sync moves and deletes it with the booking. Zoom
(host and participant video on, waiting room off, spec pages 06/24), Webex and Teams meetings are moved on a
reschedule and deleted on a cancel. A disconnected provider leaves existing links alone.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.db import transaction
from app.integrations.errors import GrantRevoked, IntegrationError
from app.integrations.errors import NotFound as RemoteNotFound
from app.models import (
    Booking,
    BookingCalendarEvent,
    BookingMeeting,
    Integration,
    IntegrationCalendar,
    User,
)
from app.models.base import utcnow
from app.services import connections, events, outbox
from app.services.bookings import add_activity
from app.services.oauth_connections import oauth_call, oauth_client

log = logging.getLogger(__name__)

KIND = "meeting"
# event-type location -> the provider whose connection creates its meetings
VIDEO_LOCATIONS = {"google_meet": "google", "zoom": "zoom", "teams": "teams", "webex": "webex"}
LOCATION_NAMES = {"google_meet": "Google Meet", "zoom": "Zoom", "teams": "Microsoft Teams", "webex": "Webex"}
RETRY_DELAYS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)   # seconds after the 1st, 2nd, ... failed attempt


class NotConnected(Exception):
    pass


def holds_confirmation(booking: Booking) -> bool:
    """True while the booking's video link is being created for the first time (emails, webhooks and the
    calendar event wait for it)."""
    return booking.location_type in VIDEO_LOCATIONS


def _usable(query):
    return query.where(Integration.credentials.is_null(False) & (Integration.status != "revoked"))


def connection(user_id: str, location: str) -> Integration | None:
    """The connection that creates meetings for ``location`` (the oldest one of its provider)."""
    provider = VIDEO_LOCATIONS.get(location)
    if provider is None:
        return None
    return _usable(Integration.select().where((Integration.user == user_id) & (Integration.provider == provider))
                   ).order_by(Integration.created_at).first()


def available_locations(user: User | str) -> set[str]:
    """Video locations the user can choose for an event type: those whose provider is connected."""
    user_id = user if isinstance(user, str) else user.id
    providers = {row.provider for row in _usable(Integration.select(Integration.provider).where(
        (Integration.user == user_id) & Integration.provider.in_(list(VIDEO_LOCATIONS.values()))))}
    return {location for location, provider in VIDEO_LOCATIONS.items() if provider in providers}


# --- queueing ------------------------------------------------------------------------------------------------
@events.subscribe("booking.created", "booking.rescheduled", "booking.cancelled")
def _queue(event_id: str, envelope: dict) -> None:
    booking = events.booking_of(envelope)
    if booking is None or booking.location_type not in VIDEO_LOCATIONS:
        return
    name = envelope["event"]
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    if name == "booking.created":
        if meeting is None:
            BookingMeeting.create(booking=booking, provider=booking.location_type)
        # the created event's envelope goes along: its webhooks are delivered once the link is known
        outbox.add(KIND, {"booking_id": booking.id, "event_id": event_id, "envelope": envelope},
                   user_id=booking.user_id)
    elif meeting is not None:
        outbox.add(KIND, {"booking_id": booking.id}, user_id=booking.user_id)


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


def _call(integration: Integration, fn):
    return oauth_call(integration, fn)


def _client(provider: str):
    return oauth_client(provider)


def _topic(booking: Booking) -> str:
    return f"{booking.event_name} with {booking.invitee_name}"


def _create(booking: Booking, meeting: BookingMeeting) -> None:
    if meeting.provider == "google_meet":
        _create_meet(booking, meeting)
        return
    integration = connection(booking.user_id, meeting.provider)
    if integration is None:
        raise NotConnected(f"{_name(meeting)} is not connected (Settings → Integrations), so this booking has no "
                           f"{_name(meeting)} link.")
    client = _client(integration.provider)
    host_tz = booking.user.timezone
    if integration.provider == "zoom":
        created = _call(integration, lambda t: client.create_meeting(
            t, topic=_topic(booking), start=booking.start_at, timezone=host_tz,
            duration_minutes=int((booking.end_at - booking.start_at).total_seconds() // 60)))
    elif integration.provider == "webex":
        created = _call(integration, lambda t: client.create_meeting(
            t, title=_topic(booking), start=booking.start_at, end=booking.end_at, timezone=host_tz))
    else:   # teams: createOrGet with the booking id, so a repeated attempt returns the same meeting
        created = _call(integration, lambda t: client.create_online_meeting(
            t, subject=_topic(booking), start=booking.start_at, end=booking.end_at, external_id=booking.id))
    _saved(booking, meeting, integration, created.id, created.join_url)


def _meet_calendar(user_id: str) -> tuple[Integration, IntegrationCalendar] | None:
    """Where a Meet booking's event goes: the destination if it is a Google calendar, else the first writable
    calendar of the (oldest) Google connection."""
    destination = (IntegrationCalendar.select(IntegrationCalendar, Integration).join(Integration)
                   .where((IntegrationCalendar.user == user_id) & IntegrationCalendar.is_destination
                          & (Integration.provider == "google")))
    found = _usable(destination).first()
    if found is None:
        found = _usable(IntegrationCalendar.select(IntegrationCalendar, Integration).join(Integration).where(
            (IntegrationCalendar.user == user_id) & (Integration.provider == "google") & IntegrationCalendar.writable)
        ).order_by(Integration.created_at, IntegrationCalendar.position).first()
    return (found.integration, found) if found is not None else None


def _create_meet(booking: Booking, meeting: BookingMeeting) -> None:
    from app.services import calendar_sync

    mapping = BookingCalendarEvent.get_or_none(BookingCalendarEvent.booking == booking)
    event = None
    if mapping is not None and mapping.integration.provider == "google":    # an earlier attempt made the event
        integration = mapping.integration
        client = _client("google")
        try:
            event = _call(integration, lambda t: client.get_event(t, mapping.calendar_remote_id, mapping.href))
        except RemoteNotFound:          # deleted in Google meanwhile: make it again below
            mapping.delete_instance()
            mapping = None
        if event is not None and not event.meeting_url:   # written without a conference: ask for one now
            event = _call(integration, lambda t: client.add_meet(t, mapping.calendar_remote_id, mapping.href))
    if event is None:
        if mapping is not None:
            raise NotConnected("The booking's calendar event is not in Google Calendar, so it has no Meet link.")
        place = _meet_calendar(booking.user_id)
        if place is None:
            raise NotConnected("Google Calendar is not connected (Settings → Integrations), so this booking has "
                               "no Google Meet link.")
        integration, calendar = place
        event = calendar_sync.create_remote_event(booking, integration, calendar, with_meet=True)
    if not event.meeting_url:
        raise IntegrationError("Google created the calendar event without a Meet link (Meet may be turned off "
                               "for this Google account).", provider="google")
    _saved(booking, meeting, integration, event.id, event.meeting_url)


def meet_recreated(booking: Booking, integration: Integration, event) -> bool:
    """The Google event of a Meet booking was made again (it had been deleted in Google): its conference is new,
    so the new link replaces the old one and both sides are told. True when the link changed."""
    from app.services import notifications

    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    if meeting is None or meeting.provider != "google_meet" or not event.meeting_url:
        return False
    if event.meeting_url == booking.meeting_link:
        return False
    _saved(booking, meeting, integration, event.id, event.meeting_url)
    if booking.status == "CONFIRMED" and meeting.confirmation_sent:
        notifications.send_link_added(Booking.get_by_id(booking.id))
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
    if meeting.provider == "google_meet":
        return          # the Meet belongs to the Google Calendar event, which calendar_sync moves
    integration = _meeting_integration(meeting)
    client = _client(integration.provider)
    if integration.provider == "zoom":
        _call(integration, lambda t: client.update_meeting(
            t, meeting.remote_id, start=booking.start_at, timezone=booking.user.timezone,
            duration_minutes=int((booking.end_at - booking.start_at).total_seconds() // 60)))
        link = None
    elif integration.provider == "webex":
        link = _call(integration, lambda t: client.update_meeting(
            t, meeting.remote_id, start=booking.start_at, end=booking.end_at)).join_url
    else:
        link = _call(integration, lambda t: client.update_online_meeting(
            t, meeting.remote_id, start=booking.start_at, end=booking.end_at)).join_url
    link = _web_link(link) if link else None
    with transaction():
        if link and link != booking.meeting_link:
            Booking.update(meeting_link=link[:500], updated_at=utcnow()).where(Booking.id == booking.id).execute()
        BookingMeeting.update(error=None, updated_at=utcnow()).where(BookingMeeting.id == meeting.id).execute()
        add_activity(booking.id, "meeting", f"{_name(meeting)} meeting moved to the new time")


def _delete(booking: Booking, meeting: BookingMeeting) -> None:
    if meeting.status != "created" or meeting.provider == "google_meet":
        return          # nothing was created; a Meet goes with its calendar event (calendar_sync)
    integration = _meeting_integration(meeting)
    client = _client(integration.provider)
    if integration.provider == "teams":
        _call(integration, lambda t: client.delete_online_meeting(t, meeting.remote_id))
    else:
        _call(integration, lambda t: client.delete_meeting(t, meeting.remote_id))
    with transaction():
        BookingMeeting.update(status="deleted", error=None, updated_at=utcnow()).where(
            BookingMeeting.id == meeting.id).execute()
        add_activity(booking.id, "meeting", f"{_name(meeting)} meeting deleted")


def _release(booking_id: str, payload: dict, failure: Exception | None, *, created: bool, retrying: bool) -> None:
    """Record the outcome; after the first attempt send what waited for it (confirmation emails, the
    booking.created webhooks, the calendar event); a link that arrives later is sent as an update."""
    from app.services import calendar_sync, notifications, webhooks

    with transaction():
        booking = Booking.get_by_id(booking_id)
        meeting = BookingMeeting.get(BookingMeeting.booking == booking_id)
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
                notifications.send_link_added(booking)          # created by a retry: tell both sides
                calendar_sync.queue(booking)
            elif failure is not None and not retrying and meeting.provider == "google_meet":
                calendar_sync.queue(booking)                    # Meet given up: the event without it
            return
        BookingMeeting.update(confirmation_sent=True).where(BookingMeeting.id == meeting.id).execute()
        if booking.status == "CONFIRMED":
            notifications.send_confirmation(booking)
        if payload.get("envelope"):
            envelope = payload["envelope"]
            envelope = {**envelope, "data": {**envelope["data"], "meetingLink": booking.meeting_link}}
            webhooks.queue_deliveries(payload["event_id"], envelope)
        if not (meeting.provider == "google_meet" and (retrying or created)):
            calendar_sync.queue(booking)    # (a Meet made the calendar event itself, or will on its next try)


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
