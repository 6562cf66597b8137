"""Redirect after booking (issue 23 point 9): the event type editor's "After booking" section (https only, an inline
error), the booking form sending the invitee on (HX-Redirect with JavaScript, the confirmation page's refresh and
Continue link without), the booking's details as query parameters, the embed's marker for the parent page, and a
priced event type sending the invitee on only once the payment is confirmed."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app.models import Booking, EventType, Payment
from app.models.accounts import bump_pages_version
from app.services.errors import ValidationFailed
from app.services.scheduling import event_types as service
from tests.conftest import login
from tests.payment_fixtures import next_tuesday as next_week
from tests.web.test_paid_booking_pages import editor_form, html, open_form

BASE = "/dashboard/event-types"
HX = {"HX-Request": "true"}
TARGET = "https://example.com/thanks"


@pytest.fixture
def paid_app(app_factory, stripe_fake, paypal_fake):
    with stripe_fake.lock:
        stripe_fake._injections.clear()
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


def redirect_to(hana, url: str | None, details: bool = False, **more) -> EventType:
    et = EventType.get(EventType.slug == "30-min")
    EventType.update(redirect_url=url, redirect_with_details=details, **more).where(EventType.id == et.id).execute()
    bump_pages_version(hana.id)
    return EventType.get_by_id(et.id)


# --- the editor -----------------------------------------------------------------------------------------------
def test_the_editor_saves_and_shows_the_redirect(client, hana):
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-after-booking"' in page and 'name="redirect_url"' in page
    response = client.post(f"{BASE}/new", data=editor_form(redirect_section="1", redirect_url=f" {TARGET}?a=1 ",
                                                           redirect_with_details="1"))
    assert response.status_code == 302, html(response)[:2000]
    et = EventType.get(EventType.slug == "coaching")
    assert (et.redirect_url, et.redirect_with_details) == (f"{TARGET}?a=1", True)
    edit = html(client.get(f"{BASE}/{et.id}/edit"))
    assert f'value="{TARGET}?a=1"' in edit
    assert re.search(r'name="redirect_with_details" value="1"\s+checked', edit)
    # emptied: no redirect
    form = editor_form(redirect_section="1", redirect_url="")
    assert client.post(f"{BASE}/{et.id}/edit", data=form).status_code == 302
    assert EventType.get_by_id(et.id).redirect_url is None


@pytest.mark.parametrize(("url", "message"), [
    ("http://example.com/thanks", "Use an https:// URL."),
    ("http://localhost:8000/thanks", "Use an https:// URL."),
    ("javascript:alert(1)", "Use an https:// URL."),
    ("example.com/thanks", "Use an https:// URL."),
    ("https://", "Enter a valid URL"),
    ("https://intranet/thanks", "Enter a valid URL"),
    ("https://user:pw@example.com/", "user name or password"),
    ("https://example.com/a b", "cannot contain spaces"),
    ("https://example.com:99999/", "Enter a valid URL"),
    ("https://example.com/" + "x" * 2000, "at most 2000 characters"),
])
def test_the_editor_refuses_a_bad_url_inline(client, hana, url, message):
    response = client.post(f"{BASE}/new", data=editor_form(redirect_section="1", redirect_url=url))
    assert response.status_code == 422
    page = html(response)
    assert 'id="e-redirect_url"' in page and message in page
    assert 'aria-describedby="e-redirect_url"' in page
    assert not EventType.select().where(EventType.slug == "coaching").exists()


def test_a_form_without_the_section_leaves_the_redirect_alone(client, hana):
    et = redirect_to(hana, TARGET, True)
    form = editor_form(name="30 Minute Meeting", slug="30-min")
    assert client.post(f"{BASE}/{et.id}/edit", data=form).status_code == 302
    assert EventType.get_by_id(et.id).redirect_url == TARGET


def test_the_service_validates_and_duplicates_copy_it(hana):
    et = redirect_to(hana, None)
    with pytest.raises(ValidationFailed) as caught:
        service.update_event_type(et, service.EventTypeInput(redirect_url="ftp://example.com"))
    assert caught.value.errors == {"redirect_url": "Use an https:// URL."}
    service.update_event_type(et, service.EventTypeInput(redirect_url=TARGET, redirect_with_details=True))
    copy = service.duplicate_event_type(EventType.get_by_id(et.id))
    assert (copy.redirect_url, copy.redirect_with_details) == (TARGET, True)


# --- the booking form ---------------------------------------------------------------------------------------------
def test_without_a_redirect_the_confirmation_page_is_unchanged(client, hana):
    redirect_to(hana, None)
    _, fields = open_form(client, next_week())
    response = client.post("/hana/30-min", data=fields, headers=HX)
    assert "/booking/" in response.headers["HX-Redirect"] or "booked=1" in response.headers["HX-Redirect"]
    page = html(client.get(response.headers["HX-Redirect"]))
    assert "You are scheduled" in page and 'id="continue-link"' not in page and 'http-equiv="refresh"' not in page


def test_with_javascript_the_form_sends_the_invitee_to_the_url(client, hana):
    redirect_to(hana, TARGET)
    _, fields = open_form(client, next_week())
    response = client.post("/hana/30-min", data=fields, headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == TARGET
    assert Booking.get().status == "CONFIRMED"


def test_the_details_ride_along_url_encoded(client, hana):
    redirect_to(hana, TARGET + "?campaign=spring&invitee_email=stale#top", True)
    start = next_week(11)
    _, fields = open_form(client, start)
    fields.update(name="Zoë O'Brien & Co", email="zoe+test@example.com")
    response = client.post("/hana/30-min", data=fields, headers=HX)
    target = response.headers["HX-Redirect"]
    booking = Booking.get()
    parts = urlsplit(target)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "example.com", "/thanks", "top")
    assert "zoe%2Btest%40example.com" in parts.query and "Zo%C3%AB%20O%27Brien%20%26%20Co" in parts.query
    query = parse_qs(parts.query)
    assert query == {"campaign": ["spring"], "booking_id": [booking.id], "event_type": ["30-min"],
                     "event_type_name": [booking.event_name], "host_name": ["Hana Host"],
                     "invitee_name": ["Zoë O'Brien & Co"], "invitee_email": ["zoe+test@example.com"],
                     "invitee_timezone": ["Europe/Berlin"], "start_time": [start.strftime("%Y-%m-%dT%H:%M:%SZ")],
                     "end_time": [booking.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")]}


def test_without_javascript_the_confirmation_page_refreshes_and_offers_continue(client, hana):
    redirect_to(hana, TARGET, True)
    _, fields = open_form(client, next_week(12))
    response = client.post("/hana/30-min", data=fields)                 # a plain form POST: same-site redirect
    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert "booked=1" in location and "example.com" not in location
    page = html(client.get(location))
    booking = Booking.get()
    assert "You are scheduled" in page
    link = re.search(r'<a[^>]*id="continue-link"[^>]*>', page).group(0)
    href = re.search(r'href="([^"]+)"', link).group(1).replace("&amp;", "&")
    assert href.startswith(TARGET + "?") and parse_qs(urlsplit(href).query)["booking_id"] == [booking.id]
    assert 'target="_top"' not in link
    refresh = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', page).group(1)
    assert refresh.replace("&amp;", "&") == href
    # the manage link from the email (no booked=1) does not send anyone away
    plain = html(client.get(location.replace("booked=1", "booked=0")))
    assert 'id="continue-link"' not in plain and 'http-equiv="refresh"' not in plain


def test_in_the_embed_the_page_tells_the_parent(client, hana):
    redirect_to(hana, TARGET)
    _, fields = open_form(client, next_week(13), embed="true")
    response = client.post("/hana/30-min", data=fields, headers=HX)
    location = response.headers["HX-Redirect"]
    assert "embed=true" in location and "booked=1" in location           # the frame stays on LinkTime
    page = html(client.get(location))
    assert f'data-redirect-url="{TARGET}"' in page and "data-linktime-booked" in page
    assert 'http-equiv="refresh"' not in page                            # the frame itself never leaves
    link = re.search(r'<a[^>]*id="continue-link"[^>]*>', page).group(0)
    assert 'target="_top"' in link


def test_a_stored_url_that_is_no_longer_valid_is_not_followed(client, hana):
    redirect_to(hana, "http://example.com/old")
    _, fields = open_form(client, next_week(14))
    response = client.post("/hana/30-min", data=fields, headers=HX)
    assert "example.com" not in response.headers["HX-Redirect"]


# --- a priced event type: only once paid ---------------------------------------------------------------------------
def test_a_paid_booking_goes_on_only_after_the_payment_is_confirmed(client, hana, stripe_fake):
    redirect_to(hana, TARGET, True, name="Coaching", price_amount=4999, price_currency="usd",
                payment_providers=["stripe"])
    _, fields = open_form(client, next_week(15))
    response = client.post("/hana/30-min", data=fields, headers=HX)
    payment = Payment.get()
    assert response.headers["HX-Redirect"] == payment.checkout_url          # to pay first, not to the URL
    booking = Booking.get()
    assert booking.status == "PENDING_PAYMENT"
    back = urlsplit(stripe_fake.sessions[payment.provider_ref]["success_url"])
    waiting = html(client.get(f"{back.path}?{back.query}"))
    assert "example.com/thanks" not in waiting
    # the view of a held booking is the payment's page, never the redirect
    held = client.get(f"{back.path.rsplit('/payment', 1)[0]}?booked=1")
    assert held.status_code == 302 and "example.com" not in held.headers["Location"]

    stripe_fake.webhook_url = None
    event = stripe_fake.complete(payment.provider_ref)
    body = json.dumps(event).encode()
    client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                headers={"Stripe-Signature": stripe_fake.sign(body)})
    page = client.get(f"{back.path}?{back.query}")
    assert page.status_code == 302 and "booked=1" in page.headers["Location"]
    confirmed = html(client.get(page.headers["Location"]))
    assert "You are scheduled" in confirmed and 'id="continue-link"' in confirmed
    refresh = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', confirmed).group(1)
    assert refresh.startswith(TARGET + "?") and f"booking_id={booking.id}" in refresh
