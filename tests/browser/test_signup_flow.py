"""A person signs up, signs out and signs in again in a real browser."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEZONE

pytestmark = pytest.mark.browser

PERSON = {"name": "Marie Curie", "email": "marie@example.com", "username": "marie",
          "password": "radium and polonium"}


def _users(app) -> list:
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return list(User.select())


def _fill_signup(page, **overrides) -> None:
    values = {**PERSON, **overrides}
    page.get_by_label("Your name").fill(values["name"])
    page.get_by_label("Email").fill(values["email"])
    page.get_by_label("Username").fill(values["username"])
    page.get_by_label("Password").fill(values["password"])


def test_person_signs_up_with_detected_time_zone_signs_out_and_signs_in_again(page, live_server):
    page.goto("/")
    page.get_by_role("link", name="Sign up", exact=True).click()
    expect(page).to_have_url(live_server.url + "/signup")
    expect(page.locator("select#f-timezone")).to_have_value(TIMEZONE)  # preselected from the browser's zone

    _fill_signup(page)
    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page).to_have_url(live_server.url + "/dashboard")
    expect(page.get_by_role("heading", name=f"Welcome, {PERSON['name']}")).to_be_visible()
    expect(page.get_by_text("Welcome")).to_have_count(1)          # one welcome, the page's heading
    [user] = _users(live_server.app)
    assert (user.email, user.username, user.timezone) == (PERSON["email"], PERSON["username"], TIMEZONE)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next=/dashboard$"))

    page.get_by_label("Email").fill(PERSON["email"])
    page.get_by_label("Password").fill(PERSON["password"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(live_server.url + "/dashboard")
    expect(page.get_by_role("heading", name=f"Welcome, {PERSON['name']}")).to_be_visible()


def test_invalid_signup_shows_the_inline_error_and_keeps_the_entries(page, live_server):
    page.goto("/signup")
    _fill_signup(page, username="ab")
    page.get_by_role("button", name="Sign up", exact=True).click()

    username = page.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-username")).to_have_text(re.compile("Use 3–30 characters"))
    expect(page.get_by_role("alert")).to_contain_text("Please correct the 1 field marked below.")
    expect(page.get_by_label("Email")).to_have_value(PERSON["email"])
    expect(page.get_by_label("Password")).to_have_value("")  # never sent back
    expect(page.locator("select#f-timezone")).to_have_value(TIMEZONE)
    assert _users(live_server.app) == []

    username.fill(PERSON["username"])
    page.get_by_label("Password").fill(PERSON["password"])
    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page).to_have_url(live_server.url + "/dashboard")
