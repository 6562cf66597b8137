"""Answering requests that wait for the host's confirmation (issue 23 point 2).

- ``/approvals/<token>``: the signed link of the host's request email (one action, confirm or decline, of one
  booking; ``approvals.booking_for_link``). Opening it (GET) changes nothing, so a mail scanner following every link
  confirms nothing: it shows the request and a form (with the CSRF token) whose POST acts. A forged link is a 404, a
  link past the meeting's start a 410, a request answered already says so.
- ``POST /dashboard/bookings/<id>/confirm`` and ``/decline`` (reason optional): the signed-in host's buttons on the
  bookings list and a booking's page (htmx, or plain forms); another host's booking is a 404.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, make_response, redirect, request, url_for

from app.datetimes import host_clock
from app.services.booking import approvals
from app.services.errors import Conflict, NotFound
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("approvals", __name__)


def _page(booking, action: str, token: str, *, status: int = 200, message: str | None = None,
          done: str | None = None):
    """The request and its form (or the outcome), on the host's clock."""
    return render("approvals/answer.html", booking=booking, action=action, token=token, status=status,
                  message=message, done=done, reason=request.form.get("reason", ""), clock=host_clock(booking.user))


@bp.route("/approvals/<token>", methods=["GET", "POST"])
def answer(token: str):
    try:
        booking, action = approvals.booking_for_link(token)
    except approvals.LinkExpired as exc:
        return render("approvals/answer.html", booking=None, action=None, token=token, status=410,
                      message=str(exc), done=None, reason="")
    except NotFound:
        abort(404)
    if booking.status != approvals.PENDING:
        return _page(booking, action, token, message=approvals.answered(booking))
    if request.method != "POST":
        return _page(booking, action, token)
    actor = g.user if g.get("user") is not None and g.user.id == booking.user_id else None
    try:
        if action == "confirm":
            booking = approvals.confirm_request(booking.id, actor=actor, ip=g.client_ip)
            done = f"Confirmed: {booking.invitee_name} gets the confirmation and the calendar invitation."
        else:
            booking = approvals.decline_request(booking.id, reason=request.form.get("reason"), actor=actor,
                                                ip=g.client_ip)
            done = f"Declined: {booking.invitee_name} is told, and the time is free again."
    except Conflict as exc:
        return _page(booking, action, token, status=409, message=str(exc))
    return _page(booking, action, token, done=done)


def _back(booking_id: str, message: str, category: str):
    flash(message, category)
    target = url_for("bookings.detail", booking_id=booking_id)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        response.vary.add("HX-Request")
        return response
    return redirect(target)


@bp.post("/dashboard/bookings/<booking_id>/confirm")
@login_required
def confirm(booking_id: str):
    try:
        booking = approvals.confirm_request(booking_id, user_id=g.user.id, actor=g.user, ip=g.client_ip)
    except Conflict as exc:
        return _back(booking_id, str(exc), "error")
    return _back(booking.id, f"Confirmed: {booking.invitee_name} gets the confirmation.", "success")


@bp.post("/dashboard/bookings/<booking_id>/decline")
@login_required
def decline(booking_id: str):
    try:
        booking = approvals.decline_request(booking_id, reason=request.form.get("reason"), user_id=g.user.id,
                                            actor=g.user, ip=g.client_ip)
    except Conflict as exc:
        return _back(booking_id, str(exc), "error")
    return _back(booking.id, f"Declined: {booking.invitee_name} is told, and the time is free again.", "success")
