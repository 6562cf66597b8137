"""Paying through the embed (issue 16): the inline widget on another site books a priced event type, Stripe
Checkout (the local fake's hosted page) opens in a new tab, the invitee pays there, the fake sends its signed
webhook to the live server, and the frame, which kept polling, shows the confirmation."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.embed_helpers import SCROLL_SETTLED, choose_day
from tests.browser.test_embed import BERLIN, in_db, next_week, other_site  # noqa: F401 (a fixture)
from tests.fakes.stripe import StripeFake

pytestmark = pytest.mark.browser

@pytest.fixture
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def live_server(app_factory, stripe_fake):
    """The browser tests' live server with Stripe pointed at the fake, BASE_URL its own address (the Checkout's
    return address) and the fake's "Pay" button delivering its webhook there."""
    from tests.live import serve_live

    app = app_factory(WTF_CSRF_ENABLED=True, **stripe_fake.settings())
    with serve_live(app, own_base_url=True) as server:
        stripe_fake.webhook_url = server.url + "/api/webhooks/stripe"
        yield server


@pytest.fixture
def priced(live_server, make_user):
    from app.models import EventType
    from app.models.accounts import bump_pages_version

    host = make_user("hana", name="Hana Host", timezone="Europe/Berlin")

    def make():
        EventType.update(name="Coaching", price_amount=4999, price_currency="usd", payment_providers=["stripe"]) \
            .where((EventType.user == host.id) & (EventType.slug == "30-min")).execute()
        bump_pages_version(host.id)
    in_db(live_server.app, make)
    return host


def test_paying_from_the_inline_embed_in_a_new_tab_confirms_the_frame(page, live_server, other_site,  # noqa: F811
                                                                       priced, stripe_fake):
    from app.models import Booking, Payment

    url = other_site("/paid.html", f'<div id="widget" data-linktime-inline="{live_server.url}/hana/30-min" '
                                   'data-linktime-name="Ann Lee" data-linktime-email="ann@example.com"></div>'
                                   # room below the widget: the page's scroll position is not clamped (and the
                                   # frame does not move under the pointer) when the frame gets shorter
                                   '<div style="height: 3000px"></div>')
    page.goto(url)
    frame = page.frame_locator("#widget iframe")
    expect(frame.get_by_text("49.99 USD").first).to_be_visible()           # the price, on the booking page
    # the frame has grown to its content: a click no longer lands while it resizes
    page.wait_for_function("document.querySelector('#widget iframe').style.height !== '700px'")

    start = next_week(1, 10)
    choose_day(frame, start.astimezone(BERLIN).date())
    # the host page scrolls the day's times into view (embed.js, on the frame's message) while the frame resizes:
    # the time is chosen from the keyboard, which does not depend on where it is on the screen
    slot = frame.locator(f'#slots a.slot[data-start="{start:%Y-%m-%dT%H:%M:%SZ}"]')
    expect(slot).to_be_in_viewport()
    page.wait_for_function(SCROLL_SETTLED)
    slot.press("Enter")
    expect(frame.get_by_role("heading", name="Enter your details")).to_be_visible()
    expect(frame.get_by_label("Name")).to_have_value("Ann Lee")          # the form is in, prefilled by the embed
    expect(frame.get_by_label("Email")).to_have_value("ann@example.com")
    page.wait_for_function(SCROLL_SETTLED)
    frame.get_by_role("button", name="Continue to payment").press("Enter")
    expect(frame.get_by_role("heading", name="Complete your payment in the new tab")).to_be_visible()
    expect(frame.get_by_text("Confirming your payment…")).to_be_visible()
    held = in_db(live_server.app, lambda: Booking.get())
    assert held.status == "PENDING_PAYMENT"

    with page.context.expect_page() as opened:
        frame.get_by_role("link", name="Pay 49.99 USD in a new tab").click()
    checkout = opened.value
    expect(checkout.get_by_role("heading", name="Fake Stripe Checkout")).to_be_visible()
    assert checkout.url.startswith(stripe_fake.url + "/c/pay/cs_")
    checkout.get_by_role("button", name="Pay").click()
    # the tab comes back to the return page, which finds the booking confirmed by the webhook
    expect(checkout.get_by_role("heading", name="You are scheduled")).to_be_visible()

    expect(frame.get_by_role("heading", name="You are scheduled")).to_be_visible()   # the frame followed
    page.wait_for_function("window.booked.length === 1")                            # and told the host page
    booking = in_db(live_server.app, lambda: Booking.get_by_id(held.id))
    payment = in_db(live_server.app, lambda: Payment.get(Payment.booking == held.id))
    assert booking.status == "CONFIRMED" and payment.status == "paid" and payment.amount == 4999
    assert re.fullmatch(r"pi_[0-9a-f]+", payment.transaction_id)


def test_without_javascript_the_form_goes_to_checkout_and_the_return_page_confirms(chromium, live_server, priced,
                                                                                    stripe_fake):
    """No htmx: the form's answer refreshes to the checkout (a form may not redirect to another site under
    form-action 'self'), and the return page refreshes until the webhook has confirmed the booking."""
    from app.models import Booking

    context = chromium.new_context(base_url=live_server.url, timezone_id="Europe/Berlin", locale="en-US",
                                   java_script_enabled=False)
    try:
        page = context.new_page()
        start = next_week(1, 11).astimezone(BERLIN)
        page.goto(f"/hana/30-min?tz=Europe/Berlin&date={start.date().isoformat()}&time={start:%H:%M}"
                  "&name=Ann+Lee&email=ann@example.com")
        page.get_by_role("button", name="Continue to payment").click()
        expect(page.get_by_role("heading", name="Fake Stripe Checkout")).to_be_visible()
        assert page.url.startswith(stripe_fake.url + "/c/pay/cs_")
        page.get_by_role("button", name="Pay").click()
        expect(page.get_by_role("heading", name="You are scheduled")).to_be_visible()
        assert in_db(live_server.app, lambda: Booking.get()).status == "CONFIRMED"
    finally:
        context.close()
