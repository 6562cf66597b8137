"""No double bookings through HTTP: 50 simultaneous POST /api/bookings for one slot, served by waitress with
16 threads (as `make run` serves), give exactly one 201 and 49 clear 409 answers, on SQLite and PostgreSQL; and
for a round-robin team event type of three members, 50 posts on two overlapping starts give three 201 (one per
member) and 47 409 answers, no member double-booked (tests/integration/test_team_race.py: two processes)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import requests

from app.models import Booking, BookingHost, EventType
from app.services.scheduling import event_types as et

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def server(app_factory):
    from waitress import wasyncore
    from waitress.server import create_server

    app = app_factory(RATELIMIT_PUBLIC_BOOKING="1000/minute")
    httpd = create_server(app, host="127.0.0.1", port=0, threads=16, ident="LinkTime-test")
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{httpd.effective_port}"
    finally:
        wasyncore.close_all(httpd._map)
        httpd.task_dispatcher.shutdown()
        thread.join(timeout=10)


def next_week_10am() -> datetime:
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)  # Tuesday of next week
    return datetime.combine(day, time(10), BERLIN).astimezone(UTC)


def race(base: str, bodies: list[dict], path: str = "/api/bookings") -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies), timeout=30)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def post(body):
        with requests.Session() as session:
            barrier.wait()
            response = session.post(f"{base}{path}", json=body, timeout=60)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return answers


def body(event_type_id: str, start: datetime, n: int) -> dict:
    return {"eventTypeId": event_type_id, "inviteeName": f"Guest {n}", "inviteeEmail": f"guest{n}@example.com",
            "inviteeTimezone": "Europe/Berlin", "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_fifty_posts_for_one_slot_make_one_booking_and_49_conflicts(server, make_user):
    app, base = server
    host = make_user("hana", timezone="Europe/Berlin")
    with app.app_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    start = next_week_10am()
    answers = race(base, [body(event_type.id, start, n) for n in range(50)])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 49
    assert all(r.json()["error"] for r in answers if r.status_code == 409)
    with app.app_context():
        assert Booking.select().where(Booking.user == host).count() == 1


def test_two_overlapping_event_types_of_one_host_cannot_both_be_booked_over_http(server, make_user):
    app, base = server
    host = make_user("hana", timezone="Europe/Berlin")
    with app.app_context():
        short = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        long = et.create_event_type(host, et.EventTypeInput(name="Long talk", slug="long", duration=60))
    start = next_week_10am()
    answers = race(base, [body(short.id if n % 2 else long.id, start + timedelta(minutes=30 * (n % 2)), n)
                          for n in range(50)])
    assert sorted(r.status_code for r in answers) == [201] + [409] * 49
    with app.app_context():
        assert Booking.select().where(Booking.user == host).count() == 1


def overlapping_spans(rows) -> list[str]:
    """Hosts with two confirmed bookings that overlap, from (host id, start, end) rows (BookingHost rows)."""
    spans: dict[str, list] = {}
    for host_id, start, end in rows:
        spans.setdefault(host_id, []).append((start, end))
    return [host for host, intervals in spans.items()
            if any(a_end > b_start for (_, a_end), (b_start, _) in pairwise(sorted(intervals)))]


def assert_team_race(answers: list[requests.Response], members: int) -> None:
    """``members`` answers 201, every other one a 409 with the JSON error shape."""
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * members + [409] * (len(answers) - members), statuses
    for answer in answers:
        assert answer.headers["Content-Type"].startswith("application/json")
        if answer.status_code == 409:
            assert set(answer.json()) <= {"error", "conflicts"} and answer.json()["error"]
        else:
            assert answer.json()["booking"]["schedulingType"] == "ROUND_ROBIN"


def test_fifty_posts_on_overlapping_starts_of_a_round_robin_team_book_each_member_once(server, make_user):
    from tests import factories

    app, base = server
    owner, *members = (make_user(name, timezone="Europe/Berlin") for name in ("olga", "adam", "mia", "otto"))
    with app.app_context():
        team = factories.team(owner, members)
        rr = factories.team_event_type(owner, team, members, name="Rush", slot_interval=15)
    start = next_week_10am()
    starts = [start, start + timedelta(minutes=15)]       # 30-minute meetings: the two starts overlap
    answers = race(base, [body(rr.id, starts[n % 2], n) for n in range(50)])
    assert_team_race(answers, 3)
    with app.app_context():
        rows = list(BookingHost.select(BookingHost.user, Booking.start_at, Booking.end_at).join(Booking)
                    .where((Booking.event_type == rr.id) & (Booking.status == "CONFIRMED")).tuples())
        assert sorted(host for host, _, _ in rows) == sorted(m.id for m in members)   # one booking each
        assert overlapping_spans(rows) == []
