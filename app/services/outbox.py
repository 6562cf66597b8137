"""Transactional outbox: side effects are rows written with the state change, processed by the queue.

``add(kind, payload)`` inside a transaction writes the row and, once the transaction commits, enqueues
``process_outbox``. A worker claims a row with a lease before working on it, so two workers never run
the same row at once; a failure schedules a retry; ``sweep`` re-enqueues rows whose task was lost
(a crash between commit and enqueue, or a killed worker). Handlers must tolerate running twice.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from app.db import after_commit, transaction
from app.models import OutboxMessage
from app.models.base import utcnow

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[..., None]] = {}
TRANSACTIONAL: set[str] = set()
PASS_MESSAGE: set[str] = set()
FAILURE_HOOKS: dict[str, Callable[[dict, str], None]] = {}
LEASE_SECONDS = 300


class PermanentFailure(Exception):
    """The side effect can never succeed (e.g. a rejected address): do not retry."""


class RetryAt(Exception):
    """The handler names the time of its next attempt (its own retry schedule, e.g. webhooks)."""

    def __init__(self, when: datetime, message: str = "") -> None:
        super().__init__(message or f"retry at {when.isoformat()}")
        self.when = when


def handler(kind: str, *, transactional: bool = False, pass_message: bool = False):
    """Register the function that carries out rows of ``kind``.

    A transactional handler is called as ``fn(payload, message_id)`` inside the transaction that marks the
    row done (for handlers that only write to the database, e.g. fanning an event out into more rows).
    With ``pass_message`` a handler is called as ``fn(payload, message, now)`` (it sees ``attempts`` and
    ``created_at`` to keep its own retry schedule, and the clock the caller drives).
    """
    def register(fn: Callable[..., None]):
        HANDLERS[kind] = fn
        if transactional:
            TRANSACTIONAL.add(kind)
        if pass_message:
            PASS_MESSAGE.add(kind)
        return fn
    return register


def on_failure(kind: str):
    """Register ``fn(payload, error)``, called once when a row of ``kind`` is given up (so whoever said
    "queued" can also say "failed")."""
    def register(fn: Callable[[dict, str], None]):
        FAILURE_HOOKS[kind] = fn
        return fn
    return register


def _report_failure(message: OutboxMessage, error: str) -> None:
    hook = FAILURE_HOOKS.get(message.kind)
    if hook is None:
        return
    try:
        hook(json.loads(message.payload), error)
    except Exception:
        log.exception("outbox %s (%s): the failure hook failed", message.id, message.kind)


def add(kind: str, payload: dict, *, user_id: str | None = None) -> OutboxMessage:
    message = OutboxMessage.create(kind=kind, payload=json.dumps(payload), user_id=user_id)
    after_commit(lambda: _enqueue(message.id))
    return message


def _enqueue(message_id: str, delay: int | None = None) -> None:
    from tasks.outbox import process_outbox
    try:
        if delay:
            process_outbox.schedule((message_id,), delay=delay)
        else:
            process_outbox(message_id)
    except Exception:
        log.exception("could not enqueue outbox message %s; the sweep will retry", message_id)


def _claim(message_id: str, now: datetime) -> bool:
    claimed = (OutboxMessage.update(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
                                    attempts=OutboxMessage.attempts + 1)
               .where((OutboxMessage.id == message_id) & OutboxMessage.done_at.is_null()
                      & OutboxMessage.failed_at.is_null() & (OutboxMessage.next_attempt_at <= now))
               .execute())
    return claimed == 1


def process(message_id: str, *, max_attempts: int, retry_delay: int, now: datetime | None = None) -> str:
    """Run one outbox row. Returns 'done', 'retry', 'failed' or 'skipped' (not due or already done).

    ``now`` lets tests drive the clock; handlers that keep their own schedule raise ``RetryAt``.
    """
    now = now or utcnow()
    if not _claim(message_id, now):
        return "skipped"
    message = OutboxMessage.get_by_id(message_id)
    fn = HANDLERS.get(message.kind)
    try:
        if fn is None:
            raise PermanentFailure(f"no handler for outbox kind {message.kind!r}")
        if message.kind in TRANSACTIONAL:
            # IMMEDIATE: the handler reads then writes; a deferred SQLite transaction could not wait for the lock.
            with transaction(immediate=True):
                fn(json.loads(message.payload), message_id)
                _mark_done(message_id)
            return "done"
        if message.kind in PASS_MESSAGE:
            fn(json.loads(message.payload), message, now)
        else:
            fn(json.loads(message.payload))
    except PermanentFailure as exc:
        OutboxMessage.update(failed_at=utcnow(), last_error=str(exc)[:2000]).where(
            OutboxMessage.id == message_id).execute()
        log.warning("outbox %s (%s) failed permanently: %s", message_id, message.kind, exc)
        _report_failure(message, str(exc))
        return "failed"
    except RetryAt as exc:
        OutboxMessage.update(next_attempt_at=exc.when, last_error=str(exc)[:2000]).where(
            OutboxMessage.id == message_id).execute()
        _enqueue(message_id, delay=max(1, math.ceil((exc.when - now).total_seconds())))
        return "retry"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= max_attempts:
            OutboxMessage.update(failed_at=utcnow(), last_error=error).where(
                OutboxMessage.id == message_id).execute()
            log.warning("outbox %s (%s) gave up after %d attempts: %s", message_id, message.kind,
                        message.attempts, error)
            _report_failure(message, error)
            return "failed"
        OutboxMessage.update(next_attempt_at=now + timedelta(seconds=retry_delay), last_error=error).where(
            OutboxMessage.id == message_id).execute()
        log.info("outbox %s (%s) attempt %d failed, retrying in %ss: %s", message_id, message.kind,
                 message.attempts, retry_delay, error)
        _enqueue(message_id, delay=retry_delay)
        return "retry"
    _mark_done(message_id)
    return "done"


def _mark_done(message_id: str) -> None:
    OutboxMessage.update(done_at=utcnow(), last_error=None).where(OutboxMessage.id == message_id).execute()


def sweep(grace_seconds: int) -> int:
    """Enqueue rows that are due and have waited more than ``grace_seconds`` without being taken."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    ids = [m.id for m in OutboxMessage.select(OutboxMessage.id).where(
        OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null()
        & (OutboxMessage.next_attempt_at <= cutoff)).limit(500)]
    for message_id in ids:
        _enqueue(message_id)
    return len(ids)
