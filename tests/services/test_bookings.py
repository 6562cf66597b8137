"""Booking service: creation, validation, idempotency, recurrence, cancel, reschedule, notifications."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from app.models import (
    Booking,
    BookingActivity,
    Contact,
    EventType,
    OutboxMessage,
    Reminder,
)
from app.services.booking import bookings as svc
from app.services.errors import ValidationFailed
from app.services.scheduling import event_types as et

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)     # Monday 08:00 New York
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)    # Tuesday 10:00 New York


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def request(start=SLOT, **kw):
    data = {"invitee_name": "Ivan Invitee", "invitee_email": "ivan@example.com", "invitee_timezone": "Europe/Berlin"}
    data.update(kw)
    return svc.BookingRequest(start=start, **data)


def test_booking_is_created_confirmed_with_contact_outbox_events_and_reminder(event_type, host):
    result = svc.create_booking(event_type, request(), now=NOW)
    booking = result.booking
    assert result.created and booking.status == "CONFIRMED"
    assert booking.end_at - booking.start_at == timedelta(minutes=30)
    assert len(booking.uid) >= 32
    contact = Contact.get(Contact.user == host)
    assert (contact.email, contact.source) == ("ivan@example.com", "booking")
    events = [m.payload for m in OutboxMessage.select().where(OutboxMessage.kind == "event")]
    assert any('"booking.created"' in p for p in events) and any('"contact.created"' in p for p in events)
    [reminder] = Reminder.select().where(Reminder.booking == booking)
    assert reminder.send_at == SLOT - timedelta(hours=24)
    assert BookingActivity.select().where(BookingActivity.booking == booking).count() >= 1


def test_taken_slot_is_refused_with_conflict(event_type):
    svc.create_booking(event_type, request(), now=NOW)
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, request(invitee_email="other@example.com"), now=NOW)
    assert Booking.select().count() == 1


def test_same_email_start_and_event_type_returns_the_existing_booking(event_type):
    first = svc.create_booking(event_type, request(), now=NOW)
    again = svc.create_booking(event_type, request(invitee_email="IVAN@example.com"), now=NOW)
    assert not again.created and again.booking.id == first.booking.id
    assert Booking.select().count() == 1


def test_idempotency_key_returns_the_first_booking(event_type):
    first = svc.create_booking(event_type, request(idempotency_key="abc-1"), now=NOW)
    again = svc.create_booking(event_type, request(idempotency_key="abc-1"), now=NOW)
    assert not again.created and again.booking.id == first.booking.id


@pytest.mark.parametrize("changes", [{"start": SLOT + timedelta(hours=1)}, {"invitee_email": "eve@example.com"},
                                     {"invitee_name": "Eve"}, {"invitee_timezone": "UTC"}, {"notes": "other"}])
def test_idempotency_key_reused_for_another_request_is_refused(event_type, changes):
    svc.create_booking(event_type, request(idempotency_key="abc-1"), now=NOW)
    with pytest.raises(svc.IdempotencyMismatch):
        svc.create_booking(event_type, request(idempotency_key="abc-1", **changes), now=NOW)
    assert Booking.select().count() == 1


def test_booking_blocks_overlapping_slots_of_other_event_types_with_buffers(event_type, host):
    other = et.create_event_type(host, et.EventTypeInput(name="Long", duration=60, buffer_after=15))
    svc.create_booking(other, request(start=SLOT), now=NOW)   # 10:00-11:00 + 15 min buffer
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, request(start=SLOT + timedelta(minutes=60), invitee_email="b@example.com"),
                           now=NOW)
    ok = svc.create_booking(event_type, request(start=SLOT + timedelta(minutes=90), invitee_email="c@example.com"),
                            now=NOW)
    assert ok.created


def test_time_outside_working_hours_or_off_grid_is_refused(event_type):
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, request(start=datetime(2026, 6, 2, 3, 0, tzinfo=UTC)), now=NOW)
    with pytest.raises(svc.SlotUnavailable):
        svc.create_booking(event_type, request(start=SLOT + timedelta(minutes=7)), now=NOW)


@pytest.mark.parametrize("kw,field", [
    ({"invitee_name": ""}, "name"),
    ({"invitee_name": "x" * 201}, "name"),
    ({"invitee_email": "nope"}, "email"),
    ({"invitee_timezone": "Nowhere/Land"}, "timezone"),
    ({"duration": 45}, "duration"),
    ({"occurrences": 3}, "occurrences"),
    ({"notes": "x" * 5001}, "notes"),
])
def test_invalid_requests_store_nothing(event_type, kw, field):
    with pytest.raises(ValidationFailed) as info:
        svc.create_booking(event_type, request(**kw), now=NOW)
    assert field in info.value.errors
    assert Booking.select().count() == 0 and Contact.select().count() == 0


def test_required_questions_are_validated(event_type, host):
    et.update_event_type(event_type, et.EventTypeInput(questions=[
        {"label": "Company", "type": "text", "required": True},
        {"label": "Size", "type": "select", "options": ["1-10", "11-50"], "required": True}]))
    event_type = EventType.get_by_id(event_type.id)
    with pytest.raises(ValidationFailed) as info:
        svc.create_booking(event_type, request(answers={"size": "huge"}), now=NOW)
    assert set(info.value.errors) == {"q_company", "q_size"}
    booking = svc.create_booking(event_type, request(answers={"company": "Acme", "size": "1-10"}), now=NOW).booking
    assert booking.answers == {"company": "Acme", "size": "1-10"}


def test_recurring_series_is_created_together_or_not_at_all(event_type, host):
    et.update_event_type(event_type, et.EventTypeInput(recurrence={"frequency": "weekly", "interval": 1,
                                                                   "maxOccurrences": 4}))
    event_type = EventType.get_by_id(event_type.id)
    blocker = svc.create_booking(event_type, request(start=SLOT + timedelta(weeks=2), invitee_email="z@example.com"),
                                 now=NOW).booking
    with pytest.raises(svc.SlotUnavailable) as info:
        svc.create_booking(event_type, request(occurrences=4), now=NOW)
    assert "16 Jun 2026" in str(info.value)
    assert Booking.select().count() == 1
    svc.cancel_booking(blocker, reason=None, by="host")
    series = svc.create_booking(event_type, request(occurrences=4), now=NOW).bookings
    assert len(series) == 4 and len({b.recurring_group_id for b in series}) == 1
    assert [b.start_at for b in series] == [SLOT + timedelta(weeks=n) for n in range(4)]
    svc.cancel_booking(series[1], reason="away", by="invitee", include_following=True)
    statuses = [Booking.get_by_id(b.id).status for b in series]
    assert statuses == ["CONFIRMED", "CANCELLED", "CANCELLED", "CANCELLED"]


def test_cancel_frees_the_slot_and_drops_reminders(event_type):
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    svc.cancel_booking(booking, reason="Conflict", by="invitee")
    fresh = Booking.get_by_id(booking.id)
    assert (fresh.status, fresh.cancel_reason, fresh.sequence) == ("CANCELLED", "Conflict", 1)
    assert Reminder.select().where(Reminder.booking == booking).count() == 0
    assert svc.create_booking(event_type, request(invitee_email="new@example.com"), now=NOW).created


def test_reschedule_moves_the_booking_keeps_its_id_and_moves_reminders(event_type):
    booking = svc.create_booking(event_type, request(), now=NOW).booking
    moved = svc.reschedule_booking(booking, SLOT + timedelta(days=1), reason="clash", by="invitee", now=NOW)
    assert moved.id == booking.id and moved.start_at == SLOT + timedelta(days=1)
    assert moved.previous_start_at == SLOT and moved.sequence == 1
    [reminder] = Reminder.select().where(Reminder.booking == booking)
    assert reminder.send_at == SLOT + timedelta(days=1) - timedelta(hours=24)
    # the old time is free again
    assert svc.create_booking(event_type, request(invitee_email="x@example.com"), now=NOW).created


def test_reschedule_into_a_taken_slot_is_refused(event_type):
    first = svc.create_booking(event_type, request(), now=NOW).booking
    svc.create_booking(event_type, request(start=SLOT + timedelta(hours=1), invitee_email="b@example.com"), now=NOW)
    with pytest.raises(svc.SlotUnavailable):
        svc.reschedule_booking(first, SLOT + timedelta(hours=1), reason=None, by="host", now=NOW)
    assert Booking.get_by_id(first.id).start_at == SLOT


def _ics(msg):
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_payload(decode=True)), part
    raise AssertionError("no text/calendar part")


def test_emails_carry_ics_with_stable_uid_and_rising_sequence(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    from app.db import db
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        created = smtp_server.wait_for(2)[:2]
        assert sorted(m["To"] for m in created) == ["hana@example.com", "ivan@example.com"]
        invitee_mail = next(m for m in created if m["To"] == "ivan@example.com")
        assert "Tuesday, 2 June 2026 · 16:00" in invitee_mail.get_body(("plain",)).get_content()  # Berlin time
        host_mail = next(m for m in created if m["To"] == "hana@example.com")
        assert "Tuesday, 2 June 2026 · 10:00" in host_mail.get_body(("plain",)).get_content()     # New York time
        cal, part = _ics(invitee_mail)
        assert "method=REQUEST" in part["Content-Type"].replace('"', "")
        [vevent] = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "REQUEST" and int(vevent["SEQUENCE"]) == 0
        uid = str(vevent["UID"])
        assert "ivan@example.com" in str(vevent["ATTENDEE"]) and "hana@example.com" in str(vevent["ORGANIZER"])

        svc.reschedule_booking(booking, SLOT + timedelta(days=1), reason=None, by="invitee", now=NOW)
        moved = smtp_server.wait_for(4)[2:4]
        cal, _ = _ics(moved[0])
        [vevent] = cal.walk("VEVENT")
        assert str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 1 and str(cal["METHOD"]) == "REQUEST"
        assert any("Previously" in m.get_body(("plain",)).get_content() for m in moved)

        svc.cancel_booking(Booking.get_by_id(booking.id), reason="Sick", by="invitee")
        gone = smtp_server.wait_for(6)[4:6]
        cal, part = _ics(gone[0])
        [vevent] = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "CANCEL" and str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 2
        assert any("Sick" in m.get_body(("plain",)).get_content() for m in gone)


def test_emails_show_times_on_each_recipients_clock(app_factory, make_user, smtp_server):
    """The host's emails on the clock chosen in their profile, the invitee's on the clock their booking page
    showed; 24 h where the page's clock is unknown (a booking made through the API)."""
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    from app.db import db
    from app.models import User
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        User.update(hour12=True).where(User.id == host.id).execute()
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        booking = svc.create_booking(event_type, request(invitee_hour12=True), now=NOW).booking
        assert Booking.get_by_id(booking.id).invitee_hour12 is True
        mails = smtp_server.wait_for(2)[:2]
        body = {m["To"]: m.get_body(("plain",)).get_content() for m in mails}
        assert "Tuesday, 2 June 2026 · 4:00pm – 4:30pm" in body["ivan@example.com"]      # Berlin, 12 h
        assert "Tuesday, 2 June 2026 · 10:00am – 10:30am" in body["hana@example.com"]     # New York, 12 h
        later = SLOT + timedelta(hours=1)
        svc.create_booking(event_type, request(start=later, invitee_email="una@example.com"), now=NOW)
        mails = smtp_server.wait_for(4)[2:4]
        body = {m["To"]: m.get_body(("plain",)).get_content() for m in mails}
        assert "Tuesday, 2 June 2026 · 17:00 – 17:30" in body["una@example.com"]          # unknown: 24 h
        assert "11:00am – 11:30am" in body["hana@example.com"]


def test_failing_email_never_undoes_the_booking(app_factory, make_user):
    from tests.conftest import free_port
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=1)
    from app.db import db
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        booking = svc.create_booking(event_type, request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"
        emails = OutboxMessage.select().where(OutboxMessage.kind == "email")
        assert emails.count() == 2 and all(m.done_at is None and m.last_error for m in emails)


def test_due_reminders_are_sent_once(app_factory, make_user, smtp_server):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    from app.db import db
    from app.services.booking.notifications import send_due_reminders
    host = make_user("hana", timezone="America/New_York")
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        svc.create_booking(event_type, request(), now=NOW)
        smtp_server.wait_for(2)
        assert send_due_reminders(now=SLOT - timedelta(hours=25)) == 0
        assert send_due_reminders(now=SLOT - timedelta(hours=23)) == 1
        assert send_due_reminders(now=SLOT - timedelta(hours=22)) == 0
        [reminder] = smtp_server.wait_for(3)[2:]
        assert reminder["Subject"].startswith("Reminder:")
