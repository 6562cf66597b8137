"""Webhook delivery end to end: a real receiver on loopback verifies every request; retries run on a driven clock.

Most tests switch the queue off (``ManualQueue``) and run the outbox rows themselves at the instants the
schedule names, so "attempt 3 happens 60 s after the event and not a millisecond earlier" is checked without
sleeping. The last test runs the real one-process server, kills it with SIGKILL and restarts it.
"""
from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app import net
from app.db import transaction
from app.models import (
    BookingActivity,
    EventType,
    OutboxMessage,
    Webhook,
    WebhookDelivery,
)
from app.services import events
from app.services.booking import bookings, no_shows
from app.services.developer import api_keys, webhooks
from app.services.developer import webhook_delivery as delivery
from tests import factories
from tests.conftest import free_port
from tests.fakes.webhooks import (
    WebhookReceiver,
    verify_both,
    verify_webhook,
)
from tests.integration.helpers import (
    PYTHON,
    Processes,
    clean_env,
    run,
    sqlite_rows,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
TIMEOUT = 0.5          # WEBHOOK_TIMEOUT of these tests: a receiver that waits longer has timed out
OFFSETS = delivery.RETRY_OFFSETS


@pytest.fixture
def app(app_factory):
    return app_factory(WEBHOOK_TIMEOUT=TIMEOUT)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def book(event_type, start=SLOT, email="ivan@example.com"):
    return factories.booking(event_type, start, email=email, now=NOW)


def utcnow():
    return datetime.now(UTC)


def one_webhook_message(queue) -> OutboxMessage:
    queue.run_due(utcnow(), kinds=("event",))
    [message] = queue.pending("webhook")
    return message


def attempts_of(webhook) -> list[WebhookDelivery]:
    return list(WebhookDelivery.select().where(WebhookDelivery.webhook == webhook).order_by(WebhookDelivery.attempt))


# --- signatures and headers --------------------------------------------------------------------------------
def test_every_event_arrives_verified_by_the_spec_code_and_the_standardwebhooks_library(host, event_type,
                                                                                         receiver):
    webhook, secret = webhooks.create_webhook(host, receiver.url(), list(events.EVENT_NAMES))
    booking = book(event_type)                                             # booking.created + contact.created
    bookings.reschedule_booking(booking, SLOT + timedelta(hours=1), reason=None, by="invitee", now=NOW)
    no_shows.mark_no_show(host, booking.id, True, SLOT + timedelta(hours=2))      # booking.no_show
    bookings.cancel_booking(booking, reason="Schedule conflict", by="invitee")
    with transaction():
        events.emit("payment.received", {"bookingId": booking.id, "amount": 5000, "currency": "usd",
                                         "paymentMethod": "card", "transactionId": "pi_1"}, user_id=host.id)
    EventType.update(requires_confirmation=True).where(EventType.id == event_type.id).execute()
    pending = book(EventType.get_by_id(event_type.id), SLOT + timedelta(days=1), email="ria@example.com")
    assert pending.status == "PENDING"                                     # booking.requested
    received = receiver.wait_for(7)
    assert len(received) == 7
    seen = []
    for request in received:
        payload = verify_both(request, secret)
        assert set(payload) == {"apiVersion", "event", "timestamp", "data"}
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "LinkTime-Webhook/1.0"
        assert request.headers["X-LinkTime-Event"] == payload["event"]
        assert request.headers["X-LinkTime-Timestamp"] == payload["timestamp"]
        event_row = OutboxMessage.get_by_id(request.headers["webhook-id"])     # the stable event id
        assert json.loads(event_row.payload) == payload
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        seen.append(payload["event"])
    assert sorted(seen) == sorted(events.EVENT_NAMES)
    cancelled = next(json.loads(r.body) for r in received if r.headers["X-LinkTime-Event"] == "booking.cancelled")
    assert cancelled["data"]["status"] == "CANCELLED" and cancelled["data"]["cancelReason"] == "Schedule conflict"
    assert all(d.success and d.status_code == 200 and d.attempt == 1 for d in attempts_of(webhook))


def test_a_tampered_body_or_wrong_secret_fails_both_verifications(host, event_type, receiver):
    from standardwebhooks import Webhook as StandardWebhook
    from standardwebhooks.webhooks import WebhookVerificationError

    _webhook, secret = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    [request] = receiver.wait_for(1)
    tampered = request.body.replace(b"Ivan", b"Evan")
    assert not verify_webhook(tampered, request.headers["X-LinkTime-Signature"], secret)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(tampered, request.headers)
    other_secret = delivery.generate_secret()
    assert not verify_webhook(request.body, request.headers["X-LinkTime-Signature"], other_secret)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(other_secret).verify(request.body, request.headers)


# --- retries on a driven clock ------------------------------------------------------------------------------
def test_500_is_retried_exactly_on_schedule_and_stops_after_the_sixth_attempt(host, event_type, receiver, queue):
    receiver.script(500, body=b"upstream down", times=10)
    webhook, secret = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    booking = book(event_type)
    message = one_webhook_message(queue)
    t0 = message.created_at
    for n, offset in enumerate(OFFSETS, start=1):
        due = max(t0 + timedelta(seconds=offset), message.next_attempt_at if n == 1 else t0)
        if n > 1:
            assert queue.process(message.id, due - timedelta(milliseconds=1)) == "skipped"
            assert len(receiver.received) == n - 1
        assert queue.process(message.id, due) == ("failed" if n == 6 else "retry")
        assert len(receiver.received) == n
    assert queue.process(message.id, t0 + timedelta(days=30)) == "skipped"
    assert len(receiver.received) == 6
    rows = attempts_of(webhook)
    assert [r.attempt for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r.status_code == 500 and not r.success and r.response_excerpt == "upstream down" for r in rows)
    assert [r.next_retry_at for r in rows] == [t0 + timedelta(seconds=o) for o in OFFSETS[1:]] + [None]
    assert [r.created_at for r in rows][1:] == [t0 + timedelta(seconds=o) for o in OFFSETS[1:]]
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {rows[0].event_id}                                   # stable across retries
    for request in receiver.received:
        verify_both(request, secret)
    assert OutboxMessage.get_by_id(message.id).failed_at is not None
    notes = [a.message for a in BookingActivity.select().where((BookingActivity.booking == booking.id)
                                                               & (BookingActivity.kind == "webhook"))]
    assert len(notes) == 6 and "not retried" in notes[-1] and "HTTP 500" in notes[0]


def test_a_retry_that_succeeds_ends_the_series(host, event_type, receiver, queue):
    receiver.script(503)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "retry"
    assert queue.process(message.id, message.created_at + timedelta(seconds=10)) == "done"
    assert queue.process(message.id, message.created_at + timedelta(hours=2)) == "skipped"
    assert [(d.attempt, d.status_code, d.success) for d in attempts_of(webhook)] == [(1, 503, False), (2, 200, True)]
    assert len(receiver.received) == 2


def test_429_with_a_later_retry_after_in_seconds_moves_the_next_attempt(host, event_type, receiver, queue):
    receiver.script(500)
    receiver.script(429, headers={"Retry-After": "120"})
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    t0 = message.created_at
    assert queue.process(message.id, message.next_attempt_at) == "retry"          # 500
    second = t0 + timedelta(seconds=10)
    assert queue.process(message.id, second) == "retry"                          # 429, Retry-After: 120
    moved = second + timedelta(seconds=120)                                      # instead of t0 + 60 s
    assert queue.process(message.id, t0 + timedelta(seconds=60)) == "skipped"
    assert queue.process(message.id, moved - timedelta(milliseconds=1)) == "skipped"
    assert queue.process(message.id, moved) == "done"
    rows = attempts_of(webhook)
    assert [(r.attempt, r.status_code) for r in rows] == [(1, 500), (2, 429), (3, 200)]
    assert rows[1].next_retry_at == moved


def test_retry_after_as_an_http_date_is_honoured_and_an_earlier_one_is_ignored(host, event_type, receiver, queue):
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    t0 = message.created_at
    wanted = (t0 + timedelta(minutes=5)).replace(microsecond=0)
    receiver.script(503, headers={"Retry-After": "1"})                     # earlier than +10 s: ignored
    receiver.script(429, headers={"Retry-After": format_datetime(wanted, usegmt=True)})
    assert queue.process(message.id, message.next_attempt_at) == "retry"
    assert queue.process(message.id, t0 + timedelta(seconds=10)) == "retry"
    assert queue.process(message.id, t0 + timedelta(seconds=60)) == "skipped"
    assert queue.process(message.id, wanted - timedelta(milliseconds=1)) == "skipped"
    assert queue.process(message.id, wanted) == "done"
    rows = attempts_of(webhook)
    assert [r.next_retry_at for r in rows] == [t0 + timedelta(seconds=10), wanted, None]


@pytest.mark.parametrize("status", [410, 400, 404, 301])
def test_client_errors_and_redirects_are_not_retried(host, event_type, receiver, queue, status):
    receiver.script(status, headers={"Location": receiver.url("/elsewhere")} if status == 301 else {},
                    body=b'{"error":"nope"}')
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "failed"
    for offset in OFFSETS[1:]:
        assert queue.process(message.id, message.created_at + timedelta(seconds=offset)) == "skipped"
    assert [r.path for r in receiver.received] == ["/hook"]                       # the redirect was not followed
    [row] = attempts_of(webhook)
    assert (row.status_code, row.success, row.next_retry_at) == (status, False, None)
    assert row.response_excerpt == '{"error":"nope"}' and row.error


def test_a_receiver_slower_than_the_timeout_is_retried(host, event_type, receiver, queue):
    receiver.script(200, delay=TIMEOUT * 4)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    started = time.monotonic()
    assert queue.process(message.id, message.next_attempt_at) == "retry"
    assert time.monotonic() - started < TIMEOUT * 3
    assert queue.process(message.id, message.created_at + timedelta(seconds=10)) == "done"
    first, second = attempts_of(webhook)
    assert first.status_code is None and first.error.startswith("Timeout")
    assert first.next_retry_at == message.created_at + timedelta(seconds=10)
    assert TIMEOUT * 1000 * 0.8 <= first.duration_ms < TIMEOUT * 1000 * 3
    assert second.success


def test_a_network_error_is_retried(host, event_type, queue):
    closed_port = free_port()                                      # nothing listens there
    webhook, _ = webhooks.create_webhook(host, f"http://127.0.0.1:{closed_port}/hook", ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "retry"
    [row] = attempts_of(webhook)
    assert row.status_code is None and row.error.startswith("Network error")
    assert row.next_retry_at == message.created_at + timedelta(seconds=10)


def test_the_response_excerpt_keeps_at_most_1_kb(host, event_type, receiver, queue):
    receiver.script(200, body=b"x" * 5000)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "done"
    [row] = attempts_of(webhook)
    assert row.response_excerpt == "x" * 1024


def test_zapier_410_gone_removes_the_subscription(host, event_type, receiver, queue):
    receiver.script(410)
    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"], label="Zapier")
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "failed"
    assert Webhook.get_or_none(Webhook.id == webhook.id) is None


def test_a_webhook_deleted_or_paused_after_the_event_gets_nothing(host, event_type, receiver, queue):
    first, _ = webhooks.create_webhook(host, receiver.url("/a"), ["booking.created"])
    second, _ = webhooks.create_webhook(host, receiver.url("/b"), ["booking.created"])
    book(event_type)
    queue.run_due(utcnow(), kinds=("event",))
    webhooks.delete_webhook(host, first.id)
    webhooks.update_webhook(host, second.id, url=second.url, event_names=["booking.created"], active=False)
    assert queue.run_due(utcnow() + timedelta(seconds=1), kinds=("webhook",)) == ["done", "done"]
    assert receiver.received == []


def test_a_delivery_for_a_booking_deleted_since_is_still_sent_and_recorded(host, event_type, receiver, queue):
    from app.models import Booking

    webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    booking = book(event_type)
    message = one_webhook_message(queue)
    Booking.delete().where(Booking.id == booking.id).execute()
    assert queue.process(message.id, message.next_attempt_at) == "done"
    [row] = attempts_of(webhook)
    assert row.success and len(receiver.received) == 1


def test_redeliver_sends_the_same_event_again_as_a_new_attempt_series(host, event_type, receiver, queue):
    receiver.script(400)
    webhook, secret = webhooks.create_webhook(host, receiver.url(), ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "failed"
    [failed] = attempts_of(webhook)
    webhooks.redeliver(host, webhook.id, failed.id)
    [again] = queue.pending("webhook")
    assert queue.process(again.id, again.next_attempt_at) == "done"
    first, second = receiver.received
    assert first.body == second.body and verify_both(second, secret)
    assert second.headers["webhook-id"] == failed.event_id
    assert [(d.attempt, d.success) for d in attempts_of(webhook)] == [(1, False), (1, True)]


# --- one delivery per booking change ----------------------------------------------------------------------
def test_create_reschedule_and_cancel_each_deliver_exactly_once(host, event_type, receiver):
    webhook, secret = webhooks.create_webhook(host, receiver.url(),
                                              ["booking.created", "booking.cancelled", "booking.rescheduled"])
    booking = book(event_type)
    bookings.reschedule_booking(booking, SLOT + timedelta(hours=1), reason="clash", by="host", now=NOW)
    bookings.cancel_booking(booking, reason=None, by="host")
    bookings.cancel_booking(booking, reason=None, by="host")          # already cancelled: no new event
    time.sleep(0.3)
    received = receiver.received
    assert [r.headers["X-LinkTime-Event"] for r in received] == ["booking.created", "booking.rescheduled",
                                                                   "booking.cancelled"]
    assert len({r.headers["webhook-id"] for r in received}) == 3
    payloads = [verify_both(r, secret) for r in received]
    assert {p["data"]["id"] for p in payloads} == {booking.id}
    assert payloads[1]["data"]["previousStartTime"] == events.iso(SLOT)
    assert WebhookDelivery.select().where(WebhookDelivery.webhook == webhook).count() == 3


# --- Zapier -----------------------------------------------------------------------------------------------
def test_zapier_subscribe_book_receive_unsubscribe_book_receive_nothing(app, make_user, receiver):
    from app.db import db

    host = make_user("zara", timezone="America/New_York")

    def in_app(fn):
        with app.app_context(), db.connection_context():
            return fn()

    _key, raw = in_app(lambda: api_keys.create_api_key(host, "Zapier"))
    event_type = in_app(lambda: EventType.get(EventType.user == host))
    client = app.test_client()
    headers = {"X-API-Key": raw}
    made = client.post("/api/zapier/subscribe", json={"event": "booking.created", "hookUrl": receiver.url("/zap")},
                       headers=headers)
    assert made.status_code == 201, made.data
    hook_id = made.get_json()["id"]
    booking = in_app(lambda: book(event_type))
    [request] = receiver.wait_for(1)
    secret = in_app(lambda: app.extensions["linktime_encryptor"].decrypt(Webhook.get_by_id(hook_id).secret))
    payload = verify_both(request, secret)
    assert request.path == "/zap" and payload["event"] == "booking.created" and payload["data"]["id"] == booking.id
    assert client.delete(f"/api/zapier/subscribe/{hook_id}", headers=headers).status_code == 200
    in_app(lambda: book(event_type, start=SLOT + timedelta(hours=2), email="second@example.com"))
    time.sleep(0.3)
    assert len(receiver.received) == 1
    assert in_app(lambda: Webhook.select().count()) == 0


# --- the outbound guard -----------------------------------------------------------------------------------
PROD = {"LINKTIME_ENV": "production", "SECRET_KEY": "s" * 48, "BASE_URL": "https://cal.example.com",
        "WEBHOOK_TIMEOUT": TIMEOUT}


@pytest.fixture
def production_app(app_factory, app):
    """A production-mode app on the same database (and encryption key) as ``app``."""
    return app_factory(**PROD, ENCRYPTION_KEY=app.config["ENCRYPTION_KEY"])


def test_production_refuses_a_host_name_that_resolves_to_loopback(production_app, host, event_type, receiver,
                                                                  queue):
    url = f"https://localhost:{receiver.port}/hook"
    with production_app.app_context():
        assert production_app.config["WEBHOOK_ALLOW_PRIVATE"] is False
        with pytest.raises(webhooks.ValidationFailed) as info:
            webhooks.create_webhook(host, url, ["booking.created"])
        assert "private or local" in info.value.errors["url"]
        # One stored before (or by an administrator's database edit) is refused at delivery time too.
        webhook = Webhook.create(user=host, url=url, events=["booking.created"],
                                 secret=production_app.extensions["linktime_encryptor"].encrypt(
                                     delivery.generate_secret()))
        book(event_type)
        message = one_webhook_message(queue)
        assert queue.process(message.id, message.next_attempt_at) == "failed"
        [row] = attempts_of(webhook)
    assert row.status_code is None and row.error.startswith("Refused") and "127.0.0.1" in row.error
    assert receiver.received == []


def test_production_checks_every_address_again_at_connect_time(production_app, host, event_type, receiver, queue,
                                                               monkeypatch):
    answers = {"hooks.rebind.test": [["93.184.215.14"], ["93.184.215.14", "127.0.0.1"]]}

    def fake_dns(name, port, *args):
        ips = answers[name][0] if len(answers[name]) == 1 else answers[name].pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(net, "_getaddrinfo", fake_dns)
    with production_app.app_context():
        webhook, _ = webhooks.create_webhook(host, f"https://hooks.rebind.test:{receiver.port}/hook",
                                             ["booking.created"])          # public when checked at creation
        book(event_type)
        message = one_webhook_message(queue)
        assert queue.process(message.id, message.next_attempt_at) == "failed"   # then one loopback address
        [row] = attempts_of(webhook)
    assert row.error.startswith("Refused") and "127.0.0.1" in row.error
    assert receiver.received == []


def test_production_refuses_plain_http_even_to_a_public_address(production_app, host, event_type, queue):
    with production_app.app_context():
        with pytest.raises(webhooks.ValidationFailed) as info:
            webhooks.create_webhook(host, "http://93.184.215.14/hook", ["booking.created"])
        assert "https://" in info.value.errors["url"]


@pytest.mark.parametrize("bad_host", ["a..example.com", "x" * 64 + ".example.com"])
def test_a_host_name_that_cannot_exist_is_refused_at_save_in_production(production_app, host, bad_host):
    with production_app.app_context():
        with pytest.raises(webhooks.ValidationFailed) as info:
            webhooks.create_webhook(host, f"https://{bad_host}/hook", ["booking.created"])
        assert "could not find the host" in info.value.errors["url"]
        assert Webhook.select().count() == 0


@pytest.mark.parametrize("bad_host", ["a..example.com", "x" * 64 + ".example.com"])
def test_a_stored_webhook_to_a_host_name_that_cannot_exist_fails_permanently_without_crashing(host, event_type,
                                                                                             queue, bad_host):
    # Development accepts any address at save time; the delivery is where such a name must not blow up.
    webhook, _ = webhooks.create_webhook(host, f"http://{bad_host}/hook", ["booking.created"])
    book(event_type)
    message = one_webhook_message(queue)
    assert queue.process(message.id, message.next_attempt_at) == "failed"
    for offset in OFFSETS[1:]:
        assert queue.process(message.id, message.created_at + timedelta(seconds=offset)) == "skipped"
    [row] = attempts_of(webhook)
    assert (row.status_code, row.success, row.next_retry_at) == (None, False, None)
    assert row.error.startswith("Refused") and "not a valid host name" in row.error


def test_the_connection_goes_to_the_address_that_was_resolved_and_checked(host, event_type, receiver, monkeypatch):
    calls = []

    def fake_dns(name, port, *args):
        calls.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(net, "_getaddrinfo", fake_dns)
    _webhook, secret = webhooks.create_webhook(host, f"http://hooks.pinned.test:{receiver.port}/hook",
                                               ["booking.created"])
    book(event_type)
    [request] = receiver.wait_for(1)
    assert request.headers["Host"] == f"hooks.pinned.test:{receiver.port}"    # a name the system cannot resolve
    assert "hooks.pinned.test" in calls
    verify_both(request, secret)


# --- a crash between commit and send ----------------------------------------------------------------------
CREATE_BOOKING = """
import json, sys
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType
from app.services.account import accounts
from app.services.booking import bookings
from app.services.developer import webhooks
from app.services.scheduling.slots import available_slots

app = create_app()
with app.app_context(), db.connection_context():
    user = accounts.signup(accounts.SignupData(name="Grace Hopper", email="grace@example.com", username="grace",
                                               password="durable hooks 4 ever", timezone="UTC"), default_plan="FREE")
    webhook, secret = webhooks.create_webhook(user, sys.argv[1], ["booking.created"])
    event_type = EventType.get(EventType.user == user)
    now = datetime.now(timezone.utc)
    start = available_slots(event_type, now, now + timedelta(days=21), now=now)[0]
    booking = bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Ivan", invitee_email="ivan@example.com", invitee_timezone="UTC"), now=now).booking
    print(json.dumps({"secret": secret, "booking": booking.id}))
"""


def test_a_booking_committed_before_a_kill_9_is_delivered_after_the_restart(tmp_path):
    instance = tmp_path / "instance"
    db_path, queue_path = instance / "linktime.db", instance / "queue.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes = Processes(tmp_path)

    def env(run_queue: bool) -> dict:
        return clean_env(LINKTIME_ENV="development", INSTANCE_DIR=instance, HOST="127.0.0.1", PORT=port,
                         DATABASE_URL=f"sqlite:///{db_path}", HUEY_URL=f"sqlite:///{queue_path}",
                         RUN_QUEUE_IN_WEB="1" if run_queue else "0", HUEY_WORKERS=1, LOG_LEVEL="INFO")

    try:
        with WebhookReceiver() as receiver:
            first = processes.start("serve", [PYTHON, "-m", "app.serve"], env(run_queue=False))
            wait_for_http(base, first, processes)                        # migrated, serving, no consumer
            made = run([PYTHON, "-c", CREATE_BOOKING, receiver.url("/durable")], env=env(False))
            assert made.returncode == 0, made.stderr[-3000:]
            created = json.loads(made.stdout.strip().splitlines()[-1])
            rows = sqlite_rows(db_path, "SELECT kind, done_at FROM outbox WHERE kind = 'event'")
            assert rows and all(done is None for _kind, done in rows)      # committed, never sent
            time.sleep(0.5)
            assert receiver.received == []
            processes.kill9(first)
            assert first.returncode == -9

            second = processes.start("serve", [PYTHON, "-m", "app.serve"], env(run_queue=True))
            wait_for_http(base, second, processes)
            received = receiver.wait_for(1, timeout=30)
            assert received, processes.all_logs()
            payload = verify_both(received[0], created["secret"])
            assert payload["event"] == "booking.created" and payload["data"]["id"] == created["booking"]
            wait_until(lambda: sqlite_rows(db_path, "SELECT count(*) FROM webhook_deliveries WHERE success")[0][0]
                       == 1, 10, "the delivery was not recorded")
            time.sleep(1.0)                                                  # a duplicate would arrive now
            assert len(receiver.received) == 1
    finally:
        processes.stop_all()
