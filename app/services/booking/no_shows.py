"""No-shows (issue 23, point 5): after a meeting's start the host marks its invitee as not having come, or undoes it.

Rules of ``mark_no_show(user, booking_id, no_show, now)``:

- Only the booking's organizer (the host it is filed under) may mark it; anyone else gets ``NotFound`` (another's
  booking is 404, as everywhere). A team booking's other hosts see it but do not mark it.
- Only a confirmed booking whose start has passed (``start_at <= now``): before the start, and for a cancelled or
  unpaid (PENDING_PAYMENT) booking, ``Conflict`` (409 in the API), with a message saying why.
- ``no_show=True`` sets ``no_show`` and ``no_show_at = now``; ``False`` clears both (the undo). Setting what is
  already set changes nothing and emits nothing (a repeated request is harmless).
- A change writes, in one transaction: the booking, a booking activity, the audit entry ``booking.no_show``
  (details ``noShow``, ``inviteeEmail``, ``eventType``, ``startTime``) and the public event ``booking.no_show``,
  whose ``data`` is the booking as in the other booking events (``noShow`` true, or false for an undo). Customers'
  webhooks, Zapier and Make get it through the outbox like the others.

This marks the invitee; a booking's additional guests (issue 23, point 1) are marked by the same rules in
``services.booking.guests.mark_guest_no_show``.

Every booking payload (``bookings.booking_payload``: webhooks and ``/api/v1``) gains ``noShow`` and ``noShowMarkedAt``
through ``PAYLOAD_EXTRAS``.
"""
from __future__ import annotations

from datetime import UTC, datetime

from app.db import is_postgres, transaction
from app.models import Booking, User
from app.services import audit, events
from app.services.booking import bookings
from app.services.errors import Conflict, NotFound

EVENT = "booking.no_show"
AUDIT_ACTION = "booking.no_show"
NOT_STARTED = "The meeting has not started yet: mark a no-show once its start time has passed."
NOT_CONFIRMED = {"CANCELLED": "This booking was cancelled: there is no meeting to miss.",
                 "PENDING_PAYMENT": "This booking is not confirmed (the invitee has not paid): it cannot be a no-show.",
                 "PENDING": "This request is not confirmed yet: it cannot be a no-show."}


def locked_booking(user: User, booking_id: str) -> Booking:
    """Inside a transaction: ``user``'s booking ``booking_id``, its row locked on PostgreSQL (SQLite's immediate
    transaction already holds the write lock); NotFound for a booking not filed under ``user``."""
    query = Booking.select().where((Booking.id == booking_id) & (Booking.user == user.id))
    if is_postgres():
        query = query.for_update()
    booking = query.first()
    if booking is None:
        raise NotFound("Booking not found")
    return booking


def check_markable(booking: Booking, now: datetime) -> None:
    """Conflict, saying why, unless ``booking`` (its invitee or a guest) may be marked now."""
    if booking.status != "CONFIRMED":
        raise Conflict(NOT_CONFIRMED.get(booking.status, "Only a confirmed booking can be a no-show."))
    if booking.start_at > now:
        raise Conflict(NOT_STARTED)


def can_mark(booking: Booking, now: datetime | None = None) -> bool:
    """Whether the host may mark (or unmark) ``booking`` now: confirmed and started."""
    now = now or datetime.now(UTC)
    return booking.status == "CONFIRMED" and booking.start_at <= now


def mark_no_show(user: User, booking_id: str, no_show: bool, now: datetime | None = None, *,
                 ip: str | None = None) -> Booking:
    """Mark (``no_show=True``) or unmark the invitee of ``user``'s booking ``booking_id`` as a no-show; the booking
    as stored after. NotFound for a booking not filed under ``user``; Conflict before the start or when it is not
    confirmed."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    no_show = bool(no_show)
    with transaction(immediate=True):
        booking = locked_booking(user, booking_id)
        check_markable(booking, now)
        if bool(booking.no_show) == no_show:
            return booking
        booking.no_show = no_show
        booking.no_show_at = now if no_show else None
        booking.updated_at = now
        booking.save()
        bookings.add_activity(booking.id, "no_show" if no_show else "no_show_undone",
                              "The host marked the invitee as a no-show" if no_show
                              else "The host removed the no-show mark")
        audit.record(AUDIT_ACTION, resource="booking", resource_id=booking.id, user=user, actor=user, ip=ip,
                     details={"noShow": no_show, "inviteeEmail": booking.invitee_email,
                              "eventType": booking.event_name, "startTime": events.iso(booking.start_at)})
        event_type = booking.event_type if booking.event_type_id else None
        events.emit(EVENT, bookings.booking_payload(booking, user, event_type), user_id=user.id)
    return booking


def _payload_extra(booking) -> dict:
    """``noShow`` and ``noShowMarkedAt`` in every booking payload (also the list's light records: SQLite gives
    the flag as 0/1)."""
    return {"noShow": bool(getattr(booking, "no_show", False)),
            "noShowMarkedAt": events.iso(getattr(booking, "no_show_at", None))}


bookings.PAYLOAD_EXTRAS.append(_payload_extra)
