"""Outbox leases: renewed while a handler runs, and a lease that ran out (its worker died) is swept at once.

The queue is switched off (``ManualQueue`` records what would be enqueued); a handler registered for the test
blocks on an event in a second thread, so "a handler is running" lasts as long as the test wants.
"""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db, transaction
from app.models import OutboxMessage
from app.services import outbox
from tests.integration.helpers import wait_until


def utcnow():
    return datetime.now(UTC)


def add(kind="lease_test") -> OutboxMessage:
    with transaction():
        return outbox.add(kind, {})


def test_a_running_handler_keeps_its_lease_and_the_sweep_leaves_it_alone(app, db_conn, queue, monkeypatch):
    monkeypatch.setattr(outbox, "LEASE_SECONDS", 0.9)        # renewed every 0.3 s
    release, started = threading.Event(), threading.Event()

    def slow(payload):
        started.set()
        release.wait(30)
    monkeypatch.setitem(outbox.HANDLERS, "lease_test", slow)
    message = add()
    result = {}

    def run():
        with app.app_context(), db.connection_context():
            result["status"] = outbox.process(message.id, max_attempts=3, retry_delay=60)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        assert started.wait(10)
        first = OutboxMessage.get_by_id(message.id).leased_until
        assert first is not None
        # Renewed past its first end, several times: the lease outlives three lease lengths while the handler runs.
        wait_until(lambda: OutboxMessage.get_by_id(message.id).leased_until > first + timedelta(seconds=2.7), 30,
                   "the lease was not renewed")
        held = OutboxMessage.get_by_id(message.id)
        assert held.leased_until > utcnow() and held.next_attempt_at == held.leased_until and held.attempts == 1
        queue.enqueued.clear()
        outbox.sweep(0)
        assert message.id not in [m for m, _ in queue.enqueued]
    finally:
        release.set()
        worker.join(30)
    assert result["status"] == "done"
    done = OutboxMessage.get_by_id(message.id)
    assert done.done_at is not None and done.leased_until is None


def test_the_sweep_takes_a_row_whose_lease_ran_out_at_once_and_lost_rows_after_the_grace(app, db_conn, queue):
    now = utcnow()
    expired, alive, recent, lost, retry_due = (add() for _ in range(5))
    OutboxMessage.update(attempts=1, leased_until=now - timedelta(seconds=1),
                         next_attempt_at=now - timedelta(seconds=1)).where(OutboxMessage.id == expired.id).execute()
    OutboxMessage.update(attempts=1, leased_until=now + timedelta(seconds=20),
                         next_attempt_at=now + timedelta(seconds=20)).where(OutboxMessage.id == alive.id).execute()
    OutboxMessage.update(next_attempt_at=now - timedelta(seconds=30)).where(OutboxMessage.id == recent.id).execute()
    OutboxMessage.update(next_attempt_at=now - timedelta(seconds=300)).where(OutboxMessage.id == lost.id).execute()
    OutboxMessage.update(attempts=1, next_attempt_at=now - timedelta(seconds=30)).where(
        OutboxMessage.id == retry_due.id).execute()                       # a retry whose task is still queued
    queue.enqueued.clear()
    outbox.sweep(120)
    assert sorted(m for m, _ in queue.enqueued) == sorted([expired.id, lost.id])


def test_a_claim_leases_for_thirty_seconds_and_every_outcome_ends_the_lease(app, db_conn, queue, monkeypatch):
    assert outbox.LEASE_SECONDS <= 30
    outcomes = {"ok": lambda p: None, "boom": lambda p: (_ for _ in ()).throw(RuntimeError("down")),
                "never": lambda p: (_ for _ in ()).throw(outbox.PermanentFailure("no")),
                "later": lambda p: (_ for _ in ()).throw(outbox.RetryAt(utcnow() + timedelta(minutes=5))),
                "busy": lambda p: (_ for _ in ()).throw(outbox.Postpone(utcnow() + timedelta(seconds=3)))}
    for kind, fn in outcomes.items():
        monkeypatch.setitem(outbox.HANDLERS, kind, fn)
    results = {}
    for kind in outcomes:
        message = add(kind)
        results[kind] = outbox.process(message.id, max_attempts=3, retry_delay=60)
        row = OutboxMessage.get_by_id(message.id)
        assert row.leased_until is None, kind
        if kind == "busy":
            assert row.attempts == 0                                        # a postponement is not an attempt
    assert results == {"ok": "done", "boom": "retry", "never": "failed", "later": "retry", "busy": "postponed"}


@pytest.mark.parametrize("outcome", ["permanent", "error", "done"])
def test_a_worker_whose_row_was_taken_over_changes_nothing_when_it_finishes(app, db_conn, queue, monkeypatch, outcome):
    """Its lease ran out while it ran and another worker claimed the row (attempts rose): the late worker's
    outcome must not fail, reschedule or finish the row, nor report a failure, under the new worker's feet."""
    reported = []
    monkeypatch.setitem(outbox.FAILURE_HOOKS, "lease_test", lambda payload, error: reported.append(error))

    def late(payload):
        # meanwhile the lease ran out and another worker claimed the row
        OutboxMessage.update(attempts=OutboxMessage.attempts + 1,
                             leased_until=utcnow() + timedelta(seconds=30)).where(
            OutboxMessage.id == message.id).execute()
        if outcome == "permanent":
            raise outbox.PermanentFailure("refused")
        if outcome == "error":
            raise RuntimeError("boom")
    monkeypatch.setitem(outbox.HANDLERS, "lease_test", late)
    message = add()
    queue.enqueued.clear()
    outbox.process(message.id, max_attempts=1, retry_delay=60)
    row = OutboxMessage.get_by_id(message.id)
    assert row.failed_at is None and row.done_at is None and row.attempts == 2
    assert row.leased_until is not None                          # the new worker's lease stands
    assert reported == [] and queue.enqueued == []
