"""Workflow benchmark (issue 17): timed runs fired by the periodic task, and booking latency with workflows.

    .venv/bin/python bench/workflow_runs.py reminders [--runs 10000] [--workers 2] [--lead 75]
                                                      [--no-status-callbacks] [--consumers 0] [--consumer-workers 4]
                                                      [--align-periodic] [--timeout 600]
    .venv/bin/python bench/workflow_runs.py bookings [--bookings 200] [--rate 4] [--timeout 120]

Both start, in a fresh temporary instance folder (SQLite database, SQLite queue), ``python -m app.serve`` (web
server plus the embedded consumers: HUEY_WORKERS ``--workers`` threads on the default lane, WEBHOOK_WORKERS on
the webhook lane) and, in this process on 127.0.0.1, the local fakes: Twilio (``tests/fakes/twilio.py``, signed
status callbacks back to the server unless ``--no-status-callbacks``), Slack (``tests/fakes/slack.py``), an SMTP
sink (aiosmtpd), a webhook receiver that answers 200 and one that never answers
(``tests/fakes/webhooks.HangingReceiver``). This process writes the setup to the same database.

``reminders`` -- target: 10,000 Before Meeting runs due in the same minute all fire within 60 s of their time.
A PRO host saves the Meeting Reminder template (Before Meeting 1 h -> SMS to the invitee) after ``--runs``
confirmed bookings (inserted as rows, each with its own phone number) starting one hour after the minute boundary
D that is at least ``--lead`` seconds away, so saving the workflow schedules (``runs.schedule_upcoming``) one run
per booking, all due at D. The server's periodic task ``fire_workflow_runs`` (every minute) fires them; the
Twilio fake records when each text arrived. Reported: when the periodic task claimed the first and the last batch
(the outbox rows' creation), p50/p95/max of arrival minus D, the texts received, duplicates (one number texted
twice), the run and action states in the database. ``--align-periodic`` runs the server with its consumer's
periodic check aligned to the minute boundary (Huey checks periodic tasks every 60 s counted from the consumer's
start, so without it a run due at D is claimed anywhere in [D, D + 60 s)).

``bookings`` -- target: a booking's p95 with five workflows attached (one pointing at a hanging receiver) stays
within 10 ms of a booking without workflows. Two hosts on the same server: one without workflows, one with five
enabled Booking Created workflows (email to the invitee, Slack to the fake, webhook to the receiver, webhook to the
hanging receiver, SMS to the invitee). One client ``POST /api/bookings`` (the public endpoint), paced at
``--rate`` per second, ``--bookings`` for the host without workflows, then as many for the host with them (the
queue carries out the workflows meanwhile, competing for the same CPUs). Reported: p50/p95/max of each and the
differences, plus what the fakes received.

Every wait is bounded by ``--timeout``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# --align-periodic: the consumer's first periodic check at the next minute boundary (then every 60 s), the way a
# cron daemon wakes. Huey's scheduler counts its 60 s from the consumer's start instead.
PATCHED_SERVE = """
import sys, time
from huey.consumer import Consumer
make = Consumer._create_scheduler
def aligned(self):
    scheduler = make(self)
    scheduler._next_periodic = time.monotonic() + (60 - time.time() % 60) + 0.2
    return scheduler
Consumer._create_scheduler = aligned
from app.serve import main
sys.exit(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def stats_ms(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
            "max": round(max(values), 1)}


class SmtpSink:
    """An aiosmtpd server that counts what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self
        self.count = 0

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.count += 1
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Instance:
    """A fresh instance folder, its ``python -m app.serve`` and ``consumers`` more queue processes
    (``huey_consumer tasks.worker.huey -w consumer_workers -k thread -n``: the README's scale-out, on the same
    SQLite database and queue)."""

    def __init__(self, settings: dict, *, patched: str | None = None, consumers: int = 0,
                 consumer_workers: int = 4) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-workflows-"))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_"))}
        for name in ("HUEY_IMMEDIATE", "SMTP_URL", "SMTP_HOST", "DATABASE_URL", "HUEY_URL", "BASE_URL"):
            env.pop(name, None)
        instance = self.tmp / "instance"
        env.update({"LINKTIME_ENV": "development", "INSTANCE_DIR": str(instance), "HOST": "127.0.0.1",
                    "PORT": str(self.port), "DATABASE_URL": f"sqlite:///{instance / 'linktime.db'}",
                    "HUEY_URL": f"sqlite:///{instance / 'queue.db'}", "RUN_QUEUE_IN_WEB": "1",
                    "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "PYTHONUNBUFFERED": "1",
                    "RATELIMIT_PUBLIC_BOOKING": "1000000/second"})
        env.update({k: str(v) for k, v in settings.items()})
        os.environ.clear()
        os.environ.update(env)     # this process writes the setup to the same database and queue
        self.db_path = instance / "linktime.db"
        self.log = open(self.tmp / "serve.log", "wb")
        command = [sys.executable, "-c", patched] if patched else [sys.executable, "-m", "app.serve"]
        self.server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the server did not start:\n" + (self.tmp / "serve.log").read_text()[-3000:])
            time.sleep(0.2)
        self.consumers = []         # started once the server has migrated the database
        consumer = Path(sys.executable).parent / "huey_consumer"
        for n in range(consumers):
            log = open(self.tmp / f"consumer{n}.log", "wb")
            self.consumers.append((subprocess.Popen(
                [str(consumer), "tasks.worker.huey", "-w", str(consumer_workers), "-k", "thread", "-m", "0.5", "-n"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the server and by the extra consumers."""
        used = {"server": cpu_seconds(self.server.pid)}
        for n, (process, _) in enumerate(self.consumers):
            used[f"consumer{n}"] = cpu_seconds(process.pid)
        return used

    def query(self, sql: str, *params) -> list[tuple]:
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        for process in [self.server] + [process for process, _ in getattr(self, "consumers", [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [self.server] + [process for process, _ in getattr(self, "consumers", [])]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.log.close()
        for _, log in getattr(self, "consumers", []):
            log.close()


def timed_twilio(**kwargs):
    """The Twilio fake, recording (arrival time, To) of every accepted text."""
    from tests.fakes.twilio import TwilioFake

    fake = TwilioFake(**kwargs)
    fake.arrivals = []

    @fake.app.after_request
    def _arrived(response):
        from flask import request
        if request.method == "POST" and request.path.endswith("/Messages.json") and response.status_code == 201:
            with fake.lock:
                fake.arrivals.append((time.time(), request.form.get("To")))
        return response
    return fake


def parse_db_time(value: str) -> float:
    value = value.replace("T", " ").rstrip("Z").split("+")[0]
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()


# --- reminders ----------------------------------------------------------------------------------------------------
def reminders(args) -> int:
    fake = timed_twilio().start()
    settings = {**fake.settings(), "HUEY_WORKERS": args.workers, "SMS_MONTHLY_CAP": 10 * args.runs + 1000}
    if args.no_status_callbacks:
        settings["BASE_URL"] = "http://bench.invalid"     # the fake records callbacks to it without sending them
    instance = Instance(settings, patched=PATCHED_SERVE if args.align_periodic else None,
                        consumers=args.consumers, consumer_workers=args.consumer_workers)
    try:
        from app import create_app
        from app.db import db
        from app.ids import new_id, new_token
        from app.models import Booking, EventType
        from app.services.account import accounts
        from app.services.workflows import definitions
        from app.services.workflows.templates import TEMPLATES

        app = create_app()
        with app.app_context(), db.connection_context():
            host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com",
                                                       username="bench", password="remind them all",
                                                       timezone="UTC"), default_plan="PRO")
            event_type = EventType.get(EventType.user == host)
            due = datetime.fromtimestamp((int(time.time() + args.lead) // 60 + 1) * 60, UTC)
            start = due + timedelta(minutes=60)
            print(f"instance: {instance.tmp}  server: python -m app.serve (HUEY_WORKERS={args.workers}"
                  f"{', periodic check aligned to the minute' if args.align_periodic else ''})"
                  + (f" + {args.consumers} x huey_consumer tasks.worker.huey -w {args.consumer_workers} -k thread -n"
                     if args.consumers else ""), flush=True)
            print(f"{args.runs} bookings at {start:%H:%M:%S} UTC, reminders due at {due:%H:%M:%S} UTC ...",
                  flush=True)
            made = datetime.now(UTC)
            rows = [{"id": new_id(), "user": host.id, "event_type": event_type.id, "uid": new_token(),
                     "status": "CONFIRMED", "start_at": start, "end_at": start + timedelta(minutes=30),
                     "event_name": event_type.name, "invitee_name": f"Invitee {n}",
                     "invitee_email": f"invitee{n}@example.com", "invitee_timezone": "UTC",
                     "invitee_phone": f"+1212{2000000 + n:07d}", "answers": {}, "location_type": "none",
                     "location": "", "created_at": made, "updated_at": made} for n in range(args.runs)]
            with db.atomic():
                for i in range(0, len(rows), 500):
                    Booking.insert_many(rows[i:i + 500]).execute()
            template = TEMPLATES["meeting_reminder"]
            t0 = time.time()
            workflow = definitions.create_workflow(host, definitions.WorkflowInput(
                name=template.name, trigger=template.trigger, offset_minutes=template.offset_minutes,
                actions=list(template.actions)))
            scheduled = time.time() - t0
        ready_at = time.time()
        runs_due = instance.query("SELECT COUNT(*), MIN(due_at), MAX(due_at) FROM workflow_runs "
                                  "WHERE status = 'scheduled'")[0]
        print(f"workflow saved, {runs_due[0]} runs scheduled in {scheduled:.1f} s "
              f"({due.timestamp() - ready_at:.0f} s before they are due)", flush=True)
        if ready_at >= due.timestamp() or runs_due[0] != args.runs:
            raise SystemExit(f"the setup was not done before the runs were due (or scheduled {runs_due[0]} runs): "
                             "raise --lead")
        while time.time() < due.timestamp() - 1:
            time.sleep(0.2)
        cpu_before, bench_before = instance.cpu(), os.times()
        deadline = time.monotonic() + (due.timestamp() - time.time()) + args.timeout
        while time.monotonic() < deadline:
            with fake.lock:
                if len(fake.arrivals) >= args.runs:
                    break
            time.sleep(0.5)
        time.sleep(2)     # anything doubled arrives late
        with fake.lock:
            arrivals = list(fake.arrivals)
        cpu_after, bench_after = instance.cpu(), os.times()
        cpu = {name: round(cpu_after[name] - cpu_before[name], 1) for name in cpu_after}
        cpu["bench (fakes)"] = round(bench_after.user + bench_after.system - bench_before.user - bench_before.system, 1)
        callbacks_done = None
        if not args.no_status_callbacks:    # then the fake's status callbacks: when had the server taken them all?
            while time.monotonic() < deadline:
                with fake.lock:
                    if len(fake.callbacks) >= 2 * len(arrivals):
                        callbacks_done = round(time.time() - due.timestamp(), 1)
                        break
                time.sleep(0.5)
        with fake.lock:
            callbacks_answered = sum(1 for c in fake.callbacks if c.status is not None and c.status < 300)
        wf_id = workflow.id
        states = dict(instance.query("SELECT status, COUNT(*) FROM workflow_runs WHERE workflow_id = ? "
                                     "GROUP BY status", wf_id))
        action_states = dict(instance.query("SELECT status, COUNT(*) FROM workflow_run_actions GROUP BY status"))
        claims = instance.query("SELECT MIN(created_at), MAX(created_at) FROM outbox WHERE kind = 'workflow_action'")
        fired = instance.query("SELECT MIN(fired_at), MAX(fired_at) FROM workflow_runs WHERE workflow_id = ?", wf_id)
        errors = instance.query("SELECT error, COUNT(*) FROM workflow_run_actions WHERE error IS NOT NULL "
                                "GROUP BY error ORDER BY 2 DESC LIMIT 3")
        d = due.timestamp()
        numbers: dict[str, int] = {}
        for _, to in arrivals:
            numbers[to] = numbers.get(to, 0) + 1
        lags = [t - d for t, _ in arrivals]
        first_claim = parse_db_time(claims[0][0]) - d if claims[0][0] else None
        last_claim = parse_db_time(claims[0][1]) - d if claims[0][1] else None
        within = sum(1 for lag in lags if lag <= 60)
        result = {
            "runs": args.runs, "huey_workers": args.workers, "status_callbacks": not args.no_status_callbacks,
            "extra_consumers": args.consumers,
            "status_callbacks_answered": callbacks_answered if not args.no_status_callbacks else None,
            "status_callbacks_all_answered_s_after_due": callbacks_done,
            "periodic_aligned": args.align_periodic, "due_at": due.strftime("%H:%M:%S"),
            "runs_by_status": states, "actions_by_status": action_states,
            "fired_at_s_after_due": round(parse_db_time(fired[0][0]) - d, 1) if fired[0][0] else None,
            "first_claim_s_after_due": round(first_claim, 1) if first_claim is not None else None,
            "last_claim_s_after_due": round(last_claim, 1) if last_claim is not None else None,
            "texts_received": len(arrivals), "unique_numbers": len(numbers),
            "duplicates": sum(c - 1 for c in numbers.values()),
            "arrival_lag_s": {k: (round(v / 1000, 1) if v is not None else None)
                              for k, v in stats_ms([lag * 1000 for lag in lags]).items()},
            "arrived_within_60s": within,
            "send_span_s": round(max(lags) - (first_claim or 0), 1) if lags else None,
            "texts_per_s": round(len(lags) / (max(lags) - first_claim), 1) if lags and first_claim is not None
            and max(lags) > first_claim else None,
            "top_errors": errors, "cpu_seconds_from_due_to_last_text": cpu,
            "load_average": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        print(f"\n| runs | workers | fired (s after due) | last claim | arrival p50 | p95 | max | received | "
              f"duplicates | all within 60 s |\n|---|---|---|---|---|---|---|---|---|---|\n"
              f"| {args.runs} | {args.workers} | {result['first_claim_s_after_due']} | "
              f"{result['last_claim_s_after_due']} | {result['arrival_lag_s']['p50']} | "
              f"{result['arrival_lag_s']['p95']} | {result['arrival_lag_s']['max']} | {len(arrivals)} | "
              f"{result['duplicates']} | {'yes' if within == args.runs else f'no ({within})'} |")
        return 0 if within == args.runs and not result["duplicates"] else 1
    finally:
        instance.stop()
        fake.stop()


# --- bookings -----------------------------------------------------------------------------------------------------
def bookings(args) -> int:
    from tests.fakes.slack import SlackFake
    from tests.fakes.webhooks import HangingReceiver, WebhookReceiver

    twilio = timed_twilio().start()
    slack = SlackFake().start()
    smtp = SmtpSink()
    receiver = WebhookReceiver().__enter__()
    hanging = HangingReceiver().__enter__()
    settings = {**twilio.settings(), **slack.settings(), "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"}
    instance = Instance(settings)
    try:
        from app import create_app
        from app.db import db
        from app.models import Schedule
        from app.services.account import accounts
        from app.services.scheduling import event_types as et
        from app.services.workflows import definitions
        from app.services.workflows.definitions import ActionInput, WorkflowInput

        app = create_app()
        quick = {}
        with app.app_context(), db.connection_context():
            for name in ("plain", "flows"):
                host = accounts.signup(accounts.SignupData(name=f"Host {name}", email=f"{name}@example.com",
                                                           username=name, password="five hooks attached",
                                                           timezone="UTC"), default_plan="PRO")
                schedule = Schedule.get(Schedule.user == host)
                schedule.weekly = {str(d): [["00:00", "23:55"]] for d in range(7)}
                schedule.save()
                quick[name] = et.create_event_type(host, et.EventTypeInput(
                    name="Bench quick", duration=5, window_type="rolling", window_days=365, reminders=[])).id
                if name == "flows":
                    body = "{{ invitee_name }} booked {{ event_name }} for {{ start_time }}"
                    for label, action in (
                            ("Email", ActionInput(kind="email", recipient="invitee", subject="Booked", body=body)),
                            ("Slack", ActionInput(kind="slack", url=slack.new_webhook(), body=body)),
                            ("Webhook", ActionInput(kind="webhook", url=receiver.url())),
                            ("Hanging webhook", ActionInput(kind="webhook", url=hanging.url())),
                            ("SMS", ActionInput(kind="sms", recipient="invitee", body=body))):
                        definitions.create_workflow(host, WorkflowInput(name=label, trigger="booking_created",
                                                                        offset_minutes=0, actions=[action]))
        print(f"instance: {instance.tmp}  server: python -m app.serve; {args.bookings} bookings per host at "
              f"{args.rate}/s", flush=True)
        first_day = datetime.now(UTC).date() + timedelta(days=30)

        def run(host: str) -> list[float]:
            conn = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=30)
            latencies, started = [], time.perf_counter()
            for n in range(args.bookings + 5):            # the first 5 warm up and are not counted
                pause = started + n / args.rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                day = first_day + timedelta(days=n // 280)
                slot = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=5 * (n % 280))
                body = json.dumps({"eventTypeId": quick[host], "inviteeName": f"Guest {n}",
                                   "inviteeEmail": f"guest{n}@example.com", "inviteeTimezone": "UTC",
                                   "phone": f"+1212{3000000 + n:07d}",
                                   "startTime": slot.strftime("%Y-%m-%dT%H:%M:%SZ")})
                sent = time.perf_counter()
                conn.request("POST", "/api/bookings", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                text = response.read()
                if response.status != 201:
                    raise SystemExit(f"booking refused: {response.status} {text[:300]!r}")
                if n >= 5:
                    latencies.append((time.perf_counter() - sent) * 1000)
            conn.close()
            return latencies

        plain = run("plain")
        flows = run("flows")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (len(twilio.arrivals) < args.bookings + 5
                                               or len(receiver.received) < args.bookings + 5):
            time.sleep(0.5)
        a, b = stats_ms(plain), stats_ms(flows)
        result = {
            "bookings_per_host": args.bookings, "rate_per_s": args.rate,
            "without_workflows_ms": a, "with_five_workflows_ms": b,
            "p50_difference_ms": round(b["p50"] - a["p50"], 1), "p95_difference_ms": round(b["p95"] - a["p95"], 1),
            "fakes": {"sms": len(twilio.arrivals), "slack": len(slack.requests) - 1, "webhook": len(receiver.received),
                      "hanging_connections": hanging.accepted, "smtp_messages": smtp.count},
            "load_average": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        print(f"\n| bookings | p50 ms | p95 ms | max ms |\n|---|---|---|---|\n"
              f"| without workflows | {a['p50']} | {a['p95']} | {a['max']} |\n"
              f"| five workflows | {b['p50']} | {b['p95']} | {b['max']} |\n"
              f"| difference | {result['p50_difference_ms']} | {result['p95_difference_ms']} | |")
        return 0 if result["p95_difference_ms"] <= 10 else 1
    finally:
        instance.stop()
        hanging.__exit__()
        receiver.__exit__()
        smtp.stop()
        slack.stop()
        twilio.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    rem = sub.add_parser("reminders", help="10,000 Before Meeting runs due in the same minute")
    rem.add_argument("--runs", type=int, default=10000)
    rem.add_argument("--workers", type=int, default=2, help="HUEY_WORKERS of the server (default: the shipped 2)")
    rem.add_argument("--lead", type=float, default=75, help="seconds at least between the start and the due minute "
                                                            "(the setup must finish within them)")
    rem.add_argument("--no-status-callbacks", action="store_true",
                     help="the Twilio fake does not post its status callbacks to the server")
    rem.add_argument("--consumers", type=int, default=0,
                     help="extra queue processes (huey_consumer tasks.worker.huey, the README's scale-out) beside the "
                          "server's own consumer (default: none, as make run)")
    rem.add_argument("--consumer-workers", type=int, default=4, help="worker threads of each extra consumer")
    rem.add_argument("--align-periodic", action="store_true",
                     help="run the server with its periodic check aligned to the minute boundary")
    rem.add_argument("--timeout", type=float, default=600, help="seconds after the due minute to wait for texts")
    book = sub.add_parser("bookings", help="booking latency without and with five workflows")
    book.add_argument("--bookings", type=int, default=200)
    book.add_argument("--rate", type=float, default=4.0, help="bookings per second (one client)")
    book.add_argument("--timeout", type=float, default=120, help="seconds to wait for the queue afterwards")
    args = parser.parse_args()
    return reminders(args) if args.part == "reminders" else bookings(args)


if __name__ == "__main__":
    sys.exit(main())
