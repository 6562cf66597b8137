"""Additional guests (issue 23, point 1): the rules of a request's guests, the per-event-type limit, their storage
with each booking row, the ``guests`` of the booking payloads, the calendar event's attendees and marking a guest as
a no-show. The emails are read from a real SMTP server in tests/services/test_guest_emails.py."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from app.models import AuditLog, Booking, BookingActivity, EventType, OutboxMessage
from app.models.guests import BookingGuest
from app.services.booking import bookings as svc
from app.services.booking import guests
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.integrations import calendar_sync
from app.services.scheduling import event_types
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)           # a Monday
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)          # Tuesday 16:00 in Berlin


@pytest.fixture
def meeting(db_conn, event_type):
    return EventType.get_by_id(event_type.id)


def book(event_type, start=SLOT, **extra):
    return svc.create_booking(EventType.get_by_id(event_type.id), factories.booking_request(start, **extra), now=NOW)


def events_named(name: str) -> list[dict]:
    rows = OutboxMessage.select().where(OutboxMessage.kind == "event").order_by(OutboxMessage.created_at)
    return [json.loads(r.payload) for r in rows if json.loads(r.payload)["event"] == name]


# --- the rules ---------------------------------------------------------------------------------------------------
class Limit:
    def __init__(self, max_guests):
        self.max_guests = max_guests


def test_guests_are_kept_in_lower_case_in_order_and_each_once():
    cleaned, problem = guests.clean_guests(Limit(10), "ivan@example.com",
                                           [" Lee@Example.com", "sam@example.com", "", "LEE@example.com"])
    assert problem is None and cleaned == ["lee@example.com", "sam@example.com"]


def test_no_guests_is_fine_even_when_guests_are_off():
    assert guests.clean_guests(Limit(0), "ivan@example.com", []) == ([], None)
    assert guests.clean_guests(Limit(0), "ivan@example.com", None) == ([], None)


@pytest.mark.parametrize(("given", "limit", "message"), [
    (["lee@example.com", "not-an-email"], 10, "“not-an-email” is not one"),
    (["a@b", "x y@example.com"], 10, "“a@b”, “x y@example.com” are not"),
    (["Ivan@Example.com"], 10, "Leave out your own email address"),
    (["a@example.com", "b@example.com", "c@example.com"], 2, "Add at most 2 guests."),
    (["a@example.com", "b@example.com"], 1, "Add at most 1 guest."),
    (["a@example.com"], 0, "does not take additional guests"),
    ("a@example.com", 10, "list of email addresses"),
    ([1, 2], 10, "list of email addresses"),
    (["a@example.com"] * 201, 10, "Add at most 10 guests."),
])
def test_bad_guests_are_refused_with_a_message(given, limit, message):
    cleaned, problem = guests.clean_guests(Limit(limit), "ivan@example.com", given)
    assert cleaned == [] and message in problem


def test_the_form_text_is_split_on_commas_semicolons_and_lines():
    assert guests.split_guests("a@example.com, b@example.com;c@example.com\n d@example.com\r\n") == [
        "a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert guests.split_guests("") == [] and guests.split_guests(None) == []


# --- the event type's limit -----------------------------------------------------------------------------------
def test_the_limit_defaults_to_ten_and_is_validated_and_copied(db_conn, host):
    made = factories.new_event_type(host, name="Panel")
    assert made.max_guests == 10
    updated = event_types.update_event_type(made, event_types.EventTypeInput(max_guests="0"))
    assert EventType.get_by_id(updated.id).max_guests == 0
    for bad, message in (("51", "between 0 and 50"), ("-1", "between 0 and 50"), ("two", "whole number")):
        with pytest.raises(ValidationFailed) as caught:
            event_types.update_event_type(made, event_types.EventTypeInput(max_guests=bad))
        assert message in caught.value.errors["max_guests"]
    assert EventType.get_by_id(made.id).max_guests == 0
    event_types.update_event_type(made, event_types.EventTypeInput(max_guests=3))
    copy = event_types.duplicate_event_type(EventType.get_by_id(made.id))
    assert copy.max_guests == 3


# --- storage and payloads ---------------------------------------------------------------------------------------
def test_a_booking_stores_its_guests_and_announces_them(meeting):
    booking = book(meeting, guests=["Lee@example.com", "sam@example.com", "lee@example.com"]).booking
    stored = Booking.get_by_id(booking.id)
    assert stored.guest_count == 2
    assert guests.guest_emails(stored) == ["lee@example.com", "sam@example.com"]
    [created] = events_named("booking.created")
    assert created["data"]["guests"] == [
        {"email": "lee@example.com", "noShow": False, "noShowMarkedAt": None},
        {"email": "sam@example.com", "noShow": False, "noShowMarkedAt": None}]


def test_a_booking_without_guests_has_an_empty_list(meeting):
    book(meeting)
    [created] = events_named("booking.created")
    assert created["data"]["guests"] == []
    assert BookingGuest.select().count() == 0


def test_bad_guests_refuse_the_booking_and_nothing_is_stored(meeting):
    with pytest.raises(ValidationFailed) as caught:
        book(meeting, guests=["ivan@example.com"])
    assert "own email" in caught.value.errors["guests"]
    assert Booking.select().count() == 0 and BookingGuest.select().count() == 0


def test_too_many_guests_for_the_event_type_are_refused(meeting):
    event_types.update_event_type(meeting, event_types.EventTypeInput(max_guests=1))
    with pytest.raises(ValidationFailed) as caught:
        book(meeting, guests=["a@example.com", "b@example.com"])
    assert caught.value.errors == {"guests": "Add at most 1 guest."}
    assert book(meeting, guests=["a@example.com"]).booking.guest_count == 1


def test_every_occurrence_of_a_series_has_the_guests(db_conn, host):
    weekly = factories.new_event_type(host, name="Weekly", duration=30,
                                      recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4})
    result = book(weekly, occurrences=3, guests=["lee@example.com"])
    assert len(result.bookings) == 3
    for booking in result.bookings:
        assert guests.guest_emails(Booking.get_by_id(booking.id)) == ["lee@example.com"]
    assert all(e["data"]["guests"][0]["email"] == "lee@example.com" for e in events_named("booking.created"))


def test_a_team_booking_takes_guests(db_conn, make_user):
    olga, adam = make_user("olga"), make_user("adam")
    team = factories.team(olga, [adam])
    panel = factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel")
    booking = book(panel, guests=["lee@example.com"]).booking
    assert guests.guest_emails(Booking.get_by_id(booking.id)) == ["lee@example.com"]


def test_guests_ride_along_on_reschedule_and_cancel_payloads(meeting):
    booking = book(meeting, guests=["lee@example.com"]).booking
    moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=30), reason=None, by="invitee", now=NOW)
    svc.cancel_booking(moved, reason=None, by="invitee")
    for name in ("booking.rescheduled", "booking.cancelled"):
        [event] = events_named(name)
        assert [g["email"] for g in event["data"]["guests"]] == ["lee@example.com"]


# --- the host's calendar ---------------------------------------------------------------------------------------
def test_the_calendar_event_has_the_guests_as_attendees(meeting):
    booking = Booking.get_by_id(book(meeting, guests=["lee@example.com", "sam@example.com"]).booking.id)
    draft = calendar_sync.draft(booking)
    assert [a.email for a in draft.attendees] == ["ivan@example.com", "lee@example.com", "sam@example.com"]
    assert "Guests: lee@example.com, sam@example.com" in draft.description
    event = Calendar.from_ical(draft.ics()).walk("VEVENT")[0]
    found = event.get("ATTENDEE")
    assert sorted(str(a) for a in found) == ["mailto:ivan@example.com", "mailto:lee@example.com",
                                             "mailto:sam@example.com"]
    assert all(str(a.params["SCHEDULE-AGENT"]) == "CLIENT" for a in found)


def test_the_ics_names_the_guests_and_only_the_guests_copy_leaves_out_the_manage_link(meeting):
    from app.services.booking import notifications

    booking = Booking.get_by_id(book(meeting, guests=["lee@example.com"]).booking.id)
    invitee_copy = Calendar.from_ical(notifications.build_ics(booking, booking.user, "REQUEST")).walk("VEVENT")[0]
    guest_copy = Calendar.from_ical(notifications.build_ics(booking, booking.user, "REQUEST",
                                                            for_guest=True)).walk("VEVENT")[0]
    for event in (invitee_copy, guest_copy):
        assert sorted(str(a) for a in event["ATTENDEE"]) == ["mailto:ivan@example.com", "mailto:lee@example.com"]
    assert "Reschedule or cancel" in str(invitee_copy["DESCRIPTION"])
    assert "DESCRIPTION" not in guest_copy or "/booking/" not in str(guest_copy["DESCRIPTION"])


# --- guest no-shows --------------------------------------------------------------------------------------------
@pytest.fixture
def held(meeting):
    return Booking.get_by_id(book(meeting, guests=["lee@example.com", "sam@example.com"]).booking.id)


def test_a_guest_is_marked_after_the_start_with_activity_audit_and_event(host, held):
    now = SLOT + timedelta(minutes=5)
    guest = guests.mark_guest_no_show(host, held.id, "Lee@Example.com", True, now, ip="203.0.113.5")
    assert guest.no_show and guest.no_show_at == now
    stored = Booking.get_by_id(held.id)
    assert not stored.no_show                      # the invitee's own mark is untouched
    marks = {g.email: bool(g.no_show) for g in guests.guests_of(stored)}
    assert marks == {"lee@example.com": True, "sam@example.com": False}
    assert BookingActivity.select().where((BookingActivity.booking == held.id)
                                          & (BookingActivity.kind == "guest_no_show")).count() == 1
    [entry] = AuditLog.select().where(AuditLog.action == "booking.no_show")
    assert json.loads(entry.details)["guestEmail"] == "lee@example.com"
    [event] = events_named("booking.no_show")
    assert event["data"]["guest"] == {"email": "lee@example.com", "noShow": True,
                                      "noShowMarkedAt": "2026-06-02T14:05:00.000Z"}
    assert event["data"]["noShow"] is False
    assert event["data"]["guests"][0]["noShow"] is True and event["data"]["guests"][1]["noShow"] is False


def test_marking_again_changes_nothing_and_undo_clears_it(host, held):
    now = SLOT + timedelta(minutes=5)
    guests.mark_guest_no_show(host, held.id, "lee@example.com", True, now)
    guests.mark_guest_no_show(host, held.id, "lee@example.com", True, now + timedelta(minutes=1))
    assert len(events_named("booking.no_show")) == 1
    undone = guests.mark_guest_no_show(host, held.id, "lee@example.com", False, now + timedelta(minutes=2))
    assert not undone.no_show and undone.no_show_at is None
    assert events_named("booking.no_show")[-1]["data"]["guest"]["noShow"] is False


def test_before_the_start_a_guest_cannot_be_marked(host, held):
    with pytest.raises(Conflict, match="not started"):
        guests.mark_guest_no_show(host, held.id, "lee@example.com", True, SLOT - timedelta(seconds=1))
    assert not any(g.no_show for g in guests.guests_of(held)) and events_named("booking.no_show") == []


def test_an_address_that_is_not_a_guest_and_another_hosts_booking_are_refused(make_user, host, held):
    with pytest.raises(ValidationFailed) as caught:
        guests.mark_guest_no_show(host, held.id, "ivan@example.com", True, SLOT + timedelta(hours=1))
    assert "guest" in caught.value.errors
    with pytest.raises(NotFound):
        guests.mark_guest_no_show(make_user("otto"), held.id, "lee@example.com", True, SLOT + timedelta(hours=1))
    assert not any(g.no_show for g in guests.guests_of(held))


def test_a_cancelled_booking_has_no_guest_no_shows(host, held):
    svc.cancel_booking(held, reason=None, by="host")
    with pytest.raises(Conflict):
        guests.mark_guest_no_show(host, held.id, "lee@example.com", True, SLOT + timedelta(hours=1))
