"""Dashboard: booking limits (issue 23). The host's limits across all their event types
(``/dashboard/availability/limits``: a plain form; htmx posts get the form back with its errors or a notice), and
the event type editor's "More booking limits" fields (helpers ``event_types`` calls).
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, g, redirect, request, url_for

from app.services.errors import ValidationFailed
from app.services.scheduling import booking_limits as service
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("booking_limits", __name__, url_prefix="/dashboard/availability/limits")

LABELS = {"max_per_week": "Bookings per week", "max_per_month": "Bookings per month",
          "max_per_year": "Bookings per year", "max_minutes_per_day": "Booked time per day",
          "max_minutes_per_week": "Booked time per week"}


def _text(value) -> str:
    return "" if value is None else str(value)


# --- the event type editor's fields ---------------------------------------------------------------------------
def event_type_values(event_type) -> dict:
    """The editor's values of the event type's limits (strings; a new event type has none)."""
    return {name: _text(getattr(event_type, name, None)) for name in service.EVENT_TYPE_FIELDS}


# --- the host's limits across all event types -----------------------------------------------------------------
@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    errors: dict[str, str] = {}
    notice = None
    values = {name: _text(value) for name, value in asdict(service.get_host_limits(g.user)).items()}
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in service.FIELDS}
        try:
            service.save_host_limits(g.user, values)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            if not is_htmx():
                return redirect(url_for("booking_limits.index", saved=1))
            notice = "Booking limits saved."
    elif request.args.get("saved"):
        notice = "Booking limits saved."
    return render("availability/limits.html", block="limits_form", values=values, errors=errors, notice=notice,
                  status=422 if errors else 200)
