"""The signed-in home page."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from app.services.plans import PLAN_LABELS, effective_plan, limits_for
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
@login_required
def home():
    user = g.user
    return render("dashboard/home.html", plan=PLAN_LABELS[effective_plan(user)], limits=limits_for(user),
                  base_url=current_app.config["BASE_URL"])
