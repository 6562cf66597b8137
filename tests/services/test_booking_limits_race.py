"""Booking limits under concurrency (issue 23): 50 simultaneous bookings of different free slots in one week never
exceed a weekly limit, whether it is the event type's own or the host's across event types and team bookings (the
booking service re-checks under the host lock; team bookings lock every host). Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from app.models import Booking, BookingHost, EventType
from app.services.booking import bookings as svc
from app.services.scheduling import booking_limits
from app.timezones import zone
from tests import factories
from tests.races import race

NY = "America/New_York"
NOW = datetime(2030, 3, 29, 12, 0, tzinfo=UTC)
MONDAY = datetime(2030, 4, 1).date()


def _starts(count: int) -> list[datetime]:
    """``count`` distinct half-hour starts inside Monday–Friday 09:00–17:00 New York of one week."""
    out = []
    for n in range(count):
        day = MONDAY + timedelta(days=n % 5)
        local = datetime.combine(day, time(9), zone(NY)) + timedelta(minutes=30 * (n // 5))
        out.append(local.astimezone(UTC))
    return out


def _race(app, targets: list[str], count: int = 50) -> list[str]:
    """``count`` create_booking calls at once, each on its own thread and connection, each for its own slot."""
    starts = _starts(count)

    def book(n: int) -> None:
        request = svc.BookingRequest(start=starts[n], invitee_name=f"Guest {n}", invitee_email=f"guest{n}@example.com",
                                     invitee_timezone=NY)
        svc.create_booking(EventType.get_by_id(targets[n % len(targets)]), request, now=NOW)
    return race(app, count, book, {svc.SlotUnavailable: "conflict"})


def test_fifty_racing_bookings_never_exceed_an_event_types_weekly_limit(app, make_user):
    from app.db import db

    host = make_user("hana", timezone=NY)
    with app.app_context(), db.connection_context():
        event_type = factories.event_type(host)
        EventType.update(max_per_week=3).where(EventType.id == event_type.id).execute()
    outcomes = _race(app, [event_type.id])
    assert outcomes.count("created") == 3, outcomes
    assert outcomes.count("conflict") == 47, outcomes
    with app.app_context(), db.connection_context():
        assert Booking.select().where(Booking.status == "CONFIRMED").count() == 3


def test_fifty_racing_bookings_never_exceed_the_hosts_weekly_limit_across_event_types_and_a_team(app, make_user):
    from app.db import db

    host = make_user("hana", timezone=NY)
    teammate = make_user("tom", timezone=NY)
    with app.app_context(), db.connection_context():
        first = factories.event_type(host)
        second = factories.new_event_type(host, name="Second", duration=30)
        team = factories.team(teammate, [host])
        team_type = factories.team_event_type(teammate, team, [teammate, host], kind="collective")
        booking_limits.save_host_limits(host, {"max_per_week": "5"})
    outcomes = _race(app, [first.id, second.id, team_type.id])
    assert outcomes.count("created") == 5, outcomes
    assert outcomes.count("conflict") == 45, outcomes
    with app.app_context(), db.connection_context():
        own = Booking.select().where((Booking.user == host.id) & (Booking.status == "CONFIRMED")).count()
        attended = (Booking.select().join(BookingHost, on=(BookingHost.booking == Booking.id))
                    .where((BookingHost.user == host.id) & (Booking.user != host.id)).count())
        assert own + attended == 5
