"""/api/agents/phone-numbers/<id>/whatsapp (spec page 11) with the session cookie, and Twilio's signed
/api/webhooks/twilio/whatsapp-sender-status, against the Twilio fake: shapes, 400 with the broken display-name rule,
404 for another account's number, 409, 502 with 21656's admin message, 503 without settings, ?refresh=true, CSRF,
and the webhook under a valid or a forged signature."""
from __future__ import annotations

import re

import pytest

from app.db import db
from app.integrations import twilio_senders
from app.models.messaging import WhatsAppSender
from app.services.messaging import whatsapp
from app.services.voice import numbers
from tests import factories
from tests.conftest import login
from tests.fakes.twilio import signed_inbound

pytest_plugins = ["tests.number_fixtures"]
BASE = "https://cal.example.com"
HOOK = "/api/webhooks/twilio/whatsapp-sender-status"
SHAPE = {"phoneNumberId", "displayName", "status", "twilioStatus", "whatsappEnabled", "senderSid", "error",
         "lastCheckedAt", "createdAt", "updatedAt"}


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


def url(number) -> str:
    return f"/api/agents/phone-numbers/{number.id}/whatsapp"


def test_post_get_refresh_and_delete(signed_in, number, twilio_fake):
    assert signed_in.get(url(number)).get_json() == {"whatsapp": None}
    created = signed_in.post(url(number), json={"displayName": "Dr. Smith Dental"})
    assert created.status_code == 201
    body = created.get_json()["whatsapp"]
    assert set(body) == SHAPE
    assert (body["status"], body["twilioStatus"], body["whatsappEnabled"], body["displayName"]) == (
        "pending", "CREATING", False, "Dr. Smith Dental")
    assert body["phoneNumberId"] == number.id and re.fullmatch(r"XE[0-9a-f]{32}", body["senderSid"])
    assert body["error"] is None and body["createdAt"].endswith("Z")

    twilio_fake.set_sender_status(body["senderSid"], "ONLINE", notify=False)
    assert signed_in.get(url(number)).get_json()["whatsapp"]["status"] == "pending"      # stored
    live = signed_in.get(url(number) + "?refresh=true").get_json()["whatsapp"]
    assert (live["status"], live["twilioStatus"], live["whatsappEnabled"]) == ("approved", "ONLINE", True)

    gone = signed_in.delete(url(number))
    assert gone.status_code == 200 and gone.get_json() == {"whatsapp": None}
    assert [s["sid"] for s in twilio_fake.deleted_senders] == [body["senderSid"]]
    assert signed_in.delete(url(number)).status_code == 200                             # again: the same


@pytest.mark.parametrize(("name", "rule"), [("WhatsApp Business", "meta"), ("Official Store", "official"),
                                            ("Store", "generic"), ("ab", "length"), (None, "length")])
def test_a_broken_rule_is_400_with_the_rule(signed_in, number, twilio_fake, name, rule):
    response = signed_in.post(url(number), json={"displayName": name})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Invalid request data", "details": {"displayName": whatsapp.RULES[rule]}}
    assert twilio_fake.senders == {}


def test_special_characters_are_named(signed_in, number):
    response = signed_in.post(url(number), json={"displayName": "test@company"})
    assert response.status_code == 400 and "(@)" in response.get_json()["details"]["displayName"]


def test_bad_json_is_400(signed_in, number):
    response = signed_in.post(url(number), data="{", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "Invalid request data"
    assert signed_in.post(url(number), json=["x"]).status_code == 400


def test_another_accounts_number_is_404(app, client, make_user, number, twilio_fake):
    login(client, make_user("otto", plan="PRO"))
    assert client.post(url(number), json={"displayName": "Acme Corp"}).status_code == 404
    assert client.get(url(number)).status_code == 404
    assert client.delete(url(number)).status_code == 404
    assert client.get("/api/agents/phone-numbers/nope/whatsapp").status_code == 404
    assert twilio_fake.senders == {}


def test_signed_out_is_401(client, number):
    assert client.get(url(number)).status_code == 401


def test_twice_is_409(signed_in, number):
    assert signed_in.post(url(number), json={"displayName": "Acme Corp"}).status_code == 201
    second = signed_in.post(url(number), json={"displayName": "Acme Dental"})
    assert second.status_code == 409 and "deregister" in second.get_json()["error"]


def test_21656_is_502_with_the_admin_message_and_shown_by_get(signed_in, number, twilio_fake):
    twilio_fake.refuse_senders(21656)
    response = signed_in.post(url(number), json={"displayName": "Acme Corp"})
    assert response.status_code == 502
    assert response.get_json() == {"error": twilio_senders.WHATSAPP_API_UNAVAILABLE, "code": 21656}
    stored = signed_in.get(url(number)).get_json()["whatsapp"]
    assert stored["status"] == "failed" and stored["error"] == {"code": 21656,
                                                              "message": twilio_senders.WHATSAPP_API_UNAVAILABLE}


def test_without_twilio_settings_503(app_factory, make_user, number_settings):
    app = app_factory(**number_settings())
    user = make_user("hana", plan="PRO")
    row = in_db(app, lambda: factories_number(user))
    client = app.test_client()
    login(client, user)
    response = client.post(url(row), json={"displayName": "Acme Corp"})
    assert response.status_code == 503 and response.get_json()["missing"] == ["TWILIO_ACCOUNT_SID",
                                                                              "TWILIO_AUTH_TOKEN"]


def factories_number(user):
    from app.models.voice import PhoneNumber
    return PhoneNumber.create(user=user, e164="+14155550123", country="US", twilio_sid="PN" + "1" * 32)


# --- the webhook -------------------------------------------------------------------------------------------------
def test_the_signed_webhook_updates_the_status(app, signed_in, client, number, twilio_fake):
    sid = signed_in.post(url(number), json={"displayName": "Acme Corp"}).get_json()["whatsapp"]["senderSid"]
    callback = twilio_fake.set_sender_status(sid, "ONLINE")
    assert callback.url == BASE + HOOK
    answer = app.test_client().post(HOOK, data=callback.params, headers=callback.headers)
    assert answer.status_code == 204
    assert signed_in.get(url(number)).get_json()["whatsapp"]["status"] == "approved"
    assert in_db(app, lambda: WhatsAppSender.get(WhatsAppSender.sender_sid == sid).notified_status) == "approved"


def test_a_forged_signature_is_403_and_changes_nothing(app, signed_in, number, twilio_fake):
    sid = signed_in.post(url(number), json={"displayName": "Acme Corp"}).get_json()["whatsapp"]["senderSid"]
    params = {"SenderSid": sid, "Status": "ONLINE"}
    forged = signed_inbound(BASE + HOOK, params, auth_token="f" * 32)
    assert app.test_client().post(HOOK, data=params, headers=forged).status_code == 403
    assert app.test_client().post(HOOK, data=params).status_code == 403
    assert signed_in.get(url(number)).get_json()["whatsapp"]["status"] == "pending"


def test_a_callback_about_an_unknown_sender_is_accepted_and_ignored(app, twilio_fake):
    params = {"SenderSid": "XE" + "9" * 32, "Status": "ONLINE"}
    answer = app.test_client().post(HOOK, data=params, headers=signed_inbound(BASE + HOOK, params))
    assert answer.status_code == 204


def test_the_webhook_is_404_without_twilio_settings(app_factory, number_settings):
    app = app_factory(**number_settings())
    assert app.test_client().post(HOOK, data={"SenderSid": "x"}).status_code == 404


def test_csrf_guards_the_session_endpoints_but_not_the_webhook(app_factory, make_user, twilio_fake, elevenlabs_fake,
                                                                number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, **number_settings(twilio_fake, elevenlabs_fake))
    user = make_user("hana", plan="PRO")
    number = in_db(app, numbers.provision_number, user, "US")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    assert client.post(url(number), json={"displayName": "Acme Corp"}).status_code == 400
    assert twilio_fake.senders == {}
    page = client.get("/dashboard/phone-numbers").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    created = client.post(url(number), json={"displayName": "Acme Corp"}, headers={"X-CSRFToken": token})
    assert created.status_code == 201
    params = {"SenderSid": created.get_json()["whatsapp"]["senderSid"], "Status": "VERIFYING"}
    assert app.test_client().post(HOOK, data=params, headers=signed_inbound(BASE + HOOK, params)).status_code == 204
