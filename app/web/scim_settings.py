"""Dashboard → Organizations → SCIM: the organization's SCIM tokens (issue 20), for its OWNER and ADMIN members
on the Business plan and above (an outsider gets a 404, a MEMBER a 403, a lower plan a 403 with the plan's
sentence). Generate (the token is shown once), rotate with a grace period chosen in minutes or hours (the older
tokens keep working that long; 0 stops them at once), revoke. Each action is a plain form post answered with
the page, or an htmx post that swaps the SCIM panel in place; the base URL to give the identity provider is shown.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from app.services.account import organizations, scim_tokens
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("scim_settings", __name__, url_prefix="/dashboard/organizations/<org_id>/scim")


def _panel(org_id: str, *, status: int = 200, **extra):
    org, _ = organizations.require_member(org_id, g.user, *organizations.MANAGERS)
    context = {"org": org, "plan_error": None, "tokens": [], "raw_token": None, "notice": None, "errors": {},
               "values": {"grace": "0", "unit": "minutes"},
               "base_url": (current_app.config["BASE_URL"] or request.host_url).rstrip("/") + "/api/scim/v2"}
    try:
        scim_tokens.check_plan(org)
    except PlanLimitReached as exc:
        context["plan_error"] = str(exc)
        status = 403
    else:
        context["tokens"] = scim_tokens.tokens_of(org)
    context.update(extra)
    return render("organizations/scim.html", block="scim_panel", status=status, **context)


@bp.get("")
@login_required
def index(org_id: str):
    return _panel(org_id)


def _act(org_id: str, action, success: str, values: dict | None = None):
    try:
        result = action()
    except PlanLimitReached:
        return _panel(org_id)            # the panel says why, with 403
    except ValidationFailed as exc:
        return _panel(org_id, status=422, errors=exc.errors, values=values or {"grace": "0", "unit": "minutes"})
    raw = result[1] if isinstance(result, tuple) else None
    return _panel(org_id, status=201 if raw else 200, raw_token=raw, notice=success)


@bp.post("/tokens")
@login_required
def generate(org_id: str):
    return _act(org_id, lambda: scim_tokens.generate(g.user, org_id, ip=g.client_ip),
                "Generated a SCIM token. Copy it now: it is shown only this once.")


@bp.post("/rotate")
@login_required
def rotate(org_id: str):
    values = {"grace": request.form.get("grace", "0").strip(), "unit": request.form.get("unit", "minutes")}

    def run():
        minutes = scim_tokens.parse_grace(values["grace"], values["unit"])
        return scim_tokens.rotate(g.user, org_id, grace_minutes=minutes, ip=g.client_ip)
    grace = values["grace"] if values["grace"] not in ("", "0") else None
    said = (f"the previous tokens keep working for {grace} {values['unit']}" if grace
            else "the previous tokens stopped working")
    return _act(org_id, run, f"Rotated the SCIM token: {said}. Copy the new token now: it is shown only this once.",
                values)


@bp.post("/tokens/<token_id>/revoke")
@login_required
def revoke(org_id: str, token_id: str):
    return _act(org_id, lambda: scim_tokens.revoke(g.user, org_id, token_id, ip=g.client_ip),
                "Revoked the token: it no longer works.")
