"""A queued email survives a crash (kill -9) of the one-process server and is delivered after the restart.

The real ``python -m app.serve`` runs as a subprocess on its own instance folder, SQLite database and SQLite
queue, with SMTP pointing at a port where nothing listens until the test starts a real SMTP server there.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.integration.helpers import (
    PYTHON,
    Processes,
    SMTPSink,
    clean_env,
    post_form,
    sqlite_rows,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

PASSWORD = "durable mail 4 ever"


class OneBox:
    """The single-process deployment: one server command, one instance folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.instance = tmp_path / "instance"
        self.db_path = self.instance / "linktime.db"
        self.queue_path = self.instance / "queue.db"
        self.port = free_port()
        self.smtp_port = free_port()  # nothing listens here until the test says so
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes = Processes(tmp_path)

    def start(self, *, run_queue: bool, retry_delay: int = 2):
        env = clean_env(
            LINKTIME_ENV="development", INSTANCE_DIR=self.instance, HOST="127.0.0.1", PORT=self.port,
            DATABASE_URL=f"sqlite:///{self.db_path}", HUEY_URL=f"sqlite:///{self.queue_path}",
            RUN_QUEUE_IN_WEB="1" if run_queue else "0", HUEY_WORKERS=1,
            SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=2, EMAIL_RETRY_DELAY=retry_delay,
            LOG_LEVEL="INFO")
        proc = self.processes.start("serve", [PYTHON, "-m", "app.serve"], env)
        wait_for_http(self.base, proc, self.processes)
        return proc

    def sign_up_and_request_reset(self, email: str) -> None:
        with requests.Session() as browser:
            created = post_form(browser, self.base, "/signup", {
                "name": "Grace Hopper", "email": email, "username": "grace", "password": PASSWORD,
                "timezone": "America/New_York"})
            assert created.status_code == 302 and created.headers["Location"] == "/dashboard", created.text[:500]
        with requests.Session() as visitor:
            asked = post_form(visitor, self.base, "/password/forgot", {"email": email})
            assert asked.status_code == 200 and "If an account exists" in asked.text

    def outbox(self) -> list[tuple]:
        return sqlite_rows(self.db_path, "SELECT kind, attempts, last_error, done_at, failed_at FROM outbox")

    def queued_tasks(self) -> int:
        return sqlite_rows(self.queue_path, "SELECT count(*) FROM task")[0][0] if self.queue_path.exists() else 0

    def scheduled_tasks(self) -> int:
        rows = sqlite_rows(self.queue_path, "SELECT count(*) FROM schedule")
        return rows[0][0] if rows else 0

    def assert_reset_mail_delivered_once(self, sink: SMTPSink, email: str) -> None:
        messages = sink.wait_for(1, timeout=40)
        assert messages, f"no email arrived\n{self.processes.all_logs()}"
        message = messages[0]
        assert message["To"] == email
        assert message["Subject"] == "Reset your LinkTime password"
        body = message.get_body(("plain",)).get_content()
        assert re.search(re.escape(self.base) + r"/password/reset/\S+", body), body
        wait_until(lambda: self.outbox()[0][3] is not None, 20, "outbox row was not marked done")
        time.sleep(0.5)  # a duplicate delivery would arrive now
        assert len(sink.messages) == 1


def test_reset_email_whose_delivery_failed_is_sent_after_kill_9_and_restart(tmp_path):
    box = OneBox(tmp_path)
    email = "grace@example.com"
    try:
        # The retry delay leaves time to kill the process between attempts (not while one holds the row).
        first = box.start(run_queue=True, retry_delay=5)
        box.sign_up_and_request_reset(email)

        # The consumer tried once (SMTP refused the connection) and scheduled a retry in the queue file.
        def failed_once_and_retry_scheduled():
            rows = box.outbox()
            return (len(rows) == 1 and rows[0][1] >= 1 and rows[0][2] and rows[0][3] is None
                    and box.scheduled_tasks() >= 1)
        wait_until(failed_once_and_retry_scheduled, 30, "the first delivery attempt was not recorded")
        [(kind, _attempts, last_error, _done, _failed)] = box.outbox()
        assert kind == "email" and last_error.startswith("ConnectionRefusedError"), last_error
        box.processes.kill9(first)
        assert first.returncode == -9

        with SMTPSink(box.smtp_port) as sink:
            box.start(run_queue=True)
            box.assert_reset_mail_delivered_once(sink, email)
    finally:
        box.processes.stop_all()


def test_reset_email_queued_but_never_tried_is_sent_after_kill_9_and_restart(tmp_path):
    box = OneBox(tmp_path)
    email = "grace@example.com"
    try:
        first = box.start(run_queue=False)  # web only: the message waits in the queue file
        box.sign_up_and_request_reset(email)
        wait_until(lambda: box.queued_tasks() >= 1, 20, "no task was queued for the outbox row")
        [(kind, attempts, _error, done_at, _failed)] = box.outbox()
        assert (kind, attempts, done_at) == ("email", 0, None)
        box.processes.kill9(first)
        assert first.returncode == -9

        with SMTPSink(box.smtp_port) as sink:
            box.start(run_queue=True)
            box.assert_reset_mail_delivered_once(sink, email)
        assert box.outbox()[0][1] == 1  # delivered on the first attempt
    finally:
        box.processes.stop_all()
