"""Booking limits (issue 23) in a real browser: with one booking a week allowed, booking a slot on the page takes the
rest of that week off the calendar while the next week stays bookable."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.embed_helpers import choose_day
from tests.browser.helpers import BERLIN, in_db, next_week

pytestmark = pytest.mark.browser


def test_a_booked_week_disappears_from_the_booking_page(page, live_server, make_user):
    from app.models import Booking, EventType
    user = make_user("hana", name="Hana Host", timezone="Europe/Berlin")
    in_db(live_server.app, lambda: EventType.update(max_per_week=1).where(EventType.user == user.id).execute())
    start = next_week(1, 10)                       # next week's Tuesday, 10:00 Berlin
    tuesday = start.astimezone(BERLIN).date()
    thursday, next_tuesday = tuesday + timedelta(days=2), tuesday + timedelta(days=7)

    page.goto("/hana/30-min")
    choose_day(page, tuesday)
    page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').press("Enter")
    page.get_by_label("Name").fill("Ann Lee")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Schedule meeting").press("Enter")
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    assert in_db(live_server.app, lambda: Booking.select().count()) == 1

    for day, bookable in ((thursday, False), (next_tuesday, True)):
        page.goto(f"/hana/30-min?month={day:%Y-%m}")
        expect(page.locator(f'.day[data-date="{day.isoformat()}"]')).to_have_count(1)
        expect(page.locator(f'a.day.is-available[data-date="{day.isoformat()}"]')).to_have_count(1 if bookable else 0)
