"""Messaging agents in a real browser: the create form answers an inline error in place (htmx, no page load), the
corrected form creates the agent and opens its page, and the list's switch turns it off and on in place; axe-core
finds no serious violation on the form, the agent's page and the list.

A marker set on ``window`` survives only while no full page load happens, so each step proves it was an in-place
(htmx) update; the CSRF token travels as the X-CSRFToken header of every htmx post.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models.messaging import MessagingAgent
from app.models.voice import PhoneNumber
from tests import factories
from tests.browser.test_accessibility import AXE, _problems
from tests.live import serve_live

pytestmark = pytest.mark.browser

SETTINGS = {"ANTHROPIC_API_KEY": "sk-ant-test", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
MARK = "window.__messagingMarker"


@pytest.fixture
def live_server(app_factory):
    with serve_live(app_factory(WTF_CSRF_ENABLED=True, **SETTINGS)) as server:
        yield server


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def test_create_with_an_inline_error_then_switch_off_and_on(live_server, page):
    with live_server.app.app_context(), db.connection_context():
        user = factories.user("mona", plan="PRO")
        PhoneNumber.create(user=user, e164="+14155550100", country="US", twilio_sid="PN" + "1" * 32,
                           label="Front desk")
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.headers))

    page.get_by_role("link", name="Messaging Agents").click()
    expect(page.locator("#no-agents")).to_be_visible()
    expect(page.locator("#message-pool-text")).to_have_text("0 of 100 messages used · 100 left")
    _mark(page)
    page.get_by_label("Agent name").fill("Sarah")
    page.get_by_label("Tone", exact=True).select_option("custom")
    page.get_by_label("Greeting").fill("Hi! I'm Sarah, an AI scheduling assistant.")
    page.get_by_role("button", name="Create agent").click()
    expect(page.locator("#e-customTone")).to_have_text("Describe the custom tone (at most 500 characters).")
    expect(page.locator(".htmx-request")).to_have_count(0)
    assert _problems(AXE.run(page)) == []                    # the form with its inline error
    expect(page.locator("#f-customTone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Greeting")).to_have_value("Hi! I'm Sarah, an AI scheduling assistant.")
    assert _same_document(page)

    page.locator("#f-customTone").fill("Warm and brief, like a front-desk receptionist.")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(re.compile(r".*/dashboard/messaging-agents/\w+$"))
    expect(page.locator("#flashes")).to_contain_text("Created “Sarah”: it answers SMS texts on +14155550100.")
    assert posts and all(headers.get("x-csrftoken") for headers in posts if headers.get("hx-request"))
    assert _problems(AXE.run(page)) == []                    # the agent's page
    with live_server.app.app_context(), db.connection_context():
        agent = MessagingAgent.get(MessagingAgent.user == user.id)
    assert (agent.tone, agent.custom_tone, agent.is_active) == (
        "custom", "Warm and brief, like a front-desk receptionist.", True)

    page.get_by_role("link", name="← Messaging Agents").click()
    _mark(page)
    switch = page.locator(f"#toggle-{agent.id}")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(page.locator(f"#toggle-{agent.id}")).to_have_attribute("aria-checked", "false")
    expect(page.locator(f"#agent-{agent.id}")).to_have_class(re.compile(r"is-draft"))
    expect(page.locator(f"#agent-{agent.id}-status")).to_have_text("Inactive")
    expect(page.locator(".htmx-request")).to_have_count(0)
    assert _problems(AXE.run(page)) == []                    # the list
    assert _same_document(page)
    with live_server.app.app_context(), db.connection_context():
        assert MessagingAgent.get_by_id(agent.id).is_active is False
    page.locator(f"#toggle-{agent.id}").click()
    expect(page.locator(f"#toggle-{agent.id}")).to_have_attribute("aria-checked", "true")
    assert _same_document(page)
    with live_server.app.app_context(), db.connection_context():
        assert MessagingAgent.get_by_id(agent.id).is_active is True
