"""Redirect after booking (issue 23 point 9) in a real browser: booking on the page lands on the host's https page
(served by the browser's request routing, so no certificate is needed), and in the inline embed on another site
the host page hears "linktime:booked" with the URL and embed.js navigates it, unless its listener prevents that."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.embed_helpers import SCROLL_SETTLED, choose_day
from tests.browser.helpers import in_db, next_week
from tests.browser.test_embed import other_site  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
TARGET = "https://thanks.example/done"
LISTENER = """<script>
  document.addEventListener("linktime:booked", function (event) {
    if (window.reportBooked) { window.reportBooked(event.detail); }
    if (location.hash === "#stay") { event.preventDefault(); window.stayed = event.detail; }
  });
</script>"""


@pytest.fixture
def host(live_server, make_user):
    from app.models import EventType
    from app.models.accounts import bump_pages_version
    user = make_user("hana", name="Hana Host", timezone="Europe/Berlin")

    def set_redirect():
        EventType.update(redirect_url=TARGET + "?ref=linktime", redirect_with_details=True) \
            .where(EventType.slug == "30-min").execute()
        bump_pages_version(user.id)
    in_db(live_server.app, set_redirect)
    return user


@pytest.fixture
def thanks_page(page):
    """The host's thank-you page at TARGET, answered by the browser's routing; the URLs it was asked for."""
    visits: list[str] = []

    def answer(route):
        visits.append(route.request.url)
        route.fulfill(status=200, content_type="text/html",
                      body="<!doctype html><title>Thanks</title><h1>Thanks from Acme</h1>")
    page.context.route("https://thanks.example/**", answer)
    return visits


def booking_of(live_server):
    from app.models import Booking
    return in_db(live_server.app, lambda: Booking.get())


def schedule(scope, start) -> None:
    slot = scope.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    slot.press("Enter")
    expect(scope.get_by_role("heading", name="Enter your details")).to_be_visible()
    scope.get_by_label("Name").fill("Ann Lee")
    scope.get_by_label("Email").fill("ann+x@example.com")
    scope.get_by_role("button", name="Schedule meeting").press("Enter")


def test_booking_on_the_page_lands_on_the_hosts_page(page, live_server, host, thanks_page):
    start = next_week(1, 10)
    page.goto("/hana/30-min")
    choose_day(page, start.astimezone(BERLIN).date())
    schedule(page, start)
    expect(page.get_by_role("heading", name="Thanks from Acme")).to_be_visible()
    booking = booking_of(live_server)
    assert booking.status == "CONFIRMED" and booking.invitee_email == "ann+x@example.com"
    parts = urlsplit(page.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == TARGET
    query = parse_qs(parts.query)
    assert query["ref"] == ["linktime"] and query["booking_id"] == [booking.id]
    assert query["invitee_email"] == ["ann+x@example.com"] and query["invitee_name"] == ["Ann Lee"]
    assert query["start_time"] == [f"{start:%Y-%m-%dT%H:%M:%SZ}"]


def test_the_inline_embed_tells_the_parent_which_navigates(page, live_server, other_site, host,  # noqa: F811
                                                             thanks_page):
    reported: list[dict] = []
    page.expose_function("reportBooked", lambda detail: reported.append(detail))
    url = other_site("/inline.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/30-min">'
                                     f'</div>{LISTENER}')
    page.goto(url)
    frame = page.frame_locator("#widget iframe")
    start = next_week(2, 11)
    choose_day(frame, start.astimezone(BERLIN).date())
    page.wait_for_function(SCROLL_SETTLED)
    schedule(frame, start)
    expect(page.get_by_role("heading", name="Thanks from Acme")).to_be_visible()   # the whole page went
    booking = booking_of(live_server)
    assert len(reported) == 1
    detail = reported[0]
    assert (detail["bookingId"], detail["kind"]) == (booking.id, "inline")
    assert detail["redirectUrl"] == page.url and page.url.startswith(TARGET + "?ref=linktime&booking_id=")


def test_a_listener_may_keep_the_parent_where_it_is(page, live_server, other_site, host, thanks_page):  # noqa: F811
    url = other_site("/stay.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/30-min">'
                                   f'</div>{LISTENER}')
    page.goto(url + "#stay")
    frame = page.frame_locator("#widget iframe")
    start = next_week(3, 12)
    choose_day(frame, start.astimezone(BERLIN).date())
    page.wait_for_function(SCROLL_SETTLED)
    schedule(frame, start)
    expect(frame.get_by_role("heading", name="You are scheduled")).to_be_visible()
    page.wait_for_function("window.stayed !== undefined")
    detail = page.evaluate("window.stayed")
    assert detail["redirectUrl"].startswith(TARGET + "?ref=linktime&booking_id=")
    continue_link = frame.get_by_role("link", name="Continue")
    expect(continue_link).to_have_attribute("target", "_top")
    assert page.url.startswith(url) and thanks_page == []
