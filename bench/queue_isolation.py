"""Queue isolation benchmark: how late does a host's confirmation email leave while another host's webhook
endpoint hangs?

    .venv/bin/python bench/queue_isolation.py [--bookings 20] [--others 3] [--workers 2] [--webhook-workers 4]
                                              [--webhook-timeout 30] [--root PATH] [--max-wait 900]
                                              [--postgres ADMIN_URL --redis URL/DB]

In a fresh temporary instance folder it starts the queue: by default ``python -m app.serve`` (the one-process
server, embedded consumers, SQLite database and queue); with ``--postgres`` and ``--redis`` the scale-out set-up
instead: a new PostgreSQL database (created from ADMIN_URL, dropped at the end), the queue in Redis (that db is
flushed), ``huey_consumer tasks.worker.huey -w WORKERS`` and, where the code has it,
``huey_consumer tasks.webhook_worker.huey -w WEBHOOK_WORKERS``. This process runs an SMTP server and a webhook
"receiver" on 127.0.0.1 that accepts every connection and never answers.

A script (a separate process, as an operator's would be) creates a PRO host whose ``booking.created`` webhook
points at the hanging receiver, and ``--bookings`` bookings for that host. Once the first delivery is hanging,
``--others`` bookings of another host are made one after another; for each, the delay is the time from the
booking's commit to the arrival of its invitee's confirmation email at the SMTP server.

``--root`` runs another checkout's code (e.g. the commit before the webhook lane) for a before/after comparison.
Every wait is bounded by ``--max-wait`` seconds; an email that never came is reported as such.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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
    slots = available_slots(event_type, now, now + timedelta(days=60), now=now)[:count]
    assert len(slots) == count, f"only {len(slots)} free slots"
    for n, start in enumerate(slots):
        bookings.create_booking(event_type, bookings.BookingRequest(
            start=start, invitee_name=f"Invitee {n}", invitee_email=f"invitee{n}@example.com",
            invitee_timezone="UTC"), now=now)
    print(json.dumps({"booked": count}))
"""

BOOK_OTHER = """
import json, sys, time
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType, User
from app.services.booking import bookings
from app.services.scheduling.slots import available_slots

n = int(sys.argv[1])
app = create_app()
with app.app_context(), db.connection_context():
    event_type = EventType.get(EventType.user == User.get(User.username == "other"))
    now = datetime.now(timezone.utc)
    start = available_slots(event_type, now, now + timedelta(days=28), now=now)[0]
    bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Olga Other", invitee_email=f"olga{n}@example.com", invitee_timezone="UTC"),
        now=now)
    print(json.dumps({"committed_at": time.time()}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hanging:
    """Accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hang"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)


class Mailbox:
    """An SMTP server (aiosmtpd) that records when each recipient's message arrived."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.arrivals: dict[str, float] = {}
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                for rcpt in envelope.rcpt_tos:
                    box.arrivals.setdefault(rcpt.lower(), time.time())
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()


def wait_for(predicate, seconds: float, interval: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=20, help="bookings of the host whose endpoint hangs")
    parser.add_argument("--others", type=int, default=3, help="bookings of the other host to time, one by one")
    parser.add_argument("--workers", type=int, default=2, help="HUEY_WORKERS (main queue worker threads)")
    parser.add_argument("--webhook-workers", type=int, default=4, help="WEBHOOK_WORKERS (webhook queue threads)")
    parser.add_argument("--webhook-timeout", type=float, default=30, help="WEBHOOK_TIMEOUT")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs (default: this one)")
    parser.add_argument("--max-wait", type=float, default=900, help="longest wait for one email, in seconds")
    parser.add_argument("--postgres", help="scale-out: an admin URL of PostgreSQL (a database is created on it)")
    parser.add_argument("--redis", help="scale-out: the Redis URL with a db number for the queue (flushed)")
    args = parser.parse_args()
    if bool(args.postgres) != bool(args.redis):
        parser.error("--postgres and --redis go together")

    root = args.root.resolve()
    python = sys.executable
    venv_bin = Path(python).parent
    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-isolation-"))
    smtp_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_", "HUEY_", "SMTP_"))}
    env.pop("DATABASE_URL", None)
    env.update({"LINKTIME_ENV": "development", "INSTANCE_DIR": str(tmp / "instance"), "HOST": "127.0.0.1",
                "PORT": str(free_port()), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                "SMTP_TIMEOUT": "5", "HUEY_WORKERS": str(args.workers), "WEBHOOK_WORKERS": str(args.webhook_workers),
                "WEBHOOK_TIMEOUT": str(args.webhook_timeout), "WEBHOOK_ALLOW_PRIVATE": "1",
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "PYTHONUNBUFFERED": "1"})
    pg_admin = pg_name = None
    if args.postgres:
        from urllib.parse import urlparse, urlunparse

        import psycopg2
        import redis

        pg_name = f"linktime_bench_{secrets.token_hex(4)}"
        pg_admin = psycopg2.connect(args.postgres)
        pg_admin.autocommit = True
        with pg_admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{pg_name}"')
        env["DATABASE_URL"] = urlunparse(urlparse(args.postgres)._replace(path="/" + pg_name))
        env["HUEY_URL"] = args.redis
        env["RATELIMIT_STORAGE_URL"] = "memory://"
        redis.Redis.from_url(args.redis).flushdb()
        mode = f"scale-out: PostgreSQL + Redis, huey_consumer -w {args.workers}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'instance' / 'linktime.db'}"
        env["HUEY_URL"] = f"sqlite:///{tmp / 'instance' / 'queue.db'}"
        env["RUN_QUEUE_IN_WEB"] = "1"
        mode = f"one process: python -m app.serve, HUEY_WORKERS={args.workers}"
    has_lane = (root / "tasks" / "webhook_worker.py").exists()
    if has_lane:
        mode += f", webhook lane with {args.webhook_workers} workers"
    else:
        mode += ", one shared queue (no webhook lane in this code)"

    hanging = Hanging()
    mailbox = Mailbox(smtp_port)
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name: str, command: list[str]) -> subprocess.Popen:
        logs.append(tmp / f"{name}.log")
        with open(logs[-1], "wb") as log:
            proc = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        return proc

    def script(source: str, *script_args: str) -> dict:
        done = subprocess.run([python, "-c", source, *script_args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        return json.loads(done.stdout.strip().splitlines()[-1])

    print(f"code: {root}\nmode: {mode}\nwebhook timeout: {args.webhook_timeout:g} s, "
          f"{args.bookings} bookings to the hanging endpoint", flush=True)
    try:
        if args.postgres:
            upgraded = subprocess.run([str(venv_bin / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=root, env=env,
                                      capture_output=True, text=True, timeout=300, check=False)
            if upgraded.returncode:
                raise SystemExit(upgraded.stderr[-3000:])
            start("consumer", [str(venv_bin / "huey_consumer"), "tasks.worker.huey", "-w", str(args.workers),
                               "-k", "thread", "-m", "0.5"])
            if has_lane:
                start("webhook-consumer", [str(venv_bin / "huey_consumer"), "tasks.webhook_worker.huey", "-w",
                                           str(args.webhook_workers), "-k", "thread", "-m", "0.5"])
        else:
            import requests

            server = start("serve", [python, "-m", "app.serve"])
            base = f"http://127.0.0.1:{env['PORT']}"

            def up():
                if server.poll() is not None:
                    raise SystemExit("the server exited:\n" + logs[0].read_text()[-3000:])
                try:
                    return requests.get(base + "/healthz", timeout=2).status_code == 200
                except requests.ConnectionError:
                    return False
            if not wait_for(up, 60, 0.2):
                raise SystemExit("the server did not start")
        made = time.monotonic()
        script(SETUP, hanging.url, str(args.bookings))
        print(f"setup and {args.bookings} bookings: {time.monotonic() - made:.1f} s", flush=True)
        if not wait_for(lambda: hanging.connections, 120):
            raise SystemExit("no delivery reached the hanging endpoint")
        delays = []
        for n in range(args.others):
            booked = script(BOOK_OTHER, str(n))
            address = f"olga{n}@example.com"
            arrived = wait_for(lambda a=address: mailbox.arrivals.get(a), args.max_wait)
            if arrived is None:
                print(f"other host's booking {n + 1}: no confirmation email within {args.max_wait:g} s", flush=True)
                delays.append(float("inf"))
                continue
            delays.append(arrived - booked["committed_at"])
            print(f"other host's booking {n + 1}: confirmation email {delays[-1]:.2f} s after the booking "
                  f"(hanging connections so far: {len(hanging.connections)})", flush=True)
        finite = [d for d in delays if d != float("inf")]
        if finite:
            print(f"delay: median {statistics.median(finite):.2f} s, max {max(delays):.2f} s "
                  f"({len(finite)}/{len(delays)} emails arrived)", flush=True)
        print(f"connections the hanging endpoint accepted: {len(hanging.connections)}", flush=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        mailbox.controller.stop()
        hanging.sock.close()
        for conn in hanging.connections:
            conn.close()
        if pg_admin is not None:
            with pg_admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (pg_name,))
                cur.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            pg_admin.close()
        if args.redis:
            import redis
            redis.Redis.from_url(args.redis).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
