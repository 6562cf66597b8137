"""Small helpers the browser tests share: the time they book and reading the database the live server writes."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def next_week(weekday: int = 1, hour: int = 10) -> datetime:
    """``weekday`` (0 = Monday) of next week at ``hour`` in Berlin (the hosts' zone), as UTC."""
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour), BERLIN).astimezone(UTC)


def in_db(app, fn):
    """``fn()`` with ``app``'s database connection open (the live server's own requests use their own)."""
    from app.db import db
    with app.app_context(), db.connection_context():
        return fn()
