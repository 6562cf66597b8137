"""Team event types in Chromium (issue 15): the owner opens the form in the team's card, gets the inline errors,
and creates a round-robin event type with two hosts, one fixed, all through htmx swaps of the organization panel.

Uses the ``live_server`` (CSRF on) and ``page`` fixtures of tests/browser/conftest.py. A marker on ``window``
survives only while no full page load happens, so it proves each step was an in-place update.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import EventType, EventTypeHost
from tests import factories
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

MARK = "window.__teamDashboardMarker"


@pytest.fixture
def crew(live_server, make_user):
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia")}
    with live_server.app.app_context(), db.connection_context():
        team = factories.team(people["olga"], [people["adam"], people["mia"]])
    return {**people, "team": team}


def _sign_in(page, user):
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _still_same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def test_an_owner_creates_a_round_robin_team_event_type_with_a_fixed_host(live_server, page, crew):
    team, adam, mia = crew["team"], crew["adam"], crew["mia"]
    _sign_in(page, crew["olga"])
    page.goto(f"/dashboard/organizations/{team.organization_id}")
    expect(page.locator(f"#tet-none-{team.id}")).to_have_text("No event types yet.")
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")
    posts = []
    page.on("request", lambda request: posts.append(request.headers) if request.method == "POST" else None)

    page.locator(f"#tet-new-{team.id}").click()                  # the form opens in the team's card
    form = page.locator("#team-event-type-form")
    expect(form).to_be_visible()
    page.fill("#tet-name", "Demo call")
    form.locator("button[value=save]").first.click()              # no host, no type yet: inline errors
    expect(form.locator(".error-summary")).to_contain_text("Choose at least one host.")
    expect(page.locator("#tet-e-hosts")).to_have_text("Choose at least one host.")
    expect(page.locator("#tet-name")).to_have_value("Demo call")

    page.fill("#tet-slug", "demo")
    page.get_by_label("Round robin").check()
    page.locator(f"#tet-host-{adam.id}").check()
    page.locator(f"#tet-fixed-{adam.id}").check()
    page.locator(f"#tet-host-{mia.id}").check()
    page.fill(f"#tet-weight-{mia.id}", "3")
    page.locator("#tet-q-add").click()                            # the personal editor's questions, in place
    expect(page.locator("#tet-q-0-label")).to_be_focused()
    page.fill("#tet-q-0-label", "Company")
    form.locator("button[value=save]").first.click()

    expect(page.locator("#org-panel .flash-success")).to_have_text("Created the team event type “Demo call” in Sales.")
    expect(form).to_have_count(0)
    with live_server.app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.team == team.id) & (EventType.slug == "demo"))
        hosts = {row.user_id: (row.is_fixed, row.weight)
                 for row in EventTypeHost.select().where(EventTypeHost.event_type == event_type.id)}
    assert event_type.scheduling_type == "round_robin" and [q["label"] for q in event_type.questions] == ["Company"]
    assert hosts == {adam.id: (True, 1), mia.id: (False, 3)}
    row = page.locator(f"#tet-{event_type.id}")
    expect(row).to_contain_text("Demo call")
    expect(row).to_contain_text("Round robin · 30 min")
    expect(row).to_contain_text("Adam (fixed), Mia (weight 3)")
    expect(row).to_contain_text("/team/sales/demo")
    assert _still_same_document(page)                              # every step was an htmx swap
    assert len(posts) == 3 and all(headers.get("hx-request") == "true" for headers in posts)
