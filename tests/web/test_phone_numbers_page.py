"""Dashboard → Phone Numbers against the Twilio and ElevenLabs fakes: the list (flag, label, agents, held date), the
provisioning form (14 countries, inline errors, plain posts and htmx partials), the label edited in place, the
release with its confirmation, the notes without Twilio settings and on the Free plan, isolation and CSRF."""
from __future__ import annotations

import re

import pytest

from app.models import Membership
from app.models.voice import PhoneNumber
from app.services.account import organizations
from app.services.voice import numbers
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

pytest_plugins = ["tests.number_fixtures"]
PAGE = "/dashboard/phone-numbers"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(numbers_app):
    return numbers_app


@pytest.fixture
def hana(make_user):
    return make_user("hana", plan="BUSINESS")


@pytest.fixture
def signed_in(client, hana):
    login(client, hana)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def stored(app) -> list[PhoneNumber]:
    with data(app):
        return list(PhoneNumber.select().order_by(PhoneNumber.created_at))


def test_the_page_lists_numbers_with_flag_label_agents_and_hold_date(app, signed_in, hana, twilio_fake,
                                                                     elevenlabs_fake, make_agent):
    with data(app):
        london = numbers.provision_number(hana, "GB", label="London office")
        numbers.bind_to_agent(london, make_agent(hana, name="Concierge"))
        old = numbers.provision_number(hana, "US", label="Old line")
        numbers.hold_number(old)
        hold_until = PhoneNumber.get_by_id(old.id).hold_until
    page = text(signed_in.get(PAGE))
    assert 'aria-current="page">Phone Numbers</a>' in page
    row = re.search(rf'<tr id="number-{london.id}".*?</tr>', page, re.S).group(0)
    assert "🇬🇧" in row and "+442071838750" in row and 'value="London office"' in row and "Concierge" in row
    assert "Active" in row and f'/dashboard/phone-numbers/{london.id}/release' in row
    held = re.search(rf'<tr id="number-{old.id}".*?</tr>', page, re.S).group(0)
    assert "🇺🇸" in held and "Held" in held and hold_until.isoformat() in held and "Old line" in held
    assert "/release" not in held                                      # already released
    form = re.search(r'<form [^>]*id="provision-form".*?</form>', page, re.S).group(0)
    assert len(re.findall(r"<option value=\"[A-Z]{2}\"", form)) == 14 and "🇦🇪 United Arab Emirates (+971)" in form
    assert 'name="csrf_token"' in form and "1 of 5 numbers" in page


def test_a_plain_form_post_provisions_and_redirects(app, signed_in, twilio_fake):
    response = signed_in.post(PAGE, data={"country": "AE", "label": "Dubai"})
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    [number] = stored(app)
    assert (number.e164, number.number_type, number.label) == ("+97180012345", "toll_free", "Dubai")
    assert twilio_fake.numbers[number.twilio_sid]["friendly_name"] == "Dubai"
    page = text(signed_in.get(PAGE))
    assert "Your new number +97180012345 is ready." in page and "🇦🇪" in page


def test_htmx_provisioning_answers_the_manager_with_the_new_number(app, signed_in, twilio_fake):
    response = signed_in.post(PAGE, data={"country": "US", "label": ""}, headers=HTMX)
    assert response.status_code == 201
    body = text(response)
    assert body.lstrip().startswith('<section id="phone-numbers"') and "<html" not in body
    assert "+14155550100" in body and "is ready" in body


def test_errors_show_inline(app, signed_in, twilio_fake):
    bad = signed_in.post(PAGE, data={"country": "ZZ", "label": "x"}, headers=HTMX)
    assert bad.status_code == 422 and 'id="e-country"' in text(bad) and 'value="x"' in text(bad)
    twilio_fake.stock("JP", local=[], toll_free=[])
    none_left = signed_in.post(PAGE, data={"country": "JP"})
    assert none_left.status_code == 422
    assert "Failed to provision phone number: Twilio has no phone number available in Japan" in text(none_left)
    assert "<html" in text(none_left)                                    # without htmx: the whole page
    assert stored(app) == []


def test_the_plan_limit_shows_inline(app, client, make_user, twilio_fake):
    login(client, make_user("pia", plan="PRO"))
    assert client.post(PAGE, data={"country": "US"}).status_code == 302
    refused = client.post(PAGE, data={"country": "GB"}, headers=HTMX)
    assert refused.status_code == 422 and "Pro plan allows 1 phone numbers" in text(refused)
    assert len(twilio_fake.numbers) == 1


def test_the_free_plan_shows_the_upgrade_note_instead_of_the_form(app, client, make_user, twilio_fake):
    login(client, make_user("fred"))
    page = text(client.get(PAGE))
    assert 'id="upgrade-note"' in page and "Free plan does not include phone numbers" in page
    assert 'id="provision-form"' not in page


def test_without_twilio_settings_the_page_names_them_and_offers_no_form(app_factory, make_user, number_settings):
    app = app_factory(**number_settings())
    client = app.test_client()
    login(client, make_user("hana", plan="PRO"))
    page = text(client.get(PAGE))
    assert "<code>TWILIO_ACCOUNT_SID</code> and <code>TWILIO_AUTH_TOKEN</code>" in page
    assert 'id="provision-form"' not in page
    assert client.post(PAGE, data={"country": "US"}).status_code == 503


def test_the_label_is_edited_in_place(app, signed_in, hana, twilio_fake):
    with data(app):
        number = numbers.provision_number(hana, "US", label="Old")
    row = signed_in.post(f"{PAGE}/{number.id}/label", data={"label": "Front desk"}, headers=HTMX)
    assert row.status_code == 200 and text(row).lstrip().startswith(f'<tr id="number-{number.id}"')
    assert 'value="Front desk"' in text(row) and "Saved" in text(row)
    assert twilio_fake.numbers[number.twilio_sid]["friendly_name"] == "Front desk"
    too_long = signed_in.post(f"{PAGE}/{number.id}/label", data={"label": "x" * 65}, headers=HTMX)
    assert too_long.status_code == 422 and 'role="alert"' in text(too_long) and "64 characters" in text(too_long)
    plain = signed_in.post(f"{PAGE}/{number.id}/label", data={"label": "Desk"})
    assert plain.status_code == 302 and stored(app)[0].label == "Desk"


def test_the_release_is_confirmed_then_holds_the_number(app, signed_in, hana, twilio_fake):
    with data(app):
        first = numbers.provision_number(hana, "US")
        second = numbers.provision_number(hana, "GB")
    page = text(signed_in.get(PAGE))
    assert 'data-confirm="Release +14155550100?' in page
    confirm = signed_in.get(f"{PAGE}/{first.id}/release")                  # without JavaScript
    assert confirm.status_code == 200 and "Release +14155550100?" in text(confirm)
    assert 'name="csrf_token"' in text(confirm)
    assert signed_in.post(f"{PAGE}/{first.id}/release").status_code == 302
    assert twilio_fake.numbers[first.twilio_sid]["voice_url"] == "https://cal.example.com/api/voice/held-line"
    partial = signed_in.post(f"{PAGE}/{second.id}/release", headers=HTMX)
    assert partial.status_code == 200 and "Released +442071838750" in text(partial)
    assert [n.status for n in stored(app)] == ["held", "held"]


def test_a_member_sees_organization_numbers_without_controls(app, client, make_user, twilio_fake):
    owner, member = make_user("olga"), make_user("mia")
    with data(app):
        org = organizations.create_organization(owner, name="Acme", slug="acme")
        Membership.create(organization=org, user=member, role="MEMBER")
        number = numbers.provision_number(owner, "US", label="Acme line", organization=org)
    login(client, owner)
    assert 'id="f-owner"' in text(client.get(PAGE)) and "Acme (shared by its agents)" in text(client.get(PAGE))
    client.post("/logout")
    login(client, member)
    page = text(client.get(PAGE))
    row = re.search(rf'<tr id="number-{number.id}".*?</tr>', page, re.S).group(0)
    assert "Acme line" in row and "Acme" in row and "<form" not in row
    assert client.post(f"{PAGE}/{number.id}/release").status_code == 403
    assert client.post(f"{PAGE}/{number.id}/label", data={"label": "x"}).status_code == 403


def test_another_users_number_is_a_404(app, signed_in, make_user, twilio_fake):
    otto = make_user("otto", plan="PRO")
    with data(app):
        theirs = numbers.provision_number(otto, "US", label="Otto's")
    assert theirs.id not in text(signed_in.get(PAGE))
    assert signed_in.get(f"{PAGE}/{theirs.id}/release").status_code == 404
    assert signed_in.post(f"{PAGE}/{theirs.id}/release", headers=HTMX).status_code == 404
    assert signed_in.post(f"{PAGE}/{theirs.id}/label", data={"label": "x"}).status_code == 404
    assert stored(app)[0].status == "active" and stored(app)[0].label == "Otto's"


def test_posts_need_the_csrf_token(app_factory, make_user, twilio_fake, elevenlabs_fake, number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, **number_settings(twilio_fake, elevenlabs_fake))
    user = make_user("hana", plan="PRO")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    assert client.post(PAGE, data={"country": "US"}).status_code == 400
    assert twilio_fake.requests == []
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get(PAGE))).group(1)
    assert client.post(PAGE, data={"country": "US", "csrf_token": token}).status_code == 302
    assert len(twilio_fake.numbers) == 1
