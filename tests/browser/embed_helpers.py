"""Choosing a day and a time inside an embed's frame, from the keyboard.

While the calendar and the day's times load, the frame resizes and the host page scrolls the times into view
(embed.js, on the frame's message): a mouse click aimed at an element can land beside it. Pressing Enter on the
focused link or button does not depend on where it is on the screen.
"""
from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

# true once the page has not scrolled for a few animation frames
SCROLL_SETTLED = """() => new Promise(resolve => {
  const y = window.scrollY; let frames = 0;
  const tick = () => { if (window.scrollY !== y) { resolve(false); } else if (++frames >= 5) { resolve(true); }
                       else { requestAnimationFrame(tick); } };
  requestAnimationFrame(tick);
})"""


def choose_day(scope, day: date) -> None:
    expect(scope.locator("#tz-select")).to_have_value("Europe/Paris")   # the browser's zone has been applied
    title = scope.locator("#cal-title")
    if title.inner_text() != day.strftime("%B %Y"):
        scope.get_by_role("link", name="Next month").press("Enter")
        expect(title).to_have_text(day.strftime("%B %Y"))
    scope.locator(f'a.day[data-date="{day.isoformat()}"]').press("Enter")
    expect(scope.locator("#slots")).to_have_attribute("data-date", day.isoformat())
