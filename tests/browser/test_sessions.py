"""Settings → Sessions in a real browser: the list, "Sign out everywhere else" (htmx) and "Sign out everywhere"."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _sign_in(page, user) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_signing_out_the_other_browsers_and_then_everywhere(page, chromium, live_server, make_user):
    alice = make_user("alice")
    phone_context = chromium.new_context(base_url=live_server.url, locale="en-US")
    phone_context.set_default_timeout(10_000)
    try:
        phone = phone_context.new_page()
        _sign_in(phone, alice)
        _sign_in(page, alice)

        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name="Sessions").click()
        expect(page).to_have_url(re.compile(r"/settings/sessions$"))
        rows = page.locator("#session-list tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#this-device")).to_have_count(1)

        page.get_by_role("button", name="Sign out everywhere else").click()
        expect(page.locator("#sessions-notice")).to_have_text("Signed out 1 other session.")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("#this-device")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/settings/sessions$"))  # swapped in place

        phone.goto("/dashboard")
        expect(phone).to_have_url(re.compile(r"/login\?next=/dashboard$"))
        page.goto("/dashboard")
        expect(page).to_have_url(re.compile(r"/dashboard$"))  # this browser stays signed in

        _sign_in(phone, alice)
        page.goto("/settings/sessions")
        expect(rows).to_have_count(2)
        page.get_by_role("button", name="Sign out everywhere", exact=True).click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.get_by_text("You are signed out everywhere.")).to_be_visible()
        phone.goto("/dashboard")
        expect(phone).to_have_url(re.compile(r"/login\?next=/dashboard$"))
    finally:
        phone_context.close()
