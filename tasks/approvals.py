"""Requests waiting for the host's confirmation: those still unanswered at their start expire every minute."""
from __future__ import annotations

from huey import crontab

from app.services.booking import approvals
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="*"))
def expire_unanswered_requests() -> int:
    """A request the host neither confirmed nor declined before its start is declined (``approval`` "expired"), its
    slot freed and the invitee told (``approvals.expire_requests``)."""
    return approvals.expire_requests()
