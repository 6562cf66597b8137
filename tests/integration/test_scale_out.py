"""Scale-out: gunicorn web workers and a separate huey_consumer share PostgreSQL and Redis.

The stack: a fresh PostgreSQL database, the queue and the rate-limit counters in Redis (their own db numbers,
flushed before and after), ``flask db upgrade``, ``gunicorn -w 2 --threads 4`` with RUN_QUEUE_IN_WEB=0, and
separate ``huey_consumer tasks.worker.huey`` and ``huey_consumer tasks.webhook_worker.huey`` processes. On CI an
unreachable PostgreSQL or Redis fails the test; elsewhere it is skipped.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest
import requests

from app.config import new_encryption_key
from tests.conftest import PG_DEFAULT, WORKER, free_port
from tests.integration.helpers import (
    VENV_BIN,
    Processes,
    SMTPSink,
    clean_env,
    csrf_token,
    flask_cli,
    fresh_postgres_database,
    post_form,
    unavailable,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

PG_BASE = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
PASSWORD = "scaled out and fine"


def _redis_dbs() -> tuple[int, int]:
    """Two Redis db numbers of this xdist worker, high enough not to clash with a development instance."""
    index = int(re.sub(r"\D", "", WORKER) or 0) % 4
    return 8 + 2 * index, 9 + 2 * index


@pytest.fixture(scope="module")
def postgres_url():
    with fresh_postgres_database(PG_BASE, "linktime_scale") as url:
        yield url


@pytest.fixture(scope="module")
def redis_urls():
    import redis

    queue_db, limits_db = _redis_dbs()
    urls = (f"{REDIS}/{queue_db}", f"{REDIS}/{limits_db}")
    clients = [redis.Redis.from_url(url, socket_connect_timeout=3) for url in urls]
    try:
        for client in clients:
            client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS} is unreachable: {exc}")
    for client in clients:
        client.flushdb()
    try:
        yield urls
    finally:
        for client in clients:
            client.flushdb()
            client.close()


class Stack:
    def __init__(self, tmp: Path, postgres_url: str, redis_urls: tuple[str, str]) -> None:
        self.port = free_port()
        self.smtp_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.access_log = tmp / "access.log"
        self.limits_url = redis_urls[1]
        self.processes = Processes(tmp)
        self.env = clean_env(
            LINKTIME_ENV="production", SECRET_KEY=secrets.token_urlsafe(32), ENCRYPTION_KEY=new_encryption_key(),
            BASE_URL=self.base, INSTANCE_DIR=tmp / "instance", DATABASE_URL=postgres_url,
            HUEY_URL=redis_urls[0], RATELIMIT_STORAGE_URL=redis_urls[1], RUN_QUEUE_IN_WEB=0,
            SESSION_COOKIE_SECURE=0,  # plain HTTP on loopback
            SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=3, EMAIL_RETRY_DELAY=1,
            WEBHOOK_ALLOW_PRIVATE=1)  # the test's webhook receivers listen on loopback

    def start(self) -> None:
        migrated = flask_cli("db", "upgrade", env=self.env)
        assert migrated.returncode == 0, migrated.stderr
        self.web = self.processes.start("gunicorn", [
            str(VENV_BIN / "gunicorn"), "wsgi:app", "-b", f"127.0.0.1:{self.port}", "-w", "2", "--threads", "4",
            "--no-control-socket",
            "--access-logfile", str(self.access_log), "--access-logformat", "%(p)s %(r)s %(s)s"], self.env)
        self.consumer = self.processes.start("huey", [
            str(VENV_BIN / "huey_consumer"), "tasks.worker.huey", "-w", "2", "-k", "thread"], self.env)
        self.webhook_consumer = self.processes.start("huey-webhooks", [
            str(VENV_BIN / "huey_consumer"), "tasks.webhook_worker.huey", "-w", "2", "-k", "thread", "-m", "0.5"],
            self.env)
        wait_for_http(self.base, self.web, self.processes)
        wait_until(lambda: len(self.worker_pids()) == 2, 30, "gunicorn did not boot two workers")

    def worker_pids(self) -> set[int]:
        """Pids of the gunicorn master's children (its workers)."""
        with open(f"/proc/{self.web.pid}/task/{self.web.pid}/children") as fh:
            return {int(p) for p in fh.read().split()}

    def create_user(self, email: str, username: str) -> None:
        created = flask_cli("users", "create", email, "--username", username, "--password", PASSWORD,
                            "--name", username.title(), env=self.env)
        assert created.returncode == 0, created.stderr

    def served_by(self, marker: str, count: int) -> list[tuple[str, str]]:
        """(worker pid, status) of the ``count`` requests whose path carries ``marker``, from the access log."""
        def lines():
            found = [line.split() for line in self.access_log.read_text().splitlines() if marker in line]
            return found if len(found) >= count else None
        return [(parts[0], parts[-1]) for parts in wait_until(lines, 20, "access log lines missing")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_url, redis_urls):
    stack = Stack(tmp_path_factory.mktemp("scale-out"), postgres_url, redis_urls)
    try:
        stack.start()
        yield stack
    finally:
        stack.processes.stop_all()


def test_reset_email_requested_on_gunicorn_is_delivered_by_the_separate_consumer(stack):
    stack.create_user("lin@example.com", "lin")
    with SMTPSink(stack.smtp_port) as sink, requests.Session() as visitor:
        asked = post_form(visitor, stack.base, "/password/forgot", {"email": "lin@example.com"})
        assert asked.status_code == 200, asked.text[:500]
        messages = sink.wait_for(1, timeout=40)
        assert messages, f"no email arrived\n{stack.processes.all_logs()}"
    [message] = messages
    assert message["To"] == "lin@example.com" and message["Subject"] == "Reset your LinkTime password"
    assert stack.base + "/password/reset/" in message.get_body(("plain",)).get_content()
    assert "process_outbox" in stack.processes.log_of(stack.consumer)  # the separate consumer ran the task


def test_login_rate_limit_is_shared_by_the_gunicorn_workers(stack):
    import redis

    counters = redis.Redis.from_url(stack.limits_url)
    spread_round = None
    with requests.Session() as visitor:
        token = csrf_token(visitor, stack.base + "/login")
        # Each round: five wrong passwords, then a sixth attempt, each on a new connection. A round proves the
        # point when the five were spread over both workers (per-process counters would then allow the sixth);
        # the kernel decides which worker accepts a connection, so a few rounds may be needed.
        for round_no in range(8):
            counters.flushdb()
            marker = f"round-{round_no}-{secrets.token_hex(3)}"
            responses = [
                visitor.post(f"{stack.base}/login?m={marker}-{attempt}", timeout=10, allow_redirects=False,
                             headers={"Connection": "close"},
                             data={"email": "nobody@example.com", "password": "not the password",
                                   "csrf_token": token})
                for attempt in range(6)]
            statuses = [r.status_code for r in responses]
            assert statuses == [401] * 5 + [429], statuses
            assert 1 <= int(responses[5].headers["Retry-After"]) <= 60
            served = stack.served_by(marker, 6)
            if len({pid for pid, _ in served[:5]}) == 2:
                spread_round = round_no
                break
    assert spread_round is not None, "every round was served by a single worker; sharing was not shown"


def test_a_hanging_webhook_endpoint_does_not_delay_email_on_the_scaled_out_stack(stack):
    """Issue 12, point 1, scaled out: 20 bookings whose webhook endpoint never answers are delivered by the webhook
    consumer; another host's confirmation email, sent by the main consumer, leaves within 10 s of its booking."""
    import json
    import time

    from tests.fakes.webhooks import HangingReceiver
    from tests.integration.helpers import PYTHON, run
    from tests.integration.test_queue_isolation import BOOK_OTHER, SETUP

    def script(source: str, *args: str) -> dict:
        done = run([PYTHON, "-c", source, *args], env=stack.env, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    with HangingReceiver() as hanging, SMTPSink(stack.smtp_port) as sink:
        assert script(SETUP, hanging.url(), "20") == {"booked": 20}
        wait_until(lambda: hanging.accepted >= 1, 60, "no webhook delivery reached the hanging receiver")
        booked = script(BOOK_OTHER)

        def olga_mail():
            return next((m for m in list(sink.messages) if m["To"] == "olga@example.com"), None)
        wait_until(olga_mail, 60, "the other host's confirmation email was never sent")
        delay = time.time() - booked["committed_at"]
        assert delay < 10, f"the confirmation email left {delay:.1f} s after the booking"
        assert hanging.accepted <= 2
    assert "process_webhook_outbox" in stack.processes.log_of(stack.webhook_consumer)
