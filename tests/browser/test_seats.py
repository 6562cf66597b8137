"""Seats (issue 23) in Chromium: two invitees book the same slot of a 2-seat class, each through the booking page,
which says how many seats are left; the slot then disappears for a third invitee."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import in_db, next_week
from tests.browser.test_booking_flow import choose_day, wait_for_browser_zone

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def yoga(live_server, make_user):
    from tests import factories

    host = make_user("hana", name="Hana Host", timezone="Europe/Berlin")
    return in_db(live_server.app, lambda: factories.new_event_type(
        host, name="Yoga class", slug="yoga", duration=60, seats=2, seats_show_remaining=True))


def book_a_seat(page, start, name: str, email: str, seats_left: str) -> None:
    page.goto("/hana/yoga")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    slot = page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    expect(slot).to_contain_text(seats_left)
    slot.click()
    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/booking/[^/?]+\?booked=1"))
    expect(page.get_by_text(f"{name} <{email}>")).to_be_visible()


def test_two_invitees_fill_a_two_seat_slot_and_it_disappears_for_a_third(page, live_server, yoga):
    from app.models import Booking

    start = next_week(1, 10)
    book_a_seat(page, start, "Ada First", "ada@example.com", "2 seats left")
    book_a_seat(page, start, "Ben Second", "ben@example.com", "1 seat left")
    expect(page.get_by_text("ada@example.com")).to_have_count(0)       # the second does not see the first

    seats = in_db(live_server.app, lambda: list(Booking.select().where(Booking.start_at == start)
                                                .order_by(Booking.invitee_email)))
    assert [(b.invitee_email, b.status, b.seated) for b in seats] == [("ada@example.com", "CONFIRMED", True),
                                                                      ("ben@example.com", "CONFIRMED", True)]
    assert seats[0].uid != seats[1].uid

    page.goto("/hana/yoga")                                             # a third invitee
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    hour_later = start + timedelta(hours=1)
    expect(page.locator(f'#slots a.slot[data-start="{hour_later:%Y-%m-%dT%H:%M:%SZ}"]')).to_contain_text(
        "2 seats left")
    expect(page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')).to_have_count(0)
