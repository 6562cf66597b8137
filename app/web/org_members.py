"""Dashboard → Organizations: removing a member who attends upcoming team bookings (issue 15).

The Remove (or Leave) button of the organization page posts to ``organizations.remove``; when the member attends
upcoming team bookings, that route answers with the confirmation step of this module instead of removing them:
how many bookings, and the choice of reassigning them to other hosts or cancelling them with a message to the
invitees. Its form posts here; without such bookings removal works as before. An outsider gets a 404, a MEMBER
removing someone else a 403 (the service's rules, :mod:`app.services.account.member_removal`).
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.services.account import member_removal
from app.services.errors import DomainError, ValidationFailed
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("org_members", __name__)
SHOWN = 10          # bookings listed on the confirmation step; the rest are counted


def _step(org, row, found, *, status: int = 200, errors: dict | None = None, values: dict | None = None):
    return render("organizations/remove_member.html", block="org_panel", status=status, org=org, member=row.user,
                  leaving=row.user_id == g.user.id, bookings=found[:SHOWN], count=len(found),
                  errors=errors or {}, values=values or {"bookings": "reassign", "reason": ""})


def confirmation_step(org_id: str, member_id: str):
    """The confirmation step when ``member_id`` attends upcoming team bookings; None when removal goes ahead
    as it is (no such bookings), or when the removal is refused (the caller answers that as it always has)."""
    try:
        org, row = member_removal.check_removal(g.user, org_id, member_id)
    except DomainError:
        return None
    found = member_removal.upcoming_team_bookings(org, member_id)
    return _step(org, row, found) if found else None


@bp.get("/dashboard/organizations/<org_id>/members/<member_id>/remove")
@login_required
def confirm(org_id: str, member_id: str):
    org, row = member_removal.check_removal(g.user, org_id, member_id)
    return _step(org, row, member_removal.upcoming_team_bookings(org, member_id))


@bp.post("/dashboard/organizations/<org_id>/members/<member_id>/remove-with-bookings")
@login_required
def remove(org_id: str, member_id: str):
    values = {"bookings": request.form.get("bookings", ""), "reason": request.form.get("reason", "").strip()}
    leaving = member_id == g.user.id
    try:
        counts = member_removal.remove_member_with(g.user, org_id, member_id, bookings=values["bookings"],
                                                   reason=values["reason"])
    except ValidationFailed as exc:
        org, row = member_removal.check_removal(g.user, org_id, member_id)
        return _step(org, row, member_removal.upcoming_team_bookings(org, member_id), status=422,
                     errors=exc.errors, values=values)
    flash(_summary(counts, leaving), "success")
    if leaving:
        return redirect(url_for("organizations.index"))
    return redirect(url_for("organizations.detail", org_id=org_id))


def _plural(count: int) -> str:
    return "1 booking" if count == 1 else f"{count} bookings"


def _summary(counts: dict[str, int], leaving: bool) -> str:
    parts = []
    if counts["reassigned"]:
        parts.append(f"{_plural(counts['reassigned'])} reassigned to other hosts")
    if counts["without"]:
        parts.append(f"{_plural(counts['without'])} going ahead with the other hosts")
    if counts["cancelled"]:
        parts.append(f"{_plural(counts['cancelled'])} cancelled, the invitees told")
    done = "You left the organization" if leaving else "Removed the member from the organization and its teams"
    return done + (": " + "; ".join(parts) + "." if parts else ".")
