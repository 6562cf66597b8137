"""An invitee books, switches time zones and reschedules in Chromium (the browser runs in Europe/Paris, en-US:
the booking page picks up that zone and the 12-hour clock by itself)."""
from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEZONE
from tests.browser.helpers import in_db, next_week

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def host(live_server, make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


def wait_for_browser_zone(scope, zone: str = TIMEZONE) -> None:
    """The first view is in the host's zone; booking.js then re-renders it in the browser's zone and clock."""
    expect(scope.locator("#tz-select")).to_have_value(zone)
    expect(scope.locator(".hour-toggle .seg.is-active")).to_have_text("am/pm")


def choose_day(scope, day: date) -> None:
    title = scope.locator("#cal-title")
    if title.inner_text() != day.strftime("%B %Y"):
        scope.get_by_role("link", name="Next month").click()
        expect(title).to_have_text(day.strftime("%B %Y"))
    scope.locator(f'a.day[data-date="{day.isoformat()}"]').click()
    expect(scope.locator("#slots")).to_have_attribute("data-date", day.isoformat())


def test_invitee_books_from_the_profile_page_through_the_confirmation(page, live_server, host):
    from app.models import Booking

    start = next_week(1, 10)
    page.goto("/hana")
    expect(page.get_by_text("Book a time with Hana Host")).to_be_visible()
    page.get_by_role("link", name=re.compile("30 Minute Meeting")).click()
    expect(page.get_by_role("heading", name="30 Minute Meeting")).to_be_visible()
    wait_for_browser_zone(page)
    expect(page).to_have_url(re.compile(r"tz=Europe%2FParis"))
    expect(page).to_have_url(re.compile(r"hour=12"))

    choose_day(page, start.astimezone(BERLIN).date())
    expect(page).to_have_url(re.compile(rf"date={start.astimezone(BERLIN).date().isoformat()}"))
    page.locator("#slots").get_by_role("link", name="10:00am", exact=True).click()

    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()
    expect(page.locator(".chosen-time")).to_contain_text("10:00am – 10:30am")
    page.get_by_role("button", name="Schedule meeting").click()            # empty: inline errors
    expect(page.locator("#e-name")).to_have_text("Enter your name.")
    expect(page.locator("#e-email")).to_have_text("Enter a valid email address.")
    assert in_db(live_server.app, lambda: Booking.select().count()) == 0

    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_label("Anything to share").fill("Looking forward")
    page.get_by_role("button", name="Schedule meeting").click()

    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/booking/[^/?]+\?booked=1"))
    expect(page.locator(".booking-facts")).to_contain_text("10:00am – 10:30am")
    expect(page.get_by_role("link", name="Google Calendar")).to_have_attribute(
        "href", re.compile(r"^https://calendar\.google\.com/calendar/render\?action=TEMPLATE"))
    expect(page.get_by_role("link", name="Outlook.com")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .ics").click()
    with open(download.value.path(), "rb") as ics:
        assert b"BEGIN:VCALENDAR" in ics.read()

    booking = in_db(live_server.app, lambda: Booking.get())
    assert (booking.start_at, booking.invitee_email, booking.invitee_timezone, booking.notes) == (
        start, "ivan@example.com", TIMEZONE, "Looking forward")


def test_switching_the_time_zone_re_renders_the_slots(page, live_server, host):
    start = next_week(1, 9)                       # the first slot of that day, 09:00 Berlin = 08:00 UTC
    day = start.astimezone(BERLIN).date()
    page.goto(f"/hana/30-min?date={day.isoformat()}")
    wait_for_browser_zone(page)
    first = page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    expect(first).to_have_text("9:00am")

    page.get_by_label("Search time zones").fill("tokyo")
    page.get_by_label("Search time zones").press("Enter")
    expect(page.locator("#tz-select")).to_have_value("Asia/Tokyo")
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo"))
    tokyo = start.astimezone(ZoneInfo("Asia/Tokyo"))
    expected = f"{tokyo.hour % 12 or 12}:{tokyo.minute:02d}{'am' if tokyo.hour < 12 else 'pm'}"
    expect(page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')).to_have_text(expected)

    page.get_by_role("link", name="24h").click()
    expect(page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')).to_have_text(f"{tokyo:%H:%M}")
    expect(page).to_have_url(re.compile(r"hour=24"))
    page.reload()                                  # the zone and clock live in the address
    expect(page.locator("#tz-select")).to_have_value("Asia/Tokyo")
    expect(page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')).to_have_text(f"{tokyo:%H:%M}")


def test_invitee_reschedules_through_the_email_link(page, live_server, host):
    from app.models import Booking, EventType
    from app.services.booking.bookings import BookingRequest, create_booking
    from app.services.booking.notifications import invitee_links

    first, second = next_week(1, 10), next_week(3, 14)

    def make():
        event_type = EventType.get((EventType.user == host.id) & (EventType.slug == "30-min"))
        booking = create_booking(event_type, BookingRequest(
            start=first, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
            invitee_timezone="Europe/Berlin")).booking
        return booking, invitee_links(booking)["reschedule"]

    booking, link = in_db(live_server.app, make)
    path = "/" + link.split("/", 3)[3]                 # BASE_URL of the test app is not the live server's
    page.goto(path)
    expect(page.get_by_role("heading", name="Pick a new time")).to_be_visible()
    expect(page.locator(".current-time")).to_contain_text("10:00 – 10:30")

    choose_day(page, second.astimezone(BERLIN).date())
    page.locator("#slots").get_by_role("link", name="14:00", exact=True).click()
    expect(page.get_by_role("heading", name="Confirm the new time")).to_be_visible()
    expect(page.locator("#new-time")).to_contain_text("14:00 – 14:30")
    page.get_by_label("Reason").fill("A clash")
    page.get_by_role("button", name="Move the meeting").click()

    expect(page.get_by_role("heading", name="Your meeting was moved")).to_be_visible()
    expect(page.locator(".booking-facts")).to_contain_text("14:00 – 14:30")
    moved = in_db(live_server.app, lambda: Booking.get_by_id(booking.id))
    assert (moved.start_at, moved.previous_start_at) == (second, first)
    assert in_db(live_server.app, lambda: Booking.select().count()) == 1


def test_booking_and_cancelling_work_without_javascript(chromium, live_server, host):
    from app.models import Booking

    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        start = next_week(2, 15)
        day = start.astimezone(BERLIN).date()
        page.goto("/hana")
        page.get_by_role("link", name=re.compile("30 Minute Meeting")).click()
        expect(page.locator("#tz-select")).to_have_value("Europe/Berlin")      # the host's zone until chosen
        page.locator("#tz-select").select_option("Europe/London")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"tz=Europe%2FLondon"))
        choose_day(page, day)
        page.locator("#slots").get_by_role("link", name="14:00", exact=True).click()   # 15:00 Berlin
        expect(page).to_have_url(re.compile(rf"date={day.isoformat()}&time=14%3A00"))
        page.get_by_label("Name").fill("No Script")
        page.get_by_label("Email").fill("noscript@example.com")
        page.get_by_role("button", name="Schedule meeting").click()
        expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
        booking = in_db(live_server.app, lambda: Booking.get())
        assert (booking.start_at, booking.invitee_timezone) == (start, "Europe/London")

        page.get_by_role("link", name="Cancel").click()
        page.get_by_label("Reason").fill("Plans changed")
        page.get_by_role("button", name="Cancel meeting").click()
        expect(page.get_by_role("heading", name="This meeting was cancelled")).to_be_visible()
        assert in_db(live_server.app, lambda: Booking.get_by_id(booking.id).status) == "CANCELLED"
    finally:
        context.close()
