"""Dashboard → Phone Numbers → "Enable WhatsApp" (spec page 11): the form on each active number, plain posts that
redirect with a flash, htmx posts answered with the number's row (status badge, the broken rule, Twilio's refusal),
Refresh Status, Try Again after a rejection and Disable WhatsApp; another account's number is 404."""
from __future__ import annotations

import pytest

from app.db import db
from app.integrations import twilio_senders
from app.services.voice import numbers
from tests.conftest import login

pytest_plugins = ["tests.number_fixtures"]
HTMX = {"HX-Request": "true"}
PAGE = "/dashboard/phone-numbers"


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


@pytest.fixture
def app(numbers_app):
    return numbers_app


@pytest.fixture
def hana(make_user):
    return make_user("hana", plan="PRO")


@pytest.fixture
def signed_in(client, hana):
    login(client, hana)
    return client


@pytest.fixture
def number(app, hana, twilio_fake):
    return in_db(app, numbers.provision_number, hana, "US")


def test_each_active_number_offers_enable_whatsapp(signed_in, number):
    page = signed_in.get(PAGE).get_data(as_text=True)
    assert f'id="enable-whatsapp-{number.id}"' in page and "Enable WhatsApp" in page
    assert f'action="{PAGE}/{number.id}/whatsapp"' in page and 'name="display_name"' in page


def test_a_plain_post_registers_and_redirects_with_the_status_badge(signed_in, number, twilio_fake):
    response = signed_in.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Acme Corp"})
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    page = signed_in.get(PAGE).get_data(as_text=True)
    assert "WhatsApp: Pending" in page and "Meta reviews the name" in page and "Refresh Status" in page
    assert len(twilio_fake.senders) == 1


def test_htmx_answers_the_row_with_the_broken_rule(signed_in, number, twilio_fake):
    response = signed_in.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Official Store"},
                              headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.lstrip().startswith(f'<tr id="number-{number.id}"')
    assert "cannot contain &#34;Official&#34; or &#34;Verified&#34;" in html or 'Official" or "Verified' in html
    assert 'value="Official Store"' in html and twilio_fake.senders == {}


def test_htmx_shows_21656s_admin_message_then_try_again(signed_in, number, twilio_fake):
    twilio_fake.refuse_senders(21656)
    html = signed_in.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Acme Corp"},
                          headers=HTMX).get_data(as_text=True)
    assert "WhatsApp API not yet available" in html and "WhatsApp: Failed" in html and "Try Again" in html
    twilio_fake.refuse_senders(None)
    html = signed_in.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Acme Corp"},
                          headers=HTMX).get_data(as_text=True)
    assert "WhatsApp: Pending" in html and twilio_senders.WHATSAPP_API_UNAVAILABLE not in html


def test_refresh_then_disable(signed_in, number, twilio_fake):
    signed_in.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Acme Corp"})
    [sid] = twilio_fake.senders
    twilio_fake.set_sender_status(sid, "ONLINE", notify=False)
    html = signed_in.post(f"{PAGE}/{number.id}/whatsapp/refresh", headers=HTMX).get_data(as_text=True)
    assert "WhatsApp: Approved" in html and "badge-ok" in html
    html = signed_in.post(f"{PAGE}/{number.id}/whatsapp/delete", headers=HTMX).get_data(as_text=True)
    assert "WhatsApp is disabled" in html and "Enable WhatsApp" in html and twilio_fake.senders == {}


def test_another_accounts_number_is_404(app, client, make_user, number, twilio_fake):
    login(client, make_user("otto", plan="PRO"))
    assert client.post(f"{PAGE}/{number.id}/whatsapp", data={"display_name": "Acme Corp"}).status_code == 404
    assert client.post(f"{PAGE}/{number.id}/whatsapp/delete").status_code == 404
    assert twilio_fake.senders == {}
