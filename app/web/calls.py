"""Dashboard → Calls: the voice agents' calls (inbound, outbound, web widget) with filters, and a call's detail with
its transcript (or when it was deleted) and its booking.

Filters are a GET form (status, outcome, agent, date range on the viewer's calendar): htmx swaps only the results
under it, a plain request gets the whole page. Times show on the viewer's clock. Another account's call is a 404.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from app.models.voice import CALL_OUTCOMES, CALL_STATUSES
from app.services.voice import call_logs as service
from app.web import list_filters
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("calls", __name__, url_prefix="/dashboard/calls")

PAGE_SIZE = 25


@bp.context_processor
def _helpers():
    return {"STATUS_LABELS": service.STATUS_LABELS, "OUTCOME_LABELS": service.OUTCOME_LABELS,
            "DIRECTION_LABELS": service.DIRECTION_LABELS, "duration_text": service.duration_text,
            "agent_name": service.agent_name, "retention_days": current_app.config["VOICE_TRANSCRIPT_RETENTION_DAYS"]}


def _filters() -> tuple[dict, service.CallFilter, dict]:
    """The form's values as typed, the filter they make (on the viewer's calendar), and errors for bad dates."""
    errors: dict[str, str] = {}
    status = request.args.get("status", "all")
    outcome = request.args.get("outcome", "")
    agent = request.args.get("agent", "")
    agents = {a.id for a in service.agents_of(g.user)}
    values = {"status": status if status in CALL_STATUSES else "all",
              "outcome": outcome if outcome in CALL_OUTCOMES else "",
              "agent": agent if agent in agents else "",
              **list_filters.typed_range()}
    start, end = list_filters.date_range(errors)
    return values, service.CallFilter(status=values["status"], outcome=values["outcome"] or None,
                                      agent_id=values["agent"] or None, start=start, end=end), errors


@bp.get("")
@login_required
def index():
    values, filters, errors = _filters()
    total, rows, page, pages = list_filters.page_of(
        lambda page: service.list_calls(g.user, filters, page=page, limit=PAGE_SIZE), PAGE_SIZE)
    query = {key: value for key, value in values.items() if value and value != "all"}
    response = render("calls/index.html", block="call_results", calls=rows, total=total, page=page, pages=pages,
                      values=values, query=query, errors=errors, agents=service.agents_of(g.user))
    response.vary.add("HX-Target")
    return response


@bp.get("/<call_id>")
@login_required
def detail(call_id: str):
    call = service.get_call(g.user, call_id)
    return render("calls/detail.html", call=call, booking=service.booking_of(call))
