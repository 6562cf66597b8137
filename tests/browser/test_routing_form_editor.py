"""The routing form editor in a real browser: questions added with htmx, one reordered by dragging its handle and
another with the keyboard (each move announced), a rule added and pointed at a question's option and an event
type, the save, and the order found again after a reload.

A marker set on ``window`` survives only while no full page load happens, so each step proves it was an in-place
(htmx) update; the CSRF token travels as the X-CSRFToken header of every htmx post.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import RoutingForm
from tests import factories

pytestmark = pytest.mark.browser

MARK = "window.__routingMarker"


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def _labels(page) -> list[str]:
    return page.eval_on_selector_all(".rf-field input[id$='-label']", "inputs => inputs.map(i => i.value)")


def test_build_a_form_reorder_by_drag_and_keyboard_add_a_rule_save_and_reload(live_server, page, make_user):
    user = make_user("rosa")
    with live_server.app.app_context(), db.connection_context():
        target = factories.event_type(user)
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.headers))

    page.set_viewport_size({"width": 1280, "height": 2400})     # source and target in view: no scroll mid-drag
    page.goto("/dashboard/routing-forms")
    page.get_by_role("link", name="Create Routing Form").click()
    page.get_by_label("Name", exact=True).fill("Support intake")
    expect(page.locator("#f-slug")).to_have_value("support-intake")          # suggested from the name
    _mark(page)

    rows = page.locator(".rf-field")
    rows.nth(0).get_by_label("Question", exact=True).fill("Your name")
    page.select_option("#new-field-type", "select")
    page.get_by_role("button", name="+ Add question").click()
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    expect(second.get_by_label("Question", exact=True)).to_be_focused()
    second.get_by_label("Question", exact=True).fill("Topic")
    second.get_by_label("Options, one per line").fill("Demo\nSupport")
    page.select_option("#new-field-type", "email")
    page.get_by_role("button", name="+ Add question").click()
    expect(rows).to_have_count(3)
    rows.nth(2).get_by_label("Question", exact=True).fill("Email")
    expect(rows.nth(0).get_by_label("Options, one per line")).to_be_hidden()   # only for choices
    assert _labels(page) == ["Your name", "Topic", "Email"]

    # drag "Email" by its handle onto the first question: it goes first, and the server numbers the rows again
    rows.nth(2).locator("[data-rf-handle]").drag_to(rows.nth(0).locator("[data-rf-handle]"))
    expect(rows.nth(0).locator("[data-rf-handle]")).to_have_attribute("aria-label", "Reorder question 1: Email")
    assert _labels(page) == ["Email", "Your name", "Topic"]

    # the keyboard: Space picks "Topic" up, ArrowUp moves it, Space drops it
    handle = rows.nth(2).locator("[data-rf-handle]")
    handle.focus()
    page.keyboard.press("Space")
    expect(page.locator("#rf-live")).to_contain_text("Picked up")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#rf-live")).to_contain_text("position 2 of 3")
    page.keyboard.press("Space")
    expect(page.locator("#rf-live")).to_contain_text("Dropped")
    expect(rows.nth(1).locator("[data-rf-handle]")).to_have_attribute("aria-label", "Reorder question 2: Topic")
    expect(rows.nth(1).locator("[data-rf-handle]")).to_be_focused()
    assert _labels(page) == ["Email", "Topic", "Your name"]

    # Escape puts a picked-up row back
    first = rows.nth(0).locator("[data-rf-handle]")
    first.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(page.locator("#rf-live")).to_contain_text("Cancelled")
    assert _labels(page) == ["Email", "Topic", "Your name"]

    # a rule: "Topic" equals "Demo" → the event type
    page.get_by_role("button", name="+ Add rule").click()
    rule = page.locator(".rf-rule").first
    expect(rule).to_be_visible()
    rule.locator("select[id$='-c0-field']").select_option(label="Topic")
    operator = rule.locator("select[id$='-c0-operator']")
    expect(operator.locator("option")).to_have_count(2)                     # Select: Equals, Not Equals
    rule.locator("select[id$='-c0-value']").select_option("Demo")
    rule.locator("select[id$='-route-event_type']").select_option(target.id)
    expect(page.locator("#rf-warnings")).not_to_contain_text("Rule 1")
    page.select_option("#default-route-kind", "message")
    page.fill("#default-route-message", "We will write to you.")
    assert _same_document(page)

    page.get_by_role("button", name="Create routing form").first.click()
    page.wait_for_url(re.compile(r".*/dashboard/routing-forms/\w+$"))
    expect(page.locator("#flashes")).to_contain_text("Created “Support intake”.")
    assert posts and all(headers.get("x-csrftoken") for headers in posts if headers.get("hx-request"))

    page.reload()
    expect(page.locator(".rf-field")).to_have_count(3)
    assert _labels(page) == ["Email", "Topic", "Your name"]
    with live_server.app.app_context(), db.connection_context():
        form = RoutingForm.get(RoutingForm.user == user.id)
    assert [f["label"] for f in form.fields] == ["Email", "Topic", "Your name"]
    topic = form.fields[1]
    assert form.slug == "support-intake" and topic["options"] == ["Demo", "Support"]
    assert form.rules[0]["conditions"] == [{"field": topic["id"], "operator": "equals", "value": "Demo"}]
    assert form.rules[0]["route"] == {"kind": "event_type", "eventTypeId": target.id}
    assert form.default_route == {"kind": "message", "message": "We will write to you."}
