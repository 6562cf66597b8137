"""A visitor answers a routing form in Chromium and books the meeting it leads to: on the form's own page, and
inside the inline embed on another site (http://localhost:<port>, another site than the live server's 127.0.0.1,
so the frame gets no first-party cookie). The booking form arrives with the answers filled in, and the booking is
linked to the form's response."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.embed_helpers import SCROLL_SETTLED, choose_day
from tests.browser.helpers import in_db, next_week
from tests.browser.test_embed import other_site  # noqa: F401 (the fixture: a page on another origin)

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def host(live_server, make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin", plan="PRO")


@pytest.fixture
def form(live_server, host):
    """Company size "51+" leads to "Sales call", whose questions Topics and Notes are also the form's."""
    from app.services.routing import forms
    from tests import factories

    def make():
        sales = factories.new_event_type(host, name="Sales call", slug="sales-call", duration=30, questions=[
            {"id": "topics", "label": "Topics", "type": "multiselect", "options": ["Billing", "Sales", "Support"]},
            {"id": "notes", "label": "Notes", "type": "textarea"}])
        return forms.create_form(host, forms.FormInput(
            name="Talk to us", slug="intake", description="A few questions first.", published=True, fields=[
                {"id": "name", "label": "Your name", "type": "text", "required": True},
                {"id": "email", "label": "Your email", "type": "email", "required": True},
                {"id": "size", "label": "Company size", "type": "select", "required": True,
                 "options": ["1-10", "11-50", "51+"]},
                {"id": "topics", "label": "Topics", "type": "multiselect", "options": ["Billing", "Sales", "Support"]},
                {"id": "notes", "label": "Notes", "type": "textarea"}],
            rules=[{"conditions": [{"field": "size", "operator": "equals", "value": "51+"}],
                    "route": {"kind": "event_type", "eventTypeId": sales.id}}],
            default_route={"kind": "message", "message": "We will be in touch."}))
    return in_db(live_server.app, make)


def answer(scope) -> None:
    scope.get_by_label("Your name").fill("Ann Lee")
    scope.get_by_label("Your email").fill("ann@example.com")
    scope.get_by_label("Company size").select_option("51+")
    # the space bar, not a click: inside an embed the frame resizes while the form fills and a click can land beside
    # the box (embed_helpers)
    for topic in ("Support", "Billing"):
        box = scope.get_by_label(topic)
        box.press("Space")
        expect(box).to_be_checked()
    scope.get_by_label("Notes").fill("About our invoices")


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} at {[node['target'] for node in v['nodes'][:3]]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def linked_booking(app):
    from app.models import Booking, RoutingResponse
    return in_db(app, lambda: (Booking.get(), RoutingResponse.get()))


def test_the_form_leads_to_the_prefilled_booking_page_and_the_booking_follows_it(page, live_server, form):
    page.goto("/hana/route/intake")
    expect(page.get_by_role("heading", name="Talk to us")).to_be_visible()
    page.get_by_role("button", name="Continue").click()                   # nothing answered: inline errors
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []

    answer(page)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/hana/sales-call\?.*routing="))
    expect(page.get_by_role("heading", name="Sales call")).to_be_visible()

    start = next_week(1, 10)
    choose_day(page, start.astimezone(BERLIN).date())
    page.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]').click()
    expect(page.get_by_role("heading", name="Enter your details")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ann Lee")
    expect(page.get_by_label("Email", exact=True)).to_have_value("ann@example.com")
    expect(page.get_by_label("Billing")).to_be_checked()
    expect(page.get_by_label("Support")).to_be_checked()
    expect(page.get_by_label("Sales", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Notes")).to_have_value("About our invoices")
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()

    booking, response = linked_booking(live_server.app)
    assert (booking.invitee_email, booking.start_at, booking.source) == ("ann@example.com", start, "page")
    assert response.booking_id == booking.id
    assert booking.answers["topics"] == ["Billing", "Support"]


def test_inside_the_inline_embed_on_another_site_the_form_routes_and_books_in_the_frame(
        page, live_server, other_site, form):  # noqa: F811 (the fixture)
    url = other_site("/intake.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/route/intake">'
                                     '</div>')
    page.goto(url)
    expect(page.locator("#widget iframe")).to_have_attribute("src", f"{live_server.url}/hana/route/intake?embed=true")
    frame = page.frame_locator("#widget iframe")
    expect(frame.get_by_role("heading", name="Talk to us")).to_be_visible()
    answer(frame)
    frame.get_by_role("button", name="Continue").press("Enter")

    # still inside the frame, still in embed mode
    expect(frame.get_by_role("heading", name="Sales call")).to_be_visible()
    frame_url = page.frame_locator("#widget iframe").locator("body").evaluate("() => location.href")
    assert frame_url.startswith(f"{live_server.url}/hana/sales-call?") and "embed=true" in frame_url
    assert "routing=" in frame_url
    expect(frame.locator("header.topbar")).to_have_count(0)
    assert page.url == url                                                 # the host page stayed

    start = next_week(2, 11)
    choose_day(frame, start.astimezone(BERLIN).date())
    slot = frame.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    expect(slot).to_be_in_viewport()
    page.wait_for_function(SCROLL_SETTLED)
    slot.press("Enter")
    expect(frame.get_by_label("Name", exact=True)).to_have_value("Ann Lee")
    expect(frame.get_by_label("Email", exact=True)).to_have_value("ann@example.com")
    expect(frame.get_by_label("Notes")).to_have_value("About our invoices")
    page.wait_for_function(SCROLL_SETTLED)
    frame.get_by_role("button", name="Schedule meeting").press("Enter")
    expect(frame.get_by_role("heading", name="You are scheduled")).to_be_visible()

    page.wait_for_function("window.booked.length === 1")
    booking, response = linked_booking(live_server.app)
    assert page.evaluate("window.booked")[0]["detail"]["bookingId"] == booking.id
    assert (booking.invitee_email, booking.start_at, booking.source) == ("ann@example.com", start, "embed")
    assert response.booking_id == booking.id


def test_an_external_route_inside_the_embed_takes_the_whole_window_there(
        page, live_server, other_site, form):  # noqa: F811 (the fixture)
    from app.models import RoutingForm
    from app.services.routing import forms

    def point_small_companies_away():
        data = forms.input_of(RoutingForm.get_by_id(form.id))
        data.rules.append({"conditions": [{"field": "size", "operator": "equals", "value": "1-10"}],
                           "route": {"kind": "url", "url": "https://partner.example/start"}})
        forms.update_form(form.user, form.id, data)
    in_db(live_server.app, point_small_companies_away)
    page.route("https://partner.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>Partner</title><h1>Partner site</h1>"))
    url = other_site("/intake.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/route/intake">'
                                     '</div>')
    page.goto(url)
    frame = page.frame_locator("#widget iframe")
    frame.get_by_label("Your name").fill("Ann Lee")
    frame.get_by_label("Your email").fill("ann@example.com")
    frame.get_by_label("Company size").select_option("1-10")
    frame.get_by_role("button", name="Continue").press("Enter")
    link = frame.get_by_role("link", name="Continue to partner.example")
    try:   # the page's script moves the whole window; a browser may refuse that without a click: the link
        page.wait_for_url("https://partner.example/start", timeout=3000)
    except Exception:
        link.click()
        page.wait_for_url("https://partner.example/start")
    expect(page.get_by_role("heading", name="Partner site")).to_be_visible()
