"""REST API benchmark: GET /api/v1/bookings at a target rate, or booking creation (``--create``), against
the app as `make run` serves it.

    .venv/bin/python bench/api_bookings.py [--rate 200] [--seconds 20] [--threads 16] [--bookings 2000]
    .venv/bin/python bench/api_bookings.py --create [--clients 8] [--seconds 10]

Seeds a Pro host with ``--bookings`` bookings (a fresh temporary instance folder with SQLite) and an API
key, starts ``python -m app.serve`` (web server and queue consumer in one process, as ``make run``), then
drives ``GET /api/v1/bookings?page=N`` (20 per page, cycling through every page) from ``--threads`` threads,
each with its own ``requests.Session``, on an open-loop schedule that adds up to ``--rate`` requests per
second. Prints the achieved rate, the status codes, and p50/p95/p99 latency: ``latency`` is send to
response; ``latency_from_schedule`` counts from when the request was due (it includes waiting for a busy
thread, so it does not hide a server that falls behind). Also the server process's CPU time per request
and the machine's load average: on a shared machine, compare those before trusting the latencies.

The per-key limit (RATELIMIT_API_KEY, 60/minute) would answer 429 to nearly everything at this rate, so
the server runs with RATELIMIT_API_KEY=1000000/second: the limiter is still consulted on every request.
``--profile`` runs the server under pyinstrument and writes a text profile into the instance folder (main
thread only; with ``--create`` every request is profiled in its own thread instead, and the file holds
all of them combined and the three slowest); ``--gunicorn N`` serves with N gunicorn worker processes
(the scale-out mode) for comparison.

``--create`` measures booking creation instead: ``--clients`` threads (closed loop, one kept-alive
connection each) ``POST /api/bookings`` (the public endpoint of spec page 23) on distinct 5-minute slots of
one event type for ``--seconds``, and it prints bookings per second, the status codes and p50/p95/p99 of
the request latency. The public booking limit (RATELIMIT_PUBLIC_BOOKING, 10/minute per IP) is raised by
configuration to 1000000/second for the run; ``--no-queue`` serves without the in-process queue consumer.
``--page-clients N`` adds N clients that load the host's public booking page meanwhile (each view is
recorded for the page analytics, as a browser's would be) and reports their latency and the views stored.
Everything runs on 127.0.0.1 and every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(env: dict, count: int) -> dict:
    """The host (Pro), its API key and ``count`` bookings (10% cancelled), inserted through the models."""
    os.environ.update(env)
    from app import create_app
    from app.db import db, upgrade
    from app.ids import new_id, new_token
    from app.models import Booking, Contact, EventType, Schedule
    from app.services.account import accounts
    from app.services.developer import api_keys
    from app.services.scheduling import event_types as et

    app = create_app()
    with app.app_context(), db.connection_context():
        upgrade()
        host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                                   password="seeded host secret", timezone="Europe/Berlin"),
                               default_plan="PRO")
        types = [EventType.get((EventType.user == host) & (EventType.slug == "30-min"))]
        for n, minutes in enumerate((15, 45, 60), start=1):
            types.append(et.create_event_type(host, et.EventTypeInput(name=f"Meeting {n}", duration=minutes)))
        quick = et.create_event_type(host, et.EventTypeInput(name="Bench quick", duration=5, window_type="rolling",
                                                             window_days=365))
        schedule = Schedule.get(Schedule.user == host)   # bookable 08:00-20:00 every day
        schedule.weekly = {str(d): [["08:00", "20:00"]] for d in range(7)}
        schedule.save()
        _key, raw_key = api_keys.create_api_key(host, "bench")
        rng = random.Random(7)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        contacts = [{"id": new_id(), "user": host.id, "name": f"Guest {n}", "email": f"guest{n}@example.com",
                     "source": "booking", "created_at": now, "updated_at": now} for n in range(200)]
        rows = []
        for n in range(count):
            start = now + timedelta(minutes=30 * (n - count // 2))   # half past, half upcoming
            event_type, contact = rng.choice(types), rng.choice(contacts)
            cancelled = n % 10 == 0
            rows.append({"id": new_id(), "user": host.id, "event_type": event_type.id, "contact": contact["id"],
                         "uid": new_token(), "status": "CANCELLED" if cancelled else "CONFIRMED",
                         "start_at": start, "end_at": start + timedelta(minutes=event_type.duration),
                         "buffer_before": 0, "buffer_after": 0, "event_name": event_type.name,
                         "invitee_name": contact["name"], "invitee_email": contact["email"],
                         "invitee_timezone": "America/New_York", "answers": {}, "location_type": "none",
                         "location": "", "sequence": 0, "source": "page", "created_at": start, "updated_at": start,
                         "cancel_reason": "Seeded" if cancelled else None,
                         "cancelled_at": start if cancelled else None, "cancelled_by": "host" if cancelled else None,
                         "notes": "Seeded booking"})
        with db.atomic():
            Contact.insert_many(contacts).execute()
            for i in range(0, len(rows), 200):
                Booking.insert_many(rows[i:i + 200]).execute()
        return {"key": raw_key, "pages": max(1, -(-count // 20)), "quick_id": quick.id}


def drive(base: str, key: str, pages: int, rate: float, seconds: float, threads: int) -> dict:
    """Open loop: thread n sends request k at ``start + (k * threads + n) / rate``."""
    results: list[tuple[float, float, int]] = []   # (latency ms, latency from schedule ms, status)
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    total = int(rate * seconds)

    def worker(n: int):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        mine = []
        for index in range(n, total, threads):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            try:
                status = session.get(f"{base}/api/v1/bookings?page={index % pages + 1}", timeout=10).status_code
            except requests.RequestException:
                status = 0
            done = time.perf_counter()
            mine.append(((done - sent) * 1000, (done - due) * 1000, status))
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for _, _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "target_rps": rate, "requests": len(results), "seconds": round(elapsed, 2),
        "achieved_rps": round(len(results) / elapsed, 1), "statuses": statuses,
        "latency_ms": percentiles([r[0] for r in results]),
        "latency_from_schedule_ms": percentiles([r[1] for r in results]),
    }


SLOT_NUMBERS = itertools.count()


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"   # counted as a page view


def view_pages(base: str, path: str, stop: threading.Event, clients: int) -> tuple[list, list[float]]:
    """``clients`` threads GET ``path`` until ``stop``; returns the threads and the shared latency list."""
    latencies: list[float] = []

    def worker():
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while not stop.is_set():
            sent = time.perf_counter()
            conn.request("GET", path, headers={"User-Agent": BROWSER})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            latencies.append((time.perf_counter() - sent) * 1000)
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in pool:
        thread.start()
    return pool, latencies


def stored_views(env: dict) -> int:
    import sqlite3
    conn = sqlite3.connect(Path(env["INSTANCE_DIR"]) / "linktime.db")
    try:
        return conn.execute("SELECT COUNT(*) FROM page_views").fetchone()[0]
    finally:
        conn.close()


def pending_outbox(env: dict) -> int:
    import sqlite3
    conn = sqlite3.connect(Path(env["INSTANCE_DIR"]) / "linktime.db", timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL").fetchone()[0]
    finally:
        conn.close()


def create_many(base: str, event_type_id: str, seconds: float, clients: int) -> dict:
    """Closed loop: each client books the next unused 5-minute slot (08:00-20:00 Berlin, from 100 days ahead
    on) as soon as its previous request was answered."""
    first_day = datetime.now(UTC).date() + timedelta(days=100)
    lock = threading.Lock()
    results: list[tuple[float, int]] = []
    samples: list[str] = []
    stop_at = time.perf_counter() + seconds

    def next_start() -> str:
        with lock:
            n = next(SLOT_NUMBERS)   # shared with the warm-up: every request of a run asks for a new slot
        day = first_day + timedelta(days=n // 144)   # 144 five-minute slots a day
        local = datetime(day.year, day.month, day.day, 8, 0) + timedelta(minutes=5 * (n % 144))
        return local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def worker(n: int):
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            body = json.dumps({"eventTypeId": event_type_id, "inviteeName": f"Load {n}",
                               "inviteeEmail": f"load{n}@example.com", "inviteeTimezone": "UTC",
                               "startTime": next_start()})
            sent = time.perf_counter()
            try:
                conn.request("POST", "/api/bookings", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                text = response.read().decode()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                text, status = repr(exc), 0
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            mine.append(((time.perf_counter() - sent) * 1000, status))
            if status != 201 and not samples:
                samples.append(f"{status}: {text[:300]}")
        conn.close()
        with lock:
            results.extend(mine)

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - t0
    if samples:
        print("first refused booking:", samples[0], file=sys.stderr)
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    created = statuses.get("201", 0)
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(results), "created": created,
            "bookings_per_second": round(created / elapsed, 1), "statuses": statuses,
            "latency_ms": percentiles([r[0] for r in results])}


def serve_profiled(out: Path) -> int:
    """``python -m app.serve`` with every request profiled (wall clock, in the thread that serves it)."""
    import atexit

    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    from app import serve

    sessions: list[Session] = []
    lock = threading.Lock()
    real_create_server = serve.create_server

    def profiled(wsgi_app):
        def middleware(environ, start_response):
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            try:
                return list(wsgi_app(environ, start_response))
            finally:
                session = profiler.stop()
                with lock:
                    sessions.append(session)
        return middleware

    def write():
        with lock:
            taken = list(sessions)
        if not taken:
            return
        slowest = sorted(taken, key=lambda x: x.duration, reverse=True)[:3]
        combined = taken[0]
        for session in taken[1:]:
            combined = Session.combine(combined, session)
        parts = [f"{len(taken)} requests combined\n", ConsoleRenderer().render(combined)]
        for n, session in enumerate(slowest, 1):
            parts += [f"\nslowest #{n}: {session.duration * 1000:.0f} ms\n",
                      ConsoleRenderer().render(session)]
        out.write_text("".join(parts))

    atexit.register(write)
    serve.create_server = lambda wsgi_app, **kw: real_create_server(profiled(wsgi_app), **kw)
    return serve.main()


def cpu_seconds(session: int) -> float:
    """User + system CPU time of the live processes of a session (the server and any workers; Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict:
    values = sorted(values)

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))], 1)
    return {"p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(values[-1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="target requests per second (all threads)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--create", action="store_true", help="measure booking creation (POST /api/bookings)")
    parser.add_argument("--clients", type=int, default=8, help="booking clients with --create")
    parser.add_argument("--no-queue", action="store_true", help="serve without the in-process queue consumer")
    parser.add_argument("--page-clients", type=int, default=0,
                        help="with --create: clients loading the public booking page meanwhile")
    parser.add_argument("--profile", action="store_true", help="run the server under pyinstrument")
    parser.add_argument("--gunicorn", type=int, default=0, metavar="WORKERS",
                        help="serve with gunicorn and this many worker processes (the scale-out mode) instead")
    parser.add_argument("--serve-profiled", metavar="FILE", help=argparse.SUPPRESS)   # the server of --profile
    args = parser.parse_args()
    if args.serve_profiled:
        return serve_profiled(Path(args.serve_profiled))

    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-api-"))
    port = free_port()
    env = {"INSTANCE_DIR": str(tmp), "PORT": str(port), "LINKTIME_ENV": "development", "LOG_LEVEL": "WARNING",
           "RATELIMIT_API_KEY": "1000000/second", "RATELIMIT_PUBLIC_BOOKING": "1000000/second"}
    if args.no_queue:
        env["RUN_QUEUE_IN_WEB"] = "0"
    info = seed(env, args.bookings)
    command = [sys.executable, "-m", "app.serve"]
    if args.gunicorn:
        env["RUN_QUEUE_IN_WEB"] = "0"
        command = [sys.executable, "-m", "gunicorn", "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", str(args.gunicorn),
                   "--threads", "8", "--worker-class", "gthread"]
    if args.profile and args.create:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-profiled", str(tmp / "profile.txt")]
    elif args.profile:
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(tmp / "profile.txt"),
                   "-m", "app.serve"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        if args.create:
            create_many(base, info["quick_id"], 1.0, 2)   # warm up
            stop_pages = threading.Event()
            viewers, page_latencies = view_pages(base, "/bench/30-min", stop_pages, args.page_clients)
            cpu_before = cpu_seconds(server.pid)
            result = create_many(base, info["quick_id"], args.seconds, args.clients)
            server_cpu = cpu_seconds(server.pid) - cpu_before
            stop_pages.set()
            for thread in viewers:
                thread.join()
            if args.page_clients:
                result["page_clients"] = args.page_clients
                result["page_requests"] = len(page_latencies)
                result["page_latency_ms"] = percentiles(page_latencies)
                deadline = time.monotonic() + 30   # the views are written in batches about once a second
                while stored_views(env) < len(page_latencies) and time.monotonic() < deadline:
                    time.sleep(0.2)
                result["page_views_stored"] = stored_views(env)
            result["server_cpu_ms_per_booking"] = round(server_cpu * 1000 / max(1, result["created"]), 2)
            result["server_cpu_utilization"] = round(server_cpu / result["seconds"], 2)
            if not args.no_queue:
                # the queue's side of the bookings (events fanned out into emails and the rest): what was still
                # waiting when the clients stopped, and how long the consumer took to finish it
                result["outbox_pending_at_end"] = pending_outbox(env)
                drained = time.monotonic()
                while pending_outbox(env) and time.monotonic() - drained < 300:
                    time.sleep(0.2)
                result["queue_drain_seconds"] = round(time.monotonic() - drained, 1)
                result["outbox_pending_after_drain"] = pending_outbox(env)
                result["server_cpu_ms_per_booking_with_queue"] = round(
                    (cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, result["created"]), 2)
            result["load_average_1min"] = round(os.getloadavg()[0], 1)
            result["queue_in_web"] = not args.no_queue
            result["cpus"] = os.cpu_count()
            print(json.dumps(result, indent=2))
            return 0
        headers = {"Authorization": f"Bearer {info['key']}"}
        check = requests.get(f"{base}/api/v1/bookings", headers=headers, timeout=10)
        assert check.status_code == 200 and check.json()["pagination"]["total"] == args.bookings, check.text[:300]
        drive(base, info["key"], info["pages"], min(args.rate, 50), 2, 4)   # warm up
        cpu_before = cpu_seconds(server.pid)
        result = drive(base, info["key"], info["pages"], args.rate, args.seconds, args.threads)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        result["server_cpu_ms_per_request"] = round(server_cpu * 1000 / max(1, result["requests"]), 2)
        result["server_cpu_utilization"] = round(server_cpu / result["seconds"], 2)
        result["load_average_1min"] = round(os.getloadavg()[0], 1)
        result["bookings"] = args.bookings
        result["server"] = f"gunicorn -w {args.gunicorn} --threads 8" if args.gunicorn else "python -m app.serve"
        result["cpus"] = os.cpu_count()
        print(json.dumps(result, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if args.profile:
            print(f"profile: {tmp / 'profile.txt'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
