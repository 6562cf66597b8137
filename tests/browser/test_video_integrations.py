"""Zoom in a real browser: connect it through the OAuth redirect (a local fake of Zoom's authorization server and
API), choose it as an event type's location, and book: the invitee's confirmation page shows the join link."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_booking_flow import (
    BERLIN,
    choose_day,
    in_db,
    next_week,
    wait_for_browser_zone,
)
from tests.browser.test_integrations import _sign_up
from tests.fakes.zoom import ZoomFake

pytestmark = pytest.mark.browser


@pytest.fixture
def zoom():
    with ZoomFake(email="dana@zoom.example", redirect_uris=()) as fake:
        yield fake


@pytest.fixture
def live_server(app_factory, zoom):
    """The browser tests' live server, with Zoom configured to the fake and BASE_URL set to the server's own
    address (the OAuth redirect comes back to it)."""
    from tests.live import serve_live

    config = zoom.client_config()
    app = app_factory(WTF_CSRF_ENABLED=True, ZOOM_CLIENT_ID=config["client_id"],
                      ZOOM_CLIENT_SECRET=config["client_secret"], ZOOM_AUTHORIZE_URL=config["authorize_url"],
                      ZOOM_TOKEN_URL=config["token_url"], ZOOM_REVOKE_URL=zoom.url + "/oauth/revoke",
                      ZOOM_API_URL=config["api_url"])
    with serve_live(app, own_base_url=True) as server:
        zoom.redirect_uris = (server.url + "/settings/integrations/zoom/callback",)
        yield server


def test_connect_zoom_choose_it_as_location_and_the_booking_shows_the_link(page, live_server, zoom):
    from app.models import Booking

    base = live_server.url
    _sign_up(page, base, "dana")
    page.goto(base + "/settings/integrations")
    expect(page.get_by_role("heading", name="Video Conferencing", exact=True)).to_be_visible()
    page.get_by_role("link", name="Connect Zoom").click()          # to Zoom (the fake approves) and back
    expect(page).to_have_url(re.compile(r"/settings/integrations$"))
    expect(page.locator(".flash-success")).to_contain_text("Connected Zoom “dana@zoom.example”")
    card = page.locator(".integration", has_text="dana@zoom.example")
    expect(card.locator(".status-connected")).to_have_text("Connected")
    expect(page.get_by_role("link", name="Connect Zoom")).to_have_count(0)

    page.goto(base + "/dashboard/event-types")
    page.get_by_role("link", name="30 Minute Meeting").first.click()
    page.get_by_label("Where the meeting happens").select_option("zoom")
    page.get_by_role("button", name="Save changes").first.click()
    expect(page.locator(".flash-success, [role=status]").first).to_be_visible()
    page.reload()
    expect(page.get_by_label("Where the meeting happens")).to_have_value("zoom")

    start = next_week(1, 10)
    page.goto(base + "/dana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    page.locator("#slots").get_by_role("link", name="10:00am", exact=True).click()
    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    link = page.locator("#join-link a")
    expect(link).to_have_attribute("href", re.compile(r"^https://us05web\.zoom\.us/j/\d+\?pwd="))

    booking = in_db(live_server.app, lambda: Booking.get())
    [meeting] = zoom.meetings.values()
    assert booking.meeting_link == meeting["join_url"] and booking.location_type == "zoom"
