"""Dashboard → Voice Agents: the setup notice without settings, templates and country, the list (status, number,
minutes), the settings page (fields, event types, active hours, phone), deletion; plain posts and htmx partials."""
from __future__ import annotations

import re

import pytest

import tests.agent_fixtures as voice_fixtures
from app.models.voice import PhoneNumber, VoiceAgent
from app.services.account import organizations
from app.services.voice import agents
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

HX = {"HX-Request": "true"}
BASE = "/dashboard/voice-agents"


@pytest.fixture
def fakes():
    with voice_fixtures.servers() as both:
        yield both


@pytest.fixture
def app(app_factory, fakes):
    return app_factory(**voice_fixtures.voice_settings(fakes))


def signed_in(app, client, name="hana", plan="PRO"):
    with data(app):
        person = factories.user(name, plan=plan, timezone="America/New_York")
    login(client, person)
    return person


def new_agent(app, person, phone=True):
    with data(app):
        return agents.create_agent(person, {}, phone=phone)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_without_settings_the_page_names_what_the_operator_must_set(app_factory, client):
    app = app_factory(ELEVENLABS_API_KEY="", ELEVENLABS_WEBHOOK_SECRET="set", ELEVENLABS_SIGNING_SECRET="")
    client = app.test_client()
    signed_in(app, client)
    page = text(client.get(BASE))
    assert "Voice agents are not set up on this server" in page
    assert "<code>ELEVENLABS_API_KEY</code>" in page and "<code>ELEVENLABS_SIGNING_SECRET</code>" in page
    assert "<li><code>ELEVENLABS_WEBHOOK_SECRET</code>" not in page
    assert "Start from a template" not in page and 'name="template"' not in page
    assert f'href="{BASE}"' in page                     # the nav link


def test_the_page_offers_the_templates_and_the_countries(app, client):
    signed_in(app, client)
    page = text(client.get(BASE))
    for key in ("scheduling", "sales", "support", "multilingual"):
        assert f'id="template-{key}"' in page
    assert page.count('<option value="') >= 14 and "United Arab Emirates (+971)" in page
    assert 'id="no-agents"' in page and 'aria-current="page">Voice Agents</a>' in page


def test_a_free_account_has_no_country_to_choose(app, client):
    signed_in(app, client, plan="FREE")
    page = text(client.get(BASE))
    assert 'name="country"' not in page and "phone numbers come with Pro" in page


def test_creating_from_a_template_opens_the_new_agents_settings(app, client, fakes):
    person = signed_in(app, client)
    response = client.post(BASE, data={"template": "sales", "country": "GB", "agentName": ""})
    assert response.status_code == 302
    with data(app):
        [agent] = VoiceAgent.select()
        assert agent.name == "Sales Assistant" and agent.template == "sales" and agent.user_id == person.id
        assert agent.phone_number.e164 == "+442071838750"
    assert response.headers["Location"].endswith(f"{BASE}/{agent.id}")
    page = text(client.get(response.headers["Location"]))
    assert "is live" in page and "+442071838750" in page
    listing = text(client.get(BASE))
    assert "Sales Assistant" in listing and ">Active</span>" in listing and "+442071838750" in listing
    assert re.search(r'<progress id="voice-usage-bar" max="60" value="0">', listing)
    assert "0 of 60 minutes used" in listing


def test_creation_problems_show_inline(app, client, fakes):
    signed_in(app, client, plan="FREE")
    fakes.eleven.fail(500)
    failed = client.post(BASE, data={"template": "scheduling"}, headers=HX)
    assert failed.status_code == 422
    body = text(failed)
    assert body.lstrip().startswith('<section class="card va-create" id="create-agent"')
    assert "Failed to create AI agent: " in body
    assert client.post(BASE, data={"template": "scheduling"}, headers=HX).headers["HX-Redirect"].startswith(BASE)
    refused = client.post(BASE, data={"template": "support"}, headers=HX)
    assert refused.status_code == 422 and "Free plan allows 1 voice agents" in text(refused)
    plain = client.post(BASE, data={"template": "pirate"})
    assert plain.status_code == 422 and "<html" in text(plain) and "Choose one of" in text(plain)


def test_the_settings_form_saves_and_shows_errors_inline(app, client, fakes):
    person = signed_in(app, client)
    agent = new_agent(app, person, phone=False)
    url = f"{BASE}/{agent.id}"
    page = text(client.get(url))
    assert 'value="Scheduling Assistant"' in page and "says it is an AI assistant" in page
    fields = {"agentName": "Alex", "greeting": "", "voiceId": "pNInz6obpgDQGcFmaJgB", "language": "fr",
              "businessContext": "A law firm."}
    saved = client.post(url, data=fields, headers=HX)
    assert saved.status_code == 200 and 'id="settings-notice"' in text(saved)
    assert fakes.eleven.agents[agent.elevenlabs_agent_id]["name"] == "Alex"
    wrong = client.post(url, data={**fields, "agentName": "", "language": "French"}, headers=HX)
    assert wrong.status_code == 422
    body = text(wrong)
    assert body.lstrip().startswith('<section class="card va-section" id="agent-settings"')
    assert 'aria-invalid="true" aria-describedby="e-agentName"' in body and 'id="e-language"' in body
    plain = client.post(url, data={**fields, "agentName": "Sam"})
    assert plain.status_code == 302
    with data(app):
        assert VoiceAgent.get_by_id(agent.id).name == "Sam"


def test_event_types_and_active_hours(app, client):
    person = signed_in(app, client)
    agent = new_agent(app, person, phone=False)
    url = f"{BASE}/{agent.id}"
    with data(app):
        own = factories.event_type(person)
    page = text(client.get(url))
    assert f'id="et-{own.id}"' in page and "None ticked: every active, non-secret event type" in page
    linked = client.post(url + "/event-types", data={"event_type_ids": [own.id]}, headers=HX)
    assert linked.status_code == 200 and f'id="et-{own.id}" checked' in text(linked)
    hours = {"enabled": "1", "timezone": "America/New_York", "afterHoursBehavior": "message",
             "afterHoursMessage": "Closed now.", "monday_open": "1", "monday_start": "09:00",
             "monday_end": "18:00", "tuesday_open": "1", "tuesday_start": "17:00", "tuesday_end": "09:00"}
    wrong = client.post(url + "/hours", data=hours, headers=HX)
    assert wrong.status_code == 422
    body = text(wrong)
    assert '<tr id="hours-tuesday" class="has-error">' in body and "end must be after start" in body
    assert 'value="17:00"' in body                              # what was typed stays
    saved = client.post(url + "/hours", data={**hours, "tuesday_start": "08:00"})
    assert saved.status_code == 302
    with data(app):
        stored = VoiceAgent.get_by_id(agent.id).active_hours
    assert stored["schedule"] == [{"day": "monday", "start": "09:00", "end": "18:00"},
                                  {"day": "tuesday", "start": "08:00", "end": "09:00"}]
    assert stored["afterHoursBehavior"] == "message" and stored["afterHoursMessage"] == "Closed now."


def test_phone_number_and_deletion(app, client, fakes):
    person = signed_in(app, client)
    agent = new_agent(app, person, phone=False)
    url = f"{BASE}/{agent.id}"
    added = client.post(url + "/phone", data={"country": "US"}, headers=HX)
    assert added.status_code == 200 and "+14155550100" in text(added)
    removed = client.post(url + "/phone/remove", headers=HX)
    assert "on hold for 30 days" in text(removed)
    with data(app):
        assert PhoneNumber.get().status == "held"
    confirm = client.get(url + "/delete")
    assert confirm.status_code == 200 and "Delete “Scheduling Assistant”?" in text(confirm)
    page = text(client.get(url))
    assert 'data-confirm="Delete “Scheduling Assistant”?' in page
    deleted = client.post(url + "/delete", headers=HX)
    assert deleted.headers["HX-Redirect"] == BASE
    assert "Deleted “Scheduling Assistant”." in text(client.get(BASE))
    assert client.get(url).status_code == 404


def test_an_agent_off_for_minutes_says_until_when(app, client):
    person = signed_in(app, client, plan="FREE")
    agent = new_agent(app, person)
    with data(app):
        VoiceAgent.update(is_active=False, auto_deactivated=True).where(VoiceAgent.id == agent.id).execute()
        until = agents.next_period_text()
    assert f"Off until {until}" in text(client.get(BASE))


def test_switching_an_agent_off_and_on(app, client):
    person = signed_in(app, client)
    agent = new_agent(app, person, phone=False)
    off = client.post(f"{BASE}/{agent.id}/active", data={"isActive": "0"}, headers=HX)
    assert off.status_code == 200 and 'aria-checked="false"' in text(off) and ">Inactive</span>" in text(off)
    assert ">Inactive</span>" in text(client.get(BASE))
    on = client.post(f"{BASE}/{agent.id}/active", data={"isActive": "1"})
    assert on.status_code == 302
    with data(app):
        assert VoiceAgent.get_by_id(agent.id).is_active is True


def test_an_organization_admin_can_create_the_organizations_agent(app, client):
    person = signed_in(app, client, plan="FREE")
    with data(app):
        org = organizations.create_organization(person, name="Acme", slug="acme")
    page = text(client.get(BASE))
    assert f'<option value="{org.id}" >Acme (organization)</option>' in page
    assert client.post(BASE, data={"template": "support", "organizationId": org.id}).status_code == 302
    with data(app):
        [agent] = VoiceAgent.select()
        assert agent.organization_id == org.id
    wrong = client.post(BASE, data={"template": "support", "organizationId": "nope"}, headers=HX)
    assert wrong.status_code == 422 and "Organization not found" in text(wrong)


def test_another_accounts_agent_is_404(app, client):
    owner = signed_in(app, client)
    agent = new_agent(app, owner, phone=False)
    client.post("/logout")
    signed_in(app, client, "omar")
    assert client.get(f"{BASE}/{agent.id}").status_code == 404
    assert client.post(f"{BASE}/{agent.id}/delete").status_code == 404
    assert agent.id not in text(client.get(BASE))
