"""Team slots end to end: ``GET /team/<slug>/<event>/slots?date=...`` through Flask's test client (issue 15).

    .venv/bin/python bench/team_slots_http.py --runs 200
    .venv/bin/python bench/team_slots_http.py --runs 200 --profile rr     # cProfile of the round-robin requests

Builds a temporary SQLite database with the app's migrations and seeds, through the services, 50 members of one
team (each with hours 08:00-20:00 Berlin every day and 200 bookings of 30 minutes on distinct half hours of the
next 30 days, inserted directly) and two team event types of 30 minutes:
(a) ``rr``: round-robin hosted by all 50 members; (b) ``collective``: collective hosted by the first 10.
Each timed request asks for the slots of one day of those 30 (cycling through them), as the booking page's htmx
does; every answer must be 200. Prints p50/p95/max in milliseconds per case and the targets
(a) p95 <= 100 ms, (b) p95 <= 50 ms; ``--check`` exits 1 when a target is missed; ``--clock cpu`` times this
process's CPU time instead of wall time (steadier on a busy machine; the app runs in this process). Team pages
are not in the page cache, so every request computes the slots afresh (database, busy sources, team engine).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.team_slots import percentile  # noqa: E402  (nearest rank)

MEMBERS = 50
COLLECTIVE_HOSTS = 10
BUSY_PER_MEMBER = 200
DAYS = 30
BERLIN = ZoneInfo("Europe/Berlin")
TARGETS = {"rr": 100.0, "collective": 50.0}


def seed(app) -> list[str]:
    """The team, its two event types and the members' bookings; returns the 30 dates (ISO) the requests ask for."""
    from app.db import db, upgrade
    from app.ids import new_id, new_token
    from app.models import Booking, EventType, Membership, Schedule
    from app.services.account import accounts, organizations, team_event_types
    from app.services.scheduling import event_types as et

    with app.app_context(), db.connection_context():
        upgrade()
        people = []
        for n in range(MEMBERS):
            people.append(accounts.signup(accounts.SignupData(
                name=f"Member {n}", email=f"m{n}@example.com", username=f"member{n}",
                password="bench member secret", timezone="Europe/Berlin"), default_plan="PRO"))
        Schedule.update(weekly={str(d): [["08:00", "20:00"]] for d in range(7)}).execute()
        owner = people[0]
        org = organizations.create_organization(owner, name="Bench", slug="bench")
        Membership.insert_many([{"id": new_id(), "organization": org.id, "user": p.id, "role": "MEMBER"}
                                for p in people[1:]]).execute()
        team = organizations.create_team(owner, org.id, name="Sales", slug="sales")
        for person in people:
            organizations.add_team_member(owner, team.id, person.id)
        for slug, kind, hosts in (("rr", "round_robin", people), ("collective", "collective",
                                                                  people[:COLLECTIVE_HOSTS])):
            team_event_types.create_team_event_type(
                owner, team.id, et.EventTypeInput(name=slug.title(), slug=slug, duration=30),
                scheduling_type=kind, hosts=[team_event_types.HostInput(p.id) for p in hosts])
        # BUSY_PER_MEMBER bookings of 30 minutes per member on distinct half hours 08:00-20:00 Berlin, next 30 days
        today = datetime.now(BERLIN).date()
        days = [today + timedelta(days=d) for d in range(1, DAYS + 1)]
        cells = [datetime.combine(day, datetime.min.time(), BERLIN).replace(hour=8 + h // 2, minute=30 * (h % 2))
                 .astimezone(UTC) for day in days for h in range(24)]
        rng = random.Random(15)
        rows = []
        for person in people:
            own = EventType.get((EventType.user == person) & (EventType.slug == "30-min"))
            for start in rng.sample(cells, BUSY_PER_MEMBER):
                rows.append({"id": new_id(), "user": person.id, "event_type": own.id, "uid": new_token(),
                             "status": "CONFIRMED", "start_at": start, "end_at": start + timedelta(minutes=30),
                             "buffer_before": 0, "buffer_after": 0, "event_name": own.name,
                             "invitee_name": "Seed", "invitee_email": f"seed{len(rows)}@example.com",
                             "invitee_timezone": "UTC", "answers": {}, "location_type": "none", "location": "",
                             "sequence": 0, "source": "page", "created_at": start, "updated_at": start})
        with db.atomic():
            for i in range(0, len(rows), 200):
                Booking.insert_many(rows[i:i + 200]).execute()
        return [day.isoformat() for day in days]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(client, slug: str, days: list[str], runs: int, profiler: cProfile.Profile | None = None,
            timer=time.perf_counter):
    """Milliseconds of ``runs`` slots requests (cycling through ``days``) and the slots offered over all days."""
    def url(day: str) -> str:
        return f"/team/sales/{slug}/slots?tz=Europe/Berlin&hour=24&date={day}"
    for day in days[:3]:                                  # warm-up: templates, statement caches
        assert client.get(url(day), headers={"HX-Request": "true"}).status_code == 200
    timings = []
    for n in range(runs):
        day = days[n % len(days)]
        if profiler:
            profiler.enable()
        started = timer()
        response = client.get(url(day), headers={"HX-Request": "true"})
        timings.append((timer() - started) * 1000)
        if profiler:
            profiler.disable()
        assert response.status_code == 200, (url(day), response.status_code)
    offered = sum(client.get(url(day), headers={"HX-Request": "true"}).get_data(as_text=True).count('class="slot"')
                  for day in days)
    return timings, offered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="timed requests per case")
    parser.add_argument("--profile", choices=("rr", "collective"), help="print a cProfile of that case's requests")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="what is timed: wall time (default) or this process's CPU time (steadier when busy)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="linktime-bench-team-"))
    os.environ.update({"INSTANCE_DIR": str(tmp), "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
                       "HUEY_URL": f"sqlite:///{tmp / 'queue.db'}", "HUEY_IMMEDIATE": "1",
                       "LINKTIME_ENV": "development", "LOG_LEVEL": "WARNING", "RATELIMIT_STORAGE_URL": "memory://"})
    from app import create_app

    app = create_app()
    started = time.perf_counter()
    days = seed(app)
    print(f"seeded {MEMBERS} members x {BUSY_PER_MEMBER} bookings over {DAYS} days in "
          f"{time.perf_counter() - started:.1f} s ({tmp})")
    client = app.test_client()
    missed = False
    for slug, hosts in (("rr", MEMBERS), ("collective", COLLECTIVE_HOSTS)):
        profiler = cProfile.Profile() if args.profile == slug else None
        timings, offered = measure(client, slug, days, args.runs, profiler, CLOCKS[args.clock])
        p50, p95 = statistics.median(timings), percentile(timings, 0.95)
        ok = p95 <= TARGETS[slug]
        missed |= not ok
        print(f"{slug:<10} hosts={hosts:<3} runs={len(timings)} p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
              f"max {max(timings):.1f} ms  (target p95 <= {TARGETS[slug]:.0f} ms: {'ok' if ok else 'MISSED'}; "
              f"{offered} slots over the {DAYS} days; {args.clock} clock)")
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"/app/", 40)     # the app's own functions
            stats.sort_stats("tottime").print_stats(15)                   # where the CPU goes
            print(out.getvalue())
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
