"""Queue adapters for the transactional outbox: one task per lane (``app/queue.py``), each registered by name."""
from __future__ import annotations

from flask import current_app
from huey import crontab

from app.services import outbox
from tasks import app_periodic_task, app_task


def _process(message_id: str) -> str:
    cfg = current_app.config
    return outbox.process(message_id, max_attempts=cfg["EMAIL_RETRIES"] + 1, retry_delay=cfg["EMAIL_RETRY_DELAY"])


@app_task()
def process_outbox(message_id: str) -> str:
    return _process(message_id)


@app_task(lane="webhooks")
def process_webhook_outbox(message_id: str) -> str:
    """Rows of the kinds that call customers' endpoints (``outbox.handler(..., lane="webhooks")``)."""
    return _process(message_id)


TASKS = {"default": process_outbox, "webhooks": process_webhook_outbox}


@app_periodic_task(crontab(minute="*"))
def sweep_outbox() -> int:
    return outbox.sweep(current_app.config["OUTBOX_SWEEP_AFTER"])
