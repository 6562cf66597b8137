"""Who is signed in, for every blueprint (HTML pages and the session-authenticated JSON endpoints alike): the
session cookie names a server-side session row, which names the account (app/web/server_session.py)."""
from __future__ import annotations

import functools

from flask import g, jsonify, session

from app.models import User


def load_current_user() -> None:
    """``g.user``: the signed-in, not disabled account, or None (a request hook of the whole app)."""
    g.user = None
    uid = session.user_id
    if not uid:
        return
    user = User.get_or_none(User.id == uid)
    if user is None or user.is_disabled:
        session.end()
        return
    g.user = user


def session_json_required(view):
    """For JSON endpoints of the signed-in dashboard: 401 in the API's error shape instead of a redirect."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            response = jsonify({"error": "Authentication required: sign in first."})
            response.status_code = 401
            return response
        return view(*args, **kwargs)
    return wrapped
