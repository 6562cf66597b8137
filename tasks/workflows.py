"""Workflows: timed runs (Before / After Meeting) that are due are fired every minute, and fired actions' outbox
rows are carried out in batches."""
from __future__ import annotations

import logging

from huey import crontab

from app.services.workflows import loading, runs
from tasks.base import app_periodic_task, app_task
from tasks.outbox import _process

log = logging.getLogger(__name__)


@app_periodic_task(crontab(minute="*"))
def fire_workflow_runs() -> int:
    """Claim the due runs in batches and queue their actions in the claiming transaction (restart-safe; several
    consumers never fire the same run twice)."""
    return runs.fire_due()


@app_task()
def perform_workflow_actions(rows: list[list[str]]) -> int:
    """Up to ``actions.SEND_BATCH`` outbox rows of fired actions (``[message id, action row id]`` pairs), one after
    the other, each exactly as ``process_outbox`` runs it (its own claim, retries and done mark), with their
    actions, workflows and bookings loaded once for the batch. One row's error never stops the others: a row left
    unfinished is queued again by the outbox sweep."""
    done = 0
    with loading.prefetched([result_id for _, result_id in rows]):
        for message_id, _ in rows:
            try:
                _process(message_id)
                done += 1
            except Exception:
                log.exception("outbox %s (a workflow action) could not be processed; the sweep retries it",
                              message_id)
    return done
