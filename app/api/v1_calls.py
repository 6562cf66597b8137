"""``GET /api/v1/calls`` (spec page 23): the voice calls of the API key's account, newest first.

The route is added to the ``/api/v1`` blueprint (``app.api.v1.bp``), so it shares that blueprint's API-key
authentication, rate limits, plan check, error shape and ``Cache-Control: no-store``; ``register_api`` imports this
module before registering the blueprint. Query: ``status`` (COMPLETED, FAILED, NO_ANSWER or all, as written),
``from`` / ``to`` (ISO date, whole UTC days, or date-time bounds on the call's start), ``page``, ``limit``
(default 20, at most 50: a larger one is a 400 as the other lists answer one above their maximum).
"""
from __future__ import annotations

from flask import g

from app.api.v1 import bp
from app.api.v1_input import DEFAULT_LIMIT, MAX_PAGE, arg, int_arg, invalid, paginated, utc_range
from app.services.voice import call_logs

CALL_STATUSES = ("COMPLETED", "FAILED", "NO_ANSWER", "all")
MAX_CALLS_LIMIT = 50


@bp.get("/calls")
def calls_list():
    errors: dict[str, str] = {}
    page = int_arg("page", 1, 1, MAX_PAGE, errors)
    limit = int_arg("limit", DEFAULT_LIMIT, 1, MAX_CALLS_LIMIT, errors)
    status = arg("status", errors) or "all"
    if status not in CALL_STATUSES and "status" not in errors:
        errors["status"] = "Use COMPLETED, FAILED, NO_ANSWER or all."
    start, end = utc_range(errors)
    if errors:
        raise invalid(errors)
    total, rows = call_logs.list_calls(g.api_user, call_logs.CallFilter(status=status, start=start, end=end),
                                       page=page, limit=limit)
    return paginated([call_logs.call_json(call) for call in rows], total, page, limit)
