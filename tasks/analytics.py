"""Queue adapters for page analytics: a backstop flush of this process's buffered views, and the daily purge."""
from __future__ import annotations

from huey import crontab

from app.services.insights import page_views
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="*"))
def flush_page_views() -> int:
    """Views are written by the recorder's own thread within a second; this covers a thread that died.
    In the one-process server the consumer shares the web process's buffer; elsewhere it is a no-op."""
    return page_views.flush()


@app_periodic_task(crontab(hour="3", minute="17"))
def purge_page_views() -> dict:
    return page_views.purge()
