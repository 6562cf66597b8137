"""Out-of-office (issue 23, point 8) through the services: the slot engine offers nothing on a host's days away (every
event type, whole days in the entry's zone, daylight-saving changes and other zones included), entries never
overlap, only teammates can be redirected to, another user's entry is not found, and round robin passes over a
member who is away."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.models import EventType, OutOfOffice, Schedule, TeamMember
from app.services.booking import bookings as svc
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import out_of_office as ooo
from app.services.scheduling import schedules
from app.services.scheduling.slots import available_slots
from app.timezones import zone
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)          # a Monday
TODAY = date(2026, 6, 1)
ALL_DAY = {str(d): [["00:00", "24:00"]] for d in range(7)}


@pytest.fixture
def hana(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


def add(user, first, last, **fields):
    return ooo.add_entry(user, ooo.EntryInput(first, last, **fields), today=TODAY)


def whole_days(user) -> None:
    schedule = Schedule.get((Schedule.user == user.id) & (Schedule.is_default == True))  # noqa: E712
    schedules.update_schedule(schedule, weekly=ALL_DAY)


def slots(event_type, start, end, now=NOW):
    return available_slots(EventType.get_by_id(event_type.id), start, end, now=now)


def local_days(found, tz):
    return sorted({s.astimezone(zone(tz)).date() for s in found})


def test_days_away_offer_nothing_on_every_event_type_and_cannot_be_booked(hana):
    coaching = factories.new_event_type(hana, name="Coaching", duration=60)
    week = (datetime(2026, 6, 2, 0, 0, tzinfo=UTC), datetime(2026, 6, 6, 0, 0, tzinfo=UTC))   # Tue to Fri
    for event_type in (factories.event_type(hana), coaching):
        assert local_days(slots(event_type, *week), "Europe/Berlin") == [date(2026, 6, d) for d in (2, 3, 4, 5)]
    add(hana, "2026-06-03", "2026-06-04", reason="travel")
    for event_type in (factories.event_type(hana), coaching):
        assert local_days(slots(event_type, *week), "Europe/Berlin") == [date(2026, 6, 2), date(2026, 6, 5)]
    wednesday = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)           # 10:00 in Berlin, within the hours
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(factories.event_type(hana), factories.booking_request(wednesday), now=NOW)
    # deleting the entry gives the days back
    ooo.delete_entry(hana, OutOfOffice.get().id)
    assert local_days(slots(coaching, *week), "Europe/Berlin") == [date(2026, 6, d) for d in (2, 3, 4, 5)]


def test_an_entry_covers_whole_local_days_across_a_daylight_saving_change(hana):
    whole_days(hana)
    entry = add(hana, "2026-10-24", "2026-10-25")              # Berlin leaves summer time on Sunday 25 October
    start, end = ooo.interval(entry)
    assert start == datetime(2026, 10, 23, 22, 0, tzinfo=UTC)     # midnight CEST
    assert end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)       # midnight CET after the last day: 49 hours
    found = slots(factories.event_type(hana), datetime(2026, 10, 23, 0, 0, tzinfo=UTC),
                  datetime(2026, 10, 26, 23, 0, tzinfo=UTC), now=datetime(2026, 10, 1, tzinfo=UTC))
    assert local_days(found, "Europe/Berlin") == [date(2026, 10, 23), date(2026, 10, 26)]
    assert max(s for s in found if s < start) == start - timedelta(minutes=30)     # the last slot before it
    assert min(s for s in found if s >= end) == end                               # the first one after it
    spring = add(hana, "2027-03-28", "2027-03-28")             # a 23-hour day
    assert ooo.interval(spring) == (datetime(2027, 3, 27, 23, 0, tzinfo=UTC), datetime(2027, 3, 28, 22, 0, tzinfo=UTC))


def test_days_are_the_hosts_own_whatever_zone_the_invitee_reads_them_in(make_user, db_conn):
    nora = make_user("nora", timezone="America/New_York")
    whole_days(nora)
    add(nora, "2026-06-03", "2026-06-03")
    found = slots(factories.event_type(nora), datetime(2026, 6, 2, 0, 0, tzinfo=UTC),
                  datetime(2026, 6, 5, 0, 0, tzinfo=UTC))
    assert date(2026, 6, 3) not in local_days(found, "America/New_York")
    # New York's Wednesday runs 04:00 UTC Wednesday to 04:00 UTC Thursday: free right up to it and from it
    assert datetime(2026, 6, 3, 3, 30, tzinfo=UTC) in found
    wednesday = (datetime(2026, 6, 3, 4, 0, tzinfo=UTC), datetime(2026, 6, 4, 4, 0, tzinfo=UTC))
    assert not [s for s in found if wednesday[0] <= s < wednesday[1]]
    assert datetime(2026, 6, 4, 4, 0, tzinfo=UTC) in found
    # an invitee in Tokyo sees part of their Wednesday (New York's Tuesday evening) still bookable
    assert date(2026, 6, 3) in local_days(found, "Asia/Tokyo")


def test_overlapping_entries_are_refused_and_adjacent_ones_are_not(hana, make_user):
    add(hana, "2026-06-10", "2026-06-12")
    for first, last in (("2026-06-12", "2026-06-14"), ("2026-06-08", "2026-06-10"), ("2026-06-11", "2026-06-11"),
                        ("2026-06-01", "2026-06-30")):
        with pytest.raises(ValidationFailed) as caught:
            add(hana, first, last)
        assert "overlap" in caught.value.errors["start_date"]
    add(hana, "2026-06-13", "2026-06-14")                       # the day after: fine
    add(hana, "2026-06-09", "2026-06-09")                       # the day before: fine
    other = make_user("otto")
    add(other, "2026-06-10", "2026-06-12")                      # another host's days are theirs
    assert OutOfOffice.select().where(OutOfOffice.user == hana.id).count() == 3


@pytest.mark.parametrize("first, last, reason, note, field", [
    ("2026-06-10", "2026-06-09", "vacation", "", "end_date"),
    ("2026-05-01", "2026-05-31", "vacation", "", "end_date"),     # over already
    ("nope", "2026-06-09", "vacation", "", "start_date"),
    ("2026-06-10", "", "vacation", "", "end_date"),
    ("2026-06-10", "2027-06-11", "vacation", "", "end_date"),     # more than a year
    ("2026-06-10", "2026-06-11", "party", "", "reason"),
    ("2026-06-10", "2026-06-11", "other", "x" * 501, "note"),
])
def test_bad_entries_are_refused_with_the_field_named(hana, first, last, reason, note, field):
    with pytest.raises(ValidationFailed) as caught:
        add(hana, first, last, reason=reason, note=note)
    assert field in caught.value.errors
    assert OutOfOffice.select().count() == 0


def test_only_a_teammate_can_be_redirected_to_and_another_users_entry_is_not_found(hana, make_user):
    mate, stranger = make_user("mate"), make_user("stranger")
    factories.team(hana, [mate])
    assert [u.id for u in ooo.teammates(hana)] == [mate.id]
    assert ooo.teammates(stranger) == []
    with pytest.raises(ValidationFailed) as caught:
        add(hana, "2026-06-10", "2026-06-11", redirect_to=stranger.id)
    assert "redirect_to" in caught.value.errors
    with pytest.raises(ValidationFailed):
        add(hana, "2026-06-10", "2026-06-11", redirect_to=hana.id)
    entry = add(hana, "2026-06-10", "2026-06-11", redirect_to=mate.id)
    assert entry.redirect_to_id == mate.id
    with pytest.raises(NotFound):
        ooo.get_entry(stranger, entry.id)
    with pytest.raises(NotFound):
        ooo.delete_entry(stranger, entry.id)
    with pytest.raises(NotFound):
        ooo.get_entry(hana, entry.id + "x")                  # an id is matched whole
    assert OutOfOffice.select().count() == 1


def test_the_booking_page_reads_adjacent_entries_as_one_stretch(hana, make_user):
    mate = make_user("mate", name="Mate Marsh")
    factories.team(hana, [mate])
    add(hana, "2026-06-10", "2026-06-12", reason="vacation", note="Hiking", redirect_to=mate.id)
    add(hana, "2026-06-13", "2026-06-14", reason="sick")
    add(hana, "2026-06-20", "2026-06-20", reason="holiday", show_reason=False)
    june = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    first, second = ooo.away_between(hana, *june)
    assert (first.until, first.reason, first.note, first.redirect.id) == (date(2026, 6, 14), "Vacation", "Hiking",
                                                                           mate.id)
    assert first.start == datetime(2026, 6, 9, 22, 0, tzinfo=UTC) and first.end == datetime(2026, 6, 14, 22, 0,
                                                                                            tzinfo=UTC)
    assert (second.until, second.reason, second.redirect) == (date(2026, 6, 20), None, None)
    assert ooo.away_between(hana, datetime(2026, 6, 15, tzinfo=UTC), datetime(2026, 6, 19, tzinfo=UTC)) == []
    TeamMember.delete().where(TeamMember.user == mate.id).execute()     # Mate left the team: no redirect any more
    assert ooo.away_between(hana, *june)[0].redirect is None


# --- teams ---------------------------------------------------------------------------------------------------
SLOT = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)          # Tuesday 14:00 in Berlin
TUESDAY = (datetime(2026, 6, 2, 7, 0, tzinfo=UTC), datetime(2026, 6, 2, 15, 0, tzinfo=UTC))


@pytest.fixture
def crew(make_user, db_conn):
    people = [make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia")]
    return people, factories.team(people[0], people[1:])


def book(event_type, start, n=0):
    return svc.create_booking(EventType.get_by_id(event_type.id),
                              factories.booking_request(start, email=f"guest{n}@example.com", name=f"Guest {n}"),
                              now=NOW).booking


def test_round_robin_never_assigns_a_member_who_is_away(crew):
    (olga, adam, mia), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    first = book(rr, SLOT - timedelta(hours=3))
    loser = first.user_id                                        # the rule would pick the other one next
    favourite, present = (mia, adam) if loser == adam.id else (adam, mia)
    add(favourite, "2026-06-02", "2026-06-02")
    assert SLOT in slots(rr, *TUESDAY)                           # the other member still offers it
    for n in range(1, 4):                                        # every booking of the day goes to the one present
        booking = book(rr, SLOT + timedelta(minutes=30 * (n - 1)), n)
        assert booking.user_id == loser and "only round-robin member free" in booking.assignment_reason
    add(present, "2026-06-02", "2026-06-02")
    assert slots(rr, *TUESDAY) == []                             # nobody is in


def test_a_fixed_or_collective_host_away_takes_the_day_off_the_team(crew):
    (olga, adam, mia), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], fixed=[adam], name="Fixed")
    panel = factories.team_event_type(olga, team, [olga, adam, mia], kind="collective", name="Panel")
    assert SLOT in slots(rr, *TUESDAY) and SLOT in slots(panel, *TUESDAY)
    add(adam, "2026-06-02", "2026-06-03")
    assert slots(rr, *TUESDAY) == [] and slots(panel, *TUESDAY) == []
    wednesday = (TUESDAY[0] + timedelta(days=1), TUESDAY[1] + timedelta(days=1))
    thursday = (TUESDAY[0] + timedelta(days=2), TUESDAY[1] + timedelta(days=2))
    assert slots(panel, *wednesday) == [] and slots(panel, *thursday)
    with pytest.raises(svc.SlotUnavailable):
        book(panel, SLOT)


def test_one_query_reads_every_hosts_days_away_for_a_month_of_team_slots(crew, monkeypatch):
    from app.db import db

    (olga, adam, mia), team = crew
    rr = factories.team_event_type(olga, team, [olga, adam, mia], name="Month")
    for n, person in enumerate((olga, adam, mia)):
        add(person, f"2026-06-{10 + n:02d}", f"2026-06-{10 + n:02d}")
        add(person, f"2026-06-{20 + n:02d}", f"2026-06-{21 + n:02d}")
    seen: list[str] = []
    real = db.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        if "out_of_office" in sql:
            seen.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", counting)
    found = slots(rr, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    assert len(seen) == 1
    berlin = local_days(found, "Europe/Berlin")
    assert date(2026, 6, 9) in berlin and date(2026, 6, 10) in berlin       # round robin: the others are in
