"""A provider's payment webhook survives a crash (kill -9) of the one-process server between being stored and its
effects, and after the restart every effect happens exactly once (issue 16).

The real ``python -m app.serve`` runs as a subprocess on its own instance folder, database (SQLite, or a fresh
PostgreSQL database next to ``TEST_DATABASE_URL``) and SQLite queue, with Stripe pointed at a ``StripeFake`` in this
test process. The first process serves the web only
(``RUN_QUEUE_IN_WEB=0``): the signed ``checkout.session.completed`` it accepts is kept (``payment_events``) and its
processing queued (an ``outbox`` row and its task in the queue file), and nothing can process it before the kill.
That is what makes the kill land between storing and effects every time, not by timing luck. The restarted process
runs the queue: the booking is confirmed once, with one ``booking.created``, one ``payment.received`` event, one
audit entry and one confirmation email to each of invitee and host (a real SMTP server).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import PG_DEFAULT, free_port
from tests.fakes.stripe import StripeFake
from tests.integration.helpers import (
    PYTHON,
    Processes,
    SMTPSink,
    clean_env,
    fresh_postgres_database,
    post_form,
    sqlite_rows,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
HOST_EMAIL = "hana@example.com"
INVITEE_EMAIL = "pia@example.com"
PG_BASE = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)


def next_week_10am() -> datetime:
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)  # Tuesday of next week
    return datetime.combine(day, day_time(10), BERLIN).astimezone(UTC)


class PaidBox:
    """The single-process deployment with Stripe (the fake) configured."""

    def __init__(self, tmp_path: Path, stripe: StripeFake, database_url: str | None) -> None:
        self.instance = tmp_path / "instance"
        self.db_path = self.instance / "linktime.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"   # else PostgreSQL
        self.queue_path = self.instance / "queue.db"
        self.port = free_port()
        self.smtp_port = free_port()  # nothing listens here until the restart
        self.base = f"http://127.0.0.1:{self.port}"
        self.stripe = stripe
        self.processes = Processes(tmp_path)

    def start(self, *, run_queue: bool):
        env = clean_env(
            LINKTIME_ENV="development", INSTANCE_DIR=self.instance, HOST="127.0.0.1", PORT=self.port,
            BASE_URL=self.base, DATABASE_URL=self.database_url, HUEY_URL=f"sqlite:///{self.queue_path}",
            RUN_QUEUE_IN_WEB="1" if run_queue else "0", HUEY_WORKERS=1,
            SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=2, EMAIL_RETRY_DELAY=2,
            LOG_LEVEL="INFO", **self.stripe.settings())
        proc = self.processes.start("serve", [PYTHON, "-m", "app.serve"], env)
        wait_for_http(self.base, proc, self.processes)
        return proc

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of the instance's database (``?`` placeholders), read from outside the process."""
        if self.database_url.startswith("sqlite"):
            return sqlite_rows(self.db_path, sql, params)
        return self._postgres(sql, params)

    def execute(self, sql: str, params: tuple = ()) -> None:
        """Change the instance's database from outside the process (``?`` placeholders)."""
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(self.db_path, timeout=10) as conn:
                conn.execute(sql, params)
            conn.close()
        else:
            self._postgres(sql, params)

    def _postgres(self, sql: str, params: tuple) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.database_url, connect_timeout=5) as conn, conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            rows = [tuple(row) for row in cur.fetchall()] if cur.description else []
        conn.close()
        return rows

    def sign_up_host_with_a_priced_event_type(self) -> str:
        with requests.Session() as browser:
            created = post_form(browser, self.base, "/signup", {
                "name": "Hana Host", "email": HOST_EMAIL, "username": "hana", "password": "paid meetings 4 ever",
                "timezone": "Europe/Berlin"})
            assert created.status_code == 302 and created.headers["Location"] == "/dashboard", created.text[:500]
        [(event_type_id,)] = self.rows("SELECT id FROM event_types WHERE slug = '30-min'")
        self.execute("UPDATE event_types SET price_amount = 5000, price_currency = 'usd', "   # as the form would
                     "payment_providers = '[\"stripe\"]' WHERE id = ?", (event_type_id,))
        assert self.rows("SELECT price_amount FROM event_types WHERE id = ?", (event_type_id,)) == [(5000,)]
        return event_type_id

    def book(self, event_type_id: str) -> dict:
        answer = requests.post(f"{self.base}/api/bookings", timeout=30, json={
            "eventTypeId": event_type_id, "inviteeName": "Pia Payer", "inviteeEmail": INVITEE_EMAIL,
            "inviteeTimezone": "Europe/Berlin", "startTime": next_week_10am().strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert answer.status_code == 201, f"{answer.status_code} {answer.text}\n{self.processes.all_logs()}"
        return answer.json()

    def booking_status(self, booking_id: str) -> str:
        return self.rows("SELECT status FROM bookings WHERE id = ?", (booking_id,))[0][0]

    def events_named(self, name: str) -> list[dict]:
        payloads = [p if isinstance(p, dict) else json.loads(p)
                    for (p,) in self.rows("SELECT payload FROM outbox WHERE kind = 'event'")]
        return [p for p in payloads if p["event"] == name]

    def queued_tasks(self) -> int:
        return sqlite_rows(self.queue_path, "SELECT count(*) FROM task")[0][0] if self.queue_path.exists() else 0


@pytest.fixture
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """None: the instance's own SQLite file; else a fresh PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_postgres_database(PG_BASE, "linktime_paycrash") as url:
        yield url


def test_a_payment_webhook_stored_before_a_kill_9_takes_effect_once_after_the_restart(tmp_path, stripe_fake,
                                                                                       database_url):
    box = PaidBox(tmp_path, stripe_fake, database_url)
    try:
        first = box.start(run_queue=False)  # web only: whatever is queued waits in the queue file
        event_type_id = box.sign_up_host_with_a_priced_event_type()
        held = box.book(event_type_id)
        booking_id = held["bookingId"]
        assert held["booking"]["status"] == "PENDING_PAYMENT" and held["checkoutUrl"]
        [session_id] = stripe_fake.sessions
        assert stripe_fake.sessions[session_id]["url"] == held["checkoutUrl"]

        # the invitee pays; Stripe tells the instance (signed), which keeps the event and queues its processing
        event = stripe_fake.complete(session_id, email=INVITEE_EMAIL)
        answer = stripe_fake.deliver(f"{box.base}/api/webhooks/stripe", event)
        assert answer.status_code == 200 and answer.json() == {"received": True, "duplicate": False}
        [(event_id, processed_at)] = box.rows("SELECT event_id, processed_at FROM payment_events")
        assert (event_id, processed_at) == (event["id"], None)
        [(kind, attempts, done_at)] = box.rows("SELECT kind, attempts, done_at FROM outbox WHERE kind = "
                                               "'payment_event'")
        assert (kind, attempts, done_at) == ("payment_event", 0, None)
        wait_until(lambda: box.queued_tasks() >= 1, 20, "no task was queued for the payment event")
        # stored, and none of its effects yet
        assert box.booking_status(booking_id) == "PENDING_PAYMENT"
        assert box.events_named("booking.created") == [] and box.events_named("payment.received") == []

        box.processes.kill9(first)
        assert first.returncode == -9

        with SMTPSink(box.smtp_port) as sink:
            box.start(run_queue=True)
            wait_until(lambda: box.booking_status(booking_id) == "CONFIRMED", 40,
                       f"the booking was not confirmed after the restart\n{box.processes.all_logs()}")
            wait_until(lambda: box.rows("SELECT count(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
                       == [(0,)], 40, f"queued work was left undone\n{box.processes.all_logs()}")
            messages = sink.wait_for(2, timeout=30)
            assert box.rows("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL") == [(0,)]
            # the provider repeats itself after the restart: nothing more happens
            again = stripe_fake.deliver(f"{box.base}/api/webhooks/stripe", event)
            assert again.status_code == 200 and again.json()["duplicate"] is True
            time.sleep(1.0)  # a duplicate email would arrive now
            messages = list(sink.messages)

        assert sorted((m["To"], m["Subject"]) for m in messages) == [
            (HOST_EMAIL, "New booking: 30 Minute Meeting with Pia Payer"),
            (INVITEE_EMAIL, "Confirmed: 30 Minute Meeting with Hana Host")]
        [(_, processed_at)] = box.rows("SELECT event_id, processed_at FROM payment_events")
        assert processed_at is not None
        [received] = box.events_named("payment.received")
        [(transaction_id,)] = box.rows("SELECT transaction_id FROM payments WHERE booking_id = ?", (booking_id,))
        assert received["data"] == {"bookingId": booking_id, "amount": 5000, "currency": "usd",
                                    "paymentMethod": "card", "transactionId": transaction_id, "provider": "stripe"}
        assert len(box.events_named("booking.created")) == 1
        assert box.rows("SELECT count(*) FROM audit_logs WHERE action = 'payment.received'") == [(1,)]
        assert box.rows("SELECT status, paid_at IS NOT NULL FROM payments") == [("paid", 1)]
    finally:
        box.processes.stop_all()
