"""Settings: profile (name, username, time zone, brand colour, logo), password and signed-in sessions."""
from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)

from app.models import UserLogo
from app.ratelimit import backoff_check, backoff_failure, backoff_reset
from app.services import audit
from app.services.account import accounts, organizations, sessions
from app.services.errors import ValidationFailed
from app.services.plans import PLAN_LABELS, effective_plan, normalize_plan
from app.timezones import all_timezones
from app.web.auth import remember_device
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required, login_user, logout_user

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
              "brand_color": user.brand_color, "time_format": "12" if user.hour12 else "24"}
    if request.method == "POST":
        clock = request.form.get("time_format")     # absent (an older form): unchanged
        values = {k: request.form.get(k, "").strip() for k in values}
        values["time_format"] = clock or ("12" if user.hour12 else "24")
        try:
            if clock is not None and clock not in ("12", "24"):
                raise ValidationFailed({"time_format": "Choose 24-hour or 12-hour."})
            fields = {k: v for k, v in values.items() if k != "time_format"}
            accounts.update_profile(user, ip=g.client_ip, hour12=None if clock is None else clock == "12",
                                    **fields)
            upload = request.files.get("logo")
            if upload and upload.filename:
                accounts.set_logo(user, upload.mimetype, upload.read())
            elif request.form.get("remove_logo"):
                accounts.remove_logo(user)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            flash("Profile saved.", "success")
            if not is_htmx():
                return redirect(url_for("settings.profile"))
    has_logo = UserLogo.select().where(UserLogo.user == user).exists()
    return render("settings/profile.html", block="profile_form", values=values, errors=errors,
                  timezones=all_timezones(), has_logo=has_logo, status=422 if errors else 200,
                  plan=PLAN_LABELS[effective_plan(user)], own_plan=PLAN_LABELS[normalize_plan(user.plan)],
                  plan_from=organizations.plan_source(user))


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
        # Guessing the current password from a signed-in browser backs off exponentially for that session
        # alone (app/ratelimit.py): the owner's other sessions are never slowed down.
        scope = f"{g.user.id}/{session.row_id}"
        backoff_check("password-change", scope)
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_confirm", ""):
            errors["new_password_confirm"] = "The two passwords do not match."
        else:
            try:
                accounts.change_password(g.user, request.form.get("current_password", ""), new, ip=g.client_ip)
            except ValidationFailed as exc:
                errors = exc.errors
                if "current_password" in errors:
                    backoff_failure("password-change", scope)
            else:
                backoff_reset("password-change", scope)
                login_user(g.user)  # every session ended with the change: this browser gets a new one
                flash("Password changed. Other devices were signed out.", "success")
                response = redirect(url_for("settings.password"))
                remember_device(response, g.user)  # browsers remembered before no longer count: this one does
                return response
    return render("settings/password.html", errors=errors, status=422 if errors else 200)


# --- signed-in sessions -----------------------------------------------------------------------------------
def _lifetimes() -> tuple[timedelta, timedelta]:
    cfg = current_app.config
    return timedelta(days=cfg["SESSION_IDLE_DAYS"]), timedelta(days=cfg["SESSION_MAX_DAYS"])


def _sessions_page(notice: str | None = None, status: int = 200):
    rows = sessions.active(g.user, *_lifetimes())
    return render("settings/sessions.html", block="sessions_panel", rows=rows, current_id=session.row_id,
                  describe=sessions.describe_device, notice=notice, status=status)


@bp.get("/sessions")
@login_required
def sessions_list():
    return _sessions_page()


@bp.post("/sessions/<session_id>/end")
@login_required
def session_end(session_id: str):
    if session_id == session.row_id:  # this browser: the same as signing out (the others go on)
        user = g.user
        audit.record("auth.session_ended", resource="user", resource_id=user.id, user=user, actor=user,
                     ip=g.client_ip, details={"sessions": 1})
        logout_user()
        return _to_login("You are signed out.")
    if not sessions.end_one(g.user, session_id):
        return _sessions_page("That session had already ended.")
    audit.record("auth.session_ended", resource="user", resource_id=g.user.id, user=g.user, actor=g.user,
                 ip=g.client_ip, details={"sessions": 1})
    return _sessions_page("The session was signed out.")


@bp.post("/sessions/end-others")
@login_required
def sessions_end_others():
    ended = sessions.end_all(g.user, keep=session.row_id)
    audit.record("auth.session_ended", resource="user", resource_id=g.user.id, user=g.user, actor=g.user,
                 ip=g.client_ip, details={"sessions": ended})
    return _sessions_page(f"Signed out {ended} other session{'s' if ended != 1 else ''}." if ended
                          else "There were no other sessions.")


@bp.post("/sessions/end-all")
@login_required
def sessions_end_all():
    return _signed_out_everywhere("You are signed out everywhere.")


def _signed_out_everywhere(message: str):
    user = g.user
    ended = sessions.end_all(user)
    audit.record("auth.session_ended", resource="user", resource_id=user.id, user=user, actor=user,
                 ip=g.client_ip, details={"sessions": ended})
    logout_user()
    return _to_login(message)


def _to_login(message: str):
    flash(message, "info")
    target = url_for("auth.login")
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)
