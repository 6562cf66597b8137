"""CRM sync benchmark: what does a host's connected CRMs, one of them hanging, cost each booking?

    .venv/bin/python bench/crm_booking.py [--bookings 100] [--hang hubspot|attio|salesforce|none] [--without-crms]
                                          [--workers 2] [--webhook-workers 2] [--timeout 10] [--settle 120]

In a fresh temporary instance folder (SQLite database and queue) it starts ``python -m app.serve`` (web server and the
embedded consumers of both lanes) and, in a process of their own, the HubSpot, Attio and Salesforce fakes of
``tests/fakes`` on 127.0.0.1. Two PRO hosts sign up: "plain" with no CRM, "crm" with HubSpot, Attio and Salesforce
connected (tokens from each fake's authorization-code flow, stored as the connection service stores them).
``--hang`` makes that CRM's API hold every request for an hour (the client gives up after INTEGRATION_HTTP_TIMEOUT,
``--timeout``);
``--without-crms`` connects none (the baseline run: "crm" is then a host like "plain").

Then this process books ``--bookings`` slots for each host through ``bookings.create_booking`` (the path every booking
takes), alternating between the two hosts so both see the same load, while the server's consumers fan the events
out, send the emails and run the CRM syncs (the hanging one keeps its webhook-lane workers busy). Each booking is
timed from the call to its return (the commit and the enqueue after it included).

Printed: p50 / p95 / max milliseconds per host and the p95 difference (target: within 10 ms), then, after up to
``--settle`` seconds, how many of the crm host's bookings each CRM has synced, is still retrying, or failed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CRMS = ("hubspot", "attio", "salesforce")

FAKES = """
import json, sys, time
from tests.fakes.attio import AttioFake
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.salesforce import SalesforceFake

fakes = {"hubspot": HubSpotFake().start(), "attio": AttioFake().start(), "salesforce": SalesforceFake().start()}
hang = sys.argv[1]
if hang in fakes:
    paths = {"hubspot": "/crm/", "attio": "/v2/", "salesforce": "/services/data/"}
    fakes[hang].slow(3600, times=10**6, path=paths[hang])
print(json.dumps({name: {"url": f.url, "id": f.client_id, "secret": f.client_secret} for name, f in fakes.items()}),
      flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds: float, interval: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=100, help="bookings per host")
    parser.add_argument("--hang", choices=[*CRMS, "none"], default="hubspot", help="the CRM whose API hangs")
    parser.add_argument("--without-crms", action="store_true", help="the baseline: connect no CRM at all")
    parser.add_argument("--workers", type=int, default=2, help="HUEY_WORKERS")
    parser.add_argument("--webhook-workers", type=int, default=2, help="WEBHOOK_WORKERS (the lane CRM syncs use)")
    parser.add_argument("--timeout", type=float, default=10, help="INTEGRATION_HTTP_TIMEOUT in seconds")
    parser.add_argument("--settle", type=float, default=120, help="seconds to wait for the syncs at the end")
    args = parser.parse_args()

    # the fakes run in a process of their own, as a real CRM is elsewhere: their work never shares this process's
    # CPU (and GIL) with the bookings being timed
    fakes_proc = subprocess.Popen([sys.executable, "-c", FAKES, args.hang], cwd=ROOT, stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    fakes = json.loads(fakes_proc.stdout.readline())
    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-crm-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_", "HUEY_", "SMTP_"))}
    env.update({
        "LINKTIME_ENV": "development", "INSTANCE_DIR": str(tmp / "instance"), "HOST": "127.0.0.1",
        "PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{tmp / 'instance' / 'linktime.db'}",
        "HUEY_URL": f"sqlite:///{tmp / 'instance' / 'queue.db'}", "RUN_QUEUE_IN_WEB": "1",
        "HUEY_WORKERS": str(args.workers), "WEBHOOK_WORKERS": str(args.webhook_workers),
        "INTEGRATION_HTTP_TIMEOUT": str(args.timeout), "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
        "HUBSPOT_CLIENT_ID": fakes["hubspot"]["id"], "HUBSPOT_CLIENT_SECRET": fakes["hubspot"]["secret"],
        "HUBSPOT_API_BASE": fakes["hubspot"]["url"], "HUBSPOT_APP_BASE": fakes["hubspot"]["url"],
        "ATTIO_CLIENT_ID": fakes["attio"]["id"], "ATTIO_CLIENT_SECRET": fakes["attio"]["secret"],
        "ATTIO_API_BASE": fakes["attio"]["url"], "ATTIO_APP_BASE": fakes["attio"]["url"],
        "SALESFORCE_CLIENT_ID": fakes["salesforce"]["id"], "SALESFORCE_CLIENT_SECRET": fakes["salesforce"]["secret"],
        "SALESFORCE_LOGIN_URL": fakes["salesforce"]["url"]})
    os.environ.update({k: v for k, v in env.items() if k not in ("PORT", "RUN_QUEUE_IN_WEB")})
    os.environ.pop("HUEY_IMMEDIATE", None)

    from app import create_app
    from app.db import db, upgrade
    from app.integrations import oauth
    from app.models import BookingCrmSync, EventType, Integration, User
    from app.services.account import accounts
    from app.services.booking import bookings
    from app.services.integrations import connections
    from app.services.scheduling.slots import available_slots
    from tests.providers.conftest import connect

    app = create_app()
    server = None
    try:
        with app.app_context(), db.connection_context():
            upgrade()
            hosts = {}
            for username in ("plain", "crm"):
                hosts[username] = accounts.signup(accounts.SignupData(
                    name=username.title() + " Host", email=f"{username}@example.com", username=username,
                    password="isolated lanes 4 ever", timezone="UTC"), default_plan="PRO")
            for provider in () if args.without_crms else CRMS:
                client = oauth.client_for(provider, oauth.config_from_settings(app.config, provider))
                Integration.create(user=hosts["crm"], provider=provider, category="crm", label=provider,
                                   credentials=connections.sealed({"token": connect(client).to_dict()}))
        log = open(tmp / "serve.log", "wb")        # noqa: SIM115 (closed with the server)
        server = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        import requests

        def up():
            if server.poll() is not None:
                raise SystemExit("the server exited:\n" + (tmp / "serve.log").read_text()[-3000:])
            try:
                return requests.get(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        if not wait_for(up, 60, 0.2):
            raise SystemExit("the server did not start")

        times: dict[str, list[float]] = {"plain": [], "crm": []}
        with app.app_context(), db.connection_context():
            now = datetime.now(UTC)
            slots = {}
            for username, user in hosts.items():
                event_type = EventType.get(EventType.user == user)
                found = available_slots(event_type, now, now + timedelta(days=120), now=now)
                if len(found) < args.bookings + 3:
                    raise SystemExit(f"only {len(found)} free slots")
                slots[username] = (event_type, found)
            for n in range(args.bookings + 3):          # the first three of each host warm up, untimed
                for username in ("plain", "crm"):
                    event_type, found = slots[username]
                    request = bookings.BookingRequest(start=found[n], invitee_name=f"Ivy Invitee {n}",
                                                      invitee_email=f"ivy{n}@example.com", invitee_timezone="UTC")
                    started = time.perf_counter()
                    bookings.create_booking(event_type, request)
                    elapsed = (time.perf_counter() - started) * 1000
                    if n >= 3:
                        times[username].append(elapsed)
        connected = "none" if args.without_crms else ", ".join(CRMS)
        print(f"{args.bookings} bookings per host; CRMs of the crm host: {connected}; hanging: {args.hang} "
              f"(timeout {args.timeout:g} s); workers {args.workers} + {args.webhook_workers} (webhook lane)")
        for username, values in times.items():
            print(f"  {username:5}  p50 {statistics.median(values):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms"
                  f"   max {max(values):6.1f} ms")
        delta = percentile(times["crm"], 0.95) - percentile(times["plain"], 0.95)
        print(f"  p95 difference (crm - plain): {delta:+.1f} ms  (target: within 10 ms)")

        total = args.bookings + 3
        with app.app_context(), db.connection_context():
            crm_user = User.get(User.username == "crm")

            def counts():
                rows = (BookingCrmSync.select(BookingCrmSync.provider, BookingCrmSync.status)
                        .join(Integration).where(Integration.user == crm_user).tuples())
                found: dict[str, dict[str, int]] = {p: {} for p in CRMS}
                for provider, status in rows:
                    found[provider][status] = found[provider].get(status, 0) + 1
                return found
            healthy = [p for p in CRMS if p != args.hang]
            wait_for(lambda: all(counts()[p].get("synced", 0) == total for p in healthy), args.settle, 0.5)
            for provider, by_status in counts().items():
                print(f"  {provider:10} syncs: " + (", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
                                                    or "none") + f" (of {total} bookings)")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        if fakes_proc.poll() is None:
            os.killpg(fakes_proc.pid, signal.SIGKILL)
        fakes_proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
