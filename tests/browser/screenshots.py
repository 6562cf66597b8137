"""`make screenshots`: the walk of tests/browser/walk.py photographed at a phone's width and a desktop's.

Not part of the suite (pytest collects ``test_*.py`` only; the Makefile names this file). Each step is saved
as ``<dir>/<width>/<nn>-<step>.png``, full page, in ``SCREENSHOTS_DIR`` (default ``screenshots/``), so a
reviewer can look at the booking flow and the host's first pages without running the product.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.conftest import TIMEZONE, WAIT_MS
from tests.browser.walk import walk

pytestmark = pytest.mark.browser

OUT = Path(os.environ.get("SCREENSHOTS_DIR", "screenshots"))


@pytest.mark.parametrize("width,height", [(375, 740), (1280, 800)], ids=["phone", "desktop"])
def test_screenshots(chromium, live_server, width, height):
    folder = OUT / str(width)
    folder.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-US",
                                   viewport={"width": width, "height": height}, device_scale_factor=1)
    context.set_default_timeout(WAIT_MS)
    taken: list[Path] = []

    def shoot(name, page):
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)

    try:
        walk(context.new_page(), live_server, shoot)
    finally:
        context.close()
    assert taken and all(path.stat().st_size > 0 for path in taken)
