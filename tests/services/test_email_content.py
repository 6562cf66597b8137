"""What booking emails say, read from real emails (an aiosmtpd server): times on each recipient's clock with a
human date and a readable zone, the invitee's answers in the host's email, add-to-calendar links beside the
.ics, and no stale "Previously" line once a moved booking is cancelled."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.models import Booking, EventType, User
from app.services.booking import bookings as svc
from app.services.scheduling import event_types as et

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)   # Monday 10:30 New York = Tuesday 00:30 Tokyo


@pytest.fixture
def mail_app(app_factory, smtp_server):
    from app.db import db
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.app_context(), db.connection_context():
        yield app


@pytest.fixture
def host(mail_app, make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def event_type(host):
    return EventType.get((EventType.user == host.id) & (EventType.slug == "30-min"))


def book(event_type, start=SLOT, **kw):
    data = {"invitee_name": "Ivan Invitee", "invitee_email": "ivan@example.com", "invitee_timezone": "Asia/Tokyo",
            "invitee_hour12": True}
    data.update(kw)
    return svc.create_booking(event_type, svc.BookingRequest(start=start, **data), now=NOW).booking


def bodies(msg) -> tuple[str, str]:
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, msg.get_body(("html",)).get_content().replace("\r\n", "\n")


CALENDARS = ("Google Calendar", "Outlook.com", "Microsoft 365", "Yahoo Calendar")


def add_links(text: str) -> dict[str, str]:
    """The text part's "Add to your calendar" lines: label -> url."""
    return dict(line.split(": ", 1) for line in text.splitlines() if line.split(": ", 1)[0] in CALENDARS)


def by_recipient(messages) -> dict[str, tuple[str, str]]:
    return {m["To"]: bodies(m) for m in messages}


def test_invitee_email_reads_a_human_date_on_their_12_hour_clock_and_names_the_zone(event_type, smtp_server):
    book(event_type)
    mails = by_recipient(smtp_server.wait_for(2)[:2])
    text, html = mails["ivan@example.com"]
    when = "Tuesday, 8 December 2026 · 12:30am – 1:00am (Tokyo time / Asia/Tokyo)"
    assert f"When: {when}\n" in text
    assert f"<td>{when}</td>" in html
    assert "08 December" not in text and "00:30" not in text
    host_text, _ = mails["hana@example.com"]     # the host's clock: New York, 24 h (not chosen yet)
    assert "When: Monday, 7 December 2026 · 10:30 – 11:00 (New York time / America/New York)\n" in host_text


def test_host_email_follows_the_hosts_12_hour_clock(event_type, host, smtp_server):
    User.update(hour12=True).where(User.id == host.id).execute()
    book(event_type, invitee_hour12=False)
    mails = by_recipient(smtp_server.wait_for(2)[:2])
    assert "Monday, 7 December 2026 · 10:30am – 11:00am (New York time / America/New York)" in \
        mails["hana@example.com"][0]
    assert "Tuesday, 8 December 2026 · 00:30 – 01:00 (Tokyo time / Asia/Tokyo)" in mails["ivan@example.com"][0]


def test_new_booking_email_to_the_host_lists_the_answers_escaped(event_type, smtp_server):
    et.update_event_type(event_type, et.EventTypeInput(questions=[
        {"id": "company", "label": "Company <name>", "type": "text"},
        {"id": "topics", "label": "Topics", "type": "multiselect", "options": ["Sales", "Support"]},
        {"id": "agree", "label": "I agree", "type": "checkbox"},
        {"id": "phone", "label": "Phone", "type": "text"}]))
    book(EventType.get_by_id(event_type.id),
         answers={"company": "<b>Acme</b> & Sons", "topics": ["Sales", "Support"], "agree": True, "phone": ""})
    mails = {m["To"]: m for m in smtp_server.wait_for(2)[:2]}
    host_mail = mails["hana@example.com"]
    assert host_mail["Subject"].startswith("New booking:")
    text, html = bodies(host_mail)
    assert "Company <name>: <b>Acme</b> & Sons\nTopics: Sales, Support\nI agree: Yes\n" in text
    assert "Phone:" not in text                                    # an empty answer is left out
    assert ">Company &lt;name&gt;</td><td>&lt;b&gt;Acme&lt;/b&gt; &amp; Sons</td>" in html
    assert "<b>Acme</b>" not in html
    assert "Acme" not in bodies(mails["ivan@example.com"])[0]     # the invitee's own email does not repeat them


def test_booking_emails_carry_add_to_calendar_links_beside_the_ics(event_type, smtp_server):
    book(event_type)
    mails = {m["To"]: m for m in smtp_server.wait_for(2)[:2]}
    for address, title in (("ivan@example.com", "30 Minute Meeting with Hana"),
                           ("hana@example.com", "30 Minute Meeting with Ivan Invitee")):
        msg = mails[address]
        assert any(part.get_content_type() == "text/calendar" for part in msg.walk())
        text, html = bodies(msg)
        assert "Add to your calendar (or open the attached invite):\n" in text
        links = add_links(text)
        assert set(links) == set(CALENDARS)
        google = parse_qs(urlsplit(links["Google Calendar"]).query)
        assert google["dates"] == ["20261207T153000Z/20261207T160000Z"]
        assert google["text"][0].startswith(title.split(" with ")[0]) and title.split(" with ")[1] in google["text"][0]
        yahoo = parse_qs(urlsplit(links["Yahoo Calendar"]).query)
        assert (yahoo["st"], yahoo["et"]) == (["20261207T153000Z"], ["20261207T160000Z"])
        assert parse_qs(urlsplit(links["Outlook.com"]).query)["startdt"] == ["2026-12-07T15:30:00Z"]
        assert links["Microsoft 365"].startswith("https://outlook.office.com/calendar/")
        assert links["Google Calendar"].replace("&", "&amp;") in html
        assert ">Yahoo Calendar</a>" in html
    invitee_google = parse_qs(urlsplit(add_links(bodies(mails["ivan@example.com"])[0])["Google Calendar"]).query)
    assert "/booking/" in invitee_google["details"][0]            # the invitee's event leads to their private page


def test_cancelling_a_moved_booking_shows_the_cancelled_time_without_previously(event_type, smtp_server):
    booking = book(event_type)
    smtp_server.wait_for(2)
    svc.reschedule_booking(booking, SLOT + timedelta(days=1), reason=None, by="invitee", now=NOW)
    moved = by_recipient(smtp_server.wait_for(4)[2:4])
    assert "Previously: Tuesday, 8 December 2026 · 12:30am – 1:00am (Tokyo time / Asia/Tokyo)\n" in \
        moved["ivan@example.com"][0]
    svc.cancel_booking(Booking.get_by_id(booking.id), reason="Sick", by="invitee")
    gone = by_recipient(smtp_server.wait_for(6)[4:6])
    for text, html in gone.values():
        assert "Previously" not in text and "Previously" not in html
        assert "Add to your calendar" not in text and "calendar.google.com" not in html   # nothing to add
    assert "When: Wednesday, 9 December 2026 · 12:30am – 1:00am (Tokyo time / Asia/Tokyo)\n" in \
        gone["ivan@example.com"][0]
    assert "When: Tuesday, 8 December 2026 · 10:30 – 11:00 (New York time / America/New York)\n" in \
        gone["hana@example.com"][0]
