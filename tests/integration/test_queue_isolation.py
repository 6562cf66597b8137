"""The real one-process server (``python -m app.serve``): a hanging webhook endpoint cannot delay anyone's email,
and a delivery whose worker was killed (SIGKILL) is finished after a restart within two minutes.

Each test runs the server as a subprocess on its own instance folder, SQLite database and SQLite queue, with a
real SMTP server and real webhook receivers on loopback; setup and bookings run as separate processes on the
same database, as an operator's script would.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.fakes.webhooks import HangingReceiver, WebhookReceiver
from tests.integration.helpers import (
    PYTHON,
    Processes,
    SMTPSink,
    clean_env,
    run,
    sqlite_rows,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

SETUP = """
import json, sys
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType
from app.services.account import accounts
from app.services.booking import bookings
from app.services.developer import webhooks
from app.services.scheduling.slots import available_slots

hook_url, count = sys.argv[1], int(sys.argv[2])
app = create_app()
with app.app_context(), db.connection_context():
    def signup(name, username):
        return accounts.signup(accounts.SignupData(name=name, email=f"{username}@example.com", username=username,
                                                   password="isolated lanes 4 ever", timezone="UTC"),
                               default_plan="PRO")
    busy = signup("Busy Host", "busy")
    signup("Other Host", "other")
    webhooks.create_webhook(busy, hook_url, ["booking.created"])
    event_type = EventType.get(EventType.user == busy)
    now = datetime.now(timezone.utc)
    for n, start in enumerate(available_slots(event_type, now, now + timedelta(days=28), now=now)[:count]):
        bookings.create_booking(event_type, bookings.BookingRequest(
            start=start, invitee_name=f"Invitee {n}", invitee_email=f"invitee{n}@example.com",
            invitee_timezone="UTC"), now=now)
    print(json.dumps({"booked": count}))
"""

BOOK_OTHER = """
import json, time
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType, User
from app.services.booking import bookings
from app.services.scheduling.slots import available_slots

app = create_app()
with app.app_context(), db.connection_context():
    event_type = EventType.get(EventType.user == User.get(User.username == "other"))
    now = datetime.now(timezone.utc)
    start = available_slots(event_type, now, now + timedelta(days=28), now=now)[0]
    booking = bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Olga Other", invitee_email="olga@example.com", invitee_timezone="UTC"),
        now=now).booking
    print(json.dumps({"booking": booking.id, "committed_at": time.time()}))
"""


class Box:
    def __init__(self, tmp_path: Path, **settings) -> None:
        self.instance = tmp_path / "instance"
        self.db_path = self.instance / "linktime.db"
        self.port = free_port()
        self.smtp_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes = Processes(tmp_path)
        self.env = clean_env(
            LINKTIME_ENV="development", INSTANCE_DIR=self.instance, HOST="127.0.0.1", PORT=self.port,
            DATABASE_URL=f"sqlite:///{self.db_path}", HUEY_URL=f"sqlite:///{self.instance / 'queue.db'}",
            SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=5, LOG_LEVEL="INFO", **settings)

    def start(self):
        proc = self.processes.start("serve", [PYTHON, "-m", "app.serve"], self.env)
        wait_for_http(self.base, proc, self.processes)
        return proc

    def script(self, source: str, *args: str) -> dict:
        done = run([PYTHON, "-c", source, *args], env=self.env, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_hanging_webhook_receiver_does_not_delay_another_hosts_confirmation_email(tmp_path):
    """Issue 12, point 1: 20 bookings whose webhook endpoint accepts the connection and never answers, then a
    booking of another host: its confirmation email leaves within 10 s (it took minutes with one shared queue)."""
    box = Box(tmp_path, HUEY_WORKERS=2, WEBHOOK_WORKERS=2, WEBHOOK_TIMEOUT=30)
    try:
        with HangingReceiver() as hanging, SMTPSink(box.smtp_port) as sink:
            box.start()
            assert box.script(SETUP, hanging.url(), "20") == {"booked": 20}
            wait_until(lambda: hanging.accepted >= 1, 60, "no webhook delivery reached the hanging receiver")
            booked = box.script(BOOK_OTHER)

            def olga_mail():
                return next((m for m in list(sink.messages) if m["To"] == "olga@example.com"), None)
            message = wait_until(olga_mail, 60, "the other host's confirmation email was never sent")
            delay = time.time() - booked["committed_at"]
            assert delay < 10, f"the confirmation email left {delay:.1f} s after the booking"
            assert "Olga Other" in message.get_body(("plain",)).get_content() or message["Subject"]
            # The hanging endpoint holds one webhook worker at a time; its deliveries wait their turn.
            assert hanging.accepted <= 2
    finally:
        box.processes.stop_all()


def test_a_delivery_whose_worker_was_killed_is_finished_within_two_minutes_of_the_kill(tmp_path):
    """Issue 12, point 6: the server is killed (SIGKILL) while a delivery waits for the endpoint's answer; after
    the restart the delivery is made again, once, within two minutes of the kill (it took 7 minutes)."""
    box = Box(tmp_path, WEBHOOK_TIMEOUT=300)     # the first delivery is still in flight when the kill comes
    gate = threading.Event()
    try:
        with WebhookReceiver() as receiver, SMTPSink(box.smtp_port):
            receiver.script(200, hold=gate)                            # the first request never gets an answer
            first = box.start()
            box.script(SETUP, receiver.url("/killed"), "1")
            receiver.wait_for(1, timeout=60)
            assert len(receiver.received) == 1, box.processes.all_logs()
            box.processes.kill9(first)
            killed_at = time.monotonic()
            assert first.returncode == -9

            box.start()
            again = receiver.wait_for(2, timeout=150)
            recovered_after = time.monotonic() - killed_at
            assert len(again) == 2, f"not delivered again\n{box.processes.all_logs()}"
            assert recovered_after < 120, f"delivered again {recovered_after:.0f} s after the kill"
            print(f"delivered again {recovered_after:.1f} s after the kill")
            assert again[0].headers["webhook-id"] == again[1].headers["webhook-id"]     # the same event
            wait_until(lambda: sqlite_rows(box.db_path, "SELECT attempt, success FROM webhook_deliveries")
                       == [(2, 1)], 20, "the delivery was not recorded once, as attempt 2")
            wait_until(lambda: sqlite_rows(box.db_path, "SELECT count(*) FROM outbox WHERE kind = 'webhook' "
                                                        "AND done_at IS NOT NULL AND leased_until IS NULL")
                       == [(1,)], 20, "the outbox row was not finished")
            time.sleep(1.0)                                              # a duplicate would arrive now
            assert len(receiver.received) == 2
    finally:
        gate.set()
        box.processes.stop_all()


def test_parallel_test_sends_to_a_hanging_endpoint_leave_the_server_responsive(tmp_path):
    """Issue 12, point 12: 18 parallel "Send test" clicks against an endpoint that never answers used to hold 18 web
    threads for 30 s each (/healthz took 27 s). Now each click is queued and answered at once, five per minute per
    account are accepted, and /healthz stays fast."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.integration.helpers import csrf_token, post_form

    box = Box(tmp_path, WEBHOOK_TIMEOUT=30)
    try:
        with HangingReceiver() as hanging:
            box.start()
            browser = requests.Session()
            signed_up = post_form(browser, box.base, "/signup", {
                "name": "Grace Hopper", "email": "grace@example.com", "username": "grace",
                "password": "isolated lanes 4 ever", "timezone": "UTC"})
            assert signed_up.status_code == 302, signed_up.text[:500]
            made = post_form(browser, box.base, "/settings/webhooks/new", {
                "url": hanging.url(), "events": ["booking.created"], "active": "on"})
            assert made.status_code == 201, made.text[:500]
            [(webhook_id,)] = sqlite_rows(box.db_path, "SELECT id FROM webhooks")
            page = f"{box.base}/settings/webhooks/{webhook_id}"
            token = csrf_token(browser, page)

            def click(_):
                started = time.monotonic()
                answer = browser.post(f"{page}/test", data={"event": "booking.created", "csrf_token": token},
                                      headers={"HX-Request": "true"}, timeout=60)
                return answer.status_code, time.monotonic() - started

            with ThreadPoolExecutor(18) as pool:
                clicks = pool.map(click, range(18))
                healthz = []
                for _ in range(5):
                    started = time.monotonic()
                    assert requests.get(box.base + "/healthz", timeout=30).status_code == 200
                    healthz.append(time.monotonic() - started)
                results = list(clicks)
            statuses = sorted(status for status, _ in results)
            assert statuses == [202] * 5 + [429] * 13, statuses
            assert max(took for _, took in results) < 10, results
            assert max(healthz) < 5, healthz
            wait_until(lambda: hanging.accepted >= 1, 30, "no test send reached the endpoint")
            assert hanging.accepted == 1            # the five queued tests take their turns at the endpoint
    finally:
        box.processes.stop_all()
