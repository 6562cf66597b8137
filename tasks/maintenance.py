"""Daily housekeeping."""
from __future__ import annotations

from huey import crontab

from app.services import audit
from app.services.integrations import calendars
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="17", hour="3"))
def remove_expired_audit_entries() -> int:
    """Spec 21: entries older than 365 days are removed permanently once a day."""
    return audit.remove_expired()


@app_periodic_task(crontab(minute="27", hour="3"))
def prune_calendar_busy_cache() -> int:
    """Cached busy times of windows that are over are of no use to any booking page."""
    return calendars.prune_busy_cache()


@app_periodic_task(crontab(minute="37", hour="*"))
def remove_expired_sessions() -> int:
    """Sessions past their idle or absolute lifetime (and unused anonymous ones) are deleted every hour."""
    from datetime import timedelta

    from flask import current_app

    from app.services.account import sessions
    cfg = current_app.config
    return sessions.remove_expired(timedelta(days=cfg["SESSION_IDLE_DAYS"]), timedelta(days=cfg["SESSION_MAX_DAYS"]))
