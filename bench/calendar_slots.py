"""Slots partial with connected calendars: p95 with two ICS calendars of 5,000 events each vs none (cache warm).

    .venv/bin/python bench/calendar_slots.py [--events 5000] [--requests 400]

In a fresh temporary instance (SQLite) two hosts with identical schedules are created; one gets two calendar
feeds (served by a local HTTP server, 5,000 events each from a year ago to two years ahead, 1 in 100
weekly for 8 weeks) connected
through the service, the other none. The first request for each day warms the cache (a real fetch and parse);
then the day's-slots partial (GET /<username>/30-min/slots?date=..., as htmx asks for it) is requested for
random days through the Flask test client, alternating hosts, and p50/p95 are reported per host.
Target: p95 with calendars within 10 ms of p95 without. ``--limits N`` (issue 23) gives both hosts booking limits
that hide nothing (all six host-wide, the five more of the event type) and N past bookings each, earlier this year,
which the yearly limits read on every request.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def feed(events: int, seed: int) -> bytes:
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Bench//EN"]
    for n in range(events):
        start = today + timedelta(days=rng.randrange(-365, 730), hours=rng.randrange(6, 21),
                                  minutes=15 * rng.randrange(4))
        end = start + timedelta(minutes=rng.choice((15, 30, 45, 60, 90)))
        lines += ["BEGIN:VEVENT", f"UID:bench-{seed}-{n}", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}", "SUMMARY:Busy"]
        if n % 100 == 0:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=8")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve(bodies: dict[str, bytes]) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = bodies.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def add_limits(hosts: list, bookings: int) -> None:
    """High booking limits on each host and their 30-min event type, and ``bookings`` past bookings this year."""
    from app.models import Booking, EventType
    from app.services.scheduling import booking_limits

    now = datetime.now(UTC)
    first = datetime(now.year, 1, 1, tzinfo=UTC)
    for host in hosts:
        booking_limits.save_host_limits(host, {"max_per_day": 900, "max_per_week": 5000, "max_per_month": 20000,
                                               "max_per_year": 200000, "max_minutes_per_day": 1440,
                                               "max_minutes_per_week": 10080})
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        EventType.update(max_per_week=5000, max_per_month=20000, max_per_year=200000, max_minutes_per_day=1440,
                         max_minutes_per_week=10080).where(EventType.id == event_type.id).execute()
        span = max(1, int((now - first).total_seconds() // 1800) - 1)
        for n in range(bookings):
            start = first + timedelta(minutes=30 * (n * 7919 % span))
            Booking.create(user=host, event_type=event_type, start_at=start, end_at=start + timedelta(minutes=30),
                           event_name="30 Minute Meeting", invitee_name=f"Past {n}", invitee_email=f"p{n}@example.com",
                           invitee_timezone="UTC", status="CONFIRMED", source="page")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--limits", type=int, default=None, metavar="BOOKINGS",
                        help="booking limits on both hosts, with this many past bookings each")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-cal-"))
    os.environ.update({"INSTANCE_DIR": str(tmp), "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
                       "HUEY_URL": f"sqlite:///{tmp / 'queue.db'}", "LINKTIME_ENV": "development",
                       "CALENDAR_BUSY_WAIT": "120", "CALENDAR_BUSY_TTL": "86400", "LOG_LEVEL": "WARNING",
                       # measure the slot computation with its calendars, not the public page cache in front of it
                       "PUBLIC_PAGE_CACHE_SECONDS": "0"})
    from app import create_app
    from app.db import db, upgrade
    from app.models import Schedule
    from app.services.account import accounts
    from app.services.integrations import calendars

    base = serve({"/a.ics": feed(args.events, 1), "/b.ics": feed(args.events, 2)})
    app = create_app()
    with app.app_context(), db.connection_context():
        upgrade()
        hosts = {}
        for name in ("busyhost", "freehost"):
            host = accounts.signup(accounts.SignupData(name=name, email=f"{name}@example.com", username=name,
                                                       password="bench host secret", timezone="Europe/Berlin"),
                                   default_plan="PRO")
            schedule = Schedule.get(Schedule.user == host)
            schedule.weekly = {str(d): [["08:00", "20:00"]] for d in range(7)}
            schedule.save()
            hosts[name] = host
        if args.limits is not None:
            add_limits(list(hosts.values()), args.limits)
        calendars.connect_ics(hosts["busyhost"], url=base + "/a.ics")
        calendars.connect_ics(hosts["busyhost"], url=base + "/b.ics")

    client = app.test_client()
    today = datetime.now(UTC).date()
    days = [today + timedelta(days=d) for d in range(1, 56)]
    started = time.monotonic()
    for day in days[::7]:                     # warm every window the run will touch (real fetch + parse)
        for name in hosts:
            assert client.get(f"/{name}/30-min/slots?tz=Europe/Berlin&date={day}").status_code == 200
    warm = time.monotonic() - started
    rng = random.Random(3)
    timings: dict[str, list[float]] = {name: [] for name in hosts}
    offered = dict.fromkeys(hosts, 0)
    for _ in range(args.requests):
        day = rng.choice(days)
        for name in hosts:
            t0 = time.perf_counter()
            response = client.get(f"/{name}/30-min/slots?tz=Europe/Berlin&date={day}", headers={"HX-Request": "true"})
            timings[name].append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
            offered[name] += response.get_data(as_text=True).count('class="slot"')
    assert offered["busyhost"] < offered["freehost"], offered    # the calendars really take part
    print(f"warm-up (fetch and parse {2 * args.events} events, both hosts): {warm:.1f} s; "
          f"load {os.getloadavg()[0]:.1f}")
    for name, label in (("freehost", "no calendars"), ("busyhost", f"2 calendars x {args.events} events")):
        values = timings[name]
        print(f"{label:>28}: p50 {statistics.median(values):6.2f} ms   p95 {percentile(values, 95):6.2f} ms   "
              f"({len(values)} requests)")
    print(f"slots offered: {offered['freehost']} without calendars, {offered['busyhost']} with")
    print(f"p95 difference: {percentile(timings['busyhost'], 95) - percentile(timings['freehost'], 95):+.2f} ms")


if __name__ == "__main__":
    main()
