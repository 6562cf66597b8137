"""Defect 7 of issue 14 in Chromium: one clock per viewer across the product.

The browser runs in Europe/Paris with en-US, whose hour cycle is 12 h: the booking page shows am/pm by itself; the
invitee's later pages (the reschedule link of the email carries no ``hour``) keep the clock that the booking page
showed; and a new host signing up from that browser reads 12 h on the dashboard, human dates included.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEZONE

pytestmark = pytest.mark.browser

PARIS = ZoneInfo(TIMEZONE)


def _next_tuesday(hour: int) -> datetime:
    today = datetime.now(PARIS).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour), PARIS)


def _in_db(app, fn):
    from app.db import db
    with app.app_context(), db.connection_context():
        return fn()


def test_the_invitee_keeps_the_booking_page_s_clock_on_the_email_s_reschedule_link(page, live_server, make_user):
    from app.models import Booking
    from app.services.booking.notifications import invitee_links

    make_user("hana", name="Hana Host", timezone="Europe/Paris")
    start = _next_tuesday(10)
    page.goto(f"/hana/30-min?date={start.date().isoformat()}")
    expect(page.locator(".hour-toggle .seg.is-active")).to_have_text("am/pm")     # detected from the browser
    page.locator("#slots").get_by_role("link", name="10:00am", exact=True).click()
    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    human = f"Tuesday, {start.day} {start:%B %Y}"
    expect(page.locator(".booking-facts")).to_contain_text(f"{human} · 10:00am – 10:30am")

    link = _in_db(live_server.app, lambda: invitee_links(Booking.get())["reschedule"])
    assert "hour=" not in link
    page.context.clear_cookies()
    page.goto("/" + link.split("/", 3)[3])                  # BASE_URL of the test app is not the live server's
    expect(page.get_by_role("heading", name="Pick a new time")).to_be_visible()
    expect(page.locator(".current-time")).to_contain_text("10:00am – 10:30am")


def test_a_host_signing_up_from_a_12_hour_browser_reads_12_hours_on_the_dashboard(page, live_server):
    from app.models import EventType, User
    from app.services.booking.bookings import BookingRequest, create_booking
    from app.services.scheduling.slots import available_slots

    page.goto("/signup")
    page.get_by_label("Your name").fill("Uma Host")
    page.get_by_label("Email").fill("uma@example.com")
    page.get_by_label("Username").fill("uma")
    page.get_by_label("Password").fill("a long and good passphrase")
    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page).to_have_url(re.compile(r".*/dashboard$"))
    assert _in_db(live_server.app, lambda: User.get(User.username == "uma").hour12) is True

    def book():
        event_type = EventType.get(EventType.slug == "30-min")
        begin = datetime.now(UTC) + timedelta(days=2)
        slot = next(s for s in available_slots(event_type, begin, begin + timedelta(days=14))
                    if s.astimezone(PARIS).hour == 14)
        create_booking(event_type, BookingRequest(start=slot, invitee_name="Ivan Invitee",
                                                  invitee_email="ivan@example.com", invitee_timezone="Asia/Tokyo"))
        return slot.astimezone(PARIS)

    slot = _in_db(live_server.app, book)
    page.goto("/dashboard/bookings")
    row = page.locator("main").get_by_text("Ivan Invitee").first
    expect(row).to_be_visible()
    expect(page.locator("main")).to_contain_text("2:00pm")
    expect(page.locator("main")).not_to_contain_text("14:00")
    assert slot.hour == 14
