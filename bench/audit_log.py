"""Audit log page benchmark (issue #6: the audit log page answers in <= 100 ms).

    .venv/bin/python bench/audit_log.py [--entries 1000000] [--mine 200000] [--runs 30] [--database-url URL]

Seeds ``--entries`` audit entries spread over the last 400 days across 50 accounts, ``--mine`` of them for
the measured Business account (365-day window, the largest there is), into a fresh SQLite file (or the
PostgreSQL database of ``--database-url``, which must be empty), then requests the Settings → Audit Log page
and GET /api/audit-logs in-process through Flask's test client (full request handling: session, query,
template; no network) ``--runs`` times per case and prints p50/p95/max in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACTIONS = [("booking.created", "booking"), ("booking.cancelled", "booking"), ("booking.rescheduled", "booking"),
           ("event_type.updated", "event_type"), ("settings.updated", "user"), ("auth.login", "user"),
           ("integration.connected", "integration"), ("api_key.created", "api_key")]


def add_entries(host_id: str, total: int, rng: random.Random, mine: int | None = None) -> None:
    """``total`` entries over the last 400 days: ``mine`` (default all) for ``host_id``, the rest for 49 others."""
    from app.db import db
    from app.ids import new_id
    from app.models import AuditLog
    from app.services.audit import category_for

    mine = total if mine is None else mine
    others = [new_id() for _ in range(49)]
    now = datetime.now(UTC)
    batch = []
    for n in range(total):
        action, resource = rng.choice(ACTIONS)
        owner = host_id if n < mine else rng.choice(others)
        batch.append({"id": new_id(), "user_id": owner, "actor_id": owner, "action": action,
                      "category": category_for(action), "resource": resource, "resource_id": f"{resource}_{n}",
                      "details": json.dumps({"inviteeEmail": f"guest{n % 500}@example.com",
                                             "eventType": "30 Minute Meeting"}),
                      "ip_address": f"203.0.{n % 256}.{(n * 7) % 256}", "plan_at_time": "BUSINESS",
                      "created_at": now - timedelta(seconds=rng.uniform(0, 400 * 86400))})
        if len(batch) == 5000:
            with db.atomic():
                AuditLog.insert_many(batch).execute()
            batch.clear()
    if batch:
        with db.atomic():
            AuditLog.insert_many(batch).execute()


def seed(total: int, mine: int) -> str:
    from app.db import db
    from app.services.account import accounts

    host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                               password="seeded host secret", timezone="Europe/Berlin"),
                           default_plan="BUSINESS")
    add_entries(host.id, total, random.Random(11), mine=mine)
    db.execute_sql("ANALYZE")
    return host.email


def timed(client, url: str, runs: int) -> list[float]:
    headers = {"HX-Request": "true"} if "htmx" in url else {}
    url = url.replace("htmx:", "")
    client.get(url, headers=headers)  # warm caches and templates
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--mine", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="linktime-bench-audit-")
    os.environ.update({"INSTANCE_DIR": folder, "HUEY_IMMEDIATE": "1",
                       "DATABASE_URL": args.database_url or f"sqlite:///{folder}/bench.db"})
    from app import create_app
    from app.db import db, upgrade

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context(), db.connection_context():
        upgrade()
        started = time.perf_counter()
        email = seed(args.entries, args.mine)
        print(f"seeded {args.entries} entries ({args.mine} for the measured account) in "
              f"{time.perf_counter() - started:.0f} s")
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": "seeded host secret"})
    assert response.status_code == 302
    cases = [("page, all categories", "/settings/audit-log"),
             ("page, htmx, category=bookings", "htmx:/settings/audit-log?category=bookings"),
             ("page, htmx, search=integration_19", "htmx:/settings/audit-log?search=integration_19"),
             ("page 40", "/settings/audit-log?page=40"),
             ("API, limit=100", "/api/audit-logs?limit=100"),
             ("API, category=integrations&search=api_key", "/api/audit-logs?category=integrations&search=api_key")]
    print(f"{'case':48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, url in cases:
        times = sorted(timed(client, url, args.runs))
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        print(f"{label:48} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
