"""A timed workflow run survives a crash (kill -9) of the queue between being claimed and its message being sent, and
the invitee gets the message exactly once after the restart (issue 17).

The real ``python -m app.serve`` runs as a subprocess (web and queue in one process) on its own instance folder,
database (SQLite, or a fresh PostgreSQL database) and SQLite queue, with SMTP pointing at a port where nothing listens.
A Before Meeting workflow (an email to the invitee) applies to a meeting booked inside its offset, so its run is due
at once; the queue's periodic task claims it (the run is ``fired``, its action queued the message), and the message's
first delivery attempt fails because no SMTP server listens yet. The process is killed there: claimed, not sent.
After the restart, with a real SMTP server listening, exactly one reminder arrives and the run never fires again.
"""
from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import pytest
import requests

from tests.conftest import PG_DEFAULT
from tests.integration.helpers import (
    PYTHON,
    SMTPSink,
    clean_env,
    fresh_postgres_database,
    post_form,
    wait_for_http,
    wait_until,
)
from tests.integration.test_payment_crash import PaidBox, next_week_10am

pytestmark = pytest.mark.integration

PG_BASE = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
SUBJECT = "Crash-safe reminder: 30 Minute Meeting"


class WorkflowBox(PaidBox):
    """The single-process deployment (reads and writes its database from outside like ``PaidBox``)."""

    def __init__(self, tmp_path, database_url):
        super().__init__(tmp_path, stripe=None, database_url=database_url)

    def start(self, *, run_queue: bool = True):
        env = clean_env(
            LINKTIME_ENV="development", INSTANCE_DIR=self.instance, HOST="127.0.0.1", PORT=self.port,
            BASE_URL=self.base, DATABASE_URL=self.database_url, HUEY_URL=f"sqlite:///{self.queue_path}",
            RUN_QUEUE_IN_WEB="1" if run_queue else "0", HUEY_WORKERS=1,
            SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=2, EMAIL_RETRY_DELAY=3, LOG_LEVEL="INFO")
        proc = self.processes.start("serve", [PYTHON, "-m", "app.serve"], env)
        wait_for_http(self.base, proc, self.processes)
        return proc

    def sign_up_host_with_a_reminder(self) -> str:
        with requests.Session() as browser:
            created = post_form(browser, self.base, "/signup", {
                "name": "Hana Host", "email": "hana@example.com", "username": "hana",
                "password": "reminders 4 ever", "timezone": "Europe/Berlin"})
            assert created.status_code == 302, created.text[:500]
        [(user_id,)] = self.rows("SELECT id FROM users")
        [(event_type_id,)] = self.rows("SELECT id FROM event_types WHERE slug = '30-min'")
        now = datetime.now(UTC).replace(tzinfo=None)
        # as the editor stores it: two weeks before, so a booking next week is inside the offset (due at once)
        self.execute("INSERT INTO workflows (id, user_id, name, trigger, offset_minutes, all_event_types, enabled, "
                     "enabled_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     ("wfcrash", user_id, "Reminder", "before_meeting", 14 * 1440, True, True, now, now, now))
        config = {"recipient": "invitee", "subject": "Crash-safe reminder: {{ event_name }}", "address": "",
                  "body": "See you {{ start_time }}."}
        self.execute("INSERT INTO workflow_actions (id, workflow_id, position, kind, config, timeout_streak, "
                     "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     ("wfacrash", "wfcrash", 0, "email", json.dumps(config), 0, now, now))
        return event_type_id

    def book(self, event_type_id: str) -> str:
        answer = requests.post(f"{self.base}/api/bookings", timeout=30, json={
            "eventTypeId": event_type_id, "inviteeName": "Pia Pending", "inviteeEmail": "pia@example.com",
            "inviteeTimezone": "Europe/Berlin", "startTime": next_week_10am().strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert answer.status_code == 201, f"{answer.status_code} {answer.text}\n{self.processes.all_logs()}"
        return answer.json()["booking"]["id"] if "booking" in answer.json() else answer.json()["id"]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    if request.param == "sqlite":
        yield None
        return
    with fresh_postgres_database(PG_BASE, "linktime_wfcrash") as url:
        yield url


def test_a_claimed_run_killed_before_its_message_was_sent_sends_it_once_after_restart(tmp_path, database_url):
    box = WorkflowBox(tmp_path, database_url)
    try:
        first = box.start()
        event_type_id = box.sign_up_host_with_a_reminder()
        box.book(event_type_id)
        # the periodic task (every minute) claims the due run: fired, its action handed the email to the outbox,
        # whose first attempt fails (no SMTP server yet)
        wait_until(lambda: box.rows("SELECT status FROM workflow_runs") == [("fired",)], 90,
                   f"the run was not claimed\n{box.processes.all_logs()}")

        def every_email_tried_once():
            rows = box.rows("SELECT attempts, done_at FROM outbox WHERE kind = 'email'")
            return len(rows) == 3 and all(attempts >= 1 and done is None for attempts, done in rows)
        wait_until(every_email_tried_once, 60, f"the emails were not tried\n{box.processes.all_logs()}")
        assert box.rows("SELECT kind, status FROM workflow_run_actions") == [("email", "sent")]
        box.processes.kill9(first)
        assert first.returncode == -9

        with SMTPSink(box.smtp_port) as sink:
            box.start()
            wait_until(lambda: len([m for m in sink.messages if m["Subject"] == SUBJECT]) >= 1, 90,
                       f"the reminder never arrived\n{box.processes.all_logs()}")
            wait_until(lambda: box.rows("SELECT count(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
                       == [(0,)], 60, f"queued work was left undone\n{box.processes.all_logs()}")
            time.sleep(1.0)      # a duplicate would arrive now
            reminders = [m for m in sink.messages if m["Subject"] == SUBJECT]
        assert [m["To"] for m in reminders] == ["pia@example.com"]
        assert box.rows("SELECT count(*) FROM workflow_runs") == [(1,)]
        assert box.rows("SELECT count(*) FROM workflow_run_actions") == [(1,)]
    finally:
        box.processes.stop_all()

