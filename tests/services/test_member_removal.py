"""Removing an organization member who attends upcoming team bookings (issue 15): reassigned to another free
host by the round-robin rule, cancelled with notice when nobody is free, collective meetings going ahead without
them, or every booking cancelled with the reason; and the same rules as removing any member."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, BookingActivity, BookingHost, EventType, Membership, OutboxMessage
from app.services.account import member_removal
from app.services.booking import bookings as svc
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)          # a Monday
SLOT = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)          # Tuesday 14:00 in Berlin, the hosts' zone


@pytest.fixture
def crew(make_user, db_conn):
    people = [make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto")]
    team = factories.team(people[0], people[1:])
    return people, team


def book(event_type, start, n=0):
    return svc.create_booking(EventType.get_by_id(event_type.id),
                              factories.booking_request(start, email=f"guest{n}@example.com", name=f"Guest {n}"),
                              now=NOW).booking


def hosts_of(booking):
    return sorted(row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id))


def events_named(name):
    rows = OutboxMessage.select().where(OutboxMessage.kind == "event")
    return [json.loads(row.payload) for row in rows if json.loads(row.payload)["event"] == name]


def is_member(team, person):
    return Membership.select().where((Membership.organization == team.organization_id)
                                     & (Membership.user == person.id)).exists()


def test_upcoming_team_bookings_are_the_future_confirmed_ones_the_member_attends(crew):
    (olga, adam, mia, _otto), team = crew
    rr = factories.team_event_type(olga, team, [adam], name="Demo")
    later = book(rr, SLOT)
    book(rr, SLOT + timedelta(hours=1), n=1)
    cancelled = book(rr, SLOT + timedelta(hours=2), n=2)
    svc.cancel_booking(cancelled, reason=None, by="host")
    factories.booking(factories.event_type(adam), SLOT - timedelta(hours=2), now=NOW)     # personal: not counted
    found = member_removal.upcoming_team_bookings(team.organization, adam.id, NOW)
    assert [b.start_at for b in found] == [later.start_at, SLOT + timedelta(hours=1)]
    assert member_removal.upcoming_team_bookings(team.organization, adam.id, SLOT + timedelta(minutes=30)) \
        == [found[1]]
    assert member_removal.upcoming_team_bookings(team.organization, mia.id, NOW) == []


def test_reassign_gives_a_round_robin_booking_to_another_free_host_without_a_public_event(crew):
    (olga, adam, mia, otto), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia, otto], name="Demo")
    booking = book(rr, SLOT)
    leaving = booking.user_id
    staying = sorted({adam.id, mia.id, otto.id} - {leaving})
    busy = next(p for p in (adam, mia, otto) if p.id == staying[0])
    factories.booking(factories.event_type(busy), SLOT, now=NOW)         # one of the others is busy then
    before = OutboxMessage.select().where(OutboxMessage.kind == "event").count()

    counts = member_removal.remove_member_with(olga, team.organization_id, leaving, bookings="reassign", now=NOW)

    moved = Booking.get_by_id(booking.id)
    assert counts == {"reassigned": 1, "without": 0, "cancelled": 0}
    assert moved.status == "CONFIRMED" and moved.start_at == SLOT
    assert moved.user_id == staying[1] and hosts_of(moved) == [staying[1]]
    assert "only round-robin member free" in moved.assignment_reason
    [activity] = BookingActivity.select().where((BookingActivity.booking == booking.id)
                                                & (BookingActivity.kind == "reassigned"))
    assert "left Acme" in activity.message
    assert moved.contact.user_id == staying[1]
    public = [e["event"] for e in (json.loads(m.payload) for m in OutboxMessage.select()
                                   .where(OutboxMessage.kind == "event").offset(before))]
    assert not [name for name in public if name.startswith("booking.")]
    assert not any(is_member(team, p) for p in (adam, mia, otto) if p.id == leaving)


def test_reassign_cancels_with_notice_when_no_other_host_is_free(crew):
    (olga, adam, mia, _otto), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    booking = book(rr, SLOT)
    other = mia if booking.user_id == adam.id else adam
    factories.booking(factories.event_type(other), SLOT, now=NOW)

    counts = member_removal.remove_member_with(olga, team.organization_id, booking.user_id, now=NOW)

    cancelled = Booking.get_by_id(booking.id)
    assert counts == {"reassigned": 0, "without": 0, "cancelled": 1}
    assert cancelled.status == "CANCELLED" and cancelled.cancelled_by == "host"
    assert "has left Acme" in cancelled.cancel_reason and "no other host is free" in cancelled.cancel_reason
    assert [e["data"]["id"] for e in events_named("booking.cancelled")] == [booking.id]


def test_reassign_lets_a_collective_meeting_go_ahead_without_the_member(crew):
    (olga, adam, mia, otto), team = crew
    panel = factories.team_event_type(olga, team, [adam, mia, otto], kind="collective", name="Panel")
    booking = book(panel, SLOT)
    organizer = booking.user_id                      # Olga does not attend: the first attendee by id
    attendee = next(p for p in (adam, mia, otto) if p.id not in (organizer,))

    counts = member_removal.remove_member_with(olga, team.organization_id, attendee.id, now=NOW)
    after = Booking.get_by_id(booking.id)
    assert counts == {"reassigned": 0, "without": 1, "cancelled": 0}
    assert after.status == "CONFIRMED" and after.user_id == organizer
    assert hosts_of(after) == sorted({adam.id, mia.id, otto.id} - {attendee.id})

    member_removal.remove_member_with(olga, team.organization_id, organizer, now=NOW)   # now the organizer
    after = Booking.get_by_id(booking.id)
    remaining = sorted({adam.id, mia.id, otto.id} - {attendee.id, organizer})
    assert after.status == "CONFIRMED" and hosts_of(after) == remaining and after.user_id == remaining[0]
    notes = [a.message for a in BookingActivity.select().where((BookingActivity.booking == booking.id)
                                                                & (BookingActivity.kind == "host_removed"))]
    assert len(notes) == 2 and sum("is now its organizer" in note for note in notes) == 1
    assert not events_named("booking.cancelled")


def test_a_fixed_host_of_a_round_robin_booking_is_dropped_not_replaced(crew):
    (olga, adam, mia, _otto), team = crew
    rr = factories.team_event_type(olga, team, [adam, mia], fixed=[mia], name="Demo")
    booking = book(rr, SLOT)
    assert booking.user_id == adam.id and hosts_of(booking) == sorted([adam.id, mia.id])
    counts = member_removal.remove_member_with(olga, team.organization_id, mia.id, now=NOW)
    after = Booking.get_by_id(booking.id)
    assert counts["without"] == 1 and after.user_id == adam.id and hosts_of(after) == [adam.id]


def test_cancel_mode_cancels_every_booking_with_the_reason_and_emits_cancelled(crew):
    (olga, adam, mia, _otto), team = crew
    rr = factories.team_event_type(olga, team, [adam], name="Demo")
    panel = factories.team_event_type(olga, team, [adam, mia], kind="collective", name="Panel")
    first, second = book(rr, SLOT), book(panel, SLOT + timedelta(hours=2), n=1)

    counts = member_removal.remove_member_with(olga, team.organization_id, adam.id, bookings="cancel",
                                               reason="Adam moved on; please book again.", now=NOW)

    assert counts == {"reassigned": 0, "without": 0, "cancelled": 2}
    for booking in (first, second):
        row = Booking.get_by_id(booking.id)
        assert (row.status, row.cancelled_by, row.cancel_reason) == ("CANCELLED", "host",
                                                                     "Adam moved on; please book again.")
    assert sorted(e["data"]["id"] for e in events_named("booking.cancelled")) == sorted([first.id, second.id])
    assert not is_member(team, adam)


def test_the_invitee_gets_the_cancellation_email_with_the_reason(app_factory, make_user, smtp_server):
    from app.db import db

    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.app_context(), db.connection_context():
        olga, adam = make_user("olga"), make_user("adam")
        team = factories.team(olga, [adam])
        booking = book(factories.team_event_type(olga, team, [adam], name="Demo"), SLOT)
        sent = len(smtp_server.wait_for(2))               # the booking's confirmations
        member_removal.remove_member_with(olga, team.organization_id, adam.id, bookings="cancel",
                                          reason="Adam moved on.", now=NOW)
        mails = smtp_server.wait_for(sent + 1)
    to_invitee = [m for m in mails[sent:] if m["To"] == booking.invitee_email]
    assert to_invitee and "Adam moved on." in to_invitee[0].get_body(("plain",)).get_content()


def test_removal_keeps_the_rules_of_removing_a_member(crew, make_user):
    (olga, adam, mia, _otto), team = crew
    outsider = make_user("zed")
    rr = factories.team_event_type(olga, team, [adam], name="Demo")
    booking = book(rr, SLOT)
    org_id = team.organization_id
    with pytest.raises(Forbidden):
        member_removal.remove_member_with(mia, org_id, adam.id, bookings="cancel", now=NOW)
    with pytest.raises(NotFound):
        member_removal.remove_member_with(outsider, org_id, adam.id, bookings="cancel", now=NOW)
    with pytest.raises(Conflict):
        member_removal.remove_member_with(olga, org_id, olga.id, now=NOW)     # the last owner
    with pytest.raises(ValidationFailed):
        member_removal.remove_member_with(olga, org_id, adam.id, bookings="ignore", now=NOW)
    Membership.update(role="ADMIN").where((Membership.organization == org_id) & (Membership.user == mia.id)).execute()
    Membership.update(role="OWNER").where((Membership.organization == org_id) & (Membership.user == adam.id)).execute()
    with pytest.raises(Forbidden):                     # an admin does not remove an owner
        member_removal.remove_member_with(mia, org_id, adam.id, bookings="cancel", now=NOW)
    assert Booking.get_by_id(booking.id).status == "CONFIRMED" and is_member(team, adam)
    member_removal.remove_member_with(adam, org_id, adam.id, bookings="cancel", now=NOW)   # anyone may leave
    assert Booking.get_by_id(booking.id).status == "CANCELLED" and not is_member(team, adam)


def test_a_reassigned_booking_reaches_the_new_host_and_leaves_the_old_ones_calendar(app_factory, make_user,
                                                                                     smtp_server):
    from app.db import db

    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.app_context(), db.connection_context():
        olga, adam, mia = make_user("olga"), make_user("adam"), make_user("mia")
        team = factories.team(olga, [adam, mia])
        booking = book(factories.team_event_type(olga, team, [adam, mia], name="Demo"), SLOT)
        leaving, staying = (adam, mia) if booking.user_id == adam.id else (mia, adam)
        sent = len(smtp_server.wait_for(2))               # the booking's confirmations
        member_removal.remove_member_with(olga, team.organization_id, leaving.id, bookings="reassign", now=NOW)
        mails = smtp_server.wait_for(sent + 2)[sent:]
    by_recipient = {m["To"]: m for m in mails}
    assert set(by_recipient) == {staying.email, leaving.email}       # the invitee's meeting stands: no email
    assert by_recipient[staying.email]["Subject"] == "New booking: Demo with Guest 0"
    assert by_recipient[leaving.email]["Subject"] == "No longer yours: Demo with Guest 0"
    cancel = [part for part in by_recipient[leaving.email].walk() if part.get_content_type() == "text/calendar"]
    assert cancel and b"METHOD:CANCEL" in cancel[0].get_payload(decode=True)
