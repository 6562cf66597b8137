"""Analytics benchmark (issue #6): every analytics endpoint <= 200 ms and the audit log page <= 100 ms with
1,000,000 page views and 20,000 bookings seeded.

    .venv/bin/python bench/analytics.py [--views 1000000] [--bookings 20000] [--audit 100000] [--runs 20]
                                        [--database-url URL]

Seeds one Business host (so the 1-year preset is not capped) with 5 event types, ``--views`` page views over
the last 400 days (a third on the profile, the rest on event pages; 8 referrers; about 3 views per visitor a
day) written as raw views and then rolled up with ``page_views.rebuild_rollups`` (what the recorder keeps
up to date as it flushes), ``--bookings`` bookings created over the same days, and ``--audit`` audit entries.
Then requests every analytics view and endpoint, and the audit log page, in-process through Flask's test
client (session, queries, template or JSON; no network) ``--runs`` times each and prints p50 / p95 / max in
milliseconds. A fresh SQLite file by default; ``--database-url`` for an empty PostgreSQL database.
"""
from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "bench"))

REFERRERS = ["google.com", "linkedin.com", "twitter.com", "Direct", "news.ycombinator.com", "github.com",
             "bing.com", None]  # None: arrived from the host's own pages


def seed(views: int, bookings: int, audit_entries: int) -> str:
    from app.db import db
    from app.ids import new_id, new_token
    from app.models import Booking, EventType, PageView
    from app.services.account import accounts
    from app.services.insights import page_views
    from app.services.scheduling import event_types as et

    host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                               password="seeded host secret", timezone="Europe/Berlin"),
                           default_plan="BUSINESS")
    types = [EventType.get((EventType.user == host) & (EventType.slug == "30-min"))]
    for n in range(1, 5):
        types.append(et.create_event_type(host, et.EventTypeInput(name=f"Meeting {n}", duration=15 * n)))
    rng = random.Random(5)
    now = datetime.now(UTC)
    batch = []
    for n in range(views):
        at = now - timedelta(seconds=rng.uniform(0, 400 * 86400))
        page = None if n % 3 == 0 else rng.choice(types).id
        batch.append({"user": host.id, "event_type_id": page, "viewed_at": at, "day": at.date(),
                      "visitor": f"{rng.randrange(views // 3):016x}", "referrer": rng.choice(REFERRERS),
                      "embed": n % 10 == 0})
        if len(batch) == 10_000:
            with db.atomic():
                PageView.insert_many(batch).execute()
            batch.clear()
    if batch:
        with db.atomic():
            PageView.insert_many(batch).execute()
    page_views.rebuild_rollups(host.id)
    rows = []
    for n in range(bookings):
        created = now - timedelta(seconds=rng.uniform(0, 400 * 86400))
        start = created + timedelta(days=rng.randint(1, 30), minutes=30 * n % 600)
        event_type = rng.choice(types)
        rows.append({"id": new_id(), "user": host.id, "event_type": event_type.id, "uid": new_token(),
                     "status": "CANCELLED" if n % 9 == 0 else "CONFIRMED", "start_at": start,
                     "end_at": start + timedelta(minutes=event_type.duration), "buffer_before": 0, "buffer_after": 0,
                     "event_name": event_type.name, "invitee_name": "Seed", "invitee_email": f"s{n}@example.com",
                     "invitee_timezone": "UTC", "answers": {}, "location_type": "none", "location": "",
                     "sequence": 0, "source": rng.choice(["page", "page", "embed", "api"]), "created_at": created,
                     "updated_at": created})
        if len(rows) == 2000:
            with db.atomic():
                Booking.insert_many(rows).execute()
            rows.clear()
    if rows:
        with db.atomic():
            Booking.insert_many(rows).execute()
    if audit_entries:
        import audit_log
        audit_log.add_entries(host.id, audit_entries, rng)
    db.execute_sql("ANALYZE")
    return types[0].slug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=1_000_000)
    parser.add_argument("--bookings", type=int, default=20_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="linktime-bench-analytics-")
    os.environ.update({"INSTANCE_DIR": folder, "HUEY_IMMEDIATE": "1", "LOG_LEVEL": "WARNING",
                       "DATABASE_URL": args.database_url or f"sqlite:///{folder}/bench.db"})
    from app import create_app
    from app.db import db, upgrade

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context(), db.connection_context():
        upgrade()
        started = time.perf_counter()
        slug = seed(args.views, args.bookings, args.audit)
        print(f"seeded {args.views} page views, {args.bookings} bookings, {args.audit} audit entries in "
              f"{time.perf_counter() - started:.0f} s")
    client = app.test_client()
    login = {"email": "bench@example.com", "password": "seeded host secret"}
    assert client.post("/login", data=login).status_code == 302
    htmx = {"HX-Request": "true"}
    cases = [(f"GET /api/analytics/page-views?preset={p}", f"/api/analytics/page-views?preset={p}", {})
             for p in ("7d", "30d", "90d", "year")]
    cases += [(f"GET /api/analytics/page-views/{slug}?preset=year", f"/api/analytics/page-views/{slug}?preset=year",
               {})]
    cases += [(f"analytics page, Page Views tab, {p}", f"/dashboard/analytics?tab=page-views&preset={p}", {})
              for p in ("30d", "year")]
    cases += [("analytics page, Page Views tab, year (htmx)", "/dashboard/analytics?tab=page-views&preset=year", htmx),
              ("analytics page, Bookings tab, year", "/dashboard/analytics?tab=bookings&preset=year", {}),
              ("event type edit page (performance card)", None, {}),
              ("audit log page", "/settings/audit-log", {}),
              ("audit log page, category=bookings (htmx)", "/settings/audit-log?category=bookings", htmx)]
    with app.app_context(), db.connection_context():
        from app.models import EventType
        first = EventType.get(EventType.slug == slug)
    print(f"{'case':56} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, url, headers in cases:
        url = url or f"/dashboard/event-types/{first.id}/edit"
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            assert client.get(url, headers=headers).status_code == 200
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        print(f"{label:56} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}")
    # What recording adds to a public page request: classify the view and buffer it (flushes run elsewhere).
    from app.services.insights import page_views
    from app.web.analytics import track_view
    quiet = page_views.Recorder(interval=3600)
    quiet.close()
    page_views.recorder, saved = quiet, page_views.recorder
    with app.test_request_context(f"/bench/{slug}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Chrome/140",
                                                              "Referer": "https://www.google.com/"}):
        from flask import g
        g.user, g.client_ip = None, "198.51.100.9"
        began = time.perf_counter()
        for _ in range(20_000):
            track_view(first.user_id, first.id)
        per_view = (time.perf_counter() - began) / 20_000
    page_views.recorder = saved
    print(f"recording one page view (track_view): {per_view * 1e6:.1f} µs")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
