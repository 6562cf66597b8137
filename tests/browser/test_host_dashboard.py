"""The host dashboard in Chromium: cancelling a booking with a reason, rescheduling it, searching contacts.

Uses the ``live_server`` and ``page`` fixtures of tests/browser/conftest.py (CSRF on, so every htmx post
proves the header from app.js). A marker on ``window`` survives only while no full page load happens, so
it shows which steps were in-place htmx swaps.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.db import db
from app.models import Booking, EventType
from app.services.booking import bookings as svc
from app.services.booking import contacts
from app.services.scheduling.slots import available_slots
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

MARK = "window.__hostDashboardMarker"
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


def _book(app, host, start_index=0, **who):
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        begin = datetime.now(UTC) + timedelta(days=2)
        start = available_slots(event_type, begin, begin + timedelta(days=14))[start_index]
        data = {"invitee_name": "Ivan Invitee", "invitee_email": "ivan@example.com",
                "invitee_timezone": "Europe/Berlin", **who}
        return svc.create_booking(event_type, svc.BookingRequest(start=start, **data)).booking


def _fetch(app, booking_id):
    with app.app_context(), db.connection_context():
        return Booking.get_by_id(booking_id)


def _sign_in(page, host):
    page.goto("/login")
    page.fill("input[name=email]", host.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _mark(page):
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def test_host_cancels_a_booking_with_a_reason_and_finds_it_under_cancelled(page, live_server, host):
    booking = _book(live_server.app, host)
    _book(live_server.app, host, start_index=3, invitee_name="Una Untouched", invitee_email="una@example.com")
    _sign_in(page, host)
    page.goto("/dashboard/bookings")
    row = page.locator(f"#booking-{booking.id}")
    expect(row).to_contain_text("Ivan Invitee")
    expect(row).to_contain_text(booking.start_at.astimezone(NEW_YORK).strftime("%H:%M"))   # host time
    row.get_by_role("link", name=re.compile("Details")).click()
    page.wait_for_url(f"**/dashboard/bookings/{booking.id}")

    confirm = page.locator("dialog#confirm-dialog")     # the in-page confirmation of app.js

    # No reason yet: the inline error replaces the form, nothing is cancelled.
    _mark(page)
    page.get_by_role("button", name="Cancel booking").click()
    confirm.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.locator("#e-reason")).to_have_text("Give a reason; the invitee will see it.")
    assert _same_document(page) and _fetch(live_server.app, booking.id).status == "CONFIRMED"

    page.get_by_label("Reason for cancelling").fill("I have to travel that day")
    page.get_by_role("button", name="Cancel booking").click()
    expect(confirm).to_contain_text("Ivan Invitee will be told")
    confirm.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.locator(".flash-success")).to_contain_text("Booking cancelled")
    fresh = _fetch(live_server.app, booking.id)
    assert (fresh.status, fresh.cancelled_by, fresh.cancel_reason) == ("CANCELLED", "host", "I have to travel that day")
    expect(page.locator(".history")).to_contain_text("Cancelled by the host: I have to travel that day")

    page.goto("/dashboard/bookings")
    expect(page.locator(f"#booking-{booking.id}")).to_have_count(0)
    _mark(page)
    page.get_by_role("link", name="Cancelled", exact=True).click()
    cancelled = page.locator(f"#booking-{booking.id}")
    expect(cancelled).to_contain_text("Ivan Invitee")
    expect(cancelled).to_contain_text("I have to travel that day")
    expect(page.locator("#booking-results")).not_to_contain_text("Una Untouched")
    expect(page).to_have_url(re.compile(r"tab=cancelled"))
    expect(page.locator("#bookings-panel")).to_have_count(1)          # the panel was replaced, not nested
    expect(page.locator('.tabs a[aria-current="page"]')).to_have_text("Cancelled")
    expect(page.locator("input[name=tab]")).to_have_value("cancelled")   # searching now stays in this tab
    assert _same_document(page)


def test_declining_the_confirmation_cancels_nothing(page, live_server, host):
    booking = _book(live_server.app, host)
    _sign_in(page, host)
    page.goto(f"/dashboard/bookings/{booking.id}")
    page.get_by_label("Reason for cancelling").fill("Changed my mind")
    page.get_by_role("button", name="Cancel booking").click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Keep the booking").click()
    expect(page.locator("dialog#confirm-dialog")).to_be_hidden()
    assert _fetch(live_server.app, booking.id).status == "CONFIRMED"
    expect(page.locator(".flash-success")).to_have_count(0)


def test_host_reschedules_by_picking_a_date_and_an_offered_time(page, live_server, host):
    booking = _book(live_server.app, host)
    _sign_in(page, host)
    page.goto(f"/dashboard/bookings/{booking.id}")
    page.get_by_role("link", name="Reschedule").click()
    page.wait_for_url(f"**/dashboard/bookings/{booking.id}/reschedule")
    day = booking.start_at.astimezone(NEW_YORK).date()
    next_weekday = day + timedelta(days=3 if day.weekday() == 4 else 1)
    _mark(page)
    page.fill("#f-date", next_weekday.isoformat())
    legend = page.locator("#slot-list legend")
    expect(legend).to_contain_text(f"{next_weekday:%A} {next_weekday.day} {next_weekday:%B %Y}")
    assert _same_document(page)                       # the slot list was swapped in place
    page.locator("label.slot", has_text="11:00").click()
    page.get_by_label("Reason").fill("Clash with a board meeting")
    page.get_by_role("button", name="Reschedule").click()
    page.wait_for_url(f"**/dashboard/bookings/{booking.id}")
    expect(page.locator(".flash-success")).to_contain_text("Booking moved to")
    fresh = _fetch(live_server.app, booking.id)
    local = fresh.start_at.astimezone(NEW_YORK)
    assert (local.date(), local.strftime("%H:%M")) == (next_weekday, "11:00")
    expect(page.locator(".history")).to_contain_text("Clash with a board meeting")


def test_contacts_search_filters_the_list_in_place(page, live_server, host):
    with live_server.app.app_context(), db.connection_context():
        for name, email, company in (("Jane Doe", "jane@acme.com", "Acme"), ("Bob Builder", "bob@bricks.io", "Bricks"),
                                     ("Carla Acmeson", "carla@example.org", None)):
            contacts.create_contact(host, {"name": name, "email": email, "company": company})
    _sign_in(page, host)
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.wait_for_url("**/dashboard/contacts")
    results = page.locator("#contact-results")
    expect(results).to_contain_text("Bob Builder")
    _mark(page)
    page.get_by_label("Search").fill("acme")
    expect(results).not_to_contain_text("Bob Builder")
    expect(results).to_contain_text("Jane Doe")
    expect(results).to_contain_text("Carla Acmeson")
    expect(results).to_contain_text("2 contacts matching")
    expect(page).to_have_url(re.compile(r"/dashboard/contacts\?q=acme$"))
    assert _same_document(page)
    expect(page.get_by_label("Search")).to_be_focused()    # typing was not interrupted by the swap
    page.get_by_label("Search").fill("bricks")
    expect(results).to_contain_text("Bob Builder")
    expect(results).not_to_contain_text("Jane Doe")
