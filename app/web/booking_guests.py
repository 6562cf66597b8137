"""Dashboard: a booking's additional guests (issue 23). The booking page lists them (``bookings/_guests_card.html``,
through the ``booking_guests`` template global) and, after the meeting's start, the booking's organizer marks a
guest as a no-show or removes the mark (``services.booking.guests.mark_guest_no_show``). htmx swaps the card alone;
a plain form post redirects back to the booking."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.services.booking import guests as service
from app.services.booking import no_shows
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.web.bookings import _own
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("booking_guests", __name__, url_prefix="/dashboard/bookings")
bp.add_app_template_global(service.guests_of, "booking_guests")


def _card(booking, *, notice: str | None = None, status: int = 200):
    """The card for htmx; a plain form post goes back to the booking with the notice."""
    if not is_htmx():
        flash(notice or "", "success" if status == 200 else "error")
        return redirect(url_for("bookings.detail", booking_id=booking.id))
    can_mark = booking.user_id == g.user.id and no_shows.can_mark(booking)
    return render("bookings/_guests_card.html", status=status, booking=booking, can_mark_no_show=can_mark,
                  guests_notice=notice)


@bp.post("/<booking_id>/guests/no-show")
@login_required
def guest_no_show(booking_id: str):
    """Mark the guest ``guest`` (an email address) as a no-show (``no_show=1``) or undo it (``no_show=0``)."""
    booking = _own(booking_id)
    if booking.user_id != g.user.id:        # a team booking's other host: the organizer marks it
        raise NotFound("Booking not found")
    value, email = request.form.get("no_show", ""), request.form.get("guest", "")
    if value not in ("0", "1"):
        return _card(booking, notice="Choose whether the guest came.", status=422)
    try:
        guest = service.mark_guest_no_show(g.user, booking.id, email, value == "1", ip=g.client_ip)
    except ValidationFailed as exc:
        return _card(booking, notice=exc.errors.get("guest", "Choose one of the guests."), status=422)
    except Conflict as exc:
        return _card(booking, notice=str(exc), status=409)
    return _card(booking, notice=(f"{guest.email} was marked as a no-show." if guest.no_show
                                  else f"The no-show mark of {guest.email} was removed."))
