"""The app-wide error answers: the API's JSON error shape under /api (or for a client asking for JSON), a small
partial for htmx (domain errors), the error page otherwise. Registered by the app factory, so neither app.web nor
app.api depends on the other.

A ``DomainError`` (``ValidationFailed``, ``NotFound``, ``Conflict``) that a view lets through is answered with the
error's own status: under /api as ``{"error": ..., "details": ...}`` (details only for ``ValidationFailed``, whose
error is "Invalid request data"), else like ``abort`` would for a page: a ``NotFound`` is the usual 404 page."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.db_errors import DATABASE_ERRORS, first_line
from app.extensions import htmx
from app.ratelimit import RateLimited
from app.services.errors import DomainError, NotFound, ValidationFailed

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


def is_api_request() -> bool:
    """A request to the JSON API (the blueprints under /api)."""
    return request.path.startswith("/api/")


def wants_json() -> bool:
    return is_api_request() or request.accept_mimetypes.best == "application/json"


def wait_text(seconds: int) -> str:
    """How long to wait, as people say it: "40 seconds", "1 minute", "about 15 minutes"."""
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = -(-seconds // 60)
    return f"{'' if seconds % 60 == 0 else 'about '}{minutes} minute{'' if minutes == 1 else 's'}"


def back_link() -> str | None:
    """Where "try again" leads: this page for a GET, else the page the form was sent from (when it is one of
    this site's)."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.scheme in ("http", "https"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return None


def error_response(status: int, message: str, retry_after: int | None = None):
    if wants_json():
        response = jsonify({"error": message})
        response.status_code = status
    else:
        response = make_response(render_template(
            "error.html", status=status, message=message,
            wait=wait_text(retry_after) if retry_after is not None else None,
            back=back_link() if status == 429 else None), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def api_error_body(exc: DomainError) -> dict:
    """The API's error shape for a domain error (the same the API's views built by hand)."""
    if isinstance(exc, ValidationFailed):
        return {"error": "Invalid request data", "details": exc.errors}
    return {"error": str(exc) or ("Not found" if exc.status == 404 else "Request not accepted")}


def page_message(exc: DomainError) -> str:
    """What a page says about a domain error; a NotFound says what ``abort(404)`` says (no internal names)."""
    if isinstance(exc, NotFound):
        return MESSAGES[404]
    if isinstance(exc, ValidationFailed):
        return " ".join(exc.errors.values()) or MESSAGES[400]
    return str(exc) or MESSAGES.get(exc.status, MESSAGES[400])


def domain_error_response(exc: DomainError):
    status = exc.status
    if is_api_request():
        response = jsonify(api_error_body(exc))
        response.status_code = status
        return response
    message = page_message(exc)
    if htmx:  # swapped into the target for the statuses static/js/app.js swaps (400, 409, 422)
        response = make_response(render_template("error_partial.html", status=status, message=message), status)
    else:
        response = error_response(status, message)
    response.vary.add("HX-Request")
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error_response)

    @app.errorhandler(RateLimited)
    def _rate_limited(exc: RateLimited):
        return error_response(429, exc.message, retry_after=exc.retry_after)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, "Your form expired or was sent from another site. Reload the page and "
                                   "try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, MESSAGES.get(exc.code or 500, exc.description or "Error"))

    @app.errorhandler(DATABASE_ERRORS[0])
    @app.errorhandler(DATABASE_ERRORS[1])
    def _database_unavailable(exc: Exception):
        # the database is down, unreachable, or locked past the busy timeout: one line in the log, and a
        # 503 with Retry-After (JSON error shape on the API), not a 500 with a traceback per request
        log.warning("database unavailable on %s %s: %s", request.method, request.path, first_line(exc))
        return error_response(503, MESSAGES[503], retry_after=DATABASE_RETRY_AFTER)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, MESSAGES[500])
