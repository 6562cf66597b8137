"""Queue adapters for connected calendars."""
from __future__ import annotations

from app.services.integrations import calendars
from tasks.base import app_task


@app_task()
def refresh_calendar_busy(integration_id: str, window_isos: list[str]) -> None:
    """Read the busy times of one connection's checked calendars for the given windows (safe to run twice)."""
    calendars.refresh_integration(integration_id, window_isos)
