"""The scheduling dashboard in a real browser: event types and availability edited through htmx partials.

Uses the ``live_server`` (the app on loopback, CSRF on) and ``page`` (Playwright Chromium) fixtures of
tests/browser/conftest.py. A marker set on ``window`` survives only while no full page load happens, so
each step proves it was an in-place (htmx) update.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MARK = "window.__linktimeMarker"


def _base_url(live_server) -> str:
    url = getattr(live_server, "url", live_server)
    url = url() if callable(url) else url
    return str(url).rstrip("/")


def _sign_up(page, base: str, username: str) -> None:
    page.goto(base + "/signup")
    page.fill("input[name=name]", "Dana Scheduler")
    page.fill("input[name=email]", f"{username}@example.com")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "a long enough passphrase 42")
    select = page.locator("select[name=timezone]")
    select.select_option("Europe/Berlin")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _still_same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


class _Requests:
    """Every POST the page sends, to check each went out as an htmx request with the CSRF header."""

    def __init__(self, page):
        self.posts: list[tuple[str, dict]] = []
        page.on("request", self._record)

    def _record(self, request):
        if request.method == "POST":
            self.posts.append((request.url, request.headers))


def test_create_event_type_and_edit_weekly_hours_and_an_override_through_htmx(live_server, page):
    base = _base_url(live_server)
    page.set_default_timeout(10_000)
    _sign_up(page, base, "dana")
    requests = _Requests(page)

    # ---- create an event type: slug suggested as you type, inline errors, then saved in place
    page.goto(base + "/dashboard/event-types/new")
    _mark(page)
    requests.posts.clear()
    page.get_by_label("Name", exact=True).fill("Strategy session")
    slug = page.locator("#f-slug")
    expect(slug).to_have_value("strategy-session")  # suggested from the name (no eval: the CSP forbids it)
    expect(page.locator("#slug-check")).to_contain_text("is available.")
    slug.fill("30-min")  # the account's default event type already has it
    page.wait_for_selector("#slug-check .error")
    assert "You already have an event type with this URL." in page.locator("#slug-check").inner_text()
    slug.fill("strategy")
    page.wait_for_selector("#slug-check .ok")
    page.get_by_label("Name", exact=True).fill("Strategy")
    page.get_by_label("Name", exact=True).fill("Strategy session")
    page.wait_for_timeout(700)  # longer than the suggestion's delay: a hand-edited slug no longer follows
    expect(slug).to_have_value("strategy")

    page.get_by_label("Duration", exact=True).fill("1000")
    page.get_by_role("button", name="+ Add a question").click()
    page.wait_for_selector("#q-0-label")
    expect(page.locator("#q-0-label")).to_be_focused()  # focus goes to the new row
    page.locator("#q-0-label").fill("What should we prepare?")
    page.get_by_role("button", name="Create event type").first.click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "A duration in minutes must be between 5 and 720." in summary.inner_text()
    assert page.locator("#q-0-label").input_value() == "What should we prepare?"  # nothing typed is lost
    assert slug.get_attribute("data-edited") == "true"

    page.get_by_label("Duration", exact=True).fill("50")
    page.get_by_role("button", name="Create event type").first.click()
    page.wait_for_selector("text=Created “Strategy session”.")
    assert re.search(r"/dashboard/event-types/\w+/edit$", page.url)  # pushed by htmx, no page load
    assert _still_same_document(page)

    # ---- the event types list: toggle in place
    page.goto(base + "/dashboard/event-types")
    _mark(page)
    row = page.locator("article.et-row", has_text="Strategy session")
    assert "50 min" in row.inner_text()
    switch = row.get_by_role("switch")
    assert switch.get_attribute("aria-checked") == "true"
    switch.click()
    page.wait_for_selector("article.et-row.is-draft >> text=Strategy session")
    assert page.locator("article.et-row", has_text="Strategy session").get_by_role("switch").get_attribute(
        "aria-checked") == "false"
    assert _still_same_document(page)

    # ---- availability: weekly hours
    page.goto(base + "/dashboard/availability")
    page.get_by_role("link", name="Working hours", exact=True).click()
    page.wait_for_selector("#weekly-hours")
    _mark(page)
    page.get_by_role("button", name="Add hours on Saturday").click()
    page.wait_for_selector("#day-5-start-0")
    expect(page.locator("#weekly-hours .unsaved")).to_be_visible()
    page.locator("#day-5-start-0").fill("13:00")
    page.locator("#day-5-end-0").fill("10:00")
    page.get_by_role("button", name="Save hours").click()
    page.wait_for_selector("#e-day-5")
    # an en-US browser: the new host reads a 12-hour clock, as the time inputs do
    expect(page.locator("#e-day-5")).to_have_text("Saturday: the end (10:00am) must be after the start (1:00pm).")
    page.locator("#day-5-start-0").fill("10:00")
    page.locator("#day-5-end-0").fill("13:00")
    page.get_by_role("button", name="Save hours").click()
    page.wait_for_selector("text=Weekly hours saved.")
    assert _still_same_document(page)

    # ---- availability: an override picked on the calendar of next month
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()  # the schedule's zone decides the current month
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    target = date(year, month, 15)
    page.locator("#month-next").click()
    page.wait_for_selector(f"#month-title:has-text('{calendar.month_name[month]} {year}')")
    page.locator(f"#cell-{target.isoformat()}").click()
    form = page.locator("#override-form")
    form.wait_for()
    assert page.locator("#f-override_start").input_value() == target.isoformat()
    page.locator("#override-start-0").fill("10:00")
    page.locator("#override-end-0").fill("12:30")
    form.get_by_role("button", name="Save override").first.click()
    page.wait_for_selector("#overrides .flash-success")
    expect(page.locator(f"#cell-{target.isoformat()} .tag")).to_have_text(re.compile(r"^10:00"))
    assert _still_same_document(page)

    # a vacation: a run of days, unavailable all day
    page.locator(f"#cell-{date(year, month, 20).isoformat()}").click()
    form.wait_for()
    page.locator("#f-override_end").fill(date(year, month, 22).isoformat())
    page.get_by_label("Unavailable all day").check()
    expect(page.locator("#override-ranges")).to_be_hidden()
    form.get_by_role("button", name="Save override").first.click()
    page.wait_for_selector("#overrides .flash-success")
    for day in (20, 21, 22):
        expect(page.locator(f"#cell-{date(year, month, day).isoformat()} .tag")).to_have_text("Off")
    assert _still_same_document(page)

    # every form post went out through htmx, with the CSRF header
    assert requests.posts, "expected some posts"
    for url, headers in requests.posts:
        assert headers.get("hx-request") == "true", url
        assert headers.get("x-csrftoken"), url

    # ---- everything is saved: a fresh load shows it
    page.reload()
    assert page.locator("#day-5-start-0").input_value() == "10:00"
    assert page.locator("#day-5-end-0").input_value() == "13:00"
    upcoming = page.locator(".override-list").inner_text()
    assert target.strftime("%a %-d %b %Y") in upcoming and "10:00–12:30" in upcoming
    assert "Unavailable" in upcoming
    page.goto(base + "/dashboard/event-types")
    row = page.locator("article.et-row", has_text="Strategy session")
    assert "50 min" in row.inner_text() and "Draft" in row.inner_text()
    row.get_by_role("link", name="Edit Strategy session").click()
    assert page.locator("#q-0-label").input_value() == "What should we prepare?"
    assert page.locator("#f-slug").input_value() == "strategy"


def test_delete_an_event_type_after_confirming_in_place(live_server, page):
    base = _base_url(live_server)
    page.set_default_timeout(10_000)
    _sign_up(page, base, "erin")
    page.goto(base + "/dashboard/event-types")
    _mark(page)
    page.get_by_role("link", name="Delete 30 Minute Meeting").click()
    confirm = page.locator("article.is-confirming")
    confirm.wait_for()
    expect(confirm.get_by_role("button", name="Delete")).to_be_focused()  # focus on the confirm button
    confirm.get_by_role("link", name="Cancel").click()
    page.wait_for_selector("article.et-row >> text=30 Minute Meeting")
    # focus returns to the row's Delete link once htmx has settled the swap
    expect(page.get_by_role("link", name="Delete 30 Minute Meeting")).to_be_focused()
    page.get_by_role("link", name="Delete 30 Minute Meeting").click()
    page.locator("article.is-confirming").get_by_role("button", name="Delete").click()
    page.wait_for_selector("text=Deleted “30 Minute Meeting”.")
    assert page.locator("article.et-row").count() == 0
    assert _still_same_document(page)
