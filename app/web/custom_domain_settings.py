"""Settings → Custom Domain (issue 20, spec page 18): add a domain, see its DNS records, verify it, remove it.

Organization plan only (others get the plan's 403 message). Every form is a plain post that redirects back;
with htmx the panel block is swapped in place.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.errors import error_response
from app.services import custom_domains
from app.services.errors import Conflict, ValidationFailed
from app.services.plans import PlanLimitReached, check_feature
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("custom_domain", __name__, url_prefix="/settings/custom-domain")


def _panel(*, value: str = "", errors: dict | None = None, result=None, notice: str | None = None,
           status: int = 200):
    domain = custom_domains.domain_of(g.user)
    records = None
    if domain is not None:
        records = {"txt_name": custom_domains.txt_name(domain), "txt_value": custom_domains.txt_value(domain),
                   "cname_name": domain.hostname, "cname_target": custom_domains.cname_target()}
    return render("settings/custom_domain.html", block="domain_panel", domain=domain, records=records,
                  value=value, errors=errors or {}, result=result, notice=notice, status=status)


def _plan_refusal():
    try:
        check_feature(g.user, "custom_domains", custom_domains.FEATURE)
    except PlanLimitReached as exc:
        return error_response(403, str(exc))
    return None


def _done(message: str, category: str = "success"):
    if is_htmx():
        return _panel(notice=message)
    flash(message, category)
    return redirect(url_for("custom_domain.index"))


@bp.get("")
@login_required
def index():
    return _plan_refusal() or _panel()


@bp.post("")
@login_required
def add():
    refused = _plan_refusal()
    if refused:
        return refused
    value = request.form.get("hostname", "")
    try:
        custom_domains.add_domain(g.user, value, ip=g.client_ip)
    except ValidationFailed as exc:
        return _panel(value=value, errors=exc.errors, status=422)
    except Conflict as exc:
        return _panel(value=value, errors={"hostname": str(exc)}, status=409)
    return _done("Domain added. Add the two DNS records below, then verify the domain.")


@bp.post("/verify")
@login_required
def verify():
    refused = _plan_refusal()
    if refused:
        return refused
    try:
        domain, result = custom_domains.verify(g.user, ip=g.client_ip)
    except ValidationFailed:
        return _done("Add a domain first.", "error")
    if is_htmx() or not result.ok:  # a failure is shown with what was found, on this answer
        return _panel(result=result, status=200)
    flash(f"{domain.hostname} is verified: your booking pages are live there.", "success")
    return redirect(url_for("custom_domain.index"))


@bp.post("/remove")
@login_required
def remove():
    removed = custom_domains.remove_domain(g.user, ip=g.client_ip)
    return _done("The custom domain was removed." if removed else "There was no custom domain.")
