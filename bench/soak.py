"""Memory soak: does a LinkTime process level off under varied public traffic?

    .venv/bin/python bench/soak.py [--minutes 30] [--sample-seconds 30] [--rps 30] [--hosts 20]

Seeds ``--hosts`` hosts with 5 event types each (fresh temporary instance folder, SQLite), starts
``python -m app.serve`` (web server and queue consumer in one process, default settings: page cache on), and
drives public traffic at about ``--rps`` requests per second from ``--clients`` threads for ``--minutes``:
profiles, booking pages, month and day partials, with random months, days, time zones, htmx or not, random
unknown query parameters (``?utm_source=...&x=...``) and now and then a personal prefill (``?name=``), as a
browser (User-Agent, some Referers: page loads are recorded as page views, so analytics writes go on too).
Every ``--sample-seconds`` it reads the server's resident memory (VmRSS in /proc/PID/status) and prints a row;
at the end a verdict: the RSS is "level" when the peak of the last third of the run is at most
``--tolerance-mib`` above the peak of the middle third. The exit status is 0 when level, 1 when still growing,
2 when the server failed (any answer other than 200 counts as an error and is reported).

Everything runs on 127.0.0.1 and every loop is bounded in time; the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney", "America/Sao_Paulo",
         "Asia/Kolkata", "Europe/London", "Africa/Lagos", "Pacific/Auckland", "Nowhere/Invalid", ""]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
REFERRERS = ["www.google.com", "www.linkedin.com", "mail.example.org", "news.ycombinator.com", "t.co"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(env: dict, hosts: int) -> list[tuple[str, list[str]]]:
    """``hosts`` hosts with the default event type plus four more; returns [(username, [slug, ...]), ...]."""
    os.environ.update(env)
    from app import create_app
    from app.db import db, upgrade
    from app.models import EventType, Schedule
    from app.services.account import accounts
    from app.services.scheduling import event_types as et

    app = create_app()
    out = []
    with app.app_context(), db.connection_context():
        upgrade()
        for n in range(hosts):
            host = accounts.signup(accounts.SignupData(
                name=f"Soak Host {n}", email=f"soak{n}@example.com", username=f"soak{n}",
                password="seeded host secret", timezone=random.Random(n).choice(ZONES[:10])), default_plan="PRO")
            schedule = Schedule.get(Schedule.user == host)
            schedule.weekly = {str(d): [["08:00", "18:00"]] for d in range(5)}
            schedule.save()
            for k, minutes in enumerate((15, 45, 60, 20), start=1):
                et.create_event_type(host, et.EventTypeInput(
                    name=f"Meeting {k}", duration=minutes, description="A meeting. " * 40))
            slugs = [t.slug for t in EventType.select(EventType.slug).where(EventType.user == host)]
            out.append((host.username, slugs))
    return out


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def junk(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(4, 16)))


def request_of(rng: random.Random, pages: list[tuple[str, list[str]]]) -> tuple[str, dict]:
    username, slugs = rng.choice(pages)
    slug = rng.choice(slugs)
    today = date.today()
    params = [f"utm_source={junk(rng)}", f"{junk(rng)}={junk(rng)}"]  # unknown: must not make entries
    tz = rng.choice(ZONES)
    if tz:
        params.append(f"tz={tz}")
    if rng.random() < 0.3:
        params.append(f"hour={rng.choice(['12', '24', 'x'])}")
    if rng.random() < 0.05:
        params.append(f"name={junk(rng)}")  # a personal prefill: never stored
    kind = rng.random()
    headers = {"HX-Request": "true"} if rng.random() < 0.5 else {}
    headers = {**headers, **BROWSER}  # a browser: page loads are counted as views (analytics writes them)
    if rng.random() < 0.3:
        headers["Referer"] = f"https://{rng.choice(REFERRERS)}/{junk(rng)}"
    if kind < 0.15:
        path = f"/{username}"
    elif kind < 0.55:
        path = f"/{username}/{slug}"
        if rng.random() < 0.7:
            month = today.replace(day=1) + timedelta(days=31 * rng.randint(0, 12))
            params.append(f"month={month:%Y-%m}")
    elif kind < 0.75:
        month = today.replace(day=1) + timedelta(days=31 * rng.randint(0, 12))
        path = f"/{username}/{slug}/calendar"
        params.append(f"month={month:%Y-%m}")
        headers = {**BROWSER, "HX-Request": "true"}
    else:
        path = f"/{username}/{slug}/slots"
        params.append(f"date={today + timedelta(days=rng.randint(0, 90))}")
        headers = {**BROWSER, "HX-Request": "true"}
    rng.shuffle(params)
    return path + "?" + "&".join(params), headers


def drive(port: int, pages, stop_at: float, rps: float, clients: int, counts: dict, lock: threading.Lock):
    interval = clients / rps

    def worker(n: int):
        rng = random.Random(1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            path, headers = request_of(rng, pages)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            with lock:
                counts["requests"] += 1
                if status != 200:
                    counts["errors"] += 1
                    counts.setdefault("first_error", f"{status} {path}")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, max(0.0, stop_at - time.monotonic())))
            else:
                next_at = time.monotonic()  # behind schedule: no burst to catch up
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    return threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sample-seconds", type=float, default=30)
    parser.add_argument("--rps", type=float, default=30, help="target requests per second (all clients)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--tolerance-mib", type=float, default=8)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting for the server, e.g. --env PUBLIC_PAGE_CACHE_BYTES=8388608")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))  # `kill` stops the server too (finally below)
    tmp = Path(tempfile.mkdtemp(prefix="linktime-soak-"))
    port = free_port()
    env = {"INSTANCE_DIR": str(tmp), "PORT": str(port), "HOST": "127.0.0.1", "LINKTIME_ENV": "development",
           "LOG_LEVEL": "WARNING"}
    env.update(item.split("=", 1) for item in args.env)
    pages = seed(env, args.hosts)
    server = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=ROOT, env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    samples: list[tuple[float, float, int]] = []
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("the server did not start", file=sys.stderr)
                return 2
            time.sleep(0.2)
        print(f"server pid {server.pid}, {args.hosts} hosts x {len(pages[0][1])} event types, "
              f"~{args.rps:g} req/s from {args.clients} clients for {args.minutes:g} min; "
              f"RSS at start {rss_kib(server.pid) / 1024:.1f} MiB; load average {load()}", flush=True)
        print(f"{'minute':>7} {'RSS MiB':>8} {'requests':>9} {'req/s':>6} {'errors':>6}", flush=True)
        start = time.monotonic()
        stop_at = start + args.minutes * 60
        threads = drive(port, pages, stop_at, args.rps, args.clients, counts, lock)
        last_count, last_t = 0, start
        while True:
            now = time.monotonic()
            wake = min(stop_at, (samples[-1][0] * 60 + start if samples else start) + args.sample_seconds)
            time.sleep(max(0.0, wake - now))
            if server.poll() is not None:
                print("the server exited", file=sys.stderr)
                return 2
            now = time.monotonic()
            with lock:
                total = counts["requests"]
            rss = rss_kib(server.pid) / 1024
            samples.append(((now - start) / 60, rss, total))
            rate = (total - last_count) / max(now - last_t, 1e-9)
            last_count, last_t = total, now
            print(f"{samples[-1][0]:7.1f} {rss:8.1f} {total:9d} {rate:6.1f} {counts['errors']:6d}", flush=True)
            if now >= stop_at:
                break
        for t in threads:
            t.join(35)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)

    third = max(1, len(samples) // 3)
    middle = max(s[1] for s in samples[third:2 * third] or samples)
    last = max(s[1] for s in samples[2 * third:] or samples)
    level = last - middle <= args.tolerance_mib
    print(f"load average at the end {load()}; requests {counts['requests']}, errors {counts['errors']}"
          + (f" (first: {counts['first_error']})" if counts["errors"] else ""))
    print(f"RSS peak middle third {middle:.1f} MiB, last third {last:.1f} MiB, overall max "
          f"{max(s[1] for s in samples):.1f} MiB: " + ("LEVEL" if level else "STILL GROWING")
          + f" (tolerance {args.tolerance_mib:g} MiB)")
    if counts["errors"]:
        return 2
    return 0 if level else 1


if __name__ == "__main__":
    sys.exit(main())
