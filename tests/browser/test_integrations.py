"""Settings → Integrations in a real browser: connect a CalDAV account (Radicale on loopback), see it connected,
choose calendars and disconnect — each step an in-place htmx update with CSRF on."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MARK = "window.__linktimeMarker"


def _sign_up(page, base: str, username: str) -> None:
    page.goto(base + "/signup")
    page.fill("input[name=name]", "Dana Scheduler")
    page.fill("input[name=email]", f"{username}@example.com")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "a long enough passphrase 42")
    page.locator("select[name=timezone]").select_option("Europe/Berlin")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def test_connect_caldav_shows_connected_then_choose_calendars_and_disconnect(page, live_server, radicale):
    radicale.make_calendar("Work")
    radicale.make_calendar("Home")
    base = live_server.url
    _sign_up(page, base, "dana")
    page.goto(base + "/settings")
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Calendars")).to_be_visible()
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")

    form = page.locator("#connect-caldav")
    form.get_by_label("Server URL").fill(radicale.url)
    form.get_by_label("User name").fill("alice")
    form.get_by_label("Password or app password").fill("wrong password")
    form.get_by_role("button", name="Connect CalDAV").click()
    expect(page.locator("#caldav-e-password")).to_contain_text("refused this user name and password")
    expect(page.locator("#caldav-username")).to_have_value("alice")

    page.locator("#caldav-password").fill("app-pass-1234")
    page.locator("#connect-caldav").get_by_role("button", name="Connect CalDAV").click()
    status = page.locator(".status-connected")
    expect(status).to_have_text("Connected")
    expect(page.locator(".account-email")).to_have_text("alice")
    expect(page.locator("#calendar-list")).to_contain_text("Work")
    expect(page.locator("#calendar-list")).to_contain_text("Home")
    assert page.evaluate(f"() => {MARK}") == "same document"

    # Untick "Home" for conflicts: saved at once by htmx.
    page.get_by_label("Check Home for conflicts").uncheck()
    expect(page.locator("#integrations-notice")).to_have_text("Saved your calendar choices.")
    expect(page.get_by_label("Check Home for conflicts")).not_to_be_checked()
    with page.expect_response(lambda answer: answer.request.method == "POST") as saved:  # the save, not the tick
        page.get_by_label("Add new bookings to Work").check()
    assert saved.value.ok
    expect(page.get_by_label("Add new bookings to Work")).to_be_checked()
    page.reload()
    expect(page.get_by_label("Check Home for conflicts")).not_to_be_checked()
    expect(page.get_by_label("Add new bookings to Work")).to_be_checked()

    page.locator("a", has_text="Disconnect").first.click()
    expect(page.locator("#confirm-disconnect")).to_be_visible()
    page.locator("#confirm-disconnect").click()
    expect(page.locator("#integrations-notice")).to_contain_text("Disconnected")
    expect(page.locator(".status-connected")).to_have_count(0)
