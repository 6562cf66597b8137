"""Additional guests in Chromium (issue 23, point 1): the invitee opens "Add guests" on the booking form, is told
inline (htmx) that their own address is not a guest, adds two guests, books, and both guests receive the invitation
with the ``.ics`` (a real SMTP server on loopback)."""
from __future__ import annotations

import re

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from tests.browser.helpers import BERLIN, in_db, next_week
from tests.live import serve_live

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(app_factory, smtp_server):
    """The booking pages with email delivered to the test SMTP server."""
    app = app_factory(WTF_CSRF_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with serve_live(app) as server:
        yield server


@pytest.fixture
def host(live_server, make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


def test_invitee_adds_two_guests_and_both_get_the_invitation(page, live_server, host, smtp_server):
    from app.models import Booking
    from app.models.guests import BookingGuest

    start = next_week(1, 10)
    day = start.astimezone(BERLIN).date()
    page.goto(f"/hana/30-min?date={day.isoformat()}")
    expect(page.locator("#tz-select")).to_have_value("Europe/Paris")
    page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').click()
    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()

    guests_box = page.get_by_label("Guest addresses")
    expect(guests_box).to_be_hidden()                     # a closed disclosure until asked for
    page.get_by_text("Add guests").click()
    expect(guests_box).to_be_visible()

    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    guests_box.fill("lee@example.com, ivan@example.com")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.locator("#e-guests")).to_have_text("Leave out your own email address: you are invited already.")
    expect(page.get_by_label("Guest addresses")).to_have_value("lee@example.com, ivan@example.com")
    assert in_db(live_server.app, lambda: Booking.select().count()) == 0

    page.get_by_label("Guest addresses").fill("lee@example.com\nSam@example.com")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/booking/[^/?]+\?booked=1"))
    expect(page.locator("#booking-guests")).to_have_text("lee@example.com, sam@example.com")

    booking = in_db(live_server.app, lambda: Booking.get())
    assert booking.guest_count == 2
    assert in_db(live_server.app, lambda: [g.email for g in BookingGuest.select().order_by(BookingGuest.position)]) \
        == ["lee@example.com", "sam@example.com"]

    messages = smtp_server.wait_for(4)
    by_recipient = {m["To"]: m for m in messages}
    assert set(by_recipient) == {"ivan@example.com", "hana@example.com", "lee@example.com", "sam@example.com"}
    for guest in ("lee@example.com", "sam@example.com"):
        mail = by_recipient[guest]
        assert mail["Subject"] == "Invitation: 30 Minute Meeting with Hana Host and Ivan Invitee"
        part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
        event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
        assert f"mailto:{guest}" in [str(a) for a in event["ATTENDEE"]]
        assert event.decoded("DTSTART") == start
