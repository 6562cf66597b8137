"""Paid bookings through the pages (issue 16): the event type editor's Payment section, the price on the booking
page, the form sending the invitee to the (fake) Stripe Checkout, the return page that waits for the signed
webhook, and the embed's "pay in a new tab" step."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, EventType, Payment
from app.services.booking import payments
from tests.conftest import login
from tests.payment_fixtures import next_tuesday as next_week

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "/dashboard/event-types"
HX = {"HX-Request": "true"}


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def paid_app(app_factory, stripe_fake, paypal_fake):
    with stripe_fake.lock:
        stripe_fake._injections.clear()      # a failure one test injected and its client did not use up
    app = app_factory(**stripe_fake.settings(), **paypal_fake.settings(), BASE_URL="http://localhost")
    with app.app_context():
        yield app


@pytest.fixture
def client(paid_app):
    return paid_app.test_client()


@pytest.fixture
def hana(paid_app, client):
    from tests import factories
    user = factories.user("hana", name="Hana Host", timezone="Europe/Berlin")
    login(client, user)
    return user


def editor_form(**changes) -> dict:
    data = {"name": "Coaching", "slug": "coaching", "description": "", "duration": "60", "extra_durations": "",
            "location_type": "none", "location_detail": "", "buffer_before": "0", "buffer_after": "0",
            "notice_value": "0", "notice_unit": "hours", "window_type": "rolling", "window_days": "60",
            "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
            "color": "#16a34a", "recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4",
            "reminders": ["1440"], "reminder_custom": "", "schedule_id": "", "op": "save",
            "payment_section": "1", "price": "", "price_currency": "usd", "payment_providers": ["stripe"],
            "payment_window": "15", "refund_on_host_cancel": "1", "refund_invitee_hours": "24"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def coaching() -> EventType:
    return EventType.get(EventType.slug == "coaching")


# --- the editor ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("price", "currency", "minor"), [("49.99", "usd", 4999), ("5000", "jpy", 5000),
                                                           ("1.500", "kwd", 1500), ("0.30", "eur", 30)])
def test_the_editor_saves_the_price_in_minor_units(client, hana, price, currency, minor):
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-payment"' in page and 'value="stripe"' in page and 'value="paypal"' in page
    response = client.post(f"{BASE}/new", data=editor_form(price=price, price_currency=currency,
                                                           payment_window="30", refund_invitee_hours="48"))
    assert response.status_code == 302, html(response)[:2000]
    et = coaching()
    assert (et.price_amount, et.price_currency, et.payment_providers) == (minor, currency, ["stripe"])
    assert (et.payment_window, et.refund_on_host_cancel, et.refund_invitee_hours) == (30, True, 48)
    edit = html(client.get(f"{BASE}/{et.id}/edit"))
    assert f'name="price" value="{price}"' in edit                      # shown back exactly as typed


@pytest.mark.parametrize(("price", "currency", "message"), [
    ("49.999", "usd", "USD amounts have at most 2 decimals."),
    ("12.5", "jpy", "JPY amounts have no decimals."),
    ("1,50", "eur", "Use a point for decimals"),
    ("-5", "usd", "The amount cannot be negative."),
    ("1e3", "usd", "Enter the amount as digits"),
    ("0", "usd", "Enter a price above zero"),
])
def test_a_bad_price_is_shown_inline_and_nothing_is_saved(client, hana, price, currency, message):
    response = client.post(f"{BASE}/new", data=editor_form(price=price, price_currency=currency))
    assert response.status_code == 422
    page = html(response)
    assert re.search(r'<p class="error" id="e-price">[^<]*' + re.escape(message), page), page[:3000]
    assert 'id="f-price" name="price" value="' + price + '"' in page
    assert EventType.get_or_none(EventType.slug == "coaching") is None


def test_a_priced_event_type_needs_a_provider_taking_its_currency_and_cannot_repeat(client, hana):
    none = client.post(f"{BASE}/new", data=editor_form(price="20", payment_providers=[]))
    assert none.status_code == 422 and 'id="e-payment_providers">Choose at least one way to pay.' in html(none)
    # PayPal does not take the Kuwaiti dinar
    kwd = client.post(f"{BASE}/new", data=editor_form(price="1.500", price_currency="kwd",
                                                      payment_providers=["paypal"]))
    assert kwd.status_code == 422 and "PayPal does not take KWD" in html(kwd)
    weekly = client.post(f"{BASE}/new", data=editor_form(price="20", recurrence="weekly"))
    assert weekly.status_code == 422
    assert 'id="e-recurrence">A paid event type cannot repeat' in html(weekly)
    window = client.post(f"{BASE}/new", data=editor_form(price="20", payment_window="2"))
    assert window.status_code == 422 and 'id="e-payment_window">' in html(window)
    assert EventType.get_or_none(EventType.slug == "coaching") is None
    # an empty price is free, whatever else the section says
    free = client.post(f"{BASE}/new", data=editor_form(price="", payment_providers=[]))
    assert free.status_code == 302 and not coaching().is_paid


def test_without_configured_providers_the_payment_section_is_hidden(app_factory, make_user):
    app = app_factory()
    client = app.test_client()
    login(client, make_user("olga"))
    assert 'id="s-payment"' not in html(client.get(f"{BASE}/new"))
    response = client.post(f"{BASE}/new", data=editor_form(payment_section=None, price="49.99"))
    assert response.status_code == 302
    with app.app_context():
        assert EventType.get(EventType.slug == "coaching").price_amount is None


# --- booking a priced event type ------------------------------------------------------------------------------
@pytest.fixture
def priced(hana):
    et = EventType.get(EventType.slug == "30-min")
    EventType.update(name="Coaching", price_amount=4999, price_currency="usd", payment_providers=["stripe"]) \
        .where(EventType.id == et.id).execute()
    from app.models.accounts import bump_pages_version
    bump_pages_version(hana.id)
    return EventType.get_by_id(et.id)


def open_form(client, start: datetime, **extra) -> tuple[str, dict]:
    moment = start.astimezone(BERLIN)
    query = {"tz": "Europe/Berlin", "date": moment.date().isoformat(), "time": f"{moment:%H:%M}", **extra}
    page = html(client.get("/hana/30-min?" + "&".join(f"{k}={v}" for k, v in query.items())))
    form = page[page.index('class="booking-form"'):]
    form = form[:form.index("</form>")]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    return page, {**fields, "name": "Ivan Invitee", "email": "ivan@example.com"}


def test_the_price_is_on_the_booking_page_and_the_form(client, priced, paid_app):
    page = html(client.get("/hana/30-min"))
    assert "49.99 USD" in page
    form_page, fields = open_form(client, next_week())
    assert "Continue to payment" in form_page and "Schedule meeting" not in form_page
    assert fields["provider"] == "stripe"                                # one provider: no choice to make
    EventType.update(payment_providers=["stripe", "paypal"]).where(EventType.id == priced.id).execute()
    form_page, _ = open_form(client, next_week())
    assert form_page.count('type="radio" name="provider"') == 2


def test_booking_a_priced_type_holds_the_slot_and_goes_to_checkout(client, priced, stripe_fake):
    start = next_week()
    _, fields = open_form(client, start)
    response = client.post("/hana/30-min", data=fields, headers=HX)
    assert response.status_code == 204
    booking = Booking.get()
    assert booking.status == "PENDING_PAYMENT"
    payment = Payment.get(Payment.booking == booking)
    assert response.headers["HX-Redirect"] == payment.checkout_url
    assert payment.checkout_url.startswith(stripe_fake.url + "/c/pay/cs_")
    session = stripe_fake.sessions[payment.provider_ref]
    assert session["amount_total"] == 4999 and session["currency"] == "usd"
    assert urlsplit(session["success_url"]).path.endswith("/payment")
    assert "/hana/30-min" in session["cancel_url"]
    # the fake's hosted page is there for browsers
    hosted = stripe_fake.app.test_client().get(urlsplit(payment.checkout_url).path)
    assert hosted.status_code == 200 and b"Pay" in hosted.data
    # without JavaScript (the form resubmitted: the same hold, the same checkout): a page that refreshes to the
    # checkout, since browsers refuse a form's HTTP redirect to another site under form-action 'self'
    again = client.post("/hana/30-min", data=fields)
    assert again.status_code == 200
    assert f'http-equiv="refresh" content="0;url={payment.checkout_url}"' in html(again)
    assert f'href="{payment.checkout_url}"' in html(again)
    assert Booking.select().count() == 1


def test_the_provider_failing_shows_the_form_with_its_message(client, priced, stripe_fake):
    _, fields = open_form(client, next_week(11))
    stripe_fake.fail(500, times=3, path="/v1/checkout/sessions")
    response = client.post("/hana/30-min", data=fields)
    assert response.status_code == 409
    assert "nothing was booked or charged" in html(response) and 'class="booking-form"' in html(response)
    assert Booking.get().status == "CANCELLED"                          # the hold was released at once


def test_the_return_page_polls_until_the_webhook_confirms(client, priced, stripe_fake, paid_app):
    _, fields = open_form(client, next_week(12))
    client.post("/hana/30-min", data=fields)
    booking = Booking.get()
    payment = Payment.get(Payment.booking == booking)
    back = urlsplit(stripe_fake.sessions[payment.provider_ref]["success_url"])
    return_path = f"{back.path}?{back.query}"

    waiting = client.get(return_path)                       # the return URL alone confirms nothing
    assert waiting.status_code == 200 and "Confirming your payment…" in html(waiting)
    assert 'hx-trigger="every 2s"' in html(waiting) and 'http-equiv="refresh"' in html(waiting)
    poll = re.search(r'hx-get="([^"]+)"', html(waiting)).group(1).replace("&amp;", "&")
    partial = client.get(poll, headers=HX)
    assert partial.status_code == 200 and "Confirming your payment…" in html(partial) and "<html" not in html(partial)
    assert Booking.get_by_id(booking.id).status == "PENDING_PAYMENT"

    event = stripe_fake.complete(payment.provider_ref)
    body = json.dumps(event).encode()
    hook = client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                       headers={"Stripe-Signature": stripe_fake.sign(body)})
    assert hook.status_code == 200
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"

    done = client.get(poll, headers=HX)
    assert done.status_code == 204 and "booked=1" in done.headers["HX-Redirect"]
    page = client.get(return_path)
    assert page.status_code == 302 and "booked=1" in page.headers["Location"]
    assert "You are scheduled" in html(client.get(page.headers["Location"]))


def test_the_return_page_says_when_the_hold_ran_out(client, priced, stripe_fake):
    _, fields = open_form(client, next_week(13))
    client.post("/hana/30-min", data=fields)
    booking = Booking.get()
    payment = Payment.get(Payment.booking == booking)
    payments.release_expired(now=booking.held_until + timedelta(seconds=1))
    back = urlsplit(stripe_fake.sessions[payment.provider_ref]["success_url"])
    page = html(client.get(f"{back.path}?{back.query}"))
    assert "The time held for you ran out" in page and "nothing was charged" in page
    assert 'hx-trigger="every 2s"' not in page and "Book a new time" in page


def test_the_embed_offers_the_checkout_in_a_new_tab_and_polls(client, priced, stripe_fake):
    _, fields = open_form(client, next_week(14), embed="true")
    assert fields["embed"] == "true"
    response = client.post("/hana/30-min", data=fields, headers=HX)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers   # the frame stays here
    page = html(response)
    payment = Payment.get()
    assert "Complete your payment in the new tab" in page
    link = re.search(r'<a[^>]*id="pay-link"[^>]*>', page).group(0)
    assert f'href="{payment.checkout_url}"' in link and 'target="_blank"' in link and 'rel="noopener"' in link
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every 2s"', page).group(1).replace("&amp;", "&")
    assert "embed=true" in poll
    waiting = client.get(poll, headers=HX)
    assert waiting.status_code == 200 and "frame-ancestors *" in waiting.headers["Content-Security-Policy"]
    stripe_fake.webhook_url = None
    event = stripe_fake.complete(payment.provider_ref)
    body = json.dumps(event).encode()
    client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                headers={"Stripe-Signature": stripe_fake.sign(body)})
    done = client.get(poll, headers=HX)
    assert done.status_code == 204
    assert "embed=true" in done.headers["HX-Redirect"] and "booked=1" in done.headers["HX-Redirect"]


def test_with_several_providers_the_invitee_chooses_one(client, priced, paypal_fake):
    EventType.update(payment_providers=["stripe", "paypal"]).where(EventType.id == priced.id).execute()
    _, fields = open_form(client, next_week(15))
    fields.pop("provider", None)
    unchosen = client.post("/hana/30-min", data=fields)
    assert unchosen.status_code == 422 and 'id="e-provider">Choose how you want to pay.' in html(unchosen)
    assert Booking.select().count() == 0                                 # nothing held without a choice
    response = client.post("/hana/30-min", data={**fields, "provider": "paypal"}, headers=HX)
    payment = Payment.get()
    assert payment.provider == "paypal" and payment.amount == 4999
    assert response.status_code == 204 and response.headers["HX-Redirect"] == payment.checkout_url
    assert payment.checkout_url.startswith(paypal_fake.url)


def test_the_private_link_of_a_held_booking_shows_where_its_payment_stands(client, priced):
    from app.services.booking.notifications import link_token

    _, fields = open_form(client, next_week(16))
    client.post("/hana/30-min", data=fields)
    token = link_token(Booking.get())
    response = client.get(f"/booking/{token}")
    assert response.status_code == 302 and f"/booking/{token}/payment?" in response.headers["Location"]


def test_a_duplicate_keeps_the_price(client, hana, priced):
    response = client.post(f"{BASE}/{priced.id}/duplicate")
    assert response.status_code == 302
    copy = EventType.get(EventType.name == "Coaching (copy)")
    assert (copy.price_amount, copy.price_currency, copy.payment_providers) == (4999, "usd", ["stripe"])
