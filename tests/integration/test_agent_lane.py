"""The agents lane (app/queue.py, "linktime-agents"): a slow model never holds the workers that send email.

The real ``python -m app.serve`` runs with one main-lane worker (HUEY_WORKERS=1) and one agent worker
(AGENT_WORKERS=1). Three customers text the host's SMS agent while the Anthropic fake holds every model answer: the
agent worker waits on the first, the other two replies wait their turn on the agents lane. A booking made meanwhile
still gets its confirmation email (a real SMTP server): before the agents lane the reply held the only worker that
sends email. Once the model answers, every customer gets their reply, once.

Only conditions are awaited (``wait_until``), no wall-clock figure is asserted (bench/messaging_webhook.py measures
the times). SQLite and PostgreSQL databases (the queue is a SQLite file, as by default).
"""
from __future__ import annotations

import json

import pytest
import requests

from app.api.twilio_webhooks import EMPTY_TWIML
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.twilio import TwilioFake, inbound_params, signed_inbound
from tests.integration import test_messaging_slow_model as slow_model
from tests.integration.helpers import PYTHON, SMTPSink, clean_env, run, wait_for_http, wait_until
from tests.integration.test_messaging_slow_model import AGENT_NUMBER, INBOUND, MessagingBox

database_url = slow_model.database_url      # the fixture: SQLite, then a fresh PostgreSQL database

pytestmark = pytest.mark.integration

CUSTOMERS = ["+14155550101", "+14155550102", "+14155550103"]
REPLY = "Hi! I'm Sarah, Hana's AI assistant. Which day suits you?"
HELD = 600          # seconds the fake would hold the model: longer than every wait below, released explicitly

BOOK = """
import json
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType, User
from app.services.booking import bookings
from app.services.scheduling.slots import available_slots

app = create_app()
with app.app_context(), db.connection_context():
    event_type = EventType.get(EventType.user == User.get(User.username == "hana"))
    now = datetime.now(timezone.utc)
    start = available_slots(event_type, now, now + timedelta(days=28), now=now)[0]
    booking = bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Olga Invitee", invitee_email="olga@example.com", invitee_timezone="UTC"),
        now=now).booking
    print(json.dumps({"booking": booking.id}))
"""


class LaneBox(MessagingBox):
    """The messaging box with one worker per lane; ``script`` runs a setup script against its database."""

    def start(self, *, run_queue: bool = True):
        self.env = clean_env(
            LINKTIME_ENV="development", INSTANCE_DIR=self.instance, HOST="127.0.0.1", PORT=self.port,
            BASE_URL=self.base, DATABASE_URL=self.database_url, HUEY_URL=f"sqlite:///{self.queue_path}",
            RUN_QUEUE_IN_WEB="1", SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port, SMTP_TIMEOUT=5,
            LOG_LEVEL="INFO", **self.settings)
        proc = self.processes.start("serve", [PYTHON, "-m", "app.serve"], self.env)
        wait_for_http(self.base, proc, self.processes)
        return proc

    def script(self, source: str) -> dict:
        done = run([PYTHON, "-c", source], env=self.env, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_held_model_does_not_delay_a_bookings_confirmation_email(tmp_path, database_url):
    with AnthropicFake() as model, TwilioFake() as twilio:
        box = LaneBox(tmp_path, database_url, {
            **model.settings(), **twilio.settings(), "HUEY_WORKERS": 1, "AGENT_WORKERS": 1,
            # the model client waits as long as the fake holds (its timeout would otherwise end the wait at 30 s)
            "INTEGRATION_HTTP_TIMEOUT": HELD + 60})
        try:
            with SMTPSink(box.smtp_port) as sink:
                box.start()
                box.host_with_an_sms_agent()
                model.delay(HELD, times=len(CUSTOMERS))
                for _ in CUSTOMERS:
                    model.reply(REPLY)
                for customer in CUSTOMERS:
                    params = inbound_params(customer, "Hi, can I book a meeting?", to=AGENT_NUMBER)
                    answer = requests.post(box.base + INBOUND, data=params, timeout=15,
                                           headers=signed_inbound(box.base + INBOUND, params, twilio.auth_token))
                    assert answer.status_code == 200 and answer.text == EMPTY_TWIML, answer.text

                # the one agent worker waits on the held model; the two other replies wait on the agents lane
                wait_until(lambda: len(model.requests) == 1, 60,
                           f"the model was never asked\n{box.processes.all_logs()}")
                wait_until(lambda: requests.get(box.base + "/healthz", timeout=10).json()["checks"]
                           ["agent_queue_pending"] == len(CUSTOMERS) - 1, 60,
                           f"the other replies are not waiting on the agents lane\n{box.processes.all_logs()}")

                box.script(BOOK)

                def confirmation():
                    return next((m for m in list(sink.messages) if m["To"] == "olga@example.com"), None)
                wait_until(confirmation, 60,
                           f"the confirmation email waited for the model\n{box.processes.all_logs()}")
                # the model still holds its answer: the email did not wait for it
                assert len(model.requests) == 1
                assert [m for m in twilio.messages if m["to"] in CUSTOMERS] == []

                model.release()

                def replied():
                    texts = [m for m in twilio.messages if m["to"] in CUSTOMERS]
                    return texts if {m["to"] for m in texts} == set(CUSTOMERS) else None
                wait_until(replied, 120, f"not every customer got a reply\n{box.processes.all_logs()}")
                texts = [m for m in twilio.messages if m["to"] in CUSTOMERS]
                assert sorted((m["to"], m["from"], m["body"]) for m in texts) == [
                    (customer, AGENT_NUMBER, REPLY) for customer in CUSTOMERS]       # each once
                assert len(model.requests) == len(CUSTOMERS)                           # the model asked once per text
        finally:
            model.release()
            box.processes.stop_all()
