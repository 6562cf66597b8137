"""Instance administration: users, plans, disabling accounts."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from app.models import User
from app.services.account import accounts
from app.services.errors import ValidationFailed
from app.services.plans import PLAN_LABELS, PLANS
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50


@bp.get("/users")
@admin_required
def users():
    query = request.args.get("q", "").strip().lower()
    page = max(1, request.args.get("page", 1, type=int))
    rows = User.select().order_by(User.created_at)
    if query:
        rows = rows.where(User.email.contains(query) | User.username.contains(query) | User.name.contains(query))
    total = rows.count()
    return render("admin/users.html", block="user_table", users=list(rows.paginate(page, PAGE_SIZE)), q=query,
                  page=page, pages=max(1, -(-total // PAGE_SIZE)), total=total, plans=PLANS,
                  plan_labels=PLAN_LABELS)


def _target(user_id: str) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/users/<user_id>/plan")
@admin_required
def set_plan(user_id: str):
    user = _target(user_id)
    try:
        accounts.set_plan(user, request.form.get("plan", ""), actor=g.user, ip=g.client_ip)
        flash(f"{user.email} is now on the {PLAN_LABELS[user.plan]} plan.", "success")
    except ValidationFailed as exc:
        flash(exc.errors["plan"], "error")
    return _back(user)


@bp.post("/users/<user_id>/disable")
@admin_required
def set_disabled(user_id: str):
    user = _target(user_id)
    disable = request.form.get("disabled") == "1"
    try:
        accounts.set_disabled(user, disable, actor=g.user, ip=g.client_ip)
        flash(f"{user.email} is {'disabled' if disable else 'enabled'}.", "success")
    except ValidationFailed as exc:
        flash(next(iter(exc.errors.values())), "error")
    return _back(user)


def _back(user: User):
    if is_htmx():
        return render("admin/users.html", block="user_row", u=user, plans=PLANS, plan_labels=PLAN_LABELS)
    return redirect(url_for("admin.users"))
