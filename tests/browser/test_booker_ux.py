"""The invitee's booking pages on a phone (375 px) and a desktop (1280 px): booking details that stay readable,
the chosen day kept across zone changes, loading and error states of a day's times, the embed scrolling to the
times, no product header, the time-zone picker, typed details kept, the time column's hint, a wide logo, the
popup's height and arrow keys in the calendar (issue 14)."""
from __future__ import annotations

import re
import struct
import zlib

import pytest
from playwright.sync_api import expect

from tests.browser.test_booking_flow import BERLIN, choose_day, in_db, next_week, wait_for_browser_zone
from tests.browser.test_embed import other_site  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 900}
LONG_LABEL = ("What would you like to discuss in this meeting, and is there anything we should prepare "
              "before we talk to each other?")

NOTHING_WIDER = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1);
  return document.documentElement.scrollWidth <= width && wide.length === 0;
}"""


@pytest.fixture
def host(live_server, make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


def booking_with_answer(app, host):
    """A booking of the 30-min type, whose custom question has a long label; its view token path."""
    from app.db import db
    from app.models import EventType
    from app.services.booking.bookings import BookingRequest, create_booking
    from app.services.booking.notifications import invitee_links
    from app.services.scheduling import event_types as et_service

    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host.id) & (EventType.slug == "30-min"))
        et_service.update_event_type(event_type, et_service.EventTypeInput(
            questions=[{"label": LONG_LABEL, "type": "text", "required": False}]))
        event_type = EventType.get_by_id(event_type.id)
        question = event_type.questions[0]["id"]
        booking = create_booking(event_type, BookingRequest(
            start=next_week(1, 10), invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
            invitee_timezone="Europe/Berlin", answers={question: "Our roadmap for next year"})).booking
        return "/" + invitee_links(booking)["view"].split("/", 3)[3]


# --- defect 1 -------------------------------------------------------------------------------------------
def test_booking_details_stay_readable_on_a_phone_with_a_long_question(page, live_server, host):
    path = booking_with_answer(live_server.app, host)
    page.set_viewport_size(PHONE)
    for url in (path + "?booked=1", path + "?rescheduled=1", path + "/cancel"):
        page.goto(url)
        facts = page.locator(".booking-facts")
        expect(facts).to_contain_text("Our roadmap for next year")
        widths = facts.locator("dd").evaluate_all("dds => dds.map(d => d.getBoundingClientRect().width)")
        assert min(widths) >= 150, (url, widths)
        assert page.evaluate(NOTHING_WIDER), url


# --- defect 2 -------------------------------------------------------------------------------------------
def switch_zone(page, search: str, zone: str) -> None:
    page.get_by_label("Search time zones").fill(search)
    page.get_by_label("Search time zones").press("Enter")
    expect(page.locator("#tz-select")).to_have_value(zone)


def test_changing_the_zone_keeps_the_chosen_day_and_month(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    day = next_week(2, 12).astimezone(BERLIN).date()
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, day)
    switch_zone(page, "tokyo", "Asia/Tokyo")
    expect(page.locator("#slots")).to_have_attribute("data-date", day.isoformat())
    expect(page.locator("a.day.is-selected")).to_have_attribute("data-date", day.isoformat())

    title = page.locator("#cal-title")
    shown = title.inner_text()
    page.get_by_role("link", name="Next month").click()
    expect(title).not_to_have_text(shown)
    month = title.inner_text()
    switch_zone(page, "london", "Europe/London")
    expect(page).to_have_url(re.compile(r"tz=Europe%2FLondon"))
    expect(title).to_have_text(month)
    page.get_by_role("link", name="24h").click()                       # the clock too keeps the month
    expect(page.locator(".hour-toggle .seg.is-active")).to_have_text("24h")
    expect(title).to_have_text(month)


# --- defect 4 -------------------------------------------------------------------------------------------
def other_day(page):
    link = page.locator("a.day.is-available:not(.is-selected)").first
    return link, link.get_attribute("data-date")


def test_stale_times_are_disabled_while_a_day_loads(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    expect(page.locator("#slots .slot").first).to_be_visible()
    held = []
    page.route(re.compile(r"/hana/30-min/slots\?"), lambda route: held.append(route))
    link, day = other_day(page)
    link.click()
    slots = page.locator("#slots")
    expect(slots).to_have_attribute("aria-busy", "true")
    expect(slots.locator(".slot-list")).to_have_attribute("aria-disabled", "true")
    assert slots.locator(".slot-list").evaluate("list => list.inert") is True   # no stale time can be clicked
    expect(slots.get_by_role("status")).to_have_text("Loading times…")
    assert len(held) == 1
    held[0].continue_()
    expect(slots).to_have_attribute("data-date", day)
    expect(slots).not_to_have_attribute("aria-busy", "true")
    expect(slots.locator(".slot").first).to_be_enabled()
    assert slots.locator(".slot-list").evaluate("list => list.inert") is False


def test_a_failed_day_shows_an_inline_error_with_retry(page, live_server, host):
    page.set_viewport_size(PHONE)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    failures = []

    def fail_once(route):
        if failures:
            route.continue_()
        else:
            failures.append(route.request.url)
            route.fulfill(status=500, body="boom")
    page.route(re.compile(r"/hana/30-min/slots\?"), fail_once)
    link, day = other_day(page)
    link.click()
    error = page.locator("#slots .slots-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("could not be loaded")
    expect(page.locator("#slots .slot-list")).to_be_hidden()
    error.get_by_role("button", name="Retry").click()
    expect(page.locator("#slots")).to_have_attribute("data-date", day)
    expect(page.locator("#slots .slot").first).to_be_visible()
    expect(error).to_have_count(0)


# --- defect 5 -------------------------------------------------------------------------------------------
def test_inline_embed_on_a_phone_scrolls_the_picked_day_s_times_into_view(page, live_server, other_site, host):  # noqa: F811
    page.set_viewport_size({"width": 375, "height": 600})
    url = other_site("/inline.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/30-min"></div>')
    page.goto(url)
    frame = page.frame_locator("#widget iframe")
    expect(frame.locator("#tz-select")).to_have_value("Europe/Paris")
    page.wait_for_function("document.querySelector('#widget iframe').offsetHeight > 1000")  # sized to content
    link = frame.locator("a.day.is-available:not(.is-selected)").first
    day = link.get_attribute("data-date")
    expect(frame.locator("#slots-title")).not_to_be_in_viewport()
    link.click()
    expect(frame.locator("#slots")).to_have_attribute("data-date", day)
    expect(frame.locator("#slots-title")).to_be_in_viewport()


# --- defect 6 -------------------------------------------------------------------------------------------
def test_public_pages_show_the_host_s_branding_only(page, live_server, host):
    path = booking_with_answer(live_server.app, host)
    page.set_viewport_size(DESKTOP)
    start = next_week(3, 11)
    for url in ("/hana", "/hana/30-min", path + "?booked=1", path + "/cancel", path + "/reschedule"):
        page.goto(url)
        expect(page.locator(".public-card")).to_be_visible()
        expect(page.get_by_role("link", name="Sign up")).to_have_count(0)
        expect(page.get_by_role("link", name="Sign in")).to_have_count(0)
        expect(page.locator("header.topbar")).to_have_count(0)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').click()
    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()
    expect(page.get_by_role("link", name="Sign up")).to_have_count(0)


# --- defect 12 / 13 -------------------------------------------------------------------------------------
def test_zone_picker_loads_its_list_on_demand_and_finds_cities_and_abbreviations(page, live_server, host):
    page.set_viewport_size(PHONE)
    answers = []
    page.on("response", lambda r: answers.append(r) if "/timezones.html" in r.url else None)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    select = page.locator("#tz-select")
    assert select.locator("option").count() < 80                    # only the selected zone's region
    expect(select.locator("option:checked")).to_contain_text("Paris, France")
    expect(select.locator("option:checked")).to_contain_text(re.compile(r"UTC\+0[12]:00"))
    assert not answers

    search = page.get_by_label("Search time zones")
    search.fill("PST")
    expect(select.locator("option[value='America/Los_Angeles']")).to_be_attached()
    assert answers and "public" in answers[0].headers["cache-control"]
    visible = select.locator("option:not([hidden])")
    expect(visible.first).to_have_attribute("value", "America/Los_Angeles")
    assert "Asia/Tokyo" not in visible.evaluate_all("os => os.map(o => o.value)")
    assert select.locator("option[value='Africa/Asmera'], option[value='US/Eastern']").count() == 0
    expect(select.locator("optgroup[label='Asia']")).to_be_attached()
    search.fill("tokyo")
    search.press("Enter")
    expect(select).to_have_value("Asia/Tokyo")
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo"))
    expect(select.locator("option:checked")).to_contain_text(re.compile(r"Tokyo, Japan · UTC\+09:00 JST · \d"))


# --- point 15 -------------------------------------------------------------------------------------------
def test_typed_details_survive_back_to_times(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    start = next_week(1, 10)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    slot = page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    slot.click()
    page.get_by_label("Name").fill("Typed Name")
    page.get_by_label("Email").fill("typed@example.com")
    page.get_by_label("Anything to share").fill("Some notes")
    page.get_by_role("link", name="Back to times").click()
    expect(page.get_by_role("heading", name="Select a date & time")).to_be_visible()
    slot.click()
    expect(page.get_by_label("Name")).to_have_value("Typed Name")
    expect(page.get_by_label("Email")).to_have_value("typed@example.com")
    expect(page.get_by_label("Anything to share")).to_have_value("Some notes")


def test_typed_details_survive_a_time_that_was_taken_meanwhile(page, live_server, host):
    from app.models import EventType
    from app.services.booking.bookings import BookingRequest, create_booking

    page.set_viewport_size(DESKTOP)
    start, other = next_week(1, 10), next_week(1, 11)
    page.goto("/hana/30-min")
    wait_for_browser_zone(page)
    choose_day(page, start.astimezone(BERLIN).date())
    page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').click()
    page.get_by_label("Name").fill("Late Comer")
    page.get_by_label("Email").fill("late@example.com")
    page.get_by_label("Anything to share").fill("Agenda: pricing")
    in_db(live_server.app, lambda: create_booking(
        EventType.get((EventType.user == host.id) & (EventType.slug == "30-min")),
        BookingRequest(start=start, invitee_name="First", invitee_email="first@example.com",
                       invitee_timezone="Europe/Berlin")))
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("alert")).to_contain_text("no longer available")
    page.locator(f'#slots a.slot[data-start="{other:%Y-%m-%dT%H:%M:%SZ}"]').click()
    expect(page.get_by_label("Name")).to_have_value("Late Comer")
    expect(page.get_by_label("Email")).to_have_value("late@example.com")
    expect(page.get_by_label("Anything to share")).to_have_value("Agenda: pricing")


def test_desktop_time_column_says_there_are_more_times(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    day = next_week(1, 10).astimezone(BERLIN).date()
    page.goto(f"/hana/30-min?tz=Europe/Berlin&hour=24&date={day.isoformat()}")
    slots = page.locator("#slots .slot")
    expect(slots).to_have_count(16)
    hint = page.locator("#slots .slots-more")
    expect(hint).to_be_visible()
    expect(hint).to_have_text(re.compile("more times"))
    page.locator("#slots .slot-list").evaluate("list => { list.scrollTop = list.scrollHeight; }")
    expect(hint).to_be_hidden()
    expect(slots.last).to_be_in_viewport()


def wide_png(width: int = 1200, height: int = 80) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_wide_logo_does_not_put_the_host_name_on_two_lines(page, live_server, make_user):
    from app.models import User
    from app.services.account import accounts

    make_user("wide", name="Wilhelmina Widelogo-Hostington")
    in_db(live_server.app, lambda: accounts.set_logo(User.get(User.username == "wide"), "image/png", wide_png()))
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        for url in ("/wide", "/wide/30-min"):
            page.goto(url)
            name = page.locator(".host-name")
            expect(page.locator(".host-logo")).to_be_visible()
            line = name.evaluate("n => parseFloat(getComputedStyle(n).lineHeight) || 24")
            assert name.bounding_box()["height"] < line * 1.5, (size, url)
            assert page.evaluate(NOTHING_WIDER), (size, url)


def test_popup_is_as_tall_as_a_short_step(page, live_server, other_site, host):  # noqa: F811
    page.set_viewport_size(DESKTOP)
    url = other_site("/popup.html", f'<button type="button" data-linktime-popup="{live_server.url}/hana">'
                                    'Book a meeting</button>')
    page.goto(url)
    page.get_by_role("button", name="Book a meeting").click()
    dialog = page.get_by_role("dialog", name="Book a meeting")
    frame = page.frame_locator("[data-linktime-overlay] iframe")
    expect(frame.get_by_text("Book a time with Hana Host")).to_be_visible()
    page.wait_for_function("document.querySelector('[data-linktime-overlay] [role=dialog]').offsetHeight < 600")
    content = frame.locator("main").evaluate("m => m.getBoundingClientRect().bottom")
    assert dialog.bounding_box()["height"] <= content + 40          # no empty area under the step


def test_arrow_keys_move_through_the_calendar_with_one_tab_stop(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    page.goto("/hana/30-min?tz=Europe/Berlin&hour=24")
    days = page.locator("#calendar a.day")
    expect(days.first).to_be_visible()
    assert page.locator("#calendar a.day[tabindex='0']").count() == 1
    selected = page.locator("#calendar a.day.is-selected")
    selected.focus()
    dates = days.evaluate_all("ds => ds.map(d => d.dataset.date)")
    start = dates.index(selected.get_attribute("data-date"))
    focused = "document.activeElement.dataset.date"
    page.keyboard.press("ArrowRight")
    assert page.evaluate(focused) == dates[start + 1]
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(focused) == dates[start]
    page.keyboard.press("ArrowDown")
    later = page.evaluate(focused)
    assert later >= dates[start] and later != dates[start]
    page.keyboard.press("End")
    assert page.evaluate(focused) == dates[-1]
    page.keyboard.press("Home")
    assert page.evaluate(focused) == dates[0]
    assert page.locator("#calendar a.day[tabindex='0']").count() == 1
    page.keyboard.press("Enter")
    expect(page.locator("#slots")).to_have_attribute("data-date", dates[0])


CONTRAST = """day => {
  const parse = text => {
    const n = text.match(/[\\d.]+/g).map(Number);
    const srgb = text.startsWith("color(");
    const [r, g, b] = srgb ? n.slice(0, 3) : n.slice(0, 3).map(v => v / 255);
    return [r, g, b, n.length > 3 ? n[3] : 1];
  };
  const over = (top, base) => top.slice(0, 3).map((v, i) => v * top[3] + base[i] * (1 - top[3]));
  const lum = c => { const l = c.map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
                     return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
  let base = [1, 1, 1];
  const chain = [];
  for (let e = day.parentElement; e; e = e.parentElement) { chain.unshift(e); }
  for (const e of chain) { base = over(parse(getComputedStyle(e).backgroundColor), base); }
  const bg = over(parse(getComputedStyle(day).backgroundColor), base);
  const fg = over(parse(getComputedStyle(day).color), bg);
  const [hi, lo] = [lum(bg), lum(fg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}"""


def test_available_days_meet_the_contrast_minimum(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    page.goto("/hana/30-min?tz=Europe/Berlin&hour=24")
    day = page.locator("#calendar a.day.is-available:not(.is-selected)").first
    expect(day).to_be_visible()
    assert day.evaluate(CONTRAST) >= 4.5
