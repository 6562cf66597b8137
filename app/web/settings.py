"""Settings: profile (name, username, time zone, brand colour, logo) and password."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, url_for

from app.models import UserLogo
from app.services import accounts
from app.services.errors import ValidationFailed
from app.services.timezones import all_timezones
from app.web import render
from app.web.session import login_required, login_user

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def index():
    return redirect(url_for("settings.profile"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = g.user
    errors: dict[str, str] = {}
    values = {"name": user.name, "username": user.username, "timezone": user.timezone,
              "brand_color": user.brand_color}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            accounts.update_profile(user, ip=g.client_ip, **values)
            upload = request.files.get("logo")
            if upload and upload.filename:
                accounts.set_logo(user, upload.mimetype, upload.read())
            elif request.form.get("remove_logo"):
                accounts.remove_logo(user)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            flash("Profile saved.", "success")
            if request.headers.get("HX-Request") != "true":
                return redirect(url_for("settings.profile"))
    has_logo = UserLogo.select().where(UserLogo.user == user).exists()
    return render("settings/profile.html", block="profile_form", values=values, errors=errors,
                  timezones=all_timezones(), has_logo=has_logo, status=422 if errors else 200)


@bp.get("/profile/username-check")
@login_required
def username_check():
    username = request.args.get("username", "").strip().lower()
    problem = None if username == g.user.username else accounts.validate_username(username,
                                                                                  exclude_user_id=g.user.id)
    return render("settings/_username_check.html", problem=problem, username=username)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    errors: dict[str, str] = {}
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_confirm", ""):
            errors["new_password_confirm"] = "The two passwords do not match."
        else:
            try:
                accounts.change_password(g.user, request.form.get("current_password", ""), new, ip=g.client_ip)
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                login_user(g.user)  # every session ended with the change: this browser gets a new one
                flash("Password changed. Other devices were signed out.", "success")
                return redirect(url_for("settings.password"))
    return render("settings/password.html", errors=errors, status=422 if errors else 200)
