"""Out-of-office (issue 23, point 8) in a real browser: the host adds days away on the dashboard (htmx, an overlapping
range refused inline), and the booking page then says "away until" for those days, with the link to book the
teammate instead, which leads to the teammate's booking page of the same event type; axe-core finds no serious
issue on either page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.datetimes import format_date
from tests import factories
from tests.browser.embed_helpers import choose_day
from tests.browser.helpers import BERLIN, in_db, next_week
from tests.browser.test_accessibility import AXE, _problems

pytestmark = pytest.mark.browser

MARK = "window.__oooMarker"


@pytest.fixture
def people(live_server, make_user):
    hana = make_user("hana", name="Hana Host", timezone="Europe/Berlin")
    mate = make_user("mate", name="Mate Marsh", timezone="Europe/Berlin")
    in_db(live_server.app, lambda: factories.team(hana, [mate]))
    return hana, mate


def _sign_in(page, user) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_the_host_adds_days_away_and_the_booking_page_says_so_with_the_teammate_link(page, live_server, people):
    hana, mate = people
    monday = next_week(0).astimezone(BERLIN).date()
    friday, tuesday = monday + timedelta(days=4), monday + timedelta(days=1)
    _sign_in(page, hana)
    page.goto("/dashboard/availability")
    page.get_by_role("link", name="Out of office: days you are away").click()
    expect(page.get_by_role("heading", name="Out of office", exact=True)).to_be_visible()
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")

    form = page.locator("#ooo-form")
    form.get_by_label("First day away").fill(monday.isoformat())
    form.get_by_label("Last day away").fill(friday.isoformat())
    form.get_by_label("Reason", exact=True).select_option(label="Vacation")
    form.get_by_label("Note for invitees").fill("Hiking in the Alps")
    form.get_by_label("Send invitees to a teammate").select_option(label="Mate Marsh (@mate)")
    form.get_by_role("button", name="Add out-of-office days").click()
    entry = page.locator(".ooo-entry")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Vacation")
    expect(entry).to_contain_text("Invitees are sent to Mate Marsh")
    assert page.evaluate(f"() => {MARK} === 'same document'")          # swapped in place by htmx

    # an overlapping range is refused inline, the typed values kept
    form = page.locator("#ooo-form")
    form.get_by_label("First day away").fill(friday.isoformat())
    form.get_by_label("Last day away").fill((friday + timedelta(days=2)).isoformat())
    form.get_by_role("button", name="Add out-of-office days").click()
    error = page.locator("#e-start_date")
    expect(error).to_contain_text("These dates overlap your entry")
    expect(page.locator("#f-start_date")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".ooo-entry")).to_have_count(1)
    expect(page.locator(".htmx-request")).to_have_count(0)
    assert _problems(AXE.run(page)) == []                                # axe-core: no serious or critical issue

    # the booking page, as an invitee sees it
    invitee = page.context.browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris", locale="en-US")
    try:
        booking = invitee.new_page()
        booking.goto("/hana/30-min")
        choose_day(booking, tuesday)
        notice = booking.locator("#away-notice")
        expect(notice).to_contain_text(f"Hana Host is away until {format_date(friday)}")
        expect(notice).to_contain_text("(Vacation)")
        expect(notice).to_contain_text("Hiking in the Alps")
        expect(booking.locator("#slots")).to_have_attribute("data-away-until", friday.isoformat())
        expect(booking.locator(f'a.day[data-date="{tuesday.isoformat()}"]')).to_have_attribute(
            "aria-label", re.compile(r", host away$"))
        expect(booking.locator("#away-banner")).to_have_count(0)      # said once: the banner above the calendar went
        expect(booking.locator(".htmx-request")).to_have_count(0)
        assert _problems(AXE.run(booking)) == []
        booking.get_by_role("link", name="Book with Mate Marsh instead").click()
        booking.wait_for_url(re.compile(r".*/mate/30-min\?"))
        expect(booking.locator("#cal-title")).to_be_visible()
        expect(booking.locator("body")).to_contain_text("Mate Marsh")
        expect(booking.locator("#away-notice")).to_have_count(0)
    finally:
        invitee.close()
