"""Webhook fan-out benchmark: 1,000 bookings, 3 receivers, through the embedded queue of the one-process server.

    .venv/bin/python bench/webhooks.py [--bookings 1000] [--receivers 3] [--workers 2] [--rate 0]
                                       [--outbox-immediate] [--consumer-max-delay S] [--timeout 300]

In a fresh temporary instance folder (SQLite database, SQLite queue) it starts ``python -m app.serve`` (web
server plus the embedded Huey consumer with ``--workers`` threads, HUEY_WORKERS), and three HTTP receivers on
127.0.0.1 in this process. A PRO host gets one webhook per receiver for ``booking.created``. This process then
creates the bookings one after another through ``services.bookings.create_booking`` (the path every booking
takes; each also queues two emails and a ``contact.created`` event, as in production) -- as fast as it can, or
paced at ``--rate`` bookings per second -- and the server's consumer fans the events out and delivers them.
As fast as it can measures throughput (the queue backs up, so latency then measures the backlog); a paced run
below the throughput measures the latency of a keeping-up system.

Measured:
- deliveries per second: unique deliveries / (last arrival - first event's timestamp);
- event-to-delivery latency p50 / p95 / max: the receiver's arrival time minus the envelope's ``timestamp``
  (the instant the booking transaction wrote the event);
- booking creation rate of the writer, duplicates (same ``webhook-id`` at the same receiver), signature checks.

Everything runs on loopback; every wait is bounded by ``--timeout`` seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# The server with the changes proposed in the report, each opt-in:
# - BENCH_OUTBOX_IMMEDIATE: transactional outbox handlers (the event fan-out) open their transaction with BEGIN
#   IMMEDIATE, so on SQLite a fan-out never fails with "database is locked" when another connection committed
#   between its first read and its first write (a deferred transaction cannot upgrade then);
# - BENCH_CONSUMER_MAX_DELAY: the embedded consumer's idle workers poll at least this often (Huey's default
#   lets an idle worker sleep up to 10 s, which is the tail latency of a lightly loaded queue).
PATCHED_SERVE = """
import os, sys
from app.db import transaction
from app.services import outbox
if os.environ.get("BENCH_OUTBOX_IMMEDIATE"):
    outbox.transaction = lambda immediate=False: transaction(immediate=True)
if os.environ.get("BENCH_CONSUMER_MAX_DELAY"):
    from tasks import huey
    make = huey.create_consumer
    huey.create_consumer = lambda **kw: make(max_delay=float(os.environ["BENCH_CONSUMER_MAX_DELAY"]), **kw)
from app.serve import main
sys.exit(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Records (arrival time, webhook-id, event timestamp, signature ok) of every POST."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, str, bytes, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                with receiver.lock:
                    receiver.rows.append((arrived, self.headers.get("webhook-id", ""),
                                          self.headers.get("X-LinkTime-Timestamp", ""), body,
                                          self.headers.get("X-LinkTime-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.rows)


def parse_ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="HUEY_WORKERS of the server (default: the shipped 2)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--consumer-max-delay", type=float, default=None,
                        help="run the server's consumer with this Huey max_delay (seconds an idle worker may sleep "
                             "between polls; Huey's default is 10)")
    parser.add_argument("--rate", type=float, default=0,
                        help="bookings per second to pace the writer at (default 0: as fast as it can)")
    parser.add_argument("--outbox-immediate", action="store_true",
                        help="run the server with outbox fan-out transactions opened as BEGIN IMMEDIATE (the fix "
                             "proposed for 'database is locked' under concurrent writers; see the report)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-webhooks-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_"))}
    for name in ("HUEY_IMMEDIATE", "SMTP_URL", "SMTP_HOST", "DATABASE_URL", "HUEY_URL"):
        env.pop(name, None)
    env.update({"LINKTIME_ENV": "development", "INSTANCE_DIR": str(tmp / "instance"), "HOST": "127.0.0.1",
                "PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp / 'instance' / 'linktime.db'}",
                "HUEY_URL": f"sqlite:///{tmp / 'instance' / 'queue.db'}", "RUN_QUEUE_IN_WEB": "1",
                "HUEY_WORKERS": str(args.workers), "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                "PYTHONUNBUFFERED": "1"})
    os.environ.clear()
    os.environ.update(env)   # this process writes bookings to the same database and queue

    receivers = [Receiver() for _ in range(args.receivers)]
    log = open(tmp / "serve.log", "wb")
    command = [sys.executable, "-m", "app.serve"]
    if args.outbox_immediate or args.consumer_max_delay is not None:
        env["BENCH_OUTBOX_IMMEDIATE"] = "1" if args.outbox_immediate else ""
        env["BENCH_CONSUMER_MAX_DELAY"] = "" if args.consumer_max_delay is None else str(args.consumer_max_delay)
        command = [sys.executable, "-c", PATCHED_SERVE]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start:\n" + (tmp / "serve.log").read_text()[-3000:])
            time.sleep(0.2)

        from app import create_app
        from app.db import db
        from app.models import EventType
        from app.services.account import accounts
        from app.services.booking import bookings
        from app.services.developer import webhooks
        from app.services.scheduling import event_types as et
        from app.services.scheduling.slots import available_slots

        app = create_app()
        with app.app_context(), db.connection_context():
            host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                                       password="fan out to receivers", timezone="UTC"),
                                   default_plan="PRO")
            secrets = [webhooks.create_webhook(host, r.url, ["booking.created"])[1] for r in receivers]
            event_type = EventType.get(EventType.user == host)
            et.update_event_type(event_type, et.EventTypeInput(duration=15, window_days=365, reminders=[]))
            event_type = EventType.get_by_id(event_type.id)
            now = datetime.now(UTC)
            slots = available_slots(event_type, now, now + timedelta(days=365), now=now)[:args.bookings]
            if len(slots) < args.bookings:
                raise SystemExit(f"only {len(slots)} free slots")
            print(f"instance: {tmp}  server: python -m app.serve (HUEY_WORKERS={args.workers}"
                  f"{', outbox fan-out BEGIN IMMEDIATE' if args.outbox_immediate else ''}"
                  f"{f', consumer max_delay {args.consumer_max_delay:g} s' if args.consumer_max_delay else ''})",
                  flush=True)
            print(f"creating {args.bookings} bookings, {args.receivers} webhooks each ...", flush=True)
            started = time.time()
            for i, start in enumerate(slots):
                if args.rate:
                    pause = started + i / args.rate - time.time()
                    if pause > 0:
                        time.sleep(pause)
                bookings.create_booking(event_type, bookings.BookingRequest(
                    start=start, invitee_name=f"Invitee {i}", invitee_email=f"invitee{i}@example.com",
                    invitee_timezone="UTC"), now=now)
            written = time.time()

        expected = args.bookings * args.receivers
        deadline = time.monotonic() + args.timeout
        while sum(r.count() for r in receivers) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        finished = time.time()

        latencies, arrivals, bad_signatures, duplicates, unique = [], [], 0, 0, 0
        event_times = []
        for receiver, secret in zip(receivers, secrets, strict=True):
            seen = set()
            for arrived, msg_id, ts, body, signature in receiver.rows:
                if msg_id in seen:
                    duplicates += 1
                    continue
                seen.add(msg_id)
                unique += 1
                expected_sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                bad_signatures += not hmac.compare_digest(signature, expected_sig)
                event_time = parse_ts(ts)
                event_times.append(event_time)
                arrivals.append(arrived)
                latencies.append(arrived - event_time)
        span = max(arrivals) - min(event_times) if arrivals else float("nan")
        print(json.dumps({
            "bookings": args.bookings, "receivers": args.receivers, "huey_workers": args.workers,
            "paced_rate": args.rate or None,
            "outbox_immediate": args.outbox_immediate, "consumer_max_delay": args.consumer_max_delay,
            "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": duplicates,
            "bad_signatures": bad_signatures,
            "booking_writes_per_s": round(args.bookings / (written - started), 1),
            "deliveries_per_s": round(unique / span, 1) if arrivals else None,
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "latency_p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
            "latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "drain_after_last_booking_s": round(finished - written, 2),
        }, indent=2))
        return 0 if unique == expected and not bad_signatures else 1
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
