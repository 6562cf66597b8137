"""Dashboard: out-of-office entries (issue 23, point 8), linked from Availability.

``GET /dashboard/availability/out-of-office`` lists the host's current and coming entries with the form to add one;
the form and each entry's Delete post plain forms, and htmx swaps the ``entries`` block alone. Bad input and an
entry overlapping another come back as inline errors (422); another user's entry is 404.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.models.out_of_office import REASONS
from app.services.errors import ValidationFailed
from app.services.scheduling import out_of_office as service
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("out_of_office", __name__, url_prefix="/dashboard/availability/out-of-office")

BLANK = {"start_date": "", "end_date": "", "reason": "vacation", "note": "", "show_reason": True, "redirect_to": ""}


def _page(values=None, errors=None, notice=None, status=200):
    return render("availability/out_of_office.html", block="entries", entries=service.entries(g.user),
                  teammates=service.teammates(g.user), reasons=REASONS, values=values or dict(BLANK),
                  errors=errors or {}, notice=notice, status=status)


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("")
@login_required
def add():
    form = request.form
    values = {"start_date": form.get("start_date", "").strip(), "end_date": form.get("end_date", "").strip(),
              "reason": form.get("reason", ""), "note": form.get("note", ""),
              "show_reason": form.get("show_reason") == "1", "redirect_to": form.get("redirect_to", "")}
    try:
        entry = service.add_entry(g.user, service.EntryInput(**values), ip=g.client_ip)
    except ValidationFailed as exc:
        return _page(values, exc.errors, status=422)
    message = f"Added: out of office {entry.start_date.isoformat()} to {entry.end_date.isoformat()}."
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("out_of_office.index"))
    return _page(notice=message)


@bp.post("/<entry_id>/delete")
@login_required
def delete(entry_id: str):
    service.delete_entry(g.user, entry_id, ip=g.client_ip)     # another user's: NotFound, a 404
    if not is_htmx():
        flash("Out-of-office entry deleted.", "success")
        return redirect(url_for("out_of_office.index"))
    return _page(notice="Out-of-office entry deleted.")
