"""Signing in and out of the HTML pages, and the views' sign-in guards. Who is signed in (``g.user``) is
looked up for every request by ``app.auth.load_current_user``."""
from __future__ import annotations

import functools

from flask import abort, g, redirect, request, session, url_for

from app.models import User
from app.web.redirects import safe_next  # noqa: F401  (app.web.auth follows ``next`` through it)


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
