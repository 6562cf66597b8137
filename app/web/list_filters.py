"""What the dashboard's filtered lists (Calls, Conversations) share: a date range typed on the viewer's calendar and
the page number clamped to the pages there are."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from flask import g, request

from app.timezones import is_valid_timezone, zone

DATE_ERROR = "Enter a date such as 2026-03-01."


def _day(name: str, errors: dict) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    errors[name] = DATE_ERROR
    return None


def typed_range() -> dict[str, str]:
    """The ``from`` and ``to`` fields as typed (for the form)."""
    return {"from": (request.args.get("from") or "").strip()[:10], "to": (request.args.get("to") or "").strip()[:10]}


def date_range(errors: dict) -> tuple[datetime | None, datetime | None]:
    """The instants of ``from`` 00:00 and the day after ``to`` on the viewer's calendar; a bad date or an end before
    the start is an entry in ``errors`` and no bound."""
    tz = zone(g.user.timezone if is_valid_timezone(g.user.timezone) else "UTC")
    first, last = _day("from", errors), _day("to", errors)
    if first and last and last < first:
        errors["to"] = "The end date is before the start date."
    ok = "from" not in errors and "to" not in errors
    start = datetime.combine(first, time(0), tz) if first and ok else None
    end = datetime.combine(last + timedelta(days=1), time(0), tz) if last and ok else None
    return start, end


def page_of(fetch: Callable[[int], tuple[int, list]], size: int) -> tuple[int, list, int, int]:
    """``fetch(page)`` answers (total, rows); the requested page clamped to the last one: (total, rows, page,
    pages)."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    total, rows = fetch(page)
    pages = max(1, -(-total // size))
    if page > pages:
        page = pages
        total, rows = fetch(page)
    return total, rows, page, pages
