"""The host dashboard in Chromium at 375 px and 1280 px (issue 14): the share dialog is reached by clicking, no
page scrolls sideways, the menu collapses behind a button on a phone, cancelling asks in the page, the first-run
checklist and the booking page preview show, and the primary button's text is readable (WCAG AA)."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import AuditLog, Booking, Schedule
from tests import factories
from tests.browser.conftest import TIMEZONE
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
# Against the viewport's own width: a phone context widens its visual viewport (innerWidth) to a page too wide.
OVERFLOW = "(width) => document.documentElement.scrollWidth - Math.min(width, window.innerWidth)"


@pytest.fixture
def host(make_user):
    return make_user("hana", name="Hana Host", timezone="America/New_York")


@pytest.fixture
def phone(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-US", viewport=PHONE,
                                   is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        yield context.new_page()
    finally:
        context.close()


def _sign_in(page, host):
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _no_sideways_scroll(page, path):
    page.goto(path)
    page.wait_for_load_state("load")
    width = page.viewport_size["width"]
    assert page.evaluate(OVERFLOW, width) <= 0, f"{path} is wider than the {width} px viewport"


def test_share_dialog_is_reached_from_the_list_the_editor_and_the_dashboard(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    _sign_in(page, host)
    page.get_by_role("link", name="Share 30 Minute Meeting").click()
    expect(page.locator("#share-dialog")).to_be_visible()

    page.goto("/dashboard/event-types")
    page.get_by_role("link", name="Share 30 Minute Meeting").click()
    page.wait_for_url(re.compile(r"/dashboard/event-types/[^/]+/share$"))
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#share-title")).to_contain_text("30 Minute Meeting")
    expect(dialog.get_by_role("button", name="Copy the inline embed")).to_be_visible()

    page.goto("/dashboard/event-types")
    page.get_by_role("link", name="Edit 30 Minute Meeting").click()
    page.get_by_role("link", name=re.compile("^Share 30 Minute Meeting")).click()
    expect(page.locator("#share-dialog")).to_be_visible()


def test_dashboard_pages_do_not_scroll_sideways_on_a_phone(phone, live_server, host):
    with live_server.app.app_context(), db.connection_context():
        schedule = Schedule.get(Schedule.user == host)
        factories.schedule(host, "A schedule with a rather long name for evenings and weekends")
    _sign_in(phone, host)
    for path in ("/dashboard", "/dashboard/event-types", "/dashboard/availability",
                 f"/dashboard/availability/{schedule.id}", "/dashboard/bookings", "/settings/audit-log"):
        _no_sideways_scroll(phone, path)


def test_audit_log_fits_a_desktop_screen_with_its_ip_column(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    weekly = {str(d): [["09:00", "12:00"], ["13:00", "17:00"]] if d < 5 else [] for d in range(7)}
    with live_server.app.app_context(), db.connection_context():
        for n in range(3):
            AuditLog.create(user_id=host.id, action="settings.updated", category="events", resource="schedule",
                            resource_id=f"cmxa{n}schedule0000000000000000", ip_address="2001:db8::1234:5678",
                            details=json.dumps({"field": "schedule.weekly", "oldValue": weekly,
                                                "newValue": {**weekly, "5": [["10:00", "14:00"]]}}))
    _sign_in(page, host)
    _no_sideways_scroll(page, "/settings/audit-log")
    ip_header = page.locator("#audit-table th").last
    expect(ip_header).to_have_text("IP address")
    box = ip_header.bounding_box()
    assert box["x"] + box["width"] <= DESKTOP["width"]
    resource = page.locator("#audit-table tbody tr", has_text="cmxa0").locator("td.audit-resource")
    assert re.fullmatch(r"Schedule\n+cmxa0\w+", resource.inner_text().strip())     # type and id on two lines


def test_the_menu_collapses_on_a_phone_and_opens_with_the_keyboard(phone, page, live_server, host):
    _sign_in(phone, host)
    toggle = phone.get_by_role("button", name="Menu")
    nav_link = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Availability")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav_link).to_be_hidden()
    toggle.focus()
    phone.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_visible()
    assert phone.evaluate(OVERFLOW, PHONE["width"]) <= 0
    phone.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav_link).to_be_hidden()
    toggle.click()
    nav_link.click()
    phone.wait_for_url(re.compile(r"/dashboard/availability$"))

    page.set_viewport_size(DESKTOP)          # on a wide screen the menu is simply there
    _sign_in(page, host)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Availability")).to_be_visible()


def test_host_cancel_asks_in_the_page_not_in_a_browser_dialog(page, live_server, host):
    with live_server.app.app_context(), db.connection_context():
        booking = factories.booking_row(factories.event_type(host), datetime.now(UTC) + timedelta(days=3),
                                        name="Ivan Invitee")
    browser_dialogs = []
    page.on("dialog", lambda dialog: (browser_dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, host)
    page.goto(f"/dashboard/bookings/{booking.id}")
    page.get_by_label("Reason for cancelling").fill("I have to travel")
    page.get_by_role("button", name="Cancel booking").click()
    confirm = page.locator("dialog#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Ivan Invitee will be told")
    expect(confirm.get_by_role("button", name="Keep the booking")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    with live_server.app.app_context(), db.connection_context():
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"

    page.get_by_role("button", name="Cancel booking").click()
    confirm.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.locator(".flash-success")).to_contain_text("Booking cancelled")
    with live_server.app.app_context(), db.connection_context():
        assert Booking.get_by_id(booking.id).status == "CANCELLED"
    assert browser_dialogs == []


def test_first_run_checklist_and_booking_page_preview(page, live_server, host):
    page.set_viewport_size(DESKTOP)
    _sign_in(page, host)
    checklist = page.locator("#first-run")
    expect(checklist).to_be_visible()
    expect(checklist.locator(".checklist-step")).to_have_count(4)
    expect(checklist.locator("#step-hours")).to_have_attribute("data-done", "false")
    preview = page.frame_locator("iframe.page-preview")
    expect(preview.get_by_text("Hana Host").first).to_be_visible()
    expect(preview.get_by_text("30 Minute Meeting").first).to_be_visible()

    with live_server.app.app_context(), db.connection_context():
        Schedule.update(updated_at=datetime.now(UTC) + timedelta(minutes=1)).where(Schedule.user == host).execute()
    page.reload()
    expect(checklist.locator("#step-hours")).to_have_attribute("data-done", "true")
    expect(page.locator("#first-run-progress")).to_have_text("1 of 4 done")
    page.get_by_role("button", name="Hide this list").click()
    expect(page.get_by_role("heading", name="Welcome, Hana Host")).to_be_visible()
    expect(checklist).to_have_count(0)


def _contrast(page, selector):
    return page.evaluate("""(selector) => {
      const el = document.querySelector(selector);
      const style = getComputedStyle(el);
      const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
      return (a + 0.05) / (b + 0.05);
    }""", selector)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_primary_buttons_reach_aa_contrast(page, live_server, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto("/login")
    assert _contrast(page, ".topbar .btn-primary") >= 4.5           # the header's "Sign up"
    assert _contrast(page, "main .btn-primary") >= 4.5              # "Sign in"
