"""The messaging-agent JSON API (spec page 11, "Agent API" → "Messaging Agents") with the session cookie: page 11's
create and update examples, the list with the month's message pool, 400 details, 403 at the plan's limit, 404 for
another's agent, 503 naming the missing settings, 401 signed out, CSRF."""
from __future__ import annotations

import re

import pytest

from app.db import db
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, WhatsAppSender
from app.models.voice import PhoneNumber
from tests import factories
from tests.conftest import login

SETTINGS = {"ANTHROPIC_API_KEY": "sk-ant-test", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
URL = "/api/agents/messaging"
KEYS = {"id", "name", "greeting", "tone", "customTone", "language", "businessContext", "channel", "phoneNumberId",
        "phoneNumber", "isActive", "organizationId", "createdAt", "updatedAt", "eventTypeIds", "eventTypes"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def app(app_factory):
    return app_factory(**SETTINGS)


def signed_in(app, client, name="hana", plan="PRO"):
    with app.app_context(), db.connection_context():
        person = factories.user(name, plan=plan)
    login(client, person)
    return person


def number(app, owner, e164="+14155550100", sender=None) -> PhoneNumber:
    with app.app_context(), db.connection_context():
        row = PhoneNumber.create(user=owner, e164=e164, country="US", twilio_sid="PN" + e164[1:].ljust(32, "0"))
        if sender:
            WhatsAppSender.create(phone_number=row, display_name="Dr. Smith Dental", status=sender)
        return row


def test_page_elevens_create_and_update_examples(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    created = client.post(URL, json={"name": "Sarah", "greeting": "Hi! I'm Sarah, Emmanuel's scheduling assistant. "
                                     "How can I help?", "tone": "friendly", "language": "en",
                                     "phoneNumberId": phone.id, "channel": "sms"})
    assert created.status_code == 201
    agent = created.get_json()["agent"]
    assert set(agent) == KEYS
    assert (agent["name"], agent["tone"], agent["channel"], agent["phoneNumber"], agent["isActive"]) == (
        "Sarah", "friendly", "sms", "+14155550100", True)
    assert ISO.match(agent["createdAt"]) and agent["eventTypeIds"] == []
    updated = client.put(f"{URL}/{agent['id']}", json={"name": "Alex", "tone": "professional", "greeting":
                                                        "Hello, this is Alex from LinkTime. How may I assist you?"})
    assert updated.status_code == 200
    changed = updated.get_json()["agent"]
    assert (changed["name"], changed["tone"], changed["language"], changed["phoneNumberId"]) == (
        "Alex", "professional", "en", phone.id)
    assert client.get(f"{URL}/{agent['id']}").get_json() == {"agent": changed}


def test_the_list_has_the_agents_the_pool_and_the_plan(app, client):
    hana = signed_in(app, client)
    assert client.get(URL).get_json() == {"agents": [], "pool": {"used": 0, "limit": 100, "remaining": 100},
                                          "plan": {"name": "PRO", "maxAgentsPerChannel": 2, "monthlyMessages": 100}}
    phone = number(app, hana, sender="approved")
    made = client.post(URL, json={"name": "Wanda", "phoneNumberId": phone.id, "channel": "whatsapp"})
    assert made.status_code == 201 and made.get_json()["agent"]["whatsappStatus"] == "approved"
    with app.app_context(), db.connection_context():
        talk = Conversation.create(user=hana, channel="whatsapp", contact_phone="+15550001111",
                                   agent_phone=phone.e164)
        for by_agent in (True, True, True, False):
            ConversationMessage.create(conversation=talk, direction="outbound", content="Hi", by_agent=by_agent,
                                       created_at=utcnow())
    listing = client.get(URL).get_json()
    assert listing["pool"] == {"used": 3, "limit": 100, "remaining": 97}
    [shown] = listing["agents"]
    assert shown["name"] == "Wanda" and shown["channel"] == "whatsapp"


def test_an_organization_plan_has_an_unlimited_pool(app, client):
    signed_in(app, client, plan="ORGANIZATION")
    assert client.get(URL).get_json()["pool"] == {"used": 0, "limit": None, "remaining": None}


def test_invalid_data_answers_400_with_details(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    response = client.post(URL, json={"name": "x" * 101, "tone": "custom", "channel": "fax",
                                      "phoneNumberId": phone.id})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Invalid request data", "details": {
        "name": "At most 100 characters.", "channel": "Choose one of sms, whatsapp."}}
    custom = client.post(URL, json={"name": "Sarah", "tone": "custom", "phoneNumberId": phone.id})
    assert custom.status_code == 400 and set(custom.get_json()["details"]) == {"customTone"}
    pending = number(app, hana, "+14155550101", sender="pending")
    whatsapp = client.post(URL, json={"name": "Sarah", "channel": "whatsapp", "phoneNumberId": pending.id})
    assert whatsapp.status_code == 400 and "Agent not responding" in whatsapp.get_json()["details"]["isActive"]
    not_json = client.post(URL, data="{", content_type="application/json")
    assert not_json.status_code == 400 and not_json.get_json()["error"] == "Invalid request data"
    assert client.post(URL, json=[1]).status_code == 400
    assert client.get(URL).get_json()["agents"] == []


def test_no_number_says_where_to_get_one(app, client):
    signed_in(app, client)
    response = client.post(URL, json={"name": "Sarah", "channel": "sms"})
    assert response.status_code == 400
    assert "Dashboard → Phone Numbers" in response.get_json()["details"]["phoneNumberId"]


def test_the_plan_limit_answers_403(app, client):
    signed_in(app, client, "fred", plan="FREE")
    refused = client.post(URL, json={"name": "Sarah"})
    assert refused.status_code == 403 and "Free plan allows 0 SMS messaging agents" in refused.get_json()["error"]
    client.post("/logout")
    hana = signed_in(app, client)
    phone = number(app, hana)
    for active in (True, False):
        assert client.post(URL, json={"name": "A", "phoneNumberId": phone.id, "isActive": active}).status_code == 201
    third = client.post(URL, json={"name": "C", "phoneNumberId": phone.id, "isActive": False})
    assert third.status_code == 403 and "Pro plan allows 2 SMS messaging agents" in third.get_json()["error"]


def test_another_accounts_agent_is_404(app, client):
    hana = signed_in(app, client)
    agent = client.post(URL, json={"name": "Sarah", "phoneNumberId": number(app, hana).id}).get_json()["agent"]
    client.post("/logout")
    signed_in(app, client, "omar")
    one = f"{URL}/{agent['id']}"
    assert client.get(one).status_code == 404
    assert client.put(one, json={"name": "Mine"}).status_code == 404
    assert client.delete(one).status_code == 404
    assert client.get(f"{URL}/nope").status_code == 404
    assert client.get(URL).get_json()["agents"] == []


def test_delete_switches_the_agent_off_for_good(app, client):
    hana = signed_in(app, client)
    agent = client.post(URL, json={"name": "Sarah", "phoneNumberId": number(app, hana).id}).get_json()["agent"]
    deleted = client.delete(f"{URL}/{agent['id']}")
    assert deleted.status_code == 200
    assert deleted.get_json()["success"] is True and deleted.get_json()["agent"]["isActive"] is False
    assert client.get(f"{URL}/{agent['id']}").status_code == 404 and client.get(URL).get_json()["agents"] == []


def test_event_types_in_the_body(app, client):
    hana = signed_in(app, client)
    with app.app_context(), db.connection_context():
        own = factories.event_type(hana)
        theirs = factories.event_type(factories.user("omar"))
    phone = number(app, hana)
    agent = client.post(URL, json={"name": "Sarah", "phoneNumberId": phone.id,
                                   "eventTypeIds": [own.id]}).get_json()["agent"]
    assert agent["eventTypes"] == [{"id": own.id, "name": own.name, "slug": "30-min"}]
    wrong = client.put(f"{URL}/{agent['id']}", json={"eventTypeIds": [theirs.id]})
    assert wrong.status_code == 400 and "eventTypeIds" in wrong.get_json()["details"]
    cleared = client.put(f"{URL}/{agent['id']}", json={"eventTypeIds": []})
    assert cleared.get_json()["agent"]["eventTypeIds"] == []


def test_without_settings_every_endpoint_says_what_is_missing(app_factory):
    app = app_factory(ANTHROPIC_API_KEY="", TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="")
    client = app.test_client()
    signed_in(app, client)
    for response in (client.get(URL), client.post(URL, json={"name": "Sarah"})):
        assert response.status_code == 503
        assert response.get_json()["missing"] == ["ANTHROPIC_API_KEY", "TWILIO_AUTH_TOKEN"]
        assert "ANTHROPIC_API_KEY" in response.get_json()["error"]
    assert client.get(f"{URL}/nope").status_code == 404           # another's (or no) agent: 404 first


def test_signed_out_is_401(client):
    assert client.get(URL).status_code == 401
    assert client.post(URL, json={}).status_code == 401
    assert client.put(f"{URL}/x", json={}).status_code == 401


def test_mutations_need_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True, **SETTINGS)
    client = app.test_client()
    with app.app_context(), db.connection_context():
        person = factories.user("hana", plan="PRO")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": person.email, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 302
    page = client.get("/dashboard/messaging-agents").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    phone = number(app, person)
    assert client.post(URL, json={"name": "Sarah", "phoneNumberId": phone.id}).status_code == 400
    assert client.get(URL).get_json()["agents"] == []
    created = client.post(URL, json={"name": "Sarah", "phoneNumberId": phone.id}, headers={"X-CSRFToken": token})
    assert created.status_code == 201
