"""Transactional outbox: side effects are rows written with the state change, processed by the queue.

``add(kind, payload)`` inside a transaction writes the row and, once the transaction commits, enqueues
``process_outbox`` on the lane of its kind (``handler(kind, lane="webhooks")`` for customers' endpoints,
see ``app/queue.py``). A worker claims a row with a lease before working on it, so two workers never
run the same row at once; a failure schedules a retry; ``sweep`` re-enqueues rows whose task was lost
(a crash between commit and enqueue, or a killed worker). Handlers must tolerate running twice.

Leases: a claim holds the row for ``LEASE_SECONDS`` (30 s) and marks it ``leased_until``; while the handler
runs, a heartbeat thread of the process renews the lease every ``LEASE_SECONDS / 3``. A worker killed
mid-handler stops renewing, so its lease runs out within 30 s and the next sweep (every minute) takes the row
again at once (an expired lease needs no ``OUTBOX_SWEEP_AFTER`` grace): recovery within 90 s.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from app import queue
from app.db import after_commit, connection, transaction
from app.models import OutboxMessage
from app.models.base import utcnow
from app.statements import Param, Statement, create

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[..., None]] = {}
TRANSACTIONAL: set[str] = set()
PASS_MESSAGE: set[str] = set()
LANES: dict[str, str] = {}          # kind -> queue lane, when not "default"
# the task of each lane (tasks/outbox.py registers them with app.queue)
LANE_TASKS = {"default": "process_outbox", "webhooks": "process_webhook_outbox"}
FAILURE_HOOKS: dict[str, Callable[[dict, str], None]] = {}
LEASE_SECONDS = 30
MAX_HOLD_SECONDS = 900              # a handler running longer stops being renewed (its row runs again)


class PermanentFailure(Exception):
    """The side effect can never succeed (e.g. a rejected address): do not retry."""


class Postpone(Exception):
    """Not now, and not an attempt: run the row again at ``when`` without counting this claim (e.g. the
    webhook endpoint is busy with another delivery)."""

    def __init__(self, when: datetime, message: str = "") -> None:
        super().__init__(message or f"postponed to {when.isoformat()}")
        self.when = when


class RetryAt(Exception):
    """The handler names the time of its next attempt (its own retry schedule, e.g. webhooks)."""

    def __init__(self, when: datetime, message: str = "") -> None:
        super().__init__(message or f"retry at {when.isoformat()}")
        self.when = when


def handler(kind: str, *, transactional: bool = False, pass_message: bool = False, lane: str = "default"):
    """Register the function that carries out rows of ``kind``.

    A transactional handler is called as ``fn(payload, message_id)`` inside the transaction that marks the
    row done (for handlers that only write to the database, e.g. fanning an event out into more rows).
    With ``pass_message`` a handler is called as ``fn(payload, message, now)`` (it sees ``attempts`` and
    ``created_at`` to keep its own retry schedule, and the clock the caller drives). ``lane="webhooks"`` runs
    the rows on the webhook queue (kinds whose handler waits on a customer's endpoint).
    """
    def register(fn: Callable[..., None]):
        HANDLERS[kind] = fn
        if lane != "default":
            LANES[kind] = lane
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
    message = create(OutboxMessage, kind=kind, payload=json.dumps(payload), user_id=user_id)
    after_commit(lambda: _enqueue(message.id, kind=kind))
    return message


def lane_of(kind: str | None) -> str:
    return LANES.get(kind or "", "default")


def _enqueue(message_id: str, delay: int | None = None, *, kind: str | None = None) -> None:
    """Queue the row's task on its kind's lane (``kind`` when the caller knows it, else read from the row)."""
    try:
        if kind is None and LANES:
            row = OutboxMessage.select(OutboxMessage.kind).where(OutboxMessage.id == message_id).first()
            kind = row.kind if row is not None else None
        queue.enqueue(LANE_TASKS[lane_of(kind)], message_id, delay=delay)
    except Exception:   # queue.TaskNotRegistered too: the row stays due
        log.exception("could not enqueue outbox message %s; the sweep will retry", message_id)


_CLAIM = Statement(lambda: OutboxMessage.update(
    next_attempt_at=Param("lease_end", OutboxMessage.next_attempt_at),
    leased_until=Param("lease_end", OutboxMessage.leased_until), attempts=OutboxMessage.attempts + 1)
    .where((OutboxMessage.id == Param("id")) & OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null()
           & (OutboxMessage.next_attempt_at <= Param("now"))))
_GET = Statement(lambda: OutboxMessage.select().where(OutboxMessage.id == Param("id")).limit(1))
_DONE = Statement(lambda: OutboxMessage.update(done_at=Param("done_at", OutboxMessage.done_at), last_error=None,
                                               leased_until=None)
                  .where((OutboxMessage.id == Param("id")) & (OutboxMessage.attempts == Param("attempts"))
                         & OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null()))


def _claim(message_id: str, now: datetime) -> bool:
    return _CLAIM.execute(id=message_id, now=now, lease_end=now + timedelta(seconds=LEASE_SECONDS)) == 1


def process(message_id: str, *, max_attempts: int, retry_delay: int, now: datetime | None = None) -> str:
    """Run one outbox row. Returns 'done', 'retry', 'failed' or 'skipped' (not due or already done).

    ``now`` lets tests drive the clock; handlers that keep their own schedule raise ``RetryAt``.
    """
    now = now or utcnow()
    if not _claim(message_id, now):
        return "skipped"
    message = _GET.first(id=message_id)
    _heartbeat.hold(message_id, message.attempts)
    _current.message_id = message_id
    try:
        return _run(message, now, max_attempts=max_attempts, retry_delay=retry_delay)
    finally:
        _current.message_id = None
        _heartbeat.release(message_id)


def _run(message: OutboxMessage, now: datetime, *, max_attempts: int, retry_delay: int) -> str:
    message_id = message.id
    fn = HANDLERS.get(message.kind)
    try:
        if fn is None:
            raise PermanentFailure(f"no handler for outbox kind {message.kind!r}")
        if message.kind in TRANSACTIONAL:
            # IMMEDIATE: the handler reads then writes; a deferred SQLite transaction could not wait for the lock.
            with transaction(immediate=True):
                fn(json.loads(message.payload), message_id)
                _mark_done(message)
            return "done"
        if message.kind in PASS_MESSAGE:
            fn(json.loads(message.payload), message, now)
        else:
            fn(json.loads(message.payload))
    except PermanentFailure as exc:
        if _settle(message, failed_at=utcnow(), last_error=str(exc)[:2000]):
            log.warning("outbox %s (%s) failed permanently: %s", message_id, message.kind, exc)
            _report_failure(message, str(exc))
        return "failed"
    except RetryAt as exc:
        if _settle(message, next_attempt_at=exc.when, last_error=str(exc)[:2000]):
            _enqueue(message_id, delay=max(1, math.ceil((exc.when - now).total_seconds())), kind=message.kind)
        return "retry"
    except Postpone as exc:
        if _settle(message, next_attempt_at=exc.when, attempts=OutboxMessage.attempts - 1):
            _enqueue(message_id, delay=max(1, math.ceil((exc.when - now).total_seconds())), kind=message.kind)
        return "postponed"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= max_attempts:
            if _settle(message, failed_at=utcnow(), last_error=error):
                log.warning("outbox %s (%s) gave up after %d attempts: %s", message_id, message.kind,
                            message.attempts, error)
                _report_failure(message, error)
            return "failed"
        if not _settle(message, next_attempt_at=now + timedelta(seconds=retry_delay), last_error=error):
            return "retry"
        log.info("outbox %s (%s) attempt %d failed, retrying in %ss: %s", message_id, message.kind,
                 message.attempts, retry_delay, error)
        _enqueue(message_id, delay=retry_delay, kind=message.kind)
        return "retry"
    _mark_done(message)
    return "done"


def _settle(message: OutboxMessage, **fields) -> bool:
    """End this worker's attempt with ``fields`` (and the lease), unless the row is no longer its own: a worker
    whose lease ran out while it ran (another one claimed the row since, raising ``attempts``) changes nothing."""
    return (OutboxMessage.update(leased_until=None, **fields)
            .where((OutboxMessage.id == message.id) & (OutboxMessage.attempts == message.attempts)
                   & OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null())
            .execute()) == 1


def _mark_done(message: OutboxMessage) -> None:
    _DONE.execute(id=message.id, attempts=message.attempts, done_at=utcnow())


def sweep(grace_seconds: int) -> int:
    """Enqueue rows that are due and have waited more than ``grace_seconds`` without being taken, and at once
    the rows whose lease ran out (the worker that claimed them died: a lease is renewed while a handler runs)."""
    now = utcnow()
    cutoff = now - timedelta(seconds=grace_seconds)
    pending = OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null()
    lost = OutboxMessage.leased_until.is_null() & (OutboxMessage.next_attempt_at <= cutoff)
    expired = OutboxMessage.leased_until.is_null(False) & (OutboxMessage.leased_until <= now)
    rows = list(OutboxMessage.select(OutboxMessage.id, OutboxMessage.kind).where(pending & (lost | expired))
                .limit(500))
    for row in rows:
        _enqueue(row.id, kind=row.kind)
    return len(rows)


class _Heartbeat:
    """Renews the leases of the rows this process is running, from one background thread.

    It wakes at least every second and renews a row's lease once a third of it has passed, then calls what the
    handler asked to keep alive with it (``keep_alive``)."""

    def __init__(self) -> None:
        self._held: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, message_id: str, attempts: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._held[message_id] = {"attempts": attempts, "since": now, "renewed": now, "extra": []}
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-lease-heartbeat", daemon=True)
                self._thread.start()

    def add(self, message_id: str, fn: Callable[[], None]) -> None:
        with self._lock:
            if message_id in self._held:
                self._held[message_id]["extra"].append(fn)

    def release(self, message_id: str) -> None:
        with self._lock:
            self._held.pop(message_id, None)

    def _run(self) -> None:
        while True:
            time.sleep(min(1.0, LEASE_SECONDS / 3))
            now = time.monotonic()
            with self._lock:
                due = [(mid, dict(h)) for mid, h in self._held.items()
                       if now - h["renewed"] >= LEASE_SECONDS / 3 and now - h["since"] <= MAX_HOLD_SECONDS]
                for mid, _ in due:
                    self._held[mid]["renewed"] = now
            if due:
                failed = self.renew(due)
                with self._lock:          # a row whose renewal failed is tried again at the next wake
                    for mid in failed:
                        if mid in self._held:
                            self._held[mid]["renewed"] = now - LEASE_SECONDS

    @staticmethod
    def renew(due: list[tuple[str, dict]]) -> list[str]:
        """Renew each row's lease on its own (one failure must not leave the others to expire); the ids that
        failed are returned. A lost lease only means the row may run twice, which every handler tolerates."""
        failed = []
        try:
            with connection():
                for message_id, held in due:
                    try:
                        lease_end = utcnow() + timedelta(seconds=LEASE_SECONDS)
                        (OutboxMessage.update(next_attempt_at=lease_end, leased_until=lease_end)
                         .where((OutboxMessage.id == message_id) & (OutboxMessage.attempts == held["attempts"])
                                & OutboxMessage.leased_until.is_null(False) & OutboxMessage.done_at.is_null()
                                & OutboxMessage.failed_at.is_null())
                         .execute())
                        for fn in held["extra"]:
                            fn()
                    except Exception:
                        log.warning("could not renew the lease of outbox %s", message_id, exc_info=True)
                        failed.append(message_id)
        except Exception:
            log.warning("could not renew outbox leases", exc_info=True)
            return [message_id for message_id, _ in due]
        return failed


_heartbeat = _Heartbeat()
_current = threading.local()


def keep_alive(fn: Callable[[], None]) -> None:
    """Call ``fn()`` (in the heartbeat thread, with a database connection) each time the lease of the row this
    thread is running is renewed, until its handler returns: for a claim of the handler's own that must outlive
    it only as long as the worker lives (e.g. ``webhook_delivery.claim_endpoint``)."""
    message_id = getattr(_current, "message_id", None)
    if message_id is not None:
        _heartbeat.add(message_id, fn)
