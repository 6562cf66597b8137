"""/api/agents/phone-numbers (spec page 11) with the session cookie, and Twilio's /api/voice/held-line webhook,
against the Twilio and ElevenLabs fakes: shapes, isolation (404), plan limits (403), bad input (400), provider
refusals (502), missing settings (503), CSRF, and the held line's TwiML under a valid or a forged signature."""
from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from app.db import db
from app.models import Membership
from app.models.voice import PhoneNumber, VoiceAgent
from app.services.account import organizations
from app.services.voice import numbers
from tests import factories
from tests.conftest import login
from tests.fakes.twilio import signed_inbound

pytest_plugins = ["tests.number_fixtures"]
URL = "/api/agents/phone-numbers"
HELD_LINE = "/api/voice/held-line"
BASE = "https://cal.example.com"


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


def provision(app, user, country="US", **kwargs):
    return in_db(app, numbers.provision_number, user, country, **kwargs)


# --- the shapes ------------------------------------------------------------------------------------------------
def test_post_provisions_and_answers_201_with_the_number(signed_in, twilio_fake):
    response = signed_in.post(URL, json={"countryCode": "US", "label": "Main Office"})
    assert response.status_code == 201
    body = response.get_json()["phoneNumber"]
    assert body["phoneNumber"] == "+14155550100" and body["countryCode"] == "US" and body["flag"] == "🇺🇸"
    assert body["label"] == "Main Office" and body["status"] == "active" and body["holdUntil"] is None
    assert body["numberType"] == "local" and body["agents"] == [] and body["organizationId"] is None
    assert set(body) == {"id", "phoneNumber", "countryCode", "countryName", "flag", "numberType", "label", "status",
                         "holdUntil", "organizationId", "agents", "createdAt"}
    [remote] = twilio_fake.numbers.values()
    assert remote["friendly_name"] == "Main Office" and remote["sms_url"] == BASE + "/api/webhooks/twilio/inbound"


def test_list_get_put_and_delete(app, signed_in, hana, twilio_fake, elevenlabs_fake, make_agent):
    first = provision(app, hana, "GB", label="London")
    agent = in_db(app, lambda: make_agent(hana, name="Sales"))
    in_db(app, numbers.bind_to_agent, first, agent)

    listed = signed_in.get(URL)
    assert listed.status_code == 200
    [row] = listed.get_json()["phoneNumbers"]
    assert row["id"] == first.id and row["agents"] == [{"id": agent.id, "agentName": "Sales", "isActive": True}]
    assert signed_in.get(f"{URL}/{first.id}").get_json()["phoneNumber"]["phoneNumber"] == "+442071838750"

    renamed = signed_in.put(f"{URL}/{first.id}", json={"label": "London office"})
    assert renamed.status_code == 200 and renamed.get_json()["phoneNumber"]["label"] == "London office"
    assert twilio_fake.numbers[first.twilio_sid]["friendly_name"] == "London office"

    held = signed_in.delete(f"{URL}/{first.id}")
    assert held.status_code == 200
    body = held.get_json()["phoneNumber"]
    assert body["status"] == "held" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["holdUntil"])
    assert body["agents"] == []
    assert twilio_fake.numbers[first.twilio_sid]["voice_url"] == BASE + HELD_LINE
    assert elevenlabs_fake.phone_numbers == {}
    assert in_db(app, lambda: VoiceAgent.get_by_id(agent.id).phone_number_id) is None
    again = signed_in.delete(f"{URL}/{first.id}")                  # idempotent
    assert again.status_code == 200 and again.get_json()["phoneNumber"]["holdUntil"] == body["holdUntil"]
    assert signed_in.get(URL).get_json()["phoneNumbers"][0]["status"] == "held"


def test_another_accounts_number_is_a_404_everywhere(app, signed_in, make_user, twilio_fake):
    otto = make_user("otto", plan="PRO")
    theirs = provision(app, otto, label="Otto's")
    assert signed_in.get(URL).get_json() == {"phoneNumbers": []}
    for method, kwargs in (("get", {}), ("put", {"json": {"label": "Mine now"}}), ("delete", {})):
        response = getattr(signed_in, method)(f"{URL}/{theirs.id}", **kwargs)
        assert response.status_code == 404 and response.get_json() == {"error": "Phone number not found"}, method
    assert signed_in.get(f"{URL}/nope").status_code == 404
    stored = in_db(app, PhoneNumber.get_by_id, theirs.id)
    assert stored.label == "Otto's" and stored.status == "active"
    assert twilio_fake.numbers[theirs.twilio_sid]["voice_url"] == ""


def test_an_organization_member_sees_its_numbers_but_only_managers_change_them(app, client, make_user, twilio_fake):
    owner, member = make_user("olga"), make_user("mia")

    def setup():
        org = organizations.create_organization(owner, name="Acme", slug="acme")
        Membership.create(organization=org, user=member, role="MEMBER")
        return org
    org = in_db(app, setup)
    login(client, owner)
    created = client.post(URL, json={"countryCode": "US", "organizationId": org.id})
    assert created.status_code == 201 and created.get_json()["phoneNumber"]["organizationId"] == org.id
    number_id = created.get_json()["phoneNumber"]["id"]
    client.post("/logout")
    login(client, member)
    assert [n["id"] for n in client.get(URL).get_json()["phoneNumbers"]] == [number_id]
    refused = client.delete(f"{URL}/{number_id}")
    assert refused.status_code == 403 and "owner or an admin" in refused.get_json()["error"]
    assert client.put(f"{URL}/{number_id}", json={"label": "x"}).status_code == 403
    assert client.post(URL, json={"countryCode": "US", "organizationId": org.id}).status_code == 403
    assert client.post(URL, json={"countryCode": "US", "organizationId": "not-mine"}).status_code == 404


# --- refusals --------------------------------------------------------------------------------------------------
def test_the_plan_limit_is_a_403_with_the_plans_words(app, client, make_user, twilio_fake):
    free = make_user("fred")
    login(client, free)
    response = client.post(URL, json={"countryCode": "US"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "Your Free plan does not include phone numbers. Ask your "
                                            "administrator for a higher plan."}
    assert twilio_fake.requests == []


def test_a_second_number_on_pro_is_a_403(signed_in, twilio_fake):
    assert signed_in.post(URL, json={"countryCode": "US"}).status_code == 201
    response = signed_in.post(URL, json={"countryCode": "GB"})
    assert response.status_code == 403 and "Pro plan allows 1 phone numbers" in response.get_json()["error"]
    assert len(twilio_fake.numbers) == 1


@pytest.mark.parametrize("body", [{"countryCode": "ZZ"}, {"countryCode": "IN"}, {}, {"countryCode": 1},
                                  {"countryCode": "USA"}])
def test_a_country_outside_the_fourteen_is_a_400(signed_in, twilio_fake, body):
    response = signed_in.post(URL, json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "Invalid request data" and "US, CA, GB" in answer["details"]["countryCode"]
    assert twilio_fake.requests == []


def test_bad_bodies_and_labels_are_400s(app, signed_in, hana, twilio_fake):
    assert signed_in.post(URL, data="{", content_type="application/json").get_json()["details"] == {
        "body": "The body is not valid JSON."}
    assert signed_in.post(URL, data="countryCode=US").status_code == 400
    long_label = signed_in.post(URL, json={"countryCode": "US", "label": "x" * 65})
    assert long_label.status_code == 400 and "label" in long_label.get_json()["details"]
    number = provision(app, hana)
    assert signed_in.put(f"{URL}/{number.id}", json={"label": 5}).get_json()["details"] == {
        "label": "The label must be text."}
    assert signed_in.put(f"{URL}/{number.id}", json={}).status_code == 400


def test_a_twilio_refusal_is_a_502_with_the_reason(app, signed_in, hana, twilio_fake):
    twilio_fake.stock("US", local=[], toll_free=[])
    response = signed_in.post(URL, json={"countryCode": "US"})
    assert response.status_code == 502
    assert response.get_json() == {"error": "Failed to provision phone number: Twilio has no phone number "
                                            "available in United States right now."}
    twilio_fake.fail(400)
    response = signed_in.post(URL, json={"countryCode": "GB"})
    assert response.status_code == 502 and response.get_json()["error"].startswith("Failed to provision phone")
    number = provision(app, hana, "GB")
    twilio_fake.fail(500)
    released = signed_in.delete(f"{URL}/{number.id}")
    assert released.status_code == 502 and released.get_json()["error"].startswith("Failed to release phone number")
    assert in_db(app, PhoneNumber.get_by_id, number.id).status == "active"


def test_without_twilio_settings_post_is_a_503_naming_them(app_factory, make_user, number_settings):
    app = app_factory(**number_settings())
    client = app.test_client()
    login(client, make_user("hana", plan="PRO"))
    response = client.post(URL, json={"countryCode": "US"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["missing"] == ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in body["error"]
    assert client.get(URL).get_json() == {"phoneNumbers": []}


def test_signed_out_is_a_401(client):
    assert client.get(URL).status_code == 401
    assert client.post(URL, json={"countryCode": "US"}).status_code == 401


def test_changes_need_the_csrf_token(app_factory, make_user, twilio_fake, elevenlabs_fake, number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, **number_settings(twilio_fake, elevenlabs_fake))
    user = make_user("hana", plan="PRO")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    assert client.get(URL).status_code == 200                               # reading needs no token
    refused = client.post(URL, json={"countryCode": "US"})
    assert refused.status_code == 400 and "expired" in refused.get_json()["error"]
    assert twilio_fake.requests == []
    page = client.get("/dashboard/phone-numbers").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    created = client.post(URL, json={"countryCode": "US"}, headers={"X-CSRFToken": token})
    assert created.status_code == 201
    number_id = created.get_json()["phoneNumber"]["id"]
    assert client.delete(f"{URL}/{number_id}").status_code == 400
    assert client.put(f"{URL}/{number_id}", json={"label": "x"}).status_code == 400
    assert client.delete(f"{URL}/{number_id}", headers={"X-CSRFToken": token}).status_code == 200


# --- the held line ---------------------------------------------------------------------------------------------
def call(client, to: str, *, token: str | None = None, forged: bool = False):
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0123456789abcdef" * 2, "From": "+14155550199",
              "To": to, "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    headers = signed_inbound(BASE + HELD_LINE, params, *([token] if token else []))
    if forged:
        headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    return client.post(HELD_LINE, data=params, headers=headers)


def said(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response" and [child.tag for child in root] == ["Say"]
    return root.find("Say").text


def test_a_call_to_a_held_number_hears_the_booking_page(app, client, hana, twilio_fake):
    number = provision(app, hana)
    in_db(app, numbers.hold_number, number)
    text = said(call(client, number.e164))
    assert "moved" in text and "cal.example.com/hana" in text and "Hana" in text


def test_any_other_number_hears_a_polite_generic_message(app, client, hana, twilio_fake):
    active = provision(app, hana)
    assert said(call(client, active.e164)) == numbers.GENERIC_LINE
    assert said(call(client, "+15550001111")) == numbers.GENERIC_LINE


def test_a_forged_or_missing_signature_is_refused(app, client, hana, twilio_fake):
    number = provision(app, hana)
    in_db(app, numbers.hold_number, number)
    assert call(client, number.e164, forged=True).status_code == 403
    assert call(client, number.e164, token="another-accounts-token").status_code == 403
    assert client.post(HELD_LINE, data={"To": number.e164}).status_code == 403


def test_the_held_line_needs_no_csrf_token(app_factory, make_user, twilio_fake, number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, **number_settings(twilio_fake))
    hana = make_user("hana", plan="PRO")
    number = provision(app, hana)
    in_db(app, numbers.hold_number, number)
    assert "cal.example.com/hana" in said(call(app.test_client(), number.e164))


def test_the_held_line_is_404_without_twilio_settings(app_factory, number_settings):
    client = app_factory(**number_settings()).test_client()
    assert call(client, "+14155550100").status_code == 404
