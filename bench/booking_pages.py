"""Booking page benchmark: the app as `make run` serves it, a seeded host, latency and booking throughput.

    .venv/bin/python bench/booking_pages.py [--seconds 10] [--clients 1,20] [--bookings-seconds 10]

Seeds a host with 5 event types and 2,000 bookings over 90 days (in a fresh temporary instance folder
with SQLite), starts ``python -m app.serve`` (web server and queue in one process), then measures:
- p50/p95/p99 of GET /<username>/<slug> (the booking page) and GET /<username>/<slug>/slots?date=...
  (the day's-slots partial, as htmx asks for it) with 1 and 20 concurrent clients;
- sustained booking creation on distinct slots through POST /api/bookings (bookings per second).
Everything runs on 127.0.0.1; every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import http.client
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(env: dict) -> dict:
    """Create the host, its event types and bookings directly through the models (fast)."""
    os.environ.update(env)
    from app import create_app
    from app.db import db, upgrade
    from app.ids import new_id, new_token
    from app.models import Booking, EventType, Schedule
    from app.services.account import accounts
    from app.services.scheduling import event_types as et

    app = create_app()
    with app.app_context(), db.connection_context():
        upgrade()
        host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                                   password="seeded host secret", timezone="Europe/Berlin"),
                               default_plan="PRO")
        schedule = Schedule.get(Schedule.user == host)
        schedule.weekly = {str(d): [["08:00", "20:00"]] for d in range(7)}
        schedule.save()
        types = [EventType.get((EventType.user == host) & (EventType.slug == "30-min"))]
        for n, minutes in enumerate((15, 45, 60, 20), start=1):
            types.append(et.create_event_type(host, et.EventTypeInput(name=f"Meeting {n}", duration=minutes,
                                                                      buffer_after=5)))
        fast = et.create_event_type(host, et.EventTypeInput(name="Bench quick", duration=5, window_type="rolling",
                                                            window_days=365))
        # 2,000 bookings of 30 minutes on distinct half hours between 08:00 and 20:00, over the next 90 days.
        rng = random.Random(7)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        cells = [today + timedelta(days=d, hours=7 + h // 2, minutes=30 * (h % 2))
                 for d in range(1, 91) for h in range(24)]
        rows = []
        for start in rng.sample(cells, 2000):
            event_type = rng.choice(types)
            rows.append({"id": new_id(), "user": host.id, "event_type": event_type.id, "uid": new_token(),
                         "status": "CONFIRMED", "start_at": start, "end_at": start + timedelta(minutes=30),
                         "buffer_before": 0, "buffer_after": 0, "event_name": event_type.name,
                         "invitee_name": "Seed", "invitee_email": f"seed{len(rows)}@example.com",
                         "invitee_timezone": "UTC", "answers": {}, "location_type": "none", "location": "",
                         "sequence": 0, "source": "page", "created_at": start, "updated_at": start})
        with db.atomic():
            for i in range(0, len(rows), 200):
                Booking.insert_many(rows[i:i + 200]).execute()
        return {"username": host.username, "slug": "30-min", "fast_id": fast.id}


def measure(url_of, seconds: float, clients: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(n: int):
        # http.client on one kept-alive connection: the load generator shares the 2 cores with the server,
        # and requests.Session spends ~4x more CPU per request than this.
        parts = urlsplit(url_of(0)[0])
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        i = n
        while time.monotonic() < stop_at:
            url, headers = url_of(i)
            target = urlsplit(url)
            path = target.path + ("?" + target.query if target.query else "")
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            assert response.status == 200, (url, response.status)
            i += clients
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def book_many(base: str, event_type_id: str, seconds: float, clients: int) -> tuple[int, float, list[int]]:
    """Create bookings on distinct 5-minute slots for ``seconds``; returns (created, elapsed, statuses)."""
    start_day = datetime.now(UTC).date() + timedelta(days=100)
    counter = iter(range(10**9))
    lock = threading.Lock()
    created = [0]
    statuses: list[int] = []
    samples: list[str] = []
    stop_at = time.monotonic() + seconds

    def next_start() -> str:
        with lock:
            n = next(counter)
        day = start_day + timedelta(days=n // 144)   # 08:00-20:00 Berlin = 144 five-minute slots a day
        local = datetime(day.year, day.month, day.day, 8, 0) + timedelta(minutes=5 * (n % 144))
        from zoneinfo import ZoneInfo
        return local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def worker():
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.monotonic() < stop_at:
            body = {"eventTypeId": event_type_id, "inviteeName": "Load", "inviteeEmail": "load@example.com",
                    "inviteeTimezone": "UTC", "startTime": next_start()}
            conn.request("POST", "/api/bookings", body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            text = response.read().decode()
            with lock:
                if response.status != 201 and not samples:
                    samples.append(text[:300])
                statuses.append(response.status)
                if response.status == 201:
                    created[0] += 1
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if samples:
        print("first refused booking:", samples[0], file=sys.stderr)
    return created[0], time.monotonic() - t0, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,20")
    parser.add_argument("--bookings-seconds", type=float, default=10)
    parser.add_argument("--booking-clients", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-"))
    port = free_port()
    env = {"INSTANCE_DIR": str(tmp), "PORT": str(port), "LINKTIME_ENV": "development",
           "RATELIMIT_PUBLIC_BOOKING": "1000000/second", "LOG_LEVEL": "WARNING"}
    info = seed(env)
    server = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=ROOT, env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        page = f"{base}/{info['username']}/{info['slug']}"
        days = [(date.today() + timedelta(days=d)).isoformat() for d in range(1, 30)]
        htmx = {"HX-Request": "true"}
        targets = {
            "booking page": lambda i: (page, {}),
            "day's slots partial": lambda i: (f"{page}/slots?date={days[i % len(days)]}&tz=America/New_York", htmx),
        }
        results = {}
        for name, url_of in targets.items():
            measure(url_of, 1.0, 2)  # warm up
            for clients in (int(c) for c in args.clients.split(",")):
                lat = measure(url_of, args.seconds, clients)
                results[f"{name} ({clients} client{'s' if clients > 1 else ''})"] = {
                    "requests": len(lat), "rps": round(len(lat) / args.seconds, 1),
                    "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1),
                    "p99_ms": round(pct(lat, 99), 1)}
        created, elapsed, statuses = book_many(base, info["fast_id"], args.bookings_seconds, args.booking_clients)
        results["booking creation"] = {"created": created, "seconds": round(elapsed, 1),
                                       "bookings_per_second": round(created / elapsed, 1),
                                       "non_201": {str(c): statuses.count(c) for c in sorted(set(statuses))
                                                   if c != 201}}
        print(json.dumps(results, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
