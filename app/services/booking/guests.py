"""Additional guests (issue 23, point 1): the invitee adds up to ``event_types.max_guests`` email addresses (default
10, 0: none) to a booking; the guests get their own copy of the booking's emails with the ``.ics``
(``notifications``), are ATTENDEEs of the ``.ics`` and of the host's calendar event (``calendar_sync``) and appear
in the booking's payloads as ``guests``. After the meeting's start the host may mark a guest as a no-show.

Rules of a request's guests (``BookingRequest.guests``, checked by ``validate_request`` through REQUEST_CHECKS):

- a list of email addresses (the booking form's text is split on commas, semicolons and white space first:
  ``split_guests``); each must be one valid address; they are kept in lower case, in the order given, and a
  repeated address counts once;
- the invitee's own address is refused (they are invited already), and so is more than ``max_guests`` addresses
  (any at all when the event type takes none). Problems are reported under the field ``guests``.

Every new booking row (each occurrence of a series) gets one ``booking_guests`` row per guest and its
``guest_count``, in the booking's transaction before it is announced (EACH_ROW_HOOKS), so ``booking.created``
carries them. Payloads (webhooks, ``/api/v1``): ``"guests": [{"email", "noShow", "noShowMarkedAt"}]`` (empty when
there are none, read without a query).

``mark_guest_no_show`` follows ``no_shows.mark_no_show``'s rules (organizer only, confirmed and started, repeated
marks change nothing) and emits ``booking.no_show`` with the booking's payload plus ``guest``: the guest whose mark
changed (the invitee's own ``noShow`` is untouched).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

from app.db import transaction
from app.models import Booking, User
from app.models.guests import BookingGuest
from app.services import audit, events
from app.services.booking import bookings, no_shows
from app.services.errors import ValidationFailed
from app.services.validation import is_email
from app.statements import create

SEPARATORS = re.compile(r"[\s,;]+")
MAX_SHOWN = 3        # invalid addresses named in one message
MAX_ITEMS = 200      # a longer list is refused before it is read


def split_guests(text: str | None) -> list[str]:
    """The addresses of the booking form's guests field (one per line, or separated by commas or semicolons)."""
    return [part for part in SEPARATORS.split(text or "") if part]


def clean_guests(event_type, invitee_email: str | None, guests) -> tuple[list[str], str | None]:
    """``(addresses, problem)``: the guests as stored (lower case, each once, in order) or why they cannot be."""
    if guests is None:
        return [], None
    if not isinstance(guests, list) or not all(isinstance(item, str) for item in guests):
        return [], "Give the guests as a list of email addresses."
    limit = event_type.max_guests if event_type.max_guests is not None else 10
    if len(guests) > MAX_ITEMS:           # never walk an endless list
        return [], "This meeting does not take additional guests." if limit <= 0 else f"Add at most {limit} guests."
    cleaned: list[str] = []
    bad: list[str] = []
    for raw in guests:
        address = raw.strip().lower()
        if not address:
            continue
        if not is_email(address):
            if raw.strip() not in bad:
                bad.append(raw.strip())
        elif address not in cleaned:
            cleaned.append(address)
    if not cleaned and not bad:
        return [], None
    if limit <= 0:
        return [], "This meeting does not take additional guests."
    if bad:
        named = ", ".join(f"“{item[:80]}”" for item in bad[:MAX_SHOWN]) + (" …" if len(bad) > MAX_SHOWN else "")
        verb = "is not one" if len(bad) == 1 else "are not"
        return [], f"Enter valid email addresses for your guests: {named} {verb}."
    if (invitee_email or "").strip().lower() in cleaned:
        return [], "Leave out your own email address: you are invited already."
    if len(cleaned) > limit:
        return [], f"Add at most {limit} guest{'s' if limit != 1 else ''}."
    return cleaned, None


def _check_request(event_type, req: bookings.BookingRequest, errors: dict) -> None:
    cleaned, problem = clean_guests(event_type, req.invitee_email, req.guests)
    if problem:
        errors["guests"] = problem
    else:
        req.guests = cleaned


def _store(booking: Booking, req: bookings.BookingRequest) -> None:
    """A new booking row's guests, in its transaction (each occurrence of a series has its own)."""
    if not req.guests:
        return
    for position, email in enumerate(req.guests):
        create(BookingGuest, booking=booking.id, email=email, position=position)
    booking.guest_count = len(req.guests)
    Booking.update(guest_count=booking.guest_count).where(Booking.id == booking.id).execute()


def guests_of(booking) -> list[BookingGuest]:
    """A booking's guests in the order the invitee gave them (no query when it has none)."""
    if not getattr(booking, "guest_count", 0):
        return []
    return list(BookingGuest.select().where(BookingGuest.booking == booking.id)
                .order_by(BookingGuest.position, BookingGuest.email))


def guest_emails(booking) -> list[str]:
    return [guest.email for guest in guests_of(booking)]


def guest_json(guest: BookingGuest) -> dict:
    return {"email": guest.email, "noShow": bool(guest.no_show), "noShowMarkedAt": events.iso(guest.no_show_at)}


def _payload_extra(booking) -> dict:
    return {"guests": [guest_json(guest) for guest in guests_of(booking)]}


def mark_guest_no_show(user: User, booking_id: str, email: str, no_show: bool, now: datetime | None = None, *,
                       ip: str | None = None) -> BookingGuest:
    """Mark (or unmark) the guest ``email`` of ``user``'s booking ``booking_id`` as a no-show; the guest as stored
    after. NotFound for a booking not filed under ``user``; Conflict before the start or when it is not confirmed;
    ValidationFailed (``guest``) when the booking has no such guest."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    no_show = bool(no_show)
    address = (email or "").strip().lower() if isinstance(email, str) else ""
    with transaction(immediate=True):
        booking = no_shows.locked_booking(user, booking_id)
        guest = BookingGuest.get_or_none((BookingGuest.booking == booking.id) & (BookingGuest.email == address))
        if guest is None:
            raise ValidationFailed({"guest": "This booking has no guest with this email address."})
        no_shows.check_markable(booking, now)
        if bool(guest.no_show) == no_show:
            return guest
        guest.no_show = no_show
        guest.no_show_at = now if no_show else None
        guest.save()
        booking.updated_at = now
        Booking.update(updated_at=now).where(Booking.id == booking.id).execute()
        bookings.add_activity(booking.id, "guest_no_show" if no_show else "guest_no_show_undone",
                              f"The host marked the guest {address} as a no-show" if no_show
                              else f"The host removed the no-show mark of the guest {address}")
        audit.record(no_shows.AUDIT_ACTION, resource="booking", resource_id=booking.id, user=user, actor=user, ip=ip,
                     details={"noShow": no_show, "guestEmail": address, "inviteeEmail": booking.invitee_email,
                              "eventType": booking.event_name, "startTime": events.iso(booking.start_at)})
        event_type = booking.event_type if booking.event_type_id else None
        data = bookings.booking_payload(booking, user, event_type)
        data["guest"] = guest_json(guest)
        events.emit(no_shows.EVENT, data, user_id=user.id)
    return guest


bookings.REQUEST_CHECKS.append(_check_request)
bookings.EACH_ROW_HOOKS.append(_store)
bookings.PAYLOAD_EXTRAS.append(_payload_extra)
