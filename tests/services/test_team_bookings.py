"""Team event types through the services (issue 15): their slots from the hosts' own schedules and bookings,
collective and round-robin bookings with their hosts, fair assignment, reschedule keeping or reassigning the host,
and fifty simultaneous bookings that never double-book a member."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, BookingHost, EventType
from app.services.booking import bookings as svc
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.races import race

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)          # a Monday
TUESDAY = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)        # 09:00 in Berlin, the hosts' zone
SLOT = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def crew(make_user, db_conn):
    people = [make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto", "ugo")]
    team = factories.team(people[0], people[1:])
    return people, team


def book(event_type, start, n=0, **extra):
    return svc.create_booking(EventType.get_by_id(event_type.id),
                              factories.booking_request(start, email=f"guest{n}@example.com", name=f"Guest {n}",
                                                        **extra), now=NOW).booking


def hosts_of(booking):
    return sorted(row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id))


def day_slots(event_type):
    return available_slots(EventType.get_by_id(event_type.id), TUESDAY, TUESDAY + timedelta(hours=10), now=NOW)


def test_collective_slots_need_every_host_free_and_the_booking_belongs_to_all(crew):
    (olga, adam, mia, *_), team = crew
    collective = factories.team_event_type(olga, team, [olga, adam, mia], kind="collective", name="Panel")
    assert SLOT in day_slots(collective)
    personal = factories.booking(factories.event_type(adam), SLOT, now=NOW)      # Adam is busy at SLOT
    assert SLOT not in day_slots(collective)
    svc.cancel_booking(personal, reason=None, by="host")
    booking = book(collective, SLOT)
    assert booking.user_id == olga.id                     # filed under the creator, who attends
    assert hosts_of(booking) == sorted([olga.id, adam.id, mia.id])
    # every host is now busy then, for their own event types too
    for person in (olga, adam, mia):
        own = factories.event_type(person)
        assert SLOT not in available_slots(own, SLOT, SLOT + timedelta(minutes=30), now=NOW)
    payload = svc.booking_payload(booking, olga, EventType.get_by_id(collective.id))
    assert [h["email"] for h in payload["hosts"]][0] == "olga@example.com"
    assert {h["email"] for h in payload["hosts"]} == {"olga@example.com", "adam@example.com", "mia@example.com"}
    assert payload["team"]["slug"] == "sales" and payload["schedulingType"] == "COLLECTIVE"


def test_round_robin_offers_a_time_while_one_host_is_free_and_assigns_a_free_one(crew):
    (olga, adam, mia, *_), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    factories.booking(factories.event_type(adam), SLOT, now=NOW)
    assert SLOT in day_slots(rr)
    booking = book(rr, SLOT)
    assert booking.user_id == mia.id and hosts_of(booking) == [mia.id]
    assert "only round-robin member free" in booking.assignment_reason
    assert SLOT not in day_slots(rr)                     # both busy now
    with pytest.raises(svc.SlotUnavailable):
        book(rr, SLOT, n=1)


def test_equal_weights_share_bookings_evenly_and_fixed_hosts_always_attend(crew):
    (olga, adam, mia, otto, ugo), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia, otto, ugo], fixed=[ugo], name="Fair")
    made = [book(rr, TUESDAY + timedelta(minutes=30 * n), n) for n in range(9)]
    chosen = Counter(b.user_id for b in made)
    assert chosen == {adam.id: 3, mia.id: 3, otto.id: 3}
    assert all(ugo.id in hosts_of(b) and len(hosts_of(b)) == 2 for b in made)


def test_reschedule_keeps_the_host_when_free_and_reassigns_otherwise(crew):
    (olga, adam, mia, *_), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], name="Moves")
    booking = book(rr, SLOT)
    first = booking.user_id
    other = mia.id if first == adam.id else adam.id
    kept = svc.reschedule_booking(booking, SLOT + timedelta(hours=1), reason=None, by="invitee", now=NOW)
    assert kept.user_id == first and "kept the current host" in kept.assignment_reason
    factories.booking(factories.event_type(first if first != olga.id else adam), SLOT + timedelta(hours=2), now=NOW)
    moved = svc.reschedule_booking(kept, SLOT + timedelta(hours=2), reason=None, by="invitee", now=NOW)
    assert moved.user_id == other and hosts_of(moved) == [other]
    assert Booking.get_by_id(booking.id).user_id == other


def test_only_managers_make_team_event_types_and_hosts_must_be_team_members(crew, make_user):
    (olga, adam, *_), team = crew
    outsider = make_user("zed")
    with pytest.raises(Forbidden):
        factories.team_event_type(adam, team, [adam])
    with pytest.raises(NotFound):
        factories.team_event_type(outsider, team, [olga])
    with pytest.raises(ValidationFailed) as bad:
        factories.team_event_type(olga, team, [outsider])
    assert "hosts" in bad.value.errors
    factories.team_event_type(olga, team, [olga], slug="30-min")   # the owner's personal 30-min does not collide
    with pytest.raises(ValidationFailed) as taken:
        factories.team_event_type(olga, team, [olga], slug="30-min")
    assert "slug" in taken.value.errors


def test_leaving_the_team_stops_hosting(crew):
    from app.services.account import organizations

    (olga, adam, mia, *_), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], name="Leave")
    organizations.remove_team_member(olga, team.id, adam.id)
    assert [h.user_id for h in EventType.get_by_id(rr.id).hosts] == [mia.id]


def _race(app, event_type_id, starts, count=50):
    def book(n):
        request = factories.booking_request(starts[n % len(starts)], email=f"guest{n}@example.com", name=f"G {n}")
        svc.create_booking(EventType.get_by_id(event_type_id), request, now=NOW)
    return race(app, count, book, {svc.SlotUnavailable: "conflict"})


def test_fifty_simultaneous_round_robin_bookings_never_double_book_a_member(app, crew):
    (olga, adam, mia, otto, _ugo), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia, otto], name="Rush", slot_interval=15)
    starts = [SLOT, SLOT + timedelta(minutes=15)]           # 30-minute meetings: the two starts overlap
    outcomes = _race(app, rr.id, starts)
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    assert outcomes.count("created") == 3 and outcomes.count("conflict") == 47, outcomes
    rows = list(Booking.select().where(Booking.status == "CONFIRMED"))
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for booking in rows:
        for host in hosts_of(booking):
            spans.setdefault(host, []).append((booking.start_at, booking.end_at))
    for host, intervals in spans.items():
        intervals.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(intervals, intervals[1:], strict=False)), host
    assert sorted(spans) == sorted([adam.id, mia.id, otto.id])
