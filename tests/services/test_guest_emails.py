"""Guests' emails (issue 23, point 1), read from a real SMTP server (aiosmtpd): each guest gets their own copy of the
confirmation, reschedule and cancellation with the ``.ics`` (the guests as ATTENDEEs, no link to change the
booking), and the invitee's and host's emails name the guests."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from app.models import EventType, OutboxMessage
from app.services.booking import bookings as svc
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)           # a Monday
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)          # Tuesday 16:00 Berlin = 23:00 Tokyo
GUESTS = ["lee@example.com", "sam@example.com"]


@pytest.fixture
def mail_app(app_factory, smtp_server):
    from app.db import db
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.app_context(), db.connection_context():
        yield app


@pytest.fixture
def meeting(mail_app, host):
    return factories.event_type(host)


def book(event_type, **extra):
    request = factories.booking_request(SLOT, timezone="Asia/Tokyo", **extra)
    return svc.create_booking(EventType.get_by_id(event_type.id), request, now=NOW).booking


def take(smtp_server, seen: int, count: int) -> dict:
    messages = smtp_server.wait_for(seen + count)[seen:seen + count]
    assert len(messages) == count, [m["To"] for m in messages]
    return {m["To"]: m for m in messages}


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(msg) -> str:
    return msg.get_body(("html",)).get_content()


def ics_of(msg):
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return part, Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]


def attendees(event) -> list[str]:
    found = event.get("ATTENDEE")
    return sorted(str(a) for a in (found if isinstance(found, list) else [found]))


def test_each_guest_gets_the_invitation_with_the_ics_and_no_manage_links(meeting, smtp_server):
    booking = book(meeting, guests=GUESTS)
    mails = take(smtp_server, 0, 4)
    assert set(mails) == {"ivan@example.com", "hana@example.com", *GUESTS}
    for address in GUESTS:
        mail = mails[address]
        assert mail["Subject"] == "Invitation: 30 Minute Meeting with Hana and Ivan Invitee"
        assert mail["Reply-To"] == "ivan@example.com"
        text = text_of(mail)
        assert "Ivan Invitee invited you to a meeting with Hana." in text
        assert "Tuesday, 2 June 2026 · 23:00 – 23:30 (Tokyo time / Asia/Tokyo)" in text
        assert "Guests: lee@example.com, sam@example.com" in text
        assert "/booking/" not in text and "/booking/" not in html_of(mail)   # only the invitee may change it
        part, event = ics_of(mail)
        assert part.get_content_type() == "text/calendar" and part.get_param("method") == "REQUEST"
        assert attendees(event) == ["mailto:ivan@example.com", "mailto:lee@example.com", "mailto:sam@example.com"]
        assert str(event["UID"]) == f"{booking.id}@linktime"
        assert "/booking/" not in str(event.get("DESCRIPTION", ""))
    invitee = mails["ivan@example.com"]
    assert "Guests: lee@example.com, sam@example.com" in text_of(invitee)
    assert attendees(ics_of(invitee)[1]) == ["mailto:ivan@example.com", "mailto:lee@example.com",
                                             "mailto:sam@example.com"]
    assert "/booking/" in text_of(invitee)
    assert "Guests" in html_of(mails["hana@example.com"]) and "lee@example.com" in html_of(mails["hana@example.com"])


def test_guests_hear_of_a_reschedule_and_a_cancellation(meeting, smtp_server):
    booking = book(meeting, guests=["lee@example.com"])
    take(smtp_server, 0, 3)
    moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=30), reason=None, by="invitee", now=NOW)
    mails = take(smtp_server, 3, 3)
    guest = mails["lee@example.com"]
    assert guest["Subject"] == "Rescheduled: 30 Minute Meeting with Hana and Ivan Invitee"
    assert "was moved to a new time" in text_of(guest) and "23:30 – 00:00" in text_of(guest)
    assert int(ics_of(guest)[1]["SEQUENCE"]) == 1

    svc.cancel_booking(moved, reason="Something came up", by="host")
    mails = take(smtp_server, 6, 3)
    guest = mails["lee@example.com"]
    assert guest["Subject"] == "Cancelled: 30 Minute Meeting with Hana and Ivan Invitee"
    text = text_of(guest)
    assert "was cancelled by Hana" in text and "Reason: Something came up" in text
    part, event = ics_of(guest)
    assert part.get_param("method") == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert "mailto:lee@example.com" in attendees(event)


def test_without_guests_nobody_else_is_emailed(meeting, smtp_server):
    book(meeting)
    mails = take(smtp_server, 0, 2)
    assert set(mails) == {"ivan@example.com", "hana@example.com"}
    assert "Guests" not in text_of(mails["ivan@example.com"])
    assert OutboxMessage.select().where(OutboxMessage.kind == "email").count() == 2
