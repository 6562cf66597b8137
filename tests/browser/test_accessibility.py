"""axe-core on the pages a host and an invitee see first: no serious or critical violation.

The walk of tests/browser/walk.py (sign-up, sign-in, dashboard, event types and the editor, availability, the
public profile, booking page, form, confirmation and the inline embed) runs at a phone's width and at a desktop's;
axe-core (``axe-playwright-python``) checks each page once it is ready.
"""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import TIMEZONE, WAIT_MS
from tests.browser.walk import walk

pytestmark = pytest.mark.browser

AXE = Axe()
SERIOUS = {"serious", "critical"}


def _problems(results) -> list[str]:
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in SERIOUS:
            targets = [" ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
                       for node in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


@pytest.mark.parametrize("width,height", [(375, 740), (1280, 800)], ids=["phone", "desktop"])
def test_no_serious_accessibility_violation_along_the_walk(chromium, live_server, width, height):
    context = chromium.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-US",
                                   viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    report: dict[str, list[str]] = {}

    def check(name, page):
        # a request in flight dims its element (.htmx-request, opacity .7): check the page at rest, as it is read
        expect(page.locator(".htmx-request")).to_have_count(0)
        page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        problems = _problems(AXE.run(page))
        if problems:
            report[name] = problems

    try:
        page = context.new_page()
        walk(page, live_server, check)
    finally:
        context.close()
    assert report == {}, "\n".join(f"{name}: {p}" for name, problems in report.items() for p in problems)
