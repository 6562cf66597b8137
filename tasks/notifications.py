"""Periodic reminder emails."""
from __future__ import annotations

from huey import crontab

from app.services.booking import notifications
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="*"))
def send_reminders() -> int:
    return notifications.send_due_reminders()
