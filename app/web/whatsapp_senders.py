"""Dashboard → Phone Numbers → "Enable WhatsApp" (spec page 11): a number's WhatsApp sender registered with a
display name, its status badge, "Refresh status", "Try again" after a rejection and "Disable WhatsApp".

Plain form posts (CSRF) that redirect to the Phone Numbers page with a flash message; an htmx request gets the
number's row again (the ``row`` block of ``phone_numbers/index.html``), with the broken display-name rule or
Twilio's refusal (21656: page 11's admin message) in it.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.services.errors import Conflict, ValidationFailed
from app.services.messaging import whatsapp
from app.services.voice import numbers
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("whatsapp_senders", __name__, url_prefix="/dashboard/phone-numbers")
TEMPLATE = "phone_numbers/index.html"


@bp.context_processor
def _helpers():
    return {"COUNTRIES": numbers.COUNTRIES, "flag": numbers.flag, "country_name": numbers.country_name}


def _answer(number_id: str, message: str, *, error: bool, status: int = 200, name: str = ""):
    if is_htmx():
        number = numbers.get_number(g.user, number_id)
        row = {"n": number, "agents": numbers.agents_using(number), "manage": numbers.can_manage(g.user, number)}
        return render(TEMPLATE, block="row", status=status, row=row, wa_error=message if error else None,
                      wa_notice=None if error else message, wa_name=name)
    flash(message, "error" if error else "success")
    response = redirect(url_for("phone_numbers.index"))
    response.vary.add("HX-Request")
    return response


@bp.post("/<number_id>/whatsapp")
@login_required
def register(number_id: str):
    name = request.form.get("display_name", "")
    try:
        row = whatsapp.register(g.user, number_id, name)
    except ValidationFailed as exc:
        return _answer(number_id, exc.errors.get("displayName") or str(exc), error=True, status=422, name=name)
    except (Conflict, whatsapp.WhatsAppFailed) as exc:
        return _answer(number_id, str(exc), error=True, status=422, name=name)
    return _answer(number_id, f"WhatsApp requested for \"{row.display_name}\": Meta reviews the name, usually "
                              "within 1-3 business days. You get an email when it is approved or rejected.",
                   error=False)


@bp.post("/<number_id>/whatsapp/refresh")
@login_required
def refresh(number_id: str):
    try:
        row = whatsapp.status(g.user, number_id, refresh=whatsapp.configured())
    except whatsapp.WhatsAppFailed as exc:
        return _answer(number_id, str(exc), error=True, status=422)
    text = f"WhatsApp status: {row.status}." if row is not None else "WhatsApp is not enabled on this number."
    return _answer(number_id, text, error=False)


@bp.post("/<number_id>/whatsapp/delete")
@login_required
def deregister(number_id: str):
    try:
        whatsapp.deregister(g.user, number_id)
    except whatsapp.WhatsAppFailed as exc:
        return _answer(number_id, str(exc), error=True, status=422)
    return _answer(number_id, "WhatsApp is disabled on this number.", error=False)
