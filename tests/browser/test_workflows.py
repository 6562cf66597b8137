"""Workflows in a real browser: a template opened in the editor, an action row added with htmx, an inline error
without a page load, the save, the enabled switch toggled in place on the list, and a confirmed delete.

A marker set on ``window`` survives only while no full page load happens, so each step proves it was an in-place
(htmx) update; the CSRF token travels as the X-CSRFToken header of every htmx post.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import Workflow, WorkflowAction
from tests import factories

pytestmark = pytest.mark.browser

MARK = "window.__workflowsMarker"


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def test_a_template_saved_with_an_added_action_switched_off_and_deleted_in_place(live_server, page, make_user):
    user = make_user("wanda")
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.headers))

    page.goto("/dashboard/workflows")
    page.locator("#template-post_meeting_survey").get_by_role("link", name="Use template").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Post-Meeting Survey")
    offset = page.locator("#f-offset")
    expect(offset).to_be_visible()                      # After Meeting: the offset applies
    page.select_option("#f-trigger", "booking_created")
    expect(offset).to_be_hidden()
    page.select_option("#f-trigger", "after_meeting")
    expect(offset).to_have_value("60")

    _mark(page)
    page.select_option("#new-kind", "email")
    page.get_by_role("button", name="+ Add action").click()
    expect(page.locator("#a-1-recipient")).to_be_focused()
    address = page.locator("#a-1-address")
    expect(address).to_be_hidden()
    page.select_option("#a-1-recipient", "address")
    expect(address).to_be_visible()
    address.fill("not an address")
    page.fill("#a-1-subject", "A note for the team")
    page.fill("#a-1-body", "{{ invitee_name }} met us.")
    page.get_by_role("button", name="Create workflow").first.click()
    expect(page.locator("#e-actions-1-address")).to_have_text("Enter the email address to send to.")
    expect(page.locator(".error-summary")).to_contain_text("Action 2, email address")
    expect(page.locator("#a-1-body")).to_have_value("{{ invitee_name }} met us.")      # nothing typed is lost
    assert _same_document(page)

    page.fill("#a-1-address", "team@example.com")
    page.get_by_role("button", name="Create workflow").first.click()
    page.wait_for_url(re.compile(r".*/dashboard/workflows/\w+$"))
    expect(page.locator("#flashes")).to_contain_text("Created “Post-Meeting Survey”.")
    assert posts and all(headers.get("x-csrftoken") for headers in posts if headers.get("hx-request"))
    with live_server.app.app_context(), db.connection_context():
        workflow = Workflow.get(Workflow.user == user.id)
        kinds = [(a.kind, a.config.get("address")) for a in WorkflowAction.select().where(
            WorkflowAction.workflow == workflow).order_by(WorkflowAction.position)]
    assert (workflow.trigger, workflow.offset_minutes, workflow.enabled) == ("after_meeting", 60, True)
    assert kinds == [("email", ""), ("email", "team@example.com")]

    page.goto("/dashboard/workflows")
    _mark(page)
    switch = page.locator(f"#toggle-{workflow.id}")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(page.locator(f"#toggle-{workflow.id}")).to_have_attribute("aria-checked", "false")
    expect(page.locator(f"#wf-{workflow.id}")).to_have_class(re.compile(r"is-draft"))
    assert _same_document(page)
    with live_server.app.app_context(), db.connection_context():
        assert Workflow.get_by_id(workflow.id).enabled is False

    page.locator(f"#delete-{workflow.id}").click()              # asks first, in the page's dialog
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#workflow-list")).to_contain_text("Deleted “Post-Meeting Survey”.")
    expect(page.locator("#no-workflows")).to_be_visible()
    assert _same_document(page)
