"""Page analytics over JSON (spec page 22), for the signed-in session.

    GET /api/analytics/page-views[?preset=7d|30d|90d|year]   the whole Page Views tab
    GET /api/analytics/page-views/<slug>[?preset=...]        one event type's numbers

Without a session: 401 ``{"error": ...}``; an unknown preset: 400 with ``details``; a slug that is not one
of the signed-in user's event types: 404. The shapes are exactly the spec's (``PageAnalytics.to_api``,
``EventStats.to_api``); presets longer than the plan allows are capped (``maxDays`` says the plan's window).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app.services.insights import analytics as service

bp = Blueprint("api_analytics", __name__, url_prefix="/api/analytics")

SIGN_IN = "Authentication required: sign in to LinkTime to read your analytics."


def _error(status: int, message: str, details: dict | None = None):
    body = {"error": message}
    if details is not None:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


@bp.before_request
def _signed_in():
    if g.get("user") is None:
        return _error(401, SIGN_IN)
    return None


@bp.get("/page-views")
def page_views():
    return jsonify(service.page_analytics(g.user, request.args.get("preset")).to_api())


@bp.get("/page-views/<slug>")
def event_page_views(slug: str):
    return jsonify(service.event_stats_by_slug(g.user, slug, request.args.get("preset")).to_api())
