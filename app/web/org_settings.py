"""Dashboard → Organizations → Settings: the organization's name, brand colour and logo (issue 15), for its
OWNER and ADMIN members (an outsider gets a 404, a MEMBER a 403); and ``/org-logo/<organization id>``, the logo
for every page that shows the organization (the public team pages among them), served like a host's logo."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.services.account import org_settings as service
from app.services.account import organizations
from app.services.errors import ValidationFailed
from app.web.htmx import is_htmx
from app.web.main import send_logo
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("org_settings", __name__)


@bp.route("/dashboard/organizations/<org_id>/settings", methods=["GET", "POST"])
@login_required
def edit(org_id: str):
    org, _ = organizations.require_member(org_id, g.user, *organizations.MANAGERS)
    values = {"name": org.name, "brand_color": org.brand_color}
    errors: dict[str, str] = {}
    notice = None
    if request.method == "POST":
        values = {key: request.form.get(key, "").strip() for key in values}
        upload = request.files.get("logo")
        logo = (upload.mimetype, upload.read()) if upload and upload.filename else None
        try:
            service.update_settings(g.user, org_id, **values, logo=logo,
                                    remove_logo=bool(request.form.get("remove_logo")))
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            if is_htmx():
                notice = "Organization settings saved."
            else:
                flash("Organization settings saved.", "success")
                return redirect(url_for("org_settings.edit", org_id=org_id))
    return render("organizations/settings.html", block="settings_form", org=org, values=values, errors=errors,
                  has_logo=service.has_logo(org), notice=notice, status=422 if errors else 200)


@bp.get("/org-logo/<org_id>")
def logo(org_id: str):
    return send_logo(service.logo_of(org_id))
