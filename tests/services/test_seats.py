"""Seats (issue 23): a seated event type's slot stays offered until its seats are taken, each invitee a booking of
their own; other event types of the host see the slot as busy; cancelling or moving a seat frees it."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, EventType, OutboxMessage
from app.services.booking import bookings as svc
from app.services.booking import seats
from app.services.errors import ValidationFailed
from app.services.scheduling import event_types as et
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.races import race

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)     # Monday 08:00 New York
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)    # Tuesday 10:00 New York
DAY = (datetime(2026, 6, 2, 4, 0, tzinfo=UTC), datetime(2026, 6, 3, 4, 0, tzinfo=UTC))


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def seated(host):
    """A 60-minute class with 3 seats, start times every 30 minutes (so its slots overlap)."""
    return factories.new_event_type(host, name="Yoga class", duration=60, slot_interval=30, seats=3,
                                    seats_show_remaining=True)


def request(n=1, start=SLOT, **kw):
    data = {"invitee_name": f"Guest {n}", "invitee_email": f"guest{n}@example.com", "invitee_timezone": "UTC"}
    data.update(kw)
    return svc.BookingRequest(start=start, **data)


def offered(event_type, **kw):
    return available_slots(EventType.get_by_id(event_type.id), *DAY, now=NOW, **kw)


def test_each_invitee_books_their_own_seat_until_the_slot_is_full(seated):
    made = [svc.create_booking(seated, request(n), now=NOW).booking for n in (1, 2)]
    assert SLOT in offered(seated)
    assert seats.seats_left(seated, [SLOT]) == {SLOT: 1}
    made.append(svc.create_booking(seated, request(3), now=NOW).booking)
    assert len({b.uid for b in made}) == 3 and all(b.seated and b.status == "CONFIRMED" for b in made)
    assert SLOT not in offered(seated)
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(seated, request(4), now=NOW)
    assert Booking.select().count() == 3


def test_the_overlapping_starts_of_the_same_class_are_not_offered_while_seats_are_free(seated):
    before = offered(seated)
    assert {SLOT - timedelta(minutes=30), SLOT, SLOT + timedelta(minutes=30), SLOT + timedelta(hours=1)} <= set(before)
    svc.create_booking(seated, request(1), now=NOW)
    after = offered(seated)
    assert SLOT in after
    assert SLOT - timedelta(minutes=30) not in after and SLOT + timedelta(minutes=30) not in after
    assert SLOT + timedelta(hours=1) in after and SLOT - timedelta(hours=1) in after     # touching is fine


def test_buffers_of_a_class_keep_the_neighbouring_starts_away(host):
    seated = factories.new_event_type(host, name="Webinar", duration=60, seats=5, buffer_after=15)
    svc.create_booking(seated, request(1), now=NOW)
    after = offered(seated)
    assert SLOT in after
    assert SLOT + timedelta(hours=1) not in after        # starts inside the 15 minutes after the class


def test_seats_block_the_hosts_other_event_types_from_the_first_one(seated, host):
    other = factories.event_type(host)           # the "30-min" one-to-one event type
    assert SLOT in offered(other)
    svc.create_booking(seated, request(1), now=NOW)
    slots = offered(other)
    assert SLOT not in slots and SLOT + timedelta(minutes=30) not in slots
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(other, request(9), now=NOW)


def test_a_one_to_one_booking_blocks_the_class(seated, host):
    svc.create_booking(factories.event_type(host), request(9), now=NOW)
    assert SLOT not in offered(seated)
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(seated, request(1), now=NOW)


def test_cancelling_a_seat_frees_it(seated):
    made = [svc.create_booking(seated, request(n), now=NOW).booking for n in (1, 2, 3)]
    assert SLOT not in offered(seated)
    svc.cancel_booking(made[1], reason="Ill", by="invitee")
    assert SLOT in offered(seated)
    assert [b.status for b in Booking.select().order_by(Booking.invitee_email)] == ["CONFIRMED", "CANCELLED",
                                                                                   "CONFIRMED"]
    assert svc.create_booking(seated, request(4), now=NOW).created


def test_the_same_email_cannot_take_two_seats(seated):
    first = svc.create_booking(seated, request(1), now=NOW)
    again = svc.create_booking(seated, request(1), now=NOW)           # the same request: the same seat
    assert not again.created and again.booking.id == first.booking.id
    with pytest.raises(seats.SeatTaken):                              # the same email with other details
        svc.create_booking(seated, request(1, invitee_name="Someone Else"), now=NOW)
    assert Booking.select().count() == 1


def test_rescheduling_a_seat_moves_only_that_attendee_to_a_slot_with_free_seats(seated):
    later = SLOT + timedelta(hours=2)
    here = [svc.create_booking(seated, request(n), now=NOW).booking for n in (1, 2)]
    full = [svc.create_booking(seated, request(n, start=later), now=NOW).booking for n in (3, 4, 5)]
    with pytest.raises(svc.SlotUnavailable):                          # the later class is full
        svc.reschedule_booking(here[0], later, reason=None, by="invitee", now=NOW)
    svc.cancel_booking(full[0], reason=None, by="host")
    moved = svc.reschedule_booking(here[0], later, reason=None, by="invitee", now=NOW)
    assert moved.start_at == later
    assert Booking.get_by_id(here[1].id).start_at == SLOT
    assert seats.taken_at(seated.id, seated.user_id, [SLOT, later]) == {SLOT: 1, later: 3}
    svc.create_booking(seated, request(6, start=SLOT + timedelta(hours=4)), now=NOW)
    with pytest.raises(svc.SlotUnavailable):                          # overlapping another class with free seats
        svc.reschedule_booking(here[1], SLOT + timedelta(hours=4, minutes=30), reason=None, by="invitee", now=NOW)
    assert svc.reschedule_booking(here[1], SLOT + timedelta(minutes=30), reason=None, by="host",
                                  now=NOW).start_at == SLOT + timedelta(minutes=30)   # its own class was empty


def test_a_seat_cannot_move_where_its_email_has_a_seat(seated):
    later = SLOT + timedelta(hours=2)
    first = svc.create_booking(seated, request(1), now=NOW).booking
    svc.create_booking(seated, request(1, start=later, invitee_name="Guest One"), now=NOW)
    with pytest.raises(seats.SeatTaken):
        svc.reschedule_booking(first, later, reason=None, by="invitee", now=NOW)


def test_booking_created_webhooks_carry_the_seat(seated):
    for n in (1, 2):
        svc.create_booking(seated, request(n), now=NOW)
    payloads = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "event")
                .order_by(OutboxMessage.id)]
    created = [p for p in payloads if '"booking.created"' in json.dumps(p)]
    seats_seen = [_find(p, "seat") for p in created]
    assert {"seatsTotal": 3, "seatsTaken": 1} in seats_seen and {"seatsTotal": 3, "seatsTaken": 2} in seats_seen


def _find(value, key):
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = _find(item, key)
            if found is not None:
                return found
    return None


def test_a_one_to_one_booking_has_no_seat_in_its_payload(host):
    booking = svc.create_booking(factories.event_type(host), request(1), now=NOW).booking
    assert "seat" not in svc.booking_payload(booking, host, booking.event_type)


@pytest.mark.parametrize("fields, message", [
    ({"seats": 1}, "between 2 and 1000"),
    ({"seats": 1001}, "between 2 and 1000"),
    ({"seats": "many"}, "whole number"),
    ({"seats": 4, "recurrence": {"frequency": "weekly", "interval": 1, "maxOccurrences": 4}}, "cannot repeat"),
    ({"seats": 4, "extra_durations": [30]}, "one length"),
    ({"seats": 4, "max_per_day": 2}, "daily maximum"),
])
def test_seat_rules_are_explained(host, fields, message):
    with pytest.raises(ValidationFailed) as exc:
        factories.new_event_type(host, name="Class", **fields)
    assert message in exc.value.errors["seats"]


def test_empty_or_zero_seats_is_a_one_to_one_event_type(host):
    made = factories.new_event_type(host, name="Class", seats=5)
    assert et.update_event_type(made, et.EventTypeInput(seats="0")).seats is None
    assert et.update_event_type(made, et.EventTypeInput(seats="")).seats is None


def test_seats_are_copied_with_the_event_type(seated):
    copy = et.duplicate_event_type(seated)
    assert (copy.seats, copy.seats_show_remaining) == (3, True)


def test_attendees_see_only_the_host_and_themselves(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    from app.db import db
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        seated = factories.new_event_type(host, name="Class", duration=60, seats=4)
        svc.create_booking(seated, request(1), now=NOW)
        smtp_server.wait_for(2)
        svc.create_booking(seated, request(2), now=NOW)
        mails = smtp_server.wait_for(4)[2:4]
    mine = next(m for m in mails if m["To"] == "guest2@example.com")
    texts = [part.get_content() for part in mine.walk() if part.get_content_maintype() != "multipart"]
    texts = [t.decode() if isinstance(t, bytes) else t for t in texts]
    ics = next(t for t in texts if "BEGIN:VCALENDAR" in t)
    assert "guest2@example.com" in ics.replace("\r\n ", "") and "hana@example.com" in ics.replace("\r\n ", "")
    assert not any("guest1@example.com" in t or "Guest 1" in t for t in texts)


def _race(app, event_type_id, count=50):
    """``count`` create_booking calls for one slot at once, each on its own thread and connection."""
    return race(app, count, lambda n: svc.create_booking(EventType.get_by_id(event_type_id), request(n), now=NOW),
                {svc.SlotUnavailable: "conflict"})


def test_fifty_racing_bookings_never_exceed_the_seats(app, make_user):
    from app.db import db
    host = make_user("rhea", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        seated = factories.new_event_type(host, name="Class", duration=60, seats=7)
    outcomes = _race(app, seated.id)
    assert outcomes.count("created") == 7, outcomes
    assert outcomes.count("conflict") == 43, outcomes
    with app.app_context(), db.connection_context():
        assert Booking.select().where((Booking.status == "CONFIRMED") & (Booking.start_at == SLOT)).count() == 7
