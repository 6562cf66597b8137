"""Cancellation and reschedule policy (issue 23 point 4) in a real browser: the invitee's manage page says until when
they can cancel, or (past the cut-off) offers an email to the host instead of the button; with a required reason, the
cancel form shows the inline error first and cancels once a reason is given."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import in_db, next_week

pytestmark = pytest.mark.browser


@pytest.fixture
def booked(live_server, make_user):
    """Hana's booking by Ivan (New York clock) next week, and its private manage link."""
    from app.models import EventType
    from app.services.booking.notifications import link_token
    from tests import factories
    make_user("hana", name="Hana Host", timezone="Europe/Berlin")

    def book():
        event_type = EventType.get(EventType.slug == "30-min")
        booking = factories.booking(event_type, next_week(2, 11), timezone="America/New_York")
        return booking, link_token(booking)
    return in_db(live_server.app, book)


def set_policy(live_server, **fields) -> None:
    from app.models import EventType
    in_db(live_server.app, lambda: EventType.update(**fields).where(EventType.slug == "30-min").execute())


def test_the_manage_page_shows_the_rule_and_past_it_the_contact_link(page, live_server, booked):
    from app.datetimes import format_datetime
    booking, token = booked
    set_policy(live_server, invitee_cancel="until", invitee_cancel_hours=24)
    page.goto(f"/booking/{token}")
    deadline = format_datetime(booking.start_at - timedelta(hours=24), "America/New_York", style="short")
    expect(page.locator("#policy-cancel")).to_have_text(
        f"You can cancel until {deadline} (24 hours before the meeting).")
    expect(page.get_by_role("link", name="Cancel", exact=True)).to_be_visible()

    set_policy(live_server, invitee_cancel_hours=24 * 30)      # the cut-off is now behind us
    page.reload()
    expect(page.locator("#policy-cancel")).to_contain_text("This meeting can no longer be cancelled online")
    contact = page.get_by_role("link", name="Email Hana Host")
    when = format_datetime(booking.start_at, "America/New_York", style="short")
    subject = f"Cancel: 30 Minute Meeting on {when}".replace(":", "%3A").replace(" ", "%20").replace(",", "%2C")
    expect(contact).to_have_attribute("href", f"mailto:hana@example.com?subject={subject}")
    expect(page.get_by_role("link", name="Cancel", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Reschedule", exact=True)).to_be_visible()
    mailto = contact.get_attribute("href")

    page.goto(f"/booking/{token}/cancel")
    expect(page.get_by_role("heading", name="This meeting can no longer be cancelled online")).to_be_visible()
    expect(page.get_by_role("link", name="Contact Hana Host")).to_have_attribute("href", mailto)
    expect(page.get_by_role("button", name="Cancel meeting")).to_have_count(0)


def test_a_required_reason_shows_the_inline_error_then_cancels(page, live_server, booked):
    from app.models import Booking
    booking, token = booked
    set_policy(live_server, require_cancel_reason=True)
    page.goto(f"/booking/{token}")
    page.get_by_role("link", name="Cancel", exact=True).click()
    reason = page.get_by_label("Reason")
    expect(reason).to_have_attribute("aria-required", "true")
    page.get_by_role("button", name="Cancel meeting").click()
    expect(page.locator("#e-reason")).to_have_text("Please tell the host why you are cancelling.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    assert in_db(live_server.app, lambda: Booking.get_by_id(booking.id).status) == "CONFIRMED"
    reason.fill("A clash with a school run")
    page.get_by_role("button", name="Cancel meeting").click()
    expect(page.get_by_role("heading", name="This meeting was cancelled")).to_be_visible()
    expect(page.get_by_text("Reason: “A clash with a school run”.")).to_be_visible()
    cancelled = in_db(live_server.app, lambda: Booking.get_by_id(booking.id))
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "CANCELLED", "invitee", "A clash with a school run")
