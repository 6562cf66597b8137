"""Who is signed in: the session cookie names a server-side session row, which names the account
(app/web/server_session.py)."""
from __future__ import annotations

import functools

from flask import abort, g, redirect, request, session, url_for

from app.models import User
from app.web.redirects import safe_next  # noqa: F401  (app.web.auth follows ``next`` through it)


def load_current_user() -> None:
    g.user = None
    uid = session.user_id
    if not uid:
        return
    user = User.get_or_none(User.id == uid)
    if user is None or user.is_disabled:
        session.end()
        return
    g.user = user


def login_user(user: User) -> None:
    """Start a fresh session (a new token, a new row): nothing from before sign-in survives (no session
    fixation), and the session the browser had before ends."""
    session.start(user.id)
    session["uid"] = user.id
    g.user = user


def logout_user() -> None:
    """End this session on the server: a copy of the cookie opens nothing afterwards."""
    session.end()
    g.user = None


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.path))
        if not g.user.is_admin:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def session_json_required(view):
    """For JSON endpoints of the signed-in dashboard: 401 in the API's error shape instead of a redirect."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            from flask import jsonify
            response = jsonify({"error": "Authentication required: sign in first."})
            response.status_code = 401
            return response
        return view(*args, **kwargs)
    return wrapped
