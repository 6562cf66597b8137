"""An invitee books a round-robin team event type in Chromium, from the team page to the confirmation (the
browser runs in Europe/Paris, en-US: the page picks up that zone and the 12-hour clock by itself)."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import next_week
from tests.browser.test_booking_flow import choose_day, in_db, wait_for_browser_zone

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def sales(live_server, make_user):
    """The Sales team of Olga's organization, with a round-robin "Demo" hosted by Adam and Mia; Adam is busy at
    next Tuesday 10:00 (Berlin)."""
    from tests import factories

    olga = make_user("olga", name="Olga Owner", timezone="Europe/Berlin")
    adam = make_user("adam", name="Adam Able", timezone="Europe/Berlin")
    mia = make_user("mia", name="Mia Moss", timezone="Europe/Berlin")

    def build():
        team = factories.team(olga, [adam, mia])
        factories.team_event_type(olga, team, [adam, mia], name="Demo")
        factories.booking(factories.event_type(adam), next_week(1, 10), email="busy@example.com")
        return team
    in_db(live_server.app, build)
    return olga, adam, mia


def test_invitee_books_a_round_robin_team_event_through_the_team_page(page, live_server, sales):
    from app.models import Booking, BookingHost, EventType

    _olga, _adam, mia = sales
    start = next_week(1, 10)
    page.goto("/team/sales")
    expect(page.get_by_role("heading", name="Book a time with Sales")).to_be_visible()
    expect(page.locator(".event-item")).to_contain_text("Round robin")
    page.get_by_role("link", name=re.compile("Demo")).click()
    expect(page.get_by_role("heading", name="Demo")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/team/sales/demo"))
    wait_for_browser_zone(page)

    choose_day(page, start.astimezone(BERLIN).date())
    page.locator("#slots").get_by_role("link", name="10:00am", exact=True).click()    # Mia is free then
    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()
    expect(page.locator(".chosen-time")).to_contain_text("10:00am – 10:30am")
    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_role("button", name="Schedule meeting").click()

    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/booking/[^/?]+\?booked=1"))
    expect(page.locator(".booking-facts")).to_contain_text("Demo with Mia Moss")
    expect(page.locator(".booking-facts")).to_contain_text("10:00am – 10:30am")

    def stored():
        booking = Booking.get(Booking.invitee_email == "ivan@example.com")
        hosts = [row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id)]
        return booking.start_at, booking.user_id, hosts, EventType.get_by_id(booking.event_type_id).team_id
    at, user_id, hosts, team_id = in_db(live_server.app, stored)
    assert (at, user_id, hosts) == (start, mia.id, [mia.id]) and team_id is not None
