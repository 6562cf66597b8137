"""CRM sync with the real one-process server (``python -m app.serve``): the server is killed (SIGKILL) while a HubSpot
sync waits for HubSpot's answer; after the restart the booking is synced, once, and the other CRM was never held up.

The server runs as a subprocess on its own instance folder, SQLite database and queue; the HubSpot and Attio fakes run
in this process on loopback. Setup and the booking run as a separate process on the same database.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.helpers import (
    PYTHON,
    Processes,
    SMTPSink,
    clean_env,
    run,
    sqlite_rows,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

SETUP = """
import json
from datetime import datetime, timedelta, timezone
from app import create_app
from app.db import db
from app.models import EventType
from app.services.account import accounts
from app.services.booking import bookings
from app.services.scheduling.slots import available_slots
from tests.crm_fixtures import connect_crm

app = create_app()
with app.app_context(), db.connection_context():
    host = accounts.signup(accounts.SignupData(name="Hana Host", email="hana@example.com", username="hana",
                                               password="isolated lanes 4 ever", timezone="UTC"), default_plan="PRO")
    for provider in ("hubspot", "attio"):
        connect_crm(app, host, provider)
    event_type = EventType.get(EventType.user == host)
    now = datetime.now(timezone.utc)
    start = available_slots(event_type, now, now + timedelta(days=28), now=now)[0]
    booking = bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Bo Ek", invitee_email="bo@example.com", invitee_timezone="UTC"), now=now).booking
    print(json.dumps({"booking": booking.id}))
"""


def test_a_sync_whose_server_was_killed_mid_request_is_finished_once_after_the_restart(tmp_path: Path, crm_fakes):
    from tests.crm_fixtures import crm_settings

    instance = tmp_path / "instance"
    db_path = instance / "linktime.db"
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(LINKTIME_ENV="development", INSTANCE_DIR=instance, HOST="127.0.0.1", PORT=port,
                    DATABASE_URL=f"sqlite:///{db_path}", HUEY_URL=f"sqlite:///{instance / 'queue.db'}",
                    SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, SMTP_TIMEOUT=5, LOG_LEVEL="INFO",
                    **crm_settings(crm_fakes, timeout=120))
    processes = Processes(tmp_path)
    hub, att = crm_fakes.hubspot, crm_fakes.attio
    upsert = "/crm/v3/objects/contacts/batch/upsert"
    hub.slow(300, times=1, path=upsert)                   # the first contact upsert gets no answer in time
    try:
        with SMTPSink(smtp_port):
            first = processes.start("serve", [PYTHON, "-m", "app.serve"], env)
            wait_for_http(base, first, processes)
            done = run([PYTHON, "-c", SETUP], env=env, timeout=120)
            assert done.returncode == 0, done.stderr[-3000:]
            booking_id = json.loads(done.stdout.strip().splitlines()[-1])["booking"]
            wait_until(lambda: hub.calls("POST", upsert), 60, "HubSpot was never asked")
            wait_until(lambda: att.notes, 60, "Attio was held up by the hanging HubSpot sync")
            processes.kill9(first)
            killed_at = time.monotonic()
            assert not hub.meetings

            processes.start("serve", [PYTHON, "-m", "app.serve"], env)
            sql = "SELECT provider, status FROM booking_crm_syncs WHERE booking_id = ? ORDER BY provider"
            wait_until(lambda: sqlite_rows(db_path, sql, (booking_id,)) == [("attio", "synced"), ("hubspot", "synced")],
                       150, f"the HubSpot sync was not finished after the restart\n{processes.all_logs()}")
            print(f"synced {time.monotonic() - killed_at:.1f} s after the kill")
            assert len(hub.contacts) == 1 and len(hub.meetings) == 1
            assert len(hub.calls("POST", "/crm/v3/objects/meetings")) == 1
            assert len(att.people) == 1 and len(att.notes) == 1
    finally:
        processes.stop_all()
