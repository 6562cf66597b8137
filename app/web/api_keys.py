"""Settings → API Keys: list, create (the raw key is shown once, in the response), delete with confirmation.

Each interaction works as an htmx partial (the ``keys_panel`` / ``confirm`` / ``row`` blocks) and as a plain
form post. A created key is never stored in the session or put in a URL: the response that creates it is
the only place it appears (``Cache-Control: no-store``).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from app.models import ApiKey
from app.services.developer import api_keys as service
from app.services.errors import ValidationFailed
from app.services.plans import PLAN_LABELS, PlanLimitReached, effective_plan, limits_for
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("api_keys", __name__, url_prefix="/settings/api-keys")


def _own(key_id: str) -> ApiKey:
    key = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.user == g.user))
    if key is None:
        abort(404)
    return key


def _panel(status: int = 200, **context):
    user = g.user
    limits = limits_for(user)
    context.setdefault("errors", {})
    context.setdefault("name", "")
    response = render("api_keys/index.html", block="keys_panel", status=status, keys=service.list_api_keys(user),
                      key_limit=limits.api_keys, api_access=limits.api_v1_access,
                      plan_label=PLAN_LABELS[effective_plan(user)], **context)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@login_required
def index():
    return _panel()


@bp.post("")
@login_required
def create():
    name = request.form.get("name", "").strip()
    try:
        key, raw = service.create_api_key(g.user, name, ip=g.client_ip)
    except ValidationFailed as exc:
        return _panel(422, errors=exc.errors, name=name)
    except PlanLimitReached as exc:
        return _panel(422, errors={"limit": str(exc)}, name=name)
    return _panel(201, created=key, raw_key=raw)


@bp.get("/<key_id>/row")
@login_required
def row(key_id: str):
    key = _own(key_id)
    if not is_htmx():
        return redirect(url_for("api_keys.index"))
    return render("api_keys/index.html", block="row", key=key)


@bp.route("/<key_id>/delete", methods=["GET", "POST"])
@login_required
def delete(key_id: str):
    key = _own(key_id)
    if request.method == "GET":  # the confirmation: a table row for htmx, a page otherwise
        return render("api_keys/delete.html", block="confirm", key=key)
    service.delete_api_key(g.user, key.id, ip=g.client_ip)
    message = f"Deleted the API key “{key.name}”. Requests using it are refused from now on."
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("api_keys.index"))
    return _panel(notice=message)
