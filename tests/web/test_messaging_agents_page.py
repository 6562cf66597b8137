"""Dashboard → Messaging Agents: the setup notice without settings, the Free plan's upgrade note, the list (channel,
number, switch, pool bar), the create form (no number: where to get one), the agent's page (every field, event
types), the switch in its row, delete with its confirmation; plain posts and htmx partials, CSRF."""
from __future__ import annotations

import re

import pytest

from app.models.messaging import Conversation, ConversationMessage, MessagingAgent, WhatsAppSender
from app.models.voice import PhoneNumber
from app.services.messaging import agents
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

SETTINGS = {"ANTHROPIC_API_KEY": "sk-ant-test", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
HX = {"HX-Request": "true"}
BASE = "/dashboard/messaging-agents"


@pytest.fixture
def app(app_factory):
    return app_factory(**SETTINGS)


def signed_in(app, client, name="hana", plan="PRO"):
    with data(app):
        person = factories.user(name, plan=plan)
    login(client, person)
    return person


def number(app, owner, e164="+14155550100", sender=None) -> PhoneNumber:
    with data(app):
        row = PhoneNumber.create(user=owner, e164=e164, country="US", twilio_sid="PN" + e164[1:].ljust(32, "0"),
                                 label="Main office")
        if sender:
            WhatsAppSender.create(phone_number=row, display_name="Acme Dental", status=sender)
        return row


def new_agent(app, owner, phone, **fields):
    with data(app):
        return agents.create_agent(owner, {"name": "Sarah", "phoneNumberId": phone.id, **fields})


def text(response) -> str:
    return response.get_data(as_text=True)


def form(**fields) -> dict:
    return {"name": "Sarah", "channel": "sms", "tone": "friendly", "customTone": "", "language": "en",
            "greeting": "", "isActive": "1", **fields}


def test_without_settings_the_page_names_only_what_is_missing(app_factory):
    app = app_factory(ANTHROPIC_API_KEY="", TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="")
    client = app.test_client()
    signed_in(app, client)
    page = text(client.get(BASE))
    assert "Messaging agents are not set up on this server" in page
    assert "<li><code>ANTHROPIC_API_KEY</code></li>" in page and "<li><code>TWILIO_AUTH_TOKEN</code></li>" in page
    assert "<li><code>TWILIO_ACCOUNT_SID</code></li>" not in page
    assert 'id="create-agent"' not in page and 'id="agent-list"' not in page and "message-pool" not in page
    assert 'aria-current="page">Messaging Agents</a>' in page         # the nav link


def test_the_free_plan_gets_an_upgrade_note(app, client):
    signed_in(app, client, plan="FREE")
    page = text(client.get(BASE))
    assert 'id="messaging-upgrade"' in page and "Messaging agents come with Pro and above" in page
    assert 'id="create-agent"' not in page and 'id="agent-list"' not in page


def test_without_a_number_the_form_says_where_to_get_one(app, client):
    signed_in(app, client)
    page = text(client.get(BASE))
    assert 'id="no-numbers-note"' in page and 'href="/dashboard/phone-numbers"' in page
    assert 'id="create-agent-button"' not in page and 'id="no-agents"' in page
    assert "0 of 100 messages used · 100 left" in page


def test_the_list_shows_channel_number_switch_and_pool(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana, sender="approved")
    agent = new_agent(app, hana, phone, channel="whatsapp")
    with data(app):
        talk = Conversation.create(user=hana, channel="whatsapp", contact_phone="+15550001111", agent_phone=phone.e164)
        for _ in range(7):
            ConversationMessage.create(conversation=talk, direction="outbound", content="Hi", by_agent=True)
    page = text(client.get(BASE))
    row = page[page.index(f'id="agent-{agent.id}"'):]
    assert "Sarah" in row and "WhatsApp" in row and "+14155550100" in row
    assert f'id="toggle-{agent.id}" role="switch" aria-checked="true"' in row
    assert '<progress id="message-pool-bar" max="100" value="7">' in page
    assert "7 of 100 messages used · 93 left" in page
    assert "0 of 2 SMS, 1 of 2 WhatsApp" in page
    assert '<option value="' + phone.id + '" >+14155550100 · Main office · WhatsApp approved</option>' in page


def test_creating_opens_the_new_agents_page(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    response = client.post(BASE, data=form(phoneNumberId=phone.id))
    assert response.status_code == 302
    with data(app):
        [agent] = MessagingAgent.select()
    assert response.headers["Location"] == f"{BASE}/{agent.id}"
    assert (agent.name, agent.tone, agent.channel, agent.is_active) == ("Sarah", "friendly", "sms", True)
    page = text(client.get(response.headers["Location"]))
    assert "Created “Sarah”: it answers SMS texts on +14155550100." in page


def test_an_invalid_create_answers_the_form_with_inline_errors(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    response = client.post(BASE, data=form(phoneNumberId=phone.id, tone="custom", name="Zed"), headers=HX)
    assert response.status_code == 422
    part = text(response)
    assert '<html' not in part and part.strip().startswith('<section class="card ma-create" id="create-agent"')
    assert '<p class="error" id="e-customTone">Describe the custom tone' in part
    assert 'value="Zed"' in part                                        # nothing typed is lost
    plain = client.post(BASE, data=form(phoneNumberId=phone.id, name=""))
    assert plain.status_code == 422 and "<html" in text(plain) and 'id="e-name"' in text(plain)
    with data(app):
        assert MessagingAgent.select().count() == 0


def test_a_whatsapp_agent_on_a_pending_number_is_refused_inline(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana, sender="pending")
    response = client.post(BASE, data=form(phoneNumberId=phone.id, channel="whatsapp"), headers=HX)
    assert response.status_code == 422 and 'id="e-isActive"' in text(response)
    assert "Agent not responding" in text(response)
    off = client.post(BASE, data=form(phoneNumberId=phone.id, channel="whatsapp", isActive=""), headers=HX)
    assert off.status_code == 200 and off.headers["HX-Redirect"].startswith(BASE + "/")


def test_the_switch_answers_its_row(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    first = new_agent(app, hana, phone)
    second = new_agent(app, hana, phone, name="Second", isActive=False)
    off = client.post(f"{BASE}/{first.id}/active", data={"isActive": "0"}, headers=HX)
    assert off.status_code == 200 and "<html" not in text(off)
    assert f'id="toggle-{first.id}" role="switch" aria-checked="false"' in text(off)
    refused = client.post(f"{BASE}/{second.id}/active", data={"isActive": "1"}, headers=HX)
    assert refused.status_code == 200 and 'aria-checked="true"' in text(refused)
    clash = client.post(f"{BASE}/{first.id}/active", data={"isActive": "1"}, headers=HX)
    assert clash.status_code == 422 and f'id="agent-{first.id}-error"' in text(clash)
    assert "already answers SMS texts" in text(clash) and 'aria-checked="false"' in text(clash)
    plain = client.post(f"{BASE}/{second.id}/active", data={"isActive": "0"})
    assert plain.status_code == 302 and plain.headers["Location"] == BASE


def test_the_agents_page_saves_every_field(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    other = number(app, hana, "+14155550111")
    agent = new_agent(app, hana, phone)
    page = text(client.get(f"{BASE}/{agent.id}"))
    for name in ("name", "channel", "phoneNumberId", "tone", "language", "customTone", "greeting",
                 "businessContext", "isActive"):
        assert f'name="{name}"' in page
    assert 'name="event_type_ids"' in page and "30 min" in page
    saved = client.post(f"{BASE}/{agent.id}", data=form(name="Alex", tone="custom", customTone="Brief.",
                                                        language="es", businessContext="A dental practice.",
                                                        greeting="Hola, soy Alex, un asistente de IA.",
                                                        phoneNumberId=other.id), headers=HX)
    assert saved.status_code == 200 and 'id="settings-notice"' in text(saved) and "<html" not in text(saved)
    with data(app):
        stored = MessagingAgent.get_by_id(agent.id)
    assert (stored.name, stored.tone, stored.custom_tone, stored.language, stored.business_context,
            stored.phone_number_id) == ("Alex", "custom", "Brief.", "es", "A dental practice.", other.id)
    wrong = client.post(f"{BASE}/{agent.id}", data=form(language="Spanish", phoneNumberId=other.id), headers=HX)
    assert wrong.status_code == 422 and 'id="e-language"' in text(wrong) and 'value="Spanish"' in text(wrong)
    off = client.post(f"{BASE}/{agent.id}", data=form(phoneNumberId=other.id, isActive=""))
    assert off.status_code == 302
    with data(app):
        assert MessagingAgent.get_by_id(agent.id).is_active is False


def test_linked_event_types(app, client):
    hana = signed_in(app, client)
    agent = new_agent(app, hana, number(app, hana))
    with data(app):
        own = factories.event_type(hana)
        theirs = factories.event_type(factories.user("omar"))
    linked = client.post(f"{BASE}/{agent.id}/event-types", data={"event_type_ids": [own.id]}, headers=HX)
    assert linked.status_code == 200 and f"Linked {own.name}." in text(linked)
    with data(app):
        assert [et.id for et in agents.linked_event_types(agent)] == [own.id]
    wrong = client.post(f"{BASE}/{agent.id}/event-types", data={"event_type_ids": [theirs.id]}, headers=HX)
    assert wrong.status_code == 422 and 'id="event-types-error"' in text(wrong)
    cleared = client.post(f"{BASE}/{agent.id}/event-types", data={})
    assert cleared.status_code == 302


def test_delete_from_the_list_and_from_the_page(app, client):
    hana = signed_in(app, client)
    phone = number(app, hana)
    first = new_agent(app, hana, phone)
    second = new_agent(app, hana, phone, name="Second", isActive=False)
    confirm = text(client.get(f"{BASE}/{first.id}/delete"))
    assert "Delete “Sarah”?" in confirm and 'method="post"' in confirm
    listed = client.post(f"{BASE}/{first.id}/delete", headers={**HX, "HX-Target": "agent-list"})
    assert listed.status_code == 200 and 'id="list-notice"' in text(listed) and "Deleted “Sarah”" in text(listed)
    assert f'id="agent-{second.id}"' in text(listed) and f'id="agent-{first.id}"' not in text(listed)
    page = client.post(f"{BASE}/{second.id}/delete", headers={**HX, "HX-Target": "agent-delete"})
    assert page.headers["HX-Redirect"] == BASE
    with data(app):
        assert all(row.deleted_at for row in MessagingAgent.select())


def test_another_accounts_agent_is_404(app, client):
    hana = signed_in(app, client)
    agent = new_agent(app, hana, number(app, hana))
    client.post("/logout")
    signed_in(app, client, "omar")
    assert client.get(f"{BASE}/{agent.id}").status_code == 404
    assert client.post(f"{BASE}/{agent.id}", data=form()).status_code == 404
    assert client.post(f"{BASE}/{agent.id}/active", data={"isActive": "0"}).status_code == 404
    assert client.post(f"{BASE}/{agent.id}/delete").status_code == 404
    assert f"agent-{agent.id}" not in text(client.get(BASE))


def test_forms_need_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True, **SETTINGS)
    client = app.test_client()
    with data(app):
        person = factories.user("hana", plan="PRO")
    page = text(client.get("/login"))
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    client.post("/login", data={"email": person.email, "password": factories.PASSWORD, "csrf_token": token})
    phone = number(app, person)
    page = text(client.get(BASE))
    assert page.count('name="csrf_token"') >= 1
    assert client.post(BASE, data=form(phoneNumberId=phone.id)).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(BASE, data=form(phoneNumberId=phone.id, csrf_token=token)).status_code == 302
