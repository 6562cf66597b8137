"""HTML blueprints, shared page helpers, error pages and security headers."""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError, generate_csrf
from jinja2_fragments.flask import render_block
from werkzeug.exceptions import HTTPException

from app.db_errors import DATABASE_ERRORS, first_line
from app.ratelimit import RateLimited

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def render(template: str, block: str | None = None, status: int = 200, **context):
    """Render a page, or only ``block`` of it for an htmx request (not for a history restore)."""
    htmx = request.headers.get("HX-Request") == "true"
    restore = request.headers.get("HX-History-Restore-Request") == "true"
    if block and htmx and not restore:
        html = render_block(template, block, **context)
    else:
        html = render_template(template, **context)
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


def _error_response(status: int, message: str, retry_after: int | None = None):
    if wants_json():
        response = jsonify({"error": message})
        response.status_code = status
    else:
        response = make_response(render_template("error.html", status=status, message=message), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to this page.",
    404: "We could not find that page.",
    405: "That method is not allowed here.",
    413: "The upload is too large.",
    500: "Something went wrong on our side. Nothing you saved was lost; please try again.",
    503: "The service is temporarily unavailable: its database cannot be reached. Please try again in a minute.",
}
DATABASE_RETRY_AFTER = 30  # seconds, the Retry-After of a 503 for an unreachable database
log = logging.getLogger(__name__)


def register_web(app: Flask) -> None:
    from app.web import (
        admin,
        auth,
        availability,
        bookings,
        contacts,
        dashboard,
        event_types,
        main,
        settings,
    )
    from app.web.session import load_current_user

    app.before_request(load_current_user)
    from app.api import analytics as analytics_api
    from app.api import audit as audit_api
    from app.api import public as public_api
    from app.api import v1 as api_v1
    from app.api import zapier as zapier_api
    from app.web import (
        analytics,
        api_keys,
        audit,
        docs,
        integrations,
        invitee,
        public,
        webhooks,
    )
    # public (/<username>/...) stays last: fixed routes win
    for module in (main, auth, dashboard, event_types, availability, bookings, contacts, settings, admin, webhooks,
                   api_keys, integrations, audit, analytics, docs, api_v1, zapier_api, audit_api, analytics_api,
                   public_api, invitee, public):
        app.register_blueprint(module.bp)

    @app.context_processor
    def _globals():
        return {"current_user": g.get("user"), "csrf_token": generate_csrf,
                "oidc_providers": auth.enabled_providers()}

    @app.errorhandler(RateLimited)
    def _rate_limited(exc: RateLimited):
        return _error_response(429, exc.message, retry_after=exc.retry_after)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return _error_response(400, "Your form expired or was sent from another site. Reload the page and "
                                    "try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _error_response(exc.code or 500, MESSAGES.get(exc.code or 500, exc.description or "Error"))

    @app.errorhandler(DATABASE_ERRORS[0])
    @app.errorhandler(DATABASE_ERRORS[1])
    def _database_unavailable(exc: Exception):
        # the database is down, unreachable, or locked past the busy timeout: one line in the log, and a
        # 503 with Retry-After (JSON error shape on the API), not a 500 with a traceback per request
        log.warning("database unavailable on %s %s: %s", request.method, request.path, first_line(exc))
        return _error_response(503, MESSAGES[503], retry_after=DATABASE_RETRY_AFTER)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(500, MESSAGES[500])

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["PRODUCTION"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("user") is not None and "Cache-Control" not in headers:
            headers["Cache-Control"] = "private, no-store"
        return response
