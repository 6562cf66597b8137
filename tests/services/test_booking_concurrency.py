"""No double bookings: many simultaneous requests for one slot produce exactly one booking."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

from app.models import Booking, EventType
from app.services.booking import bookings as svc
from app.services.scheduling import event_types as et

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


def _race(app, targets, count=50):
    """Run ``count`` create_booking calls at once, each on its own thread and connection."""
    from app.db import db

    barrier = threading.Barrier(count, timeout=30)
    outcomes = []
    lock = threading.Lock()

    def attempt(n):
        event_type_id = targets[n % len(targets)]
        request = svc.BookingRequest(start=SLOT, invitee_name=f"Guest {n}", invitee_email=f"guest{n}@example.com",
                                     invitee_timezone="UTC")
        barrier.wait()  # connections are taken after the barrier: the pool may hold fewer than ``count``
        with app.app_context(), db.connection_context():
            event_type = EventType.get_by_id(event_type_id)
            try:
                svc.create_booking(event_type, request, now=NOW)
                result = "created"
            except svc.SlotUnavailable:
                result = "conflict"
            except Exception as exc:
                result = f"error: {exc!r}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_fifty_simultaneous_requests_for_one_slot_make_exactly_one_booking(app, make_user):
    from app.db import db
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    outcomes = _race(app, [event_type.id])
    assert outcomes.count("created") == 1, outcomes
    assert outcomes.count("conflict") == 49, outcomes
    with app.app_context(), db.connection_context():
        assert Booking.select().where(Booking.status == "CONFIRMED").count() == 1


def test_overlapping_event_types_of_one_host_cannot_both_be_booked(app, make_user):
    from app.db import db
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        short = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        long = et.create_event_type(host, et.EventTypeInput(name="Hour", duration=60))
    outcomes = _race(app, [short.id, long.id])
    assert outcomes.count("created") == 1, outcomes
    assert outcomes.count("conflict") == 49, outcomes
    with app.app_context(), db.connection_context():
        assert Booking.select().count() == 1
