"""Dashboard → Phone Numbers (spec pages 10 and 11): the account's and its organizations' numbers (flag, label,
the agents answering on them, held until when), a form that provisions one in the 14 countries, the label edited in
place, and the release (a 30-day hold) confirmed in the page.

Every control is a plain form post (the release asks on its own page without JavaScript); an htmx request gets the
part that changed: the whole manager after a provisioning or a release, one row after a new label. Without the Twilio
settings the page names them and offers no form; a plan without numbers (Free) shows the upgrade note instead.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.services.account import organizations
from app.services.errors import ValidationFailed
from app.services.plans import PLAN_LABELS, PlanLimitReached, effective_plan, limits_for
from app.services.voice import numbers as service
from app.services.voice import settings
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("phone_numbers", __name__, url_prefix="/dashboard/phone-numbers")
TEMPLATE = "phone_numbers/index.html"


@bp.context_processor
def _helpers():
    return {"COUNTRIES": service.COUNTRIES, "flag": service.flag, "country_name": service.country_name}


def _row(number) -> dict:
    return {"n": number, "agents": service.agents_using(number), "manage": service.can_manage(g.user, number)}


def _redirect():
    response = redirect(url_for("phone_numbers.index"))
    response.vary.add("HX-Request")
    return response


def _manager(status: int = 200, *, notice: str | None = None, errors: dict | None = None,
             values: dict | None = None):
    user = g.user
    used, limit = service.allowance(user)
    return render(TEMPLATE, block="manager", status=status, configured=settings.numbers_configured(),
                  missing=settings.missing_for_numbers(), rows=[_row(n) for n in service.numbers_of(user)],
                  used=used, limit=limit, allowed=limits_for(user).messaging_numbers > 0,
                  plan_label=PLAN_LABELS[effective_plan(user)], orgs=organizations.managed_organizations(user),
                  notice=notice, errors=errors or {}, values=values or {"country": "US", "label": "", "owner": ""})


@bp.get("")
@login_required
def index():
    return _manager()


@bp.post("")
@login_required
def provision():
    values = {"country": request.form.get("country", "").strip().upper(),
              "label": request.form.get("label", ""), "owner": request.form.get("owner", "").strip()}
    if not settings.numbers_configured():
        return _manager(503)
    try:
        number = service.provision_number(g.user, values["country"], label=values["label"],
                                          organization=values["owner"] or None)
    except ValidationFailed as exc:
        return _manager(422, errors=exc.errors, values=values)
    except PlanLimitReached as exc:
        return _manager(422, errors={"form": str(exc)}, values=values)
    except service.NumberFailed as exc:
        return _manager(422, errors={"form": str(exc)}, values=values)
    message = f"Your new number {number.e164} is ready."
    if is_htmx():
        return _manager(201, notice=message)
    flash(message, "success")
    return _redirect()


@bp.post("/<number_id>/label")
@login_required
def label(number_id: str):
    number = service.get_number(g.user, number_id, manage=True)
    error = None
    try:
        service.set_label(number, request.form.get("label", ""))
    except ValidationFailed as exc:
        error = exc.errors.get("label") or str(exc)
    except service.NumberFailed as exc:
        error = str(exc)
    if is_htmx():
        return render(TEMPLATE, block="row", status=422 if error else 200, row=_row(number), row_error=error,
                      saved=error is None)
    flash(error or f"Saved the label of {number.e164}.", "error" if error else "success")
    return _redirect()


@bp.route("/<number_id>/release", methods=["GET", "POST"])
@login_required
def release(number_id: str):
    number = service.get_number(g.user, number_id, manage=True)
    if request.method == "GET":         # the confirmation, for a browser without JavaScript
        return render("phone_numbers/release.html", number=number, agents=service.agents_using(number))
    try:
        service.hold_number(number)
    except service.NumberFailed as exc:
        if is_htmx():
            return render(TEMPLATE, block="row", status=422, row=_row(number), row_error=str(exc))
        flash(str(exc), "error")
        return _redirect()
    message = (f"Released {number.e164}: for 30 days callers hear that the line has moved and your booking page, "
               "then the number goes back to Twilio.")
    if is_htmx():
        return _manager(notice=message)
    flash(message, "success")
    return _redirect()
