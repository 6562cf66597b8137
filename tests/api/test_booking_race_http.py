"""No double bookings through HTTP: 50 simultaneous POST /api/bookings for one slot, served by waitress with
16 threads (as `make run` serves), give exactly one 201 and 49 clear 409 answers, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from app.models import Booking, EventType
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


def race(base: str, bodies: list[dict]) -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies), timeout=30)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def post(body):
        with requests.Session() as session:
            barrier.wait()
            response = session.post(f"{base}/api/bookings", json=body, timeout=60)
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
