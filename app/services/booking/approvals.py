"""Requires confirmation (issue 23 point 2): requests that wait for the host's yes.

1. ``create_booking`` of an event type that requires confirmation (``event_type_approvals.needs_confirmation``) writes
   the booking ``PENDING`` (``approval = "pending"``; the slot is taken: ``PENDING`` is one of ``TAKEN_STATUSES``)
   through ``bookings.APPROVALS["request"]``. Nothing of a booking happens yet (no ``booking.created``, reminders,
   calendar event or contact): the public event ``booking.requested`` is emitted, whose fan-out emails the invitee
   ("request received, awaiting confirmation") and the host (the request, with Confirm and Decline links).
2. :func:`confirm_request` (the host, from the emailed link or the dashboard) makes it ``CONFIRMED`` and announces it
   with ``bookings.announce_created``, exactly as a paid booking is once paid: ``booking.created``, the confirmation
   emails, calendar event, video link, reminders, workflows and the contact follow from there.
3. :func:`decline_request` frees the slot: the booking becomes ``CANCELLED`` with ``cancelled_by = "host"``,
   ``approval = "declined"`` and the host's reason, the public ``booking.cancelled`` is emitted (its ``cancelReason``
   the reason, its ``approval`` "declined") and the invitee gets the "declined" email with the reason (the ordinary
   cancellation emails are not sent for it).
4. :func:`expire_requests` (a periodic task, every minute) declines the requests still unanswered at their start the
   same way, with ``cancelled_by = "system"``, ``approval = "expired"`` and :data:`EXPIRED_REASON`.

The emailed links (:func:`action_url`) are signed (itsdangerous, salt ``linktime.booking-approval``) for one action
(confirm or decline) of one booking, and stop working at the booking's start and once the request is answered.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.datetimes import host_clock, invitee_clock
from app.db import transaction
from app.models import Booking, EventType, User
from app.models.base import utcnow
from app.services import audit, events
from app.services.booking import bookings as core
from app.services.booking import notifications
from app.services.errors import Conflict, NotFound
from app.services.mailer import queue_email
from app.services.scheduling.event_type_approvals import needs_confirmation

PENDING = "PENDING"
REQUESTED_EVENT = "booking.requested"
EXPIRED_REASON = "The host did not confirm the request before the meeting's start."
ACTIONS = ("confirm", "decline")
SALT = "linktime.booking-approval"
MAX_REASON = 1000


# --- the request ---------------------------------------------------------------------------------------------------
def _request(event_type: EventType, req: core.BookingRequest, host: User, start: datetime, length: int,
             answers: dict, now: datetime) -> Booking | None:
    """``bookings.APPROVALS["request"]``, inside the booking's transaction once the slot is checked: the PENDING
    booking when ``event_type`` wants a confirmation for it, else None (booked at once)."""
    if req.occurrences != 1 or not needs_confirmation(event_type, start, now):
        return None
    booking = core.new_booking(event_type, req, host=host, contact=None, start=start, length=length,
                               answers=answers, group=None, first=True, status=PENDING, approval="pending")
    core._activity(booking, "requested", f"Requested by {booking.invitee_name} <{booking.invitee_email}> "
                                         f"({booking.source}): waits for the host's confirmation")
    audit.record("booking.requested", resource="booking", resource_id=booking.id, user=host,
                 details={"inviteeEmail": booking.invitee_email, "eventType": event_type.name,
                          "startTime": events.iso(booking.start_at)})
    events.emit(REQUESTED_EVENT, core.booking_payload(booking, host, event_type), user_id=host.id)
    return booking


core.APPROVALS["request"] = _request


def _payload_extra(booking) -> dict:
    """``approval`` in the payload of a booking that needed the host's confirmation (none for the others)."""
    approval = getattr(booking, "approval", None)
    return {"approval": approval} if approval else {}


core.PAYLOAD_EXTRAS.append(_payload_extra)


# --- signed links --------------------------------------------------------------------------------------------------
def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def action_token(booking: Booking, action: str) -> str:
    """A token for one ``action`` ("confirm" or "decline") of ``booking``, good until its start."""
    return _serializer().dumps({"b": booking.id, "u": booking.uid, "a": action,
                                "e": int(booking.start_at.timestamp())})


def action_url(booking: Booking, action: str) -> str:
    return f"{current_app.config['BASE_URL']}/approvals/{action_token(booking, action)}"


class LinkExpired(Conflict):
    """The link's request reached its start: it can no longer be answered."""

    def __init__(self) -> None:
        super().__init__("This link expired at the meeting's start: the request can no longer be answered.")


def booking_for_link(token: str, now: datetime | None = None) -> tuple[Booking, str]:
    """The booking and action a link stands for; NotFound for a forged or unknown link, LinkExpired once the
    meeting's start has passed."""
    try:
        data = _serializer().loads(token or "")
    except BadSignature:
        raise NotFound("Link not found") from None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS or not isinstance(data.get("e"), int):
        raise NotFound("Link not found")
    booking = Booking.get_or_none(Booking.id == data.get("b"))
    if booking is None or booking.uid != data.get("u"):
        raise NotFound("Link not found")
    now = now or datetime.now(UTC)
    if now.timestamp() >= data["e"] or booking.start_at <= now:
        raise LinkExpired()
    return booking, data["a"]


# --- emails --------------------------------------------------------------------------------------------------------
def _email_context(booking: Booking, host: User, clock, *, for_host: bool) -> dict:
    """A booking email's context without add-to-calendar links (the meeting is not confirmed)."""
    return notifications._context(booking, host, clock, kind="cancelled", for_host=for_host)


@events.subscribe(REQUESTED_EVENT)
def _on_requested(_event_id: str, envelope: dict) -> None:
    """The request's emails: the invitee hears it waits for the host; the host gets Confirm and Decline links."""
    booking = events.booking_of(envelope)
    if booking is None or booking.status != PENDING:
        return
    host = booking.user
    queue_email(booking.invitee_email, f"Request received: {booking.event_name} with {host.name}",
                "booking_requested_invitee", user_id=host.id, reply_to=host.email, booking_id=booking.id,
                **_email_context(booking, host, invitee_clock(booking), for_host=False))
    queue_email(host.email, f"Please confirm: {booking.event_name} with {booking.invitee_name}",
                "booking_requested_host", user_id=host.id, reply_to=booking.invitee_email, booking_id=booking.id,
                confirm_url=action_url(booking, "confirm"), decline_url=action_url(booking, "decline"),
                **_email_context(booking, host, host_clock(host), for_host=True))
    core.add_activity(booking.id, "email", f"Request emails queued to {booking.invitee_email} and {host.email}")


def _tell_invitee(booking: Booking, host: User) -> None:
    subject = ("Not confirmed" if booking.approval == "expired" else "Declined") + \
        f": {booking.event_name} with {host.name}"
    queue_email(booking.invitee_email, subject, "booking_declined_invitee", user_id=host.id, reply_to=host.email,
                booking_id=booking.id, **_email_context(booking, host, invitee_clock(booking), for_host=False))
    core._activity(booking, "email", f"{subject} emailed to {booking.invitee_email}")


# --- answers -------------------------------------------------------------------------------------------------------
def _held(booking_id: str, user_id: str | None) -> Booking:
    """The request, read under the host's lock; NotFound when it is not ``user_id``'s (None: any)."""
    booking = Booking.get_or_none(Booking.id == booking_id)
    if booking is None or (user_id is not None and booking.user_id != user_id):
        raise NotFound("Booking not found")
    core._lock_host(booking.user_id)
    return Booking.get_by_id(booking_id)


def answered(booking: Booking) -> str:
    """Why ``booking`` can no longer be answered, in words."""
    if booking.approval == "expired":
        return "This request expired at the meeting's start without an answer."
    if booking.approval == "declined" or booking.is_cancelled:
        return "This request was already declined or cancelled."
    if booking.status == "CONFIRMED":
        return "This booking is already confirmed."
    return "This booking is not waiting for a confirmation."


def confirm_request(booking_id: str, *, user_id: str | None = None, actor: User | None = None,
                    ip: str | None = None, now: datetime | None = None) -> Booking:
    """Confirm a PENDING request: it stands now (``booking.created`` and everything after it). ``user_id``: the
    host it must belong to (NotFound otherwise). Conflict when it is not pending or its start has passed."""
    now = now or utcnow()
    with transaction(immediate=True):
        held = _held(booking_id, user_id)
        if held.status != PENDING:
            raise Conflict(answered(held))
        if held.start_at <= now:
            raise LinkExpired()
        event_type = held.event_type if held.event_type_id else None
        if event_type is None:
            raise Conflict("The event type of this request was deleted: decline it instead.")
        host = User.get_by_id(held.user_id)
        contact, new_contact = core._upsert_contact(host, held.invitee_name, held.invitee_email, held.invitee_phone)
        held.status, held.approval, held.contact, held.updated_at = "CONFIRMED", "confirmed", contact, now
        held.save()
        core.announce_created(held, event_type, host, now=now, ip=ip,
                              how=f"Confirmed by the host: booked by {held.invitee_name} <{held.invitee_email}> "
                                  f"({held.source})")
        if new_contact:
            events.emit("contact.created", core.contact_payload(contact), user_id=host.id)
    return held


def decline_request(booking_id: str, *, reason: str | None, user_id: str | None = None, actor: User | None = None,
                    ip: str | None = None, now: datetime | None = None, expired: bool = False) -> Booking:
    """Decline a PENDING request (``expired``: the system does it at the start): the slot is free again, the
    invitee is told with the reason, ``booking.cancelled`` is emitted. Conflict when it is not pending."""
    now = now or utcnow()
    reason = (reason or "").strip()[:MAX_REASON] or None
    with transaction(immediate=True):
        held = _held(booking_id, user_id)
        if held.status != PENDING:
            raise Conflict(answered(held))
        held.status, held.approval = "CANCELLED", "expired" if expired else "declined"
        held.cancel_reason, held.cancelled_at = reason, now
        held.cancelled_by = "system" if expired else "host"
        held.sequence += 1
        held.updated_at = now
        held.save()
        host = User.get_by_id(held.user_id)
        core._activity(held, held.approval, ("Expired unanswered at the start" if expired else "Declined by the host")
                       + (f": {reason}" if reason and not expired else ""))
        audit.record("booking.declined", resource="booking", resource_id=held.id, user=host, actor=actor, ip=ip,
                     details={"inviteeEmail": held.invitee_email, "eventType": held.event_name,
                              "startTime": events.iso(held.start_at), "reason": reason,
                              "expired": expired})
        event_type = held.event_type if held.event_type_id else None
        events.emit("booking.cancelled", core.booking_payload(held, host, event_type), user_id=host.id)
        _tell_invitee(held, host)
    return held


def expire_requests(now: datetime | None = None) -> int:
    """Decline the requests still unanswered at their start; answers how many."""
    now = now or utcnow()
    due = [row.id for row in Booking.select(Booking.id).where((Booking.status == PENDING)
                                                               & (Booking.start_at <= now))]
    done = 0
    for booking_id in due:
        try:
            decline_request(booking_id, reason=EXPIRED_REASON, now=now, expired=True)
        except Conflict:
            continue            # answered meanwhile
        done += 1
    return done

