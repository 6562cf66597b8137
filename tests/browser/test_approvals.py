"""Requires confirmation (issue 23 point 2) in Chromium: the invitee's booking waits ("Awaiting confirmation"), the
host confirms from the Confirm link of the request email the test SMTP server received, or declines from the
dashboard (htmx, with a reason), and the invitee gets the matching email."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS
from tests.browser.helpers import BERLIN, in_db, next_week
from tests.browser.test_booking_flow import choose_day, wait_for_browser_zone
from tests.factories import PASSWORD
from tests.live import serve_live

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(app_factory, smtp_server):
    """The browser tests' live server, sending its mail to the test SMTP server."""
    app = app_factory(WTF_CSRF_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with serve_live(app) as server:
        yield server


@pytest.fixture
def host(live_server, make_user):
    from app.models import EventType
    from app.models.accounts import bump_pages_version

    user = make_user("hana", name="Hana Host", timezone="Europe/Berlin")

    def gate():
        EventType.update(requires_confirmation=True).where(
            (EventType.user == user.id) & (EventType.slug == "30-min")).execute()
        bump_pages_version(user.id)
    in_db(live_server.app, gate)
    return user


def mail(smtp_server, subject_start: str, count: int):
    """The message whose subject starts with ``subject_start``, once ``count`` messages have arrived."""
    messages = smtp_server.wait_for(count, timeout=WAIT_MS / 1000)
    found = [m for m in messages if m["Subject"].startswith(subject_start)]
    assert found, [m["Subject"] for m in messages]
    return found[-1]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def request_a_booking(page, start) -> None:
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    page.locator("#slots").get_by_role("link", name="10:00am", exact=True).click()
    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="Awaiting confirmation")).to_be_visible()
    expect(page.locator("#request-status")).to_contain_text("Hana Host")
    expect(page.get_by_role("link", name="Google Calendar")).to_have_count(0)


def test_the_host_confirms_from_the_emailed_link(page, live_server, host, smtp_server):
    from app.models import Booking

    start = next_week(1, 10)
    request_a_booking(page, start)
    booking = in_db(live_server.app, lambda: Booking.get())
    assert booking.status == "PENDING" and booking.start_at == start

    received = mail(smtp_server, "Request received", 2)
    assert received["To"] == "ivan@example.com" and "awaiting confirmation" in text_of(received)
    request = mail(smtp_server, "Please confirm", 2)
    assert request["To"] == "hana@example.com"
    url = re.search(r"^Confirm: (\S+)$", text_of(request), re.MULTILINE).group(1)
    page.goto("/" + url.split("/", 3)[3])                   # the test app's BASE_URL is not the live server's
    expect(page.get_by_role("heading", name="Confirm this booking?")).to_be_visible()
    expect(page.locator("#approval-answer")).to_contain_text("Ivan Invitee")
    assert in_db(live_server.app, lambda: Booking.get_by_id(booking.id).status) == "PENDING"
    page.get_by_role("button", name="Confirm the booking").click()

    expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible()
    assert in_db(live_server.app, lambda: Booking.get_by_id(booking.id).status) == "CONFIRMED"
    confirmed = mail(smtp_server, "Confirmed", 4)          # the ordinary confirmation pair, with the invite
    assert confirmed["To"] == "ivan@example.com"
    assert any(part.get_content_type() == "text/calendar" for part in confirmed.walk())
    page.reload()                                            # the link's answer is given: it says so
    expect(page.get_by_role("heading", name="Request already answered")).to_be_visible()


def test_the_host_declines_from_the_dashboard_with_a_reason(page, live_server, host, smtp_server):
    from app.models import Booking

    request_a_booking(page, next_week(2, 10))
    booking = in_db(live_server.app, lambda: Booking.get())
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))

    page.goto("/dashboard/bookings")
    row = page.locator(f"#booking-{booking.id}")
    expect(row).to_contain_text("Awaiting your confirmation")
    row.get_by_role("link", name="Decline…").click()
    page.wait_for_url(f"**/dashboard/bookings/{booking.id}#request-card")
    page.get_by_label("Reason for declining (optional)").fill("I am away that week")
    page.get_by_role("button", name="Decline", exact=True).click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Yes, decline").click()

    expect(page.locator(".flash-success")).to_contain_text("Declined")
    fresh = in_db(live_server.app, lambda: Booking.get_by_id(booking.id))
    assert (fresh.status, fresh.approval, fresh.cancel_reason) == ("CANCELLED", "declined", "I am away that week")
    declined = mail(smtp_server, "Declined", 3)
    assert declined["To"] == "ivan@example.com" and "Reason: I am away that week" in text_of(declined)
