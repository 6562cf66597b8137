"""Dashboard → Conversations in Chromium: choosing a filter swaps only the results (htmx) and puts the filter in
the address, and neither the list nor a thread with a long message scrolls sideways on a 375 px phone."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.db import db
from tests.browser.conftest import TIMEZONE
from tests.conftest import PASSWORD
from tests.conversation_fixtures import conversation, messaging_agent

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
OVERFLOW = "(width) => document.documentElement.scrollWidth - Math.min(width, window.innerWidth)"


def _sign_in(page, host):
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


@pytest.fixture
def host(make_user):
    return make_user("hana", name="Hana Host", plan="PRO", timezone="America/New_York")


@pytest.fixture
def threads(live_server, host):
    now = datetime.now(UTC)
    with live_server.app.app_context(), db.connection_context():
        sarah = messaging_agent(host, "Sarah")
        walt = messaging_agent(host, "Walt", channel="whatsapp")
        sms = conversation(host, now - timedelta(hours=2), agent=sarah, state="details", messages=[
            ("inbound", "Hello! " + "I would like to book a long consultation about my project. " * 8,
             now - timedelta(hours=2, minutes=1)),
            ("outbound", "https://example.com/a-very-long-link-" + "x" * 120, now - timedelta(hours=2))])
        whatsapp = conversation(host, now - timedelta(hours=1), agent=walt, channel="whatsapp",
                                contact_phone="+447911123456")
    return sms, whatsapp


def test_a_filter_swaps_the_results_and_goes_in_the_address(page, live_server, host, threads):
    sms, whatsapp = threads
    _sign_in(page, host)
    page.goto("/dashboard/conversations")
    rows = page.locator("#conversations-table tbody tr")
    expect(rows).to_have_count(2)
    page.evaluate("document.querySelector('h1').dataset.kept = 'yes'")      # survives only a partial swap
    page.get_by_label("Channel").select_option("whatsapp")
    expect(rows).to_have_count(1)
    expect(page.locator(f"#conversation-{whatsapp.id}")).to_contain_text("Walt")
    page.wait_for_url(re.compile(r"channel=whatsapp"))
    assert page.evaluate("document.querySelector('h1').dataset.kept") == "yes"
    page.get_by_label("Channel").select_option("")
    expect(rows).to_have_count(2)
    page.locator(f"#conversation-{sms.id}").get_by_role("link", name=re.compile("Thread")).click()
    page.wait_for_url(re.compile(rf"/dashboard/conversations/{sms.id}$"))
    expect(page.locator("#messages")).to_contain_text("I would like to book")


def test_the_list_and_a_thread_fit_a_phone(chromium, live_server, host, threads):
    sms, _ = threads
    context = chromium.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-US", viewport=PHONE,
                                   is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        phone = context.new_page()
        _sign_in(phone, host)
        for path in ("/dashboard/conversations", f"/dashboard/conversations/{sms.id}"):
            phone.goto(path)
            phone.wait_for_load_state("load")
            assert phone.evaluate(OVERFLOW, PHONE["width"]) <= 0, f"{path} is wider than the phone"
    finally:
        context.close()
