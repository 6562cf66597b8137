"""Settings → Audit Log in a real browser: the category filter and the search update the table in place."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_scheduling_dashboard import (
    _base_url,
    _mark,
    _sign_up,
    _still_same_document,
)

pytestmark = pytest.mark.browser


def test_filter_and_search_the_audit_log_in_place(live_server, page):
    base = _base_url(live_server)
    page.set_default_timeout(10_000)
    _sign_up(page, base, "audra")
    page.goto(base + "/settings/api-keys")
    page.get_by_label("Name").first.fill("Reporting script")
    page.get_by_role("button", name="Create").first.click()
    expect(page.get_by_text("Reporting script").first).to_be_visible()

    page.goto(base + "/settings")
    page.get_by_role("link", name="Audit Log").click()
    table = page.locator("#audit-table")
    expect(table).to_contain_text("API Key Created")
    expect(table).to_contain_text("Signed Up")
    _mark(page)

    page.get_by_label("Category").select_option("integrations")
    expect(page).to_have_url(f"{base}/settings/audit-log?category=integrations&search=")
    expect(table).not_to_contain_text("Signed Up")
    expect(table).to_contain_text("API Key Created")

    page.get_by_label("Category").select_option("all")
    page.get_by_label("Search").fill("auth.sign")
    page.get_by_label("Search").press("Enter")
    expect(table).to_contain_text("Signed Up")
    expect(table).not_to_contain_text("API Key Created")
    expect(page.get_by_role("status")).to_contain_text("matching “auth.sign”")
    assert _still_same_document(page)
