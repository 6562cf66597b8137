"""Webhook deliveries share their queue fairly: their own lane, one delivery at a time per endpoint, a circuit
breaker for endpoints that keep timing out, and a webhook deleted mid-delivery ends the delivery quietly.

The queue is switched off (``ManualQueue``); the tests run outbox rows themselves, some in a second thread while a
real receiver on loopback holds its answer, so "while a delivery is in flight" is a state the test controls.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import OutboxMessage, Webhook, WebhookDelivery
from app.services import outbox
from app.services.developer import webhook_delivery as delivery
from app.services.developer import webhooks
from tests import factories
from tests.fakes.webhooks import ManualQueue, WebhookReceiver

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
TIMEOUT = 0.5


@pytest.fixture
def app(app_factory):
    return app_factory(WEBHOOK_TIMEOUT=TIMEOUT)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def utcnow():
    return datetime.now(UTC)


def book(event_type, n: int = 0):
    return factories.booking(event_type, SLOT + timedelta(hours=n), email=f"ivan{n}@example.com", now=NOW)


def rows_of(webhook) -> list[OutboxMessage]:
    return [m for m in ManualQueue.pending("webhook") if f'"webhookId": "{webhook.id}"' in m.payload]


class InThread:
    """Run ``outbox.process`` of one row in another thread (its own app context and connection)."""

    def __init__(self, app, message_id: str) -> None:
        self.result: str | None = None
        self.error: BaseException | None = None

        def run():
            try:
                with app.app_context(), db.connection_context():
                    self.result = ManualQueue.process(message_id, utcnow())
            except Exception as exc:  # noqa: BLE001 (surfaced by join())
                self.error = exc
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> str | None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the delivery did not finish"
        if self.error:
            raise self.error
        return self.result


def test_a_second_delivery_to_a_busy_endpoint_is_postponed_and_other_endpoints_go_on(app_factory, host, event_type,
                                                                                     receiver, queue):
    app = app_factory(WEBHOOK_TIMEOUT=10)          # the first delivery is still waiting when the second comes
    gate = threading.Event()
    receiver.script(200, body=b"first", hold=gate)
    with app.app_context(), WebhookReceiver() as other:
        busy, _ = webhooks.create_webhook(host, receiver.url("/busy"), ["booking.created"])
        free, _ = webhooks.create_webhook(host, other.url("/free"), ["booking.created"])
        book(event_type, 0)
        book(event_type, 1)
        queue.run_due(utcnow(), kinds=("event",))
        first, second = rows_of(busy)
        running = InThread(app, first.id)
        try:
            receiver.wait_for(1)
            assert len(receiver.received) == 1
            before = utcnow()
            assert queue.process(second.id, utcnow()) == "postponed"     # the endpoint is held by the first
            postponed = OutboxMessage.get_by_id(second.id)
            assert postponed.attempts == 0 and postponed.leased_until is None      # not counted as an attempt
            assert before < postponed.next_attempt_at <= utcnow() + timedelta(seconds=11)   # at the latest
            # when the first one must have ended (its 10 s timeout), or in a second if it has only just begun
            assert any(m == second.id and d for m, d in queue.enqueued)           # queued again, with a delay
            assert len(receiver.received) == 1
            assert [queue.process(m.id, utcnow()) for m in rows_of(free)] == ["done", "done"]   # not held up
            assert len(other.received) == 2
        finally:
            gate.set()
        assert running.join() == "done"
        assert queue.process(second.id, postponed.next_attempt_at) == "done"
    assert len(receiver.received) == 2
    assert [(d.attempt, d.success) for d in WebhookDelivery.select().where(WebhookDelivery.webhook == busy)] == \
        [(1, True), (1, True)]
    assert Webhook.get_by_id(busy.id).busy_until is None                      # released


def test_a_delivery_behind_one_that_just_started_waits_for_it_instead_of_being_postponed(app_factory, host,
                                                                                        event_type, receiver,
                                                                                        queue, monkeypatch):
    # A fast endpoint's burst: the second delivery waits the moment the first needs, then goes itself.
    monkeypatch.setattr(delivery, "ENDPOINT_WAIT", 30.0)   # generous: the gate opens after 0.3 s
    monkeypatch.setattr(delivery, "YOUNG_CLAIM", timedelta(seconds=60))   # however slow a busy CPU makes the first
    app = app_factory(WEBHOOK_TIMEOUT=10)
    gate = threading.Event()
    receiver.script(200, hold=gate)
    with app.app_context():
        webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
        book(event_type, 0)
        book(event_type, 1)
        queue.run_due(utcnow(), kinds=("event",))
        first, second = rows_of(webhook)
        running = InThread(app, first.id)
        try:
            receiver.wait_for(1)
            threading.Timer(0.3, gate.set).start()
            assert queue.process(second.id, utcnow()) == "done"
        finally:
            gate.set()
        assert running.join() == "done"
        assert len(receiver.received) == 2
        assert OutboxMessage.get_by_id(second.id).attempts == 1


def test_an_endpoint_that_timed_out_three_times_in_a_row_is_paused_and_resumes_with_the_schedule(
        app, host, event_type, receiver, queue):
    receiver.script(200, delay=TIMEOUT * 4, times=delivery.BREAKER_THRESHOLD)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    for n in range(delivery.BREAKER_THRESHOLD + 1):
        book(event_type, n)
    queue.run_due(utcnow(), kinds=("event",))
    rows = rows_of(webhook)
    now = utcnow()
    for row in rows[:delivery.BREAKER_THRESHOLD]:
        assert queue.process(row.id, now) == "retry"
    assert len(receiver.received) == delivery.BREAKER_THRESHOLD
    paused = Webhook.get_by_id(webhook.id)
    assert paused.timeout_streak == delivery.BREAKER_THRESHOLD
    assert paused.paused_until == now + delivery.BREAKER_PAUSE

    last = rows[-1]
    assert queue.process(last.id, now) == "retry"                     # not sent: no worker waits on the endpoint
    assert len(receiver.received) == delivery.BREAKER_THRESHOLD
    [skipped] = [d for d in WebhookDelivery.select().where(WebhookDelivery.webhook == webhook)
                 if d.error and d.error.startswith("Not sent")]
    assert skipped.attempt == 1 and skipped.status_code is None and "paused until" in skipped.error
    assert skipped.next_retry_at == paused.paused_until                # the schedule resumes at the pause's end
    assert OutboxMessage.get_by_id(last.id).next_attempt_at == paused.paused_until

    # After the pause, the next due attempt goes out; an answer closes the breaker.
    after = paused.paused_until + timedelta(seconds=1)
    assert queue.process(rows[0].id, after) == "done"
    closed = Webhook.get_by_id(webhook.id)
    assert (closed.timeout_streak, closed.paused_until) == (0, None)
    assert queue.process(last.id, after) == "done"
    assert len(receiver.received) == delivery.BREAKER_THRESHOLD + 2


def test_a_late_delivery_never_renews_or_frees_a_claim_that_is_not_its_own(app, host, receiver):
    """Its claim ran out (its worker stalled) and another delivery claimed the endpoint: the late one's renewal
    and release leave the new claim alone, so a third delivery cannot run beside the second."""
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    policy = delivery.policy_from_config()
    late = delivery.claim_endpoint(webhook.id, policy, wait=0)
    assert late.since is not None and late.retry_at is None
    Webhook.update(busy_until=utcnow() - timedelta(seconds=1)).where(Webhook.id == webhook.id).execute()
    current = delivery.claim_endpoint(webhook.id, policy, wait=0)          # the claim ran out: taken anew
    assert current.since is not None and current.since != late.since
    held = Webhook.get_by_id(webhook.id).busy_until
    delivery.renew_endpoint(webhook.id, late.since)
    delivery.release_endpoint(webhook.id, late.since)
    row = Webhook.get_by_id(webhook.id)
    assert row.busy_since == current.since and row.busy_until == held
    third = delivery.claim_endpoint(webhook.id, policy, wait=0)
    assert third.since is None and third.retry_at is not None            # still busy: postponed
    delivery.release_endpoint(webhook.id, current.since)
    assert Webhook.get_by_id(webhook.id).busy_since is None


def test_a_new_url_closes_the_circuit_breaker(app, host, receiver):
    webhook, _ = webhooks.create_webhook(host, receiver.url("/old"), ["booking.created"])
    Webhook.update(timeout_streak=5, paused_until=utcnow() + timedelta(hours=1)).where(
        Webhook.id == webhook.id).execute()
    webhooks.update_webhook(host, webhook.id, url=receiver.url("/old"), event_names=["booking.created"],
                            active=False)
    assert Webhook.get_by_id(webhook.id).timeout_streak == 5          # the same endpoint: still paused
    webhooks.update_webhook(host, webhook.id, url=receiver.url("/new"), event_names=["booking.created"])
    fresh = Webhook.get_by_id(webhook.id)
    assert (fresh.timeout_streak, fresh.paused_until, fresh.active) == (0, None, True)


def test_a_webhook_deleted_while_its_delivery_is_in_flight_ends_the_delivery_quietly(app, host, event_type,
                                                                                   receiver, queue, caplog):
    gate = threading.Event()
    receiver.script(200, hold=gate)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    queue.run_due(utcnow(), kinds=("event",))
    [row] = rows_of(webhook)
    caplog.set_level(logging.INFO, logger="app.services")
    running = InThread(app, row.id)
    try:
        receiver.wait_for(1)
        assert len(receiver.received) == 1
        webhooks.delete_webhook(host, webhook.id)
    finally:
        gate.set()
    assert running.join() == "done"
    ended = OutboxMessage.get_by_id(row.id)
    assert ended.done_at is not None and ended.failed_at is None and ended.last_error is None
    assert WebhookDelivery.select().count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert not [d for m, d in queue.enqueued if m == row.id and d]           # no retry was scheduled


def test_webhook_rows_go_to_the_webhook_queue_and_everything_else_to_the_main_queue(app, host, event_type,
                                                                                  receiver, monkeypatch):
    from tasks import huey, webhook_huey

    monkeypatch.setattr(huey, "immediate", False)          # real queue storage: the test reads what is queued
    monkeypatch.setattr(webhook_huey, "immediate", False)
    huey.flush()
    webhook_huey.flush()
    try:
        webhooks.create_webhook(host, receiver.url(), ["booking.created"])
        book(event_type)

        def queued(lane):
            return sorted((t.name, t.args[0]) for t in lane.pending())

        events = list(OutboxMessage.select().where(OutboxMessage.kind == "event"))
        assert events and queued(webhook_huey) == []
        assert {("process_outbox", e.id) for e in events} <= set(queued(huey))
        huey.flush()
        for event in events:
            assert outbox.process(event.id, max_attempts=9, retry_delay=60) == "done"     # the fan-out
        [hook_row] = OutboxMessage.select().where(OutboxMessage.kind == "webhook")
        emails = [m.id for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]
        assert emails and queued(webhook_huey) == [("process_webhook_outbox", hook_row.id)]
        assert {arg for name, arg in queued(huey) if name == "process_outbox"} >= set(emails)
        assert hook_row.id not in {arg for _, arg in queued(huey)}

        # The sweep (on the main queue) sends a lost webhook row to the webhook queue too.
        huey.flush()
        webhook_huey.flush()
        OutboxMessage.update(next_attempt_at=utcnow() - timedelta(hours=1)).where(
            OutboxMessage.id == hook_row.id).execute()
        assert outbox.sweep(120) >= 1
        assert ("process_webhook_outbox", hook_row.id) in queued(webhook_huey)
        assert hook_row.id not in {arg for _, arg in queued(huey)}
        assert receiver.received == []
    finally:
        huey.flush()
        webhook_huey.flush()


def test_connect_timeout_is_its_own_and_never_longer_than_the_timeout(app):
    with app.app_context():
        policy = delivery.policy_from_config()
    assert policy.timeouts == (min(app.config["WEBHOOK_CONNECT_TIMEOUT"], TIMEOUT), TIMEOUT)
    assert delivery.Policy(allow_private=True, timeout=30, connect_timeout=5).timeouts == (5, 30)


def test_an_endpoint_that_never_accepts_the_connection_times_out_after_the_connect_timeout(app_factory, host,
                                                                                          event_type, queue):
    import socket

    app = app_factory(WEBHOOK_TIMEOUT=20, WEBHOOK_CONNECT_TIMEOUT=0.5)
    # A listener that never accepts, with its backlog filled: the kernel drops further SYNs, so a connection
    # attempt hangs as it does towards an endpoint behind a dropping firewall.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)   # let the handshakes of the fillers settle into the backlog
        with app.app_context(), db.connection_context():
            webhook, _ = webhooks.create_webhook(host, f"http://127.0.0.1:{port}/hook", ["booking.created"])
            book(event_type)
            queue.run_due(utcnow(), kinds=("event",))
            [row] = rows_of(webhook)
            started = time.monotonic()
            result = queue.process(row.id, utcnow())
            took = time.monotonic() - started
            [attempt] = WebhookDelivery.select().where(WebhookDelivery.webhook == webhook)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert result == "retry" and took < 10, attempt.error
    assert attempt.error == "Timeout: no connection within 0.5 s"
