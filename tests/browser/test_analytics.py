"""The Analytics dashboard in Chromium: a visitor's real page views show up in the Page Views tab's SVG chart
and tables; tabs and presets switch in place through htmx; hovering a day shows its numbers.

Uses the ``live_server`` and ``page`` fixtures of tests/browser/conftest.py. The visitor browses in a second
browser context with an ordinary desktop user agent (the fixture's headless Chromium names itself
HeadlessChrome, which analytics rightly ignores as a bot). The live server runs in this process, so the test
flushes the page-view buffer itself instead of waiting for the background writer.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import EventType
from app.services.booking import bookings as svc
from app.services.insights import page_views
from app.services.scheduling.slots import available_slots
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

MARK = "window.__analyticsMarker"
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                  "Safari/537.36")


@pytest.fixture
def host(make_user):
    return make_user("vera", plan="PRO", timezone="Europe/Berlin")


def _book(app, host):
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        begin = datetime.now(UTC) + timedelta(days=2)
        start = available_slots(event_type, begin, begin + timedelta(days=14))[0]
        return svc.create_booking(event_type, svc.BookingRequest(
            start=start, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
            invitee_timezone="Europe/Berlin")).booking


def _visit_as_a_stranger(chromium, live_server):
    """A visitor arrives on the profile from Google and clicks through to the 30-minute event."""
    context = chromium.new_context(base_url=live_server.url, user_agent=DESKTOP_CHROME, locale="en-US")
    try:
        visitor = context.new_page()
        visitor.goto("/vera", referer="https://www.google.com/")
        visitor.get_by_role("link", name=re.compile("30 Minute Meeting")).first.click()
        visitor.wait_for_url(re.compile(r".*/vera/30-min"))
        expect(visitor.locator("body")).to_contain_text("30 Minute Meeting")
    finally:
        context.close()


def _sign_in(page, host):
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_host_sees_views_chart_and_tables_and_switches_presets_in_place(page, chromium, live_server, host):
    _visit_as_a_stranger(chromium, live_server)
    _book(live_server.app, host)
    page_views.flush()

    _sign_in(page, host)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    page.wait_for_url(re.compile(r".*/dashboard/analytics$"))

    # Bookings tab first: one booking made today, listed per event type
    expect(page.locator("#stat-bookings .stat-value")).to_have_text("1")
    expect(page.locator("#bookings-by-event")).to_contain_text("30 Minute Meeting")
    expect(page.locator("#bookings-chart svg")).to_be_visible()

    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")
    page.get_by_role("link", name="Page Views").click()
    expect(page).to_have_url(re.compile(r"tab=page-views"))
    expect(page.locator("#stat-views .stat-value")).to_have_text("2")
    expect(page.locator("#stat-visitors .stat-value")).to_have_text("1")
    expect(page.locator("#stat-conversion .stat-value")).to_have_text("100.0%")
    expect(page.locator("#stat-referrer .stat-value")).to_have_text("google.com")

    chart = page.locator("#views-chart svg.trend")
    expect(chart).to_be_visible()
    expect(chart.locator(".series-views path.area")).to_have_count(1)
    expect(chart.locator(".series-visitors path.area")).to_have_count(1)
    days = chart.locator("g.day")
    expect(days).to_have_count(30)

    conversions = page.locator("#event-conversions")
    expect(conversions).to_be_visible()
    row = conversions.locator("tbody tr", has_text="30 Minute Meeting")
    expect(row.locator("td.num")).to_have_text(["1", "1", "1", "100.0%"])
    referrers = page.locator("#top-referrers tbody tr")
    expect(referrers).to_have_count(1)
    expect(referrers.first).to_contain_text("google.com")
    expect(referrers.first).to_contain_text("100.0%")

    # hovering today's column shows that day's numbers
    today = days.last
    tip = today.locator("text.tip")
    expect(tip).to_be_hidden()
    today.locator("rect.hit").hover()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("Views: 2")
    expect(tip).to_contain_text("Unique visitors: 1")

    # a shorter preset: the panel is swapped in place, the URL follows
    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"preset=7d"))
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    expect(page.locator("#views-chart svg.trend g.day")).to_have_count(7)
    expect(page.locator("#stat-views .stat-value")).to_have_text("2")
    assert page.evaluate(f"() => {MARK}") == "same document"

    # a preset longer than the Pro plan's 90 days: capped, with a banner
    page.get_by_role("link", name="Last year").click()
    expect(page.locator("#plan-banner")).to_contain_text("Your Pro plan keeps 90 days of analytics.")
    expect(page.locator("#views-chart svg.trend g.day")).to_have_count(90)
    assert page.evaluate(f"() => {MARK}") == "same document"
