"""The checkout of a booking created through the JSON API (issue 16): which provider a priced event type's booking
is paid with, and where its invitee pays. Shared by ``POST /api/v1/bookings`` and the public ``POST /api/bookings``."""
from __future__ import annotations

from flask import current_app

from app.models import Booking, EventType
from app.services.booking import payments
from app.services.booking.bookings import PENDING_PAYMENT
from app.services.booking.notifications import invitee_links
from app.services.errors import NotFound


def payment_provider_of(event_type: EventType, asked: str | None) -> tuple[str | None, str | None]:
    """(the provider a priced event type's booking is paid with, or None and why not): the one asked for, else
    the first offered."""
    offered = payments.providers_for(event_type)
    if not offered:
        return None, "This event type cannot be paid for on this instance at the moment."
    if asked is None:
        return offered[0], None
    if asked not in offered:
        return None, f"Use one of the payment methods offered: {', '.join(offered)}."
    return asked, None


def held_checkout(booking: Booking, provider: str) -> str | None:
    """The checkout URL of a booking held for its payment (None when it is no longer waiting for one, e.g. an
    identical earlier request's booking that was paid meanwhile). PaymentUnavailable when the provider cannot be
    reached (the hold is released then)."""
    if booking.status != PENDING_PAYMENT:
        return None
    base = current_app.config["BASE_URL"]
    event_type = booking.event_type
    back = (f"{base}/team/{event_type.team.slug}/{event_type.slug}" if event_type.team_id
            else f"{base}/{booking.user.username}/{event_type.slug}")
    try:
        payment = payments.start_checkout(booking, provider, success_url=invitee_links(booking)["view"],
                                          cancel_url=back)
    except NotFound:      # released meanwhile
        return None
    return payment.checkout_url

