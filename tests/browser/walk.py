"""A walk through the product's pages in Chromium, shared by the accessibility test and `make screenshots`.

``walk(page, live_server, visit)`` signs up a new host, goes through the dashboard, the event-type editor and
availability, then books as an invitee (profile, booking page, form, confirmation) and opens the inline embed
page; it calls ``visit(name, page)`` on each step once the page is ready. Selectors are the ones a person reads
(roles, labels, links), so the walk follows the product's wording rather than its markup.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

HOST = {"name": "Hana Host", "email": "hana@example.com", "username": "hana", "password": "correct horse battery"}
LONG_QUESTION = "What would you like to cover in this meeting, and is there anything we should read before it?"
Visit = Callable[[str, Page], None]


def _next_tuesday_ten(zone: str) -> datetime:
    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(10), tz)


def sign_up(page: Page, visit: Visit) -> None:
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    visit("signup", page)
    page.get_by_label("Your name").fill(HOST["name"])
    page.get_by_label("Email").fill(HOST["email"])
    page.get_by_label("Username").fill(HOST["username"])
    page.get_by_label("Password").fill(HOST["password"])
    page.get_by_role("button", name="Sign up", exact=True).click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def walk_host(page: Page, app, visit: Visit) -> None:
    """The host's pages: sign-in, dashboard, event types, the editor, availability."""
    from app.db import db
    from app.models import EventType, User
    from app.services.scheduling import event_types

    with app.app_context(), db.connection_context():
        user = User.get(User.username == HOST["username"])
        event_type = EventType.get((EventType.user == user) & (EventType.slug == "30-min"))
        event_types.update_event_type(event_type, event_types.EventTypeInput(
            questions=[{"label": LONG_QUESTION, "type": "textarea", "required": False}]))
    page.goto("/dashboard")
    expect(page.locator("main")).to_be_visible()
    visit("dashboard", page)
    page.goto("/dashboard/event-types")
    visit("event-types", page)
    page.locator("main a[href*='/dashboard/event-types/']").filter(has_text=re.compile("30 Minute")).first.click()
    expect(page.locator("form")).not_to_have_count(0)
    visit("event-type-editor", page)
    page.goto("/dashboard/availability")
    visit("availability", page)


def walk_invitee(page: Page, visit: Visit, *, zone: str = "Europe/Paris") -> str:
    """The invitee's pages: profile, booking page, form, confirmation; answers the confirmation's URL."""
    page.goto(f"/{HOST['username']}")
    expect(page.get_by_role("link", name=re.compile("30 Minute Meeting"))).to_be_visible()
    visit("profile", page)
    start = _next_tuesday_ten("Europe/Berlin").astimezone(ZoneInfo(zone))
    page.goto(f"/{HOST['username']}/30-min?date={start.date().isoformat()}&tz={zone}&hour=12")
    slot = page.locator(f'#slots a.slot[data-start="{start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"]')
    expect(slot).to_be_visible()
    visit("booking-page", page)
    slot.click()
    expect(page.get_by_role("button", name="Schedule meeting")).to_be_visible()
    visit("booking-form", page)
    page.get_by_label("Name").fill("Ivan Invitee")
    page.get_by_label("Email").fill("ivan@example.com")
    page.get_by_label(LONG_QUESTION).fill("The quarterly plan, and the notes I sent on Monday.")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
    visit("confirmation", page)
    return page.url


def walk_embed(page: Page, visit: Visit) -> None:
    """The inline embed's pages as the frame shows them: the booking page and the form."""
    page.goto(f"/{HOST['username']}/30-min?embed=1")
    slot = page.locator("#slots a.slot").first
    expect(slot).to_be_visible()
    visit("embed-booking-page", page)
    slot.click()
    expect(page.get_by_role("button", name="Schedule meeting")).to_be_visible()
    visit("embed-booking-form", page)


def walk(page: Page, live_server, visit: Visit) -> None:
    sign_up(page, visit)
    walk_host(page, live_server.app, visit)
    page.context.clear_cookies()
    page.goto("/login")
    expect(page.get_by_label("Email")).to_be_visible()
    visit("signin", page)
    walk_invitee(page, visit)
    walk_embed(page, visit)
