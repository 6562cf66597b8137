"""Cost of being signed in: one signed-in dashboard request, measured in-process (issue 12, server sessions).

    .venv/bin/python bench/signed_in_requests.py [--runs 300] [--database-url URL]

Run from a checkout's root: the app imported is the one in the current directory, so the same script measures
two versions (e.g. a ``git archive`` of the commit before the change unpacked in /tmp). Creates one account in a
fresh SQLite file (or the empty PostgreSQL database of ``--database-url``), signs in through the test client and
requests ``/settings/profile`` (session lookup, user, template) ``--runs`` times; prints p50/p95/max in ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="linktime-bench-")
    os.environ.update({"INSTANCE_DIR": tmp, "HUEY_IMMEDIATE": "1", "HUEY_URL": f"sqlite:///{tmp}/queue.db",
                       "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db", "LOG_LEVEL": "WARNING"})
    from app import create_app
    from app.db import db, upgrade
    from app.services.account import accounts

    app = create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_LOGIN": "1000/minute"})
    with app.app_context(), db.connection_context():
        upgrade()
        accounts.signup(accounts.SignupData(name="Bench", email="bench@example.com", username="bench",
                                            password="seeded host passphrase", timezone="UTC"), default_plan="FREE")
    client = app.test_client()
    signed_in = client.post("/login", data={"email": "bench@example.com", "password": "seeded host passphrase"})
    assert signed_in.status_code == 302
    for _ in range(20):  # warm-up: templates compiled, connections open
        assert client.get("/settings/profile").status_code == 200
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        response = client.get("/settings/profile")
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"GET /settings/profile signed in: p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, "
          f"max {times[-1]:.2f} ms over {args.runs} runs; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
