"""Single-use links in Chromium (issue 23, point 7): the host makes one from the event types list, an invitee books
through it, the second visit says it was used; revoking another link in place (htmx); and a link in the embed on
another site books once and tells the host page (``linktime:booked``)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Booking, EventType
from app.models.one_time_links import OneTimeLink
from app.services.booking import one_time_links as links
from tests.browser import test_embed
from tests.browser.embed_helpers import choose_day
from tests.browser.helpers import BERLIN, in_db, next_week
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

other_site = test_embed.other_site      # the fixture serving a page of another site (tests/browser/test_embed.py)
book_in = test_embed.book_in


@pytest.fixture
def host(live_server, make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


def _sign_in(page, host):
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_host_makes_a_single_use_link_the_invitee_books_once(page, chromium, live_server, host):
    _sign_in(page, host)
    page.goto("/dashboard/event-types")
    page.get_by_role("link", name="Single-use link for 30 Minute Meeting").click()
    expect(page.get_by_role("heading", name="New single-use link")).to_be_visible()
    page.get_by_role("button", name="Create link").click()
    row = page.locator("#link-list article").first
    expect(row).to_contain_text("Single-use link")
    url = row.locator("code.link-text").inner_text()
    assert re.fullmatch(r"http://\S+/d/[A-Za-z0-9_-]{40,}", url), url
    expect(row.get_by_role("button", name="Copy the link")).to_have_attribute("data-copy", url)
    path = "/d/" + url.rsplit("/d/", 1)[1]

    invitee = chromium.new_context(base_url=live_server.url, timezone_id="Europe/Paris", locale="en-US").new_page()
    try:
        invitee.goto(path)
        expect(invitee.get_by_role("heading", name="30 Minute Meeting")).to_be_visible()
        start = next_week(1, 10)
        choose_day(invitee, start.astimezone(BERLIN).date())
        invitee.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').click()
        invitee.get_by_label("Name").fill("Ivan Invitee")
        invitee.get_by_label("Email").fill("ivan@example.com")
        invitee.get_by_role("button", name="Schedule meeting").click()
        expect(invitee.get_by_role("heading", name="You are scheduled")).to_be_visible()
        invitee.goto(path)
        expect(invitee.get_by_role("heading", name="This link has already been used")).to_be_visible()
        expect(invitee.locator("#slots")).to_have_count(0)
    finally:
        invitee.context.close()

    booking = in_db(live_server.app, lambda: Booking.get())
    assert booking.start_at == start and booking.invitee_email == "ivan@example.com"
    assert in_db(live_server.app, lambda: OneTimeLink.get()).booking_id == booking.id
    page.goto("/dashboard/links")
    expect(page.locator("#no-links")).to_be_visible()          # a used link is no longer listed


def test_revoking_a_link_in_place(page, live_server, host):
    def make():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        return links.create_single_use(host, event_type.id)
    link = in_db(live_server.app, make)
    _sign_in(page, host)
    page.goto("/dashboard/links")
    page.evaluate("() => { window.__sameDocument = true; }")
    page.locator(f"#revoke-{link.id}").click()
    expect(page.locator(f"#link-{link.id}")).to_contain_text("Revoked")
    assert page.evaluate("window.__sameDocument") is True          # an htmx swap, not a page load
    assert page.goto(f"/d/{link.token}").status == 404


def test_a_single_use_link_in_the_embed_books_once_and_tells_the_host_page(page, live_server, other_site, host):
    def make():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        return links.create_single_use(host, event_type.id)
    link = in_db(live_server.app, make)
    url = other_site("/inline.html", f'<div id="widget" data-linktime-inline="{live_server.url}/d/{link.token}">'
                                      '</div>')
    page.goto(url)
    frame = page.frame_locator("#widget iframe")
    expect(frame.get_by_role("heading", name="30 Minute Meeting")).to_be_visible()
    start = next_week(2, 10)
    book_in(frame, start, name="Ann Lee", email="ann@example.com")
    page.wait_for_function("window.booked.length === 1")
    [event] = page.evaluate("window.booked")
    booking = in_db(live_server.app, lambda: Booking.get())
    assert event["detail"]["bookingId"] == booking.id and booking.source == "embed"
    page.reload()
    expect(page.frame_locator("#widget iframe").get_by_role("heading", name="This link has already been used")) \
        .to_be_visible()
