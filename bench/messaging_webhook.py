"""Messaging webhook with a slow model (issue 22): how fast does ``POST /api/webhooks/twilio/inbound`` answer while
the model takes 10 seconds, and does every reply still arrive?

    .venv/bin/python bench/messaging_webhook.py [--texts 20] [--model-delay 10] [--workers 2] [--agent-workers 4]
                                                [--timeout 600] [--postgres ADMIN_URL]

In a fresh temporary instance folder it starts the real ``python -m app.serve`` (web server plus the embedded queue
consumers, HUEY_WORKERS ``--workers`` and AGENT_WORKERS ``--agent-workers`` threads; SQLite database and queue,
or with ``--postgres`` a new PostgreSQL database created from ADMIN_URL and dropped at the end) and, in this process
on 127.0.0.1, the local fakes:
Anthropic (``tests/fakes/anthropic.py``), holding every answer ``--model-delay`` seconds, and Twilio
(``tests/fakes/twilio.py``), which records the texts the server sends. A setup script (a separate process, as an
operator's would be) creates a PRO host with an SMS messaging agent on a number.

Then ``--texts`` signed inbound texts, each from a different customer, are POSTed one after another to the
webhook the way Twilio sends them (``X-Twilio-Signature``; Twilio gives a webhook 15 seconds). The first text is
the first request the freshly started server ever handles. Reported:

- the answer time of the first request (client side: from the send to the whole answer) and p50/p95/max of the
  others; every answer must be 200 with TwiML and no ``<Message>`` (the reply is not in the webhook's answer);
- for each reply: the time from its text's webhook to the reply's arrival at the Twilio fake, from the webhook
  to the model request's arrival at the Anthropic fake (the queue's pick-up), and from the model request to the
  reply (must be at least ``--model-delay``: the reply came from the held model answer), as p50/max; and how many
  replies arrived, duplicates, wrong bodies.

The replies run on the agents lane (``app/queue.py``) and queue behind its AGENT_WORKERS threads: with the default
4, ``--texts 20`` and a 10 s model the last reply comes about 50 s after the texts (the model calls run four at a
time; before the agents lane they ran on the main lane's two HUEY_WORKERS threads, the last reply after about
100 s). Exits 1 when an answer was not a 200 with
empty TwiML, an answer took 15 s or more, a reply is missing or wrong, or a reply came sooner than the model's
delay. Every wait is bounded by ``--timeout`` seconds.
"""
from __future__ import annotations

import argparse
import math
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

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INBOUND = "/api/webhooks/twilio/inbound"
AGENT_NUMBER = "+12125550100"
REPLY = "Hi! I'm Sarah, Hana's AI assistant. Which day suits you?"
TWILIO_LIMIT = 15.0     # seconds Twilio waits for a webhook's answer

SETUP = """
import json, secrets, sys
from app import create_app
from app.db import db
from app.models.messaging import MessagingAgent
from app.models.voice import PhoneNumber
from app.services.account import accounts

agent_number = sys.argv[1]
app = create_app()
with app.app_context(), db.connection_context():
    host = accounts.signup(accounts.SignupData(name="Hana Host", email="hana@example.com", username="hana",
                                               password="texts 4 ever and ever", timezone="Europe/Berlin"),
                           default_plan="PRO")
    number = PhoneNumber.create(user=host, e164=agent_number, country="US", twilio_sid="PN" + secrets.token_hex(16))
    agent = MessagingAgent.create(user=host, phone_number=number, channel="sms", name="Sarah", tone="friendly")
    print(json.dumps({"host": host.id, "agent": agent.id}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds: float, interval: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def customer(n: int) -> str:
    return f"+1415555{n:04d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20, help="inbound texts, each from a different customer")
    parser.add_argument("--model-delay", type=float, default=10, help="seconds the model fake holds each answer")
    parser.add_argument("--workers", type=int, default=2, help="HUEY_WORKERS (main queue worker threads)")
    parser.add_argument("--agent-workers", type=int, default=4,
                        help="AGENT_WORKERS (agents queue worker threads: the replies)")
    parser.add_argument("--timeout", type=float, default=600, help="longest wait for the server or the replies")
    parser.add_argument("--postgres", help="an admin URL of PostgreSQL (a database is created on it and dropped)")
    args = parser.parse_args()
    if args.texts < 2:
        parser.error("--texts: at least 2 (the first is reported apart)")

    from tests.fakes.anthropic import AnthropicFake
    from tests.fakes.twilio import TwilioFake, inbound_params, signed_inbound

    class TimedAnthropic(AnthropicFake):
        """Records when each request arrived, with its body as JSON text."""

        def __init__(self) -> None:
            self.arrivals: list[tuple[float, str]] = []
            super().__init__()

        def _messages(self):
            from flask import request

            with self.lock:
                self.arrivals.append((time.time(), request.get_data(as_text=True)))
            return super()._messages()

        def asked_about(self, words: str) -> float | None:
            with self.lock:
                return next((at for at, body in self.arrivals if words in body), None)

    python = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-messaging-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    from app.config import SETTINGS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_"))}
    for setting in SETTINGS:            # no LinkTime setting of this shell leaks in
        env.pop(setting.name, None)
        env.pop(setting.name + "_FILE", None)
    env.update({"LINKTIME_ENV": "development", "INSTANCE_DIR": str(tmp / "instance"), "HOST": "127.0.0.1",
                "PORT": str(port), "BASE_URL": base, "HUEY_URL": f"sqlite:///{tmp / 'instance' / 'queue.db'}",
                "RUN_QUEUE_IN_WEB": "1", "HUEY_WORKERS": str(args.workers),
                "AGENT_WORKERS": str(args.agent_workers), "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(free_port()), "SMTP_TIMEOUT": "2",
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "PYTHONUNBUFFERED": "1"})
    pg_admin = pg_name = None
    if args.postgres:
        from urllib.parse import urlparse, urlunparse

        import psycopg2

        pg_name = f"linktime_bench_{secrets.token_hex(4)}"
        pg_admin = psycopg2.connect(args.postgres)
        pg_admin.autocommit = True
        with pg_admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{pg_name}"')
        env["DATABASE_URL"] = urlunparse(urlparse(args.postgres)._replace(path="/" + pg_name))
        database = "PostgreSQL"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'instance' / 'linktime.db'}"
        database = "SQLite"

    model = TimedAnthropic().start()
    twilio = TwilioFake().start()
    env.update({k: str(v) for k, v in {**model.settings(), **twilio.settings()}.items()})
    arrivals: dict[str, tuple[float, str, str]] = {}        # customer -> (arrival, from, body), first text only
    counts: dict[str, int] = {}
    stop_watch = threading.Event()

    def watch() -> None:
        seen = 0
        while not stop_watch.is_set():
            with twilio.lock:
                new = list(twilio.messages[seen:])
            now = time.time()
            seen += len(new)
            for m in new:
                counts[m["to"]] = counts.get(m["to"], 0) + 1
                arrivals.setdefault(m["to"], (now, m["from"], m["body"]))
            time.sleep(0.02)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    log_path = tmp / "serve.log"
    server = None
    failures: list[str] = []
    try:
        load = os.getloadavg()
        print(f"server: python -m app.serve, {database}, HUEY_WORKERS={args.workers}, "
              f"AGENT_WORKERS={args.agent_workers}; model delay "
              f"{args.model_delay:g} s; {args.texts} texts from different customers\n"
              f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)",
              flush=True)
        with open(log_path, "wb") as log:
            server = subprocess.Popen([python, "-m", "app.serve"], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def up():
            if server.poll() is not None:
                raise SystemExit("the server exited:\n" + log_path.read_text(errors="replace")[-3000:])
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        started = time.monotonic()
        if not wait_for(up, args.timeout, 0.2):
            raise SystemExit("the server did not start")
        print(f"server up after {time.monotonic() - started:.1f} s", flush=True)
        done = subprocess.run([python, "-c", SETUP, AGENT_NUMBER], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])

        model.delay(args.model_delay, times=args.texts)
        for _ in range(args.texts):
            model.reply(REPLY)

        answers: list[float] = []
        sent: dict[str, float] = {}
        words: dict[str, str] = {}
        with requests.Session() as session:
            for n in range(args.texts):
                phone = customer(n)
                words[phone] = f"Hi, can I book a meeting? (customer {n})"
                params = inbound_params(phone, words[phone], to=AGENT_NUMBER)
                headers = signed_inbound(base + INBOUND, params, twilio.auth_token)
                sent[phone] = time.time()
                began = time.perf_counter()
                answer = session.post(base + INBOUND, data=params, headers=headers, timeout=60)
                answers.append(time.perf_counter() - began)
                if answer.status_code != 200 or b"<Response" not in answer.content or b"<Message" in answer.content:
                    failures.append(f"text {n}: answer {answer.status_code} {answer.text[:200]!r}")
                if answers[-1] >= TWILIO_LIMIT:
                    failures.append(f"text {n}: answered after {answers[-1]:.1f} s (Twilio's limit: 15 s)")
        held = sum(1 for phone in sent if phone not in arrivals)
        rest = answers[1:]
        print(f"webhook answers: first request on the fresh server {ms(answers[0])}; the other {len(rest)}: "
              f"p50 {ms(statistics.median(rest))}, p95 {ms(percentile(rest, 95))}, max {ms(max(rest))}",
              flush=True)
        print(f"replies already sent when the last answer came: {args.texts - held} "
              f"(the model holds each answer {args.model_delay:g} s)", flush=True)

        if not wait_for(lambda: len(arrivals) >= args.texts, args.timeout, 0.1):
            failures.append(f"only {len(arrivals)}/{args.texts} replies within {args.timeout:g} s")
        time.sleep(1)       # a duplicate would show up here
        after_text, after_model, pickup = [], [], []
        for phone, at in sent.items():
            if phone not in arrivals:
                continue
            arrived, sender, body = arrivals[phone]
            if (sender, body) != (AGENT_NUMBER, REPLY):
                failures.append(f"{phone}: reply {sender} {body!r}")
            after_text.append(arrived - at)
            asked = model.asked_about(words[phone])
            if asked is None:
                failures.append(f"{phone}: the model was never asked about this text")
                continue
            pickup.append(asked - at)
            after_model.append(arrived - asked)
            if arrived - asked < args.model_delay:
                failures.append(f"{phone}: reply {arrived - asked:.2f} s after the model was asked, "
                                f"sooner than its {args.model_delay:g} s")
        duplicates = sum(c - 1 for phone, c in counts.items() if phone in sent and c > 1)
        if duplicates:
            failures.append(f"{duplicates} duplicate replies")
        if after_text:
            print(f"replies: {len(arrivals)}/{args.texts} arrived, {duplicates} duplicates; after the text's webhook: "
                  f"p50 {statistics.median(after_text):.1f} s, max {max(after_text):.1f} s; after the model "
                  f"request: min {min(after_model):.2f} s, p50 {statistics.median(after_model):.2f} s, "
                  f"max {max(after_model):.2f} s", flush=True)
            print(f"queue pick-up (the text's webhook to the model request): p50 {statistics.median(pickup):.1f} s, "
                  f"max {max(pickup):.1f} s", flush=True)
        load = os.getloadavg()
        print(f"model requests: {len(model.requests)}; load average at the end: {load[0]:.2f} {load[1]:.2f} "
              f"{load[2]:.2f}", flush=True)
    finally:
        stop_watch.set()
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        if server is not None:
            server.wait(timeout=10)
        model.stop()
        twilio.stop()
        if pg_admin is not None:
            with pg_admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (pg_name,))
                cur.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            pg_admin.close()
    for failure in failures:
        print("FAIL: " + failure, flush=True)
    print("ok" if not failures else f"{len(failures)} failures (server log: {log_path})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
