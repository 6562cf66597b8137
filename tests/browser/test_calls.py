"""Dashboard → Calls in a real browser, on CallLog rows created directly: each filter (status, outcome, agent, date
range) updates the list as an htmx partial (the address bar follows, no full page load: a ``window`` marker
survives), an impossible date range answers inline, and a call's detail shows its transcript and booking link.
axe-core finds no serious violation on the list and the detail.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.models import VoiceAgent
from tests import factories
from tests.browser.helpers import in_db
from tests.browser.test_accessibility import AXE, _problems
from tests.outbound_fixtures import call_log

pytestmark = pytest.mark.browser

MARK = "window.__callsMarker"
T0 = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)         # 17:30 on 2 March in New York


def _sign_in(page, user) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def _listed(page) -> list[str]:
    return page.locator("#calls-table tbody tr").evaluate_all("rows => rows.map(r => r.id.slice(5))")


@pytest.fixture
def seeded(live_server):
    def make():
        host = factories.user("hana", plan="PRO", timezone="America/New_York")
        sales = VoiceAgent.create(user=host, name="Sales Agent", elevenlabs_agent_id="agent_sales")
        support = VoiceAgent.create(user=host, name="Support Desk", elevenlabs_agent_id="agent_support")
        booking = factories.booking_row(factories.event_type(host), T0 + timedelta(days=5), name="Ivan Invitee")
        calls = {
            "booked": call_log(host, T0, agent=sales, outcome="booking_created", booking=booking, duration=142,
                               transcript="Agent: Hi! I'm Sales Agent, an AI assistant.\nCaller: Book me Monday."),
            "failed": call_log(host, T0 + timedelta(days=1), agent=support, status="FAILED", outcome=None,
                               duration=0, transcript=None),
            "reminder": call_log(host, T0 + timedelta(days=2), agent=sales, direction="outbound",
                                 status="NO_ANSWER", outcome="no_action", call_type="reminder",
                                 caller_phone="+14155550123", duration=0),
        }
        return host, calls, booking
    return in_db(live_server.app, make)


def test_filters_update_the_list_in_place_and_the_detail_shows_transcript_and_booking(live_server, page, seeded):
    host, calls, booking = seeded
    _sign_in(page, host)
    page.get_by_role("link", name="Calls", exact=True).click()
    page.wait_for_url(re.compile(r".*/dashboard/calls$"))
    expect(page.locator("#call-count")).to_have_text("3 calls")
    assert _listed(page) == [calls[k].id for k in ("reminder", "failed", "booked")]
    assert _problems(AXE.run(page)) == []                    # the list
    _mark(page)

    page.get_by_label("Status").select_option("FAILED")
    expect(page.locator("#call-count")).to_have_text("1 call")
    expect(page).to_have_url(re.compile(r"/dashboard/calls\?status=FAILED"))
    assert _listed(page) == [calls["failed"].id]
    assert _same_document(page)

    page.get_by_label("Status").select_option("all")
    page.get_by_label("Agent").select_option(label="Sales Agent")
    expect(page.locator("#call-count")).to_have_text("2 calls")
    expect(page).to_have_url(re.compile(r"[?&]agent=" + re.escape(str(calls["booked"].agent_id))))
    assert _listed(page) == [calls["reminder"].id, calls["booked"].id]

    page.get_by_label("Outcome").select_option("booking_created")
    expect(page.locator("#call-count")).to_have_text("1 call")
    expect(page).to_have_url(re.compile(r"[?&]outcome=booking_created"))
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Agent").select_option("")
    expect(page.locator("#call-count")).to_have_text("3 calls")

    # The date range, on the viewer's (New York) calendar; an end before the start answers inline.
    page.get_by_label("From").fill("2026-03-03")
    expect(page.locator("#call-count")).to_have_text("2 calls")
    expect(page).to_have_url(re.compile(r"[?&]from=2026-03-03"))
    page.get_by_label("To").fill("2026-03-01")
    expect(page.locator("#e-to")).to_contain_text("The end date is before the start date.")
    page.get_by_label("To").fill("2026-03-03")
    expect(page.locator("#e-to")).to_have_count(0)
    expect(page.locator("#call-count")).to_have_text("1 call")
    assert _listed(page) == [calls["failed"].id]
    page.get_by_label("From").fill("")
    page.get_by_label("To").fill("")
    expect(page.locator("#call-count")).to_have_text("3 calls")
    expect(page.locator("#no-calls")).to_have_count(0)
    assert _same_document(page)

    # The booked call's detail: its transcript and its booking.
    row = page.locator(f"#call-{calls['booked'].id}")
    expect(row).to_contain_text("17:30")
    expect(row.get_by_role("link", name="View booking")).to_have_attribute(
        "href", f"/dashboard/bookings/{booking.id}")
    row.get_by_role("link", name=re.compile(r"^Details of the call")).click()
    page.wait_for_url(re.compile(rf".*/dashboard/calls/{calls['booked'].id}$"))
    expect(page.locator("#transcript .call-transcript")).to_have_text(
        "Agent: Hi! I'm Sales Agent, an AI assistant.\nCaller: Book me Monday.")
    expect(page.locator("#call-outcome")).to_have_text("Booking created")
    link = page.locator("#call-booking a")
    expect(link).to_contain_text("with Ivan Invitee")
    expect(link).to_have_attribute("href", f"/dashboard/bookings/{booking.id}")
    assert _problems(AXE.run(page)) == []                    # the detail
    link.click()
    page.wait_for_url(re.compile(rf".*/dashboard/bookings/{booking.id}$"))
    expect(page.locator("main")).to_contain_text("Ivan Invitee")
