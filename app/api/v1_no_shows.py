"""``POST /api/v1/bookings/{id}/no-show`` (issue 23, point 5): the host marks the invitee of a meeting that has
started as a no-show (``{"noShow": true}``) or undoes it (``{"noShow": false}``).

Added to the ``/api/v1`` blueprint (``app.api.v1.bp``) like ``v1_calls``, so it shares its API-key authentication,
rate limits, plan check, error shape and ``Cache-Control: no-store``. Answers 200 with the booking (as ``GET
/api/v1/bookings/{id}``'s list representation, ``noShow`` and ``noShowMarkedAt`` included); 400 for a body without a
boolean ``noShow``; 404 for a booking not filed under the key's user (a team booking's other hosts included); 409
before the meeting's start, or for a cancelled or unpaid booking (the request is well formed, the booking's state
refuses it). Marking what is already marked answers 200 and changes nothing. Rules: ``services.booking.no_shows``.

With ``"guest": "<email>"`` (issue 23) one of the booking's guests is marked instead, by the same rules
(``services.booking.guests.mark_guest_no_show``); an address that is not a guest of the booking is a 400.
"""
from __future__ import annotations

from flask import g, jsonify

from app.api.v1 import bp
from app.api.v1_booking_list import booking_json
from app.api.v1_input import invalid, json_body, valid_id
from app.models import Booking
from app.services.booking import guests, no_shows, payments
from app.services.errors import ValidationFailed


@bp.post("/bookings/<booking_id>/no-show")
def bookings_no_show(booking_id: str):
    valid_id(booking_id, "Booking not found")
    body = json_body()
    value = body.get("noShow")
    if not isinstance(value, bool):
        raise invalid({"noShow": "Required: true to mark the invitee as a no-show, false to undo it."})
    guest = body.get("guest")
    if guest is not None:
        if not isinstance(guest, str) or not guest.strip():
            raise invalid({"guest": "Give the email address of one of the booking's guests."})
        try:
            guests.mark_guest_no_show(g.api_user, booking_id, guest, value, ip=g.client_ip)
        except ValidationFailed as exc:
            raise invalid(exc.errors) from None
        booking = Booking.get_by_id(booking_id)
    else:
        booking = no_shows.mark_no_show(g.api_user, booking_id, value, ip=g.client_ip)
    booking = Booking.get_by_id(booking.id)
    event_type = booking.event_type if booking.event_type_id else None
    return jsonify(booking_json(booking, g.api_user, event_type, payments.payment_of(booking)))
