"""Dashboard: the availability troubleshooter — why a day of an event type is (not) bookable.

``GET /dashboard/availability/troubleshoot?event_type=<id>&date=YYYY-MM-DD`` renders the page; the form's controls
ask htmx for the ``result`` block only (pushing the URL), and the same URL is a plain page without JavaScript.
The day is shown in the host's zone. Another user's event type is 404.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Blueprint, g, request

from app.datetimes import format_date, format_time, host_clock
from app.services.scheduling import event_types as et
from app.services.scheduling import troubleshooter as service
from app.timezones import zone
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("troubleshooter", __name__, url_prefix="/dashboard/availability/troubleshoot")


def _day(value: str | None, tz: str) -> date:
    """The date asked for (years 2000 to 2199), else today in ``tz``."""
    try:
        day = date.fromisoformat(value or "")
        if 2000 <= day.year < 2200:
            return day
    except ValueError:
        pass
    return datetime.now(UTC).astimezone(zone(tz)).date()


def _position(explanation: service.DayExplanation, start: datetime, end: datetime) -> tuple[float, float]:
    """Left offset and width of [start, end) on the day's bar, in percent."""
    total = (explanation.span_end - explanation.span_start).total_seconds()
    lo = max(start, explanation.span_start)
    hi = min(end, explanation.span_end)
    left = (lo - explanation.span_start).total_seconds() / total * 100
    width = max((hi - lo).total_seconds() / total * 100, 0.4)
    return round(left, 3), round(width, 3)


@bp.get("")
@login_required
def index():
    clock = host_clock(g.user)
    event_types = et.list_event_types(g.user)
    chosen = request.args.get("event_type")
    if chosen:
        event_type = et.get_event_type(g.user, chosen)     # another user's: NotFound, a 404
    else:
        event_type = event_types[0] if event_types else None
    day = _day(request.args.get("date"), clock.tz)
    explanation = service.explain(event_type, day, clock.tz) if event_type is not None else None
    hours = list(range(0, 25, 3))
    return render("troubleshooter/index.html", block="result", event_types=event_types, event_type=event_type,
                  day=day, clock=clock, explanation=explanation, position=_position, hours=hours,
                  format_time=format_time, format_date=format_date)
