"""Browser fixtures: the test app served over real HTTP, and Chromium driven by Playwright.

``live_server`` serves an app from ``app_factory`` (CSRF enabled, as in production) with waitress in a background
thread on a free port; it shares the test database, so tests can check what a browser session stored.
``page`` is a fresh browser context (time zone Europe/Paris, English) on the session's Chromium.
Without Chromium the browser tests fail on CI (CI=true) and are skipped elsewhere.
"""
from __future__ import annotations

import os

import pytest

from tests.conftest import IN_CI
from tests.live import LiveServer, serve_live  # noqa: F401 (the browser tests' helper)

CHROMIUM = os.environ.get("LINKTIME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEZONE = "Europe/Paris"
# One bound for every wait, as for the page's own waits: an assertion polls until its condition holds, and on a
# busy CI machine (two suites, Chromium and xdist workers on two cores) a booking round trip can pass 5 s.
WAIT_MS = 10_000


def _unavailable(message: str):
    if IN_CI:
        pytest.fail(message + " (required on CI)")
    pytest.skip(message)


@pytest.fixture
def live_server(app_factory):
    with serve_live(app_factory(WTF_CSRF_ENABLED=True)) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import Error, expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Error as exc:
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
