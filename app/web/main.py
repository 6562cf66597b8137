"""Front page, health check and public assets kept in the database."""
from __future__ import annotations

import hashlib

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    url_for,
)

from app.db import db
from app.models import UserLogo

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    if g.user:
        return redirect(url_for("dashboard.home"))
    from app.web.rendering import render
    return render("index.html")


@bp.get("/healthz")
def healthz():
    """200 when the database answers and the queue storage is reachable; 503 otherwise."""
    checks = {}
    try:
        db.execute_sql("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        from app.queue import agent_huey, huey, webhook_huey
        checks["queue_pending"] = huey.pending_count()
        # the webhook and agents lanes' backlogs: one that only grows means no worker of that lane runs
        # (scale-out without `huey_consumer tasks.webhook_worker.huey` / `tasks.agent_worker.huey`)
        checks["webhook_queue_pending"] = webhook_huey.pending_count()
        checks["agent_queue_pending"] = agent_huey.pending_count()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"error: {type(exc).__name__}"
    healthy = checks["database"] == "ok" and checks["queue"] == "ok"
    response = jsonify({"status": "ok" if healthy else "error", "checks": checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/logo/<user_id>")
def logo(user_id: str):
    return send_logo(UserLogo.get_or_none(UserLogo.user == user_id))


def send_logo(row) -> Response:
    """A stored logo (a host's or an organization's: ``data`` and ``content_type``), with an ETag; 404 without one."""
    if row is None:
        abort(404)
    data = bytes(row.data)
    etag = hashlib.sha256(data).hexdigest()[:20]
    if request.if_none_match.contains(etag):
        return Response(status=304)
    response = Response(data, mimetype=row.content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/favicon.ico")
def favicon():
    return current_app.send_static_file("favicon.svg")
