"""Voice agents and their provisioning (spec page 10) against the ElevenLabs and Twilio fakes: the three steps, the
rollback of each, PATCH sync, deletion and the number's hold, event types, active hours, limits, organizations."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

import tests.agent_fixtures as voice_fixtures
from app.db import db
from app.models import AuditLog, Membership
from app.models.voice import PhoneNumber, VoiceAgent
from app.services.account import organizations
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.voice import agents, numbers
from app.services.voice.agents import AgentFailed
from tests import factories
from tests.fakes.elevenlabs import WEBHOOK_SECRET

TOOLS = {"list_event_types": "event-types", "get_available_slots": "available-slots",
         "create_booking": "create-booking", "get_booking_details": "booking-details"}


@contextmanager
def ctx(app):
    with app.app_context(), db.connection_context():
        yield


@pytest.fixture
def fakes():
    with voice_fixtures.servers() as both:
        yield both


@pytest.fixture
def app(app_factory, fakes):          # every test here runs against the fakes
    return app_factory(**voice_fixtures.voice_settings(fakes))


def user(app, name="hana", plan="PRO"):
    with ctx(app):
        return factories.user(name, plan=plan, timezone="America/New_York")


def create(app, owner, data=None, **kwargs):
    with ctx(app):
        return agents.create_agent(owner, data or {}, **kwargs)


def rows(app):
    with ctx(app):
        return list(VoiceAgent.select()), list(PhoneNumber.select())


def actions(app):
    with ctx(app):
        return [row.action for row in AuditLog.select().where(AuditLog.action.startswith("voice_agent."))
                .order_by(AuditLog.created_at)]


# --- provisioning ------------------------------------------------------------------------------------------------
def test_creating_an_agent_provisions_the_remote_agent_a_number_and_binds_them(app, fakes):
    hana = user(app)
    agent = create(app, hana, {"agentName": "Sarah", "businessContext": "A design consultancy."})

    remote = fakes.eleven.agents[agent.elevenlabs_agent_id]
    assert remote["name"] == "Sarah"
    config = remote["conversation_config"]
    assert config["agent"]["language"] == "en" and config["tts"]["voice_id"] == "21m00Tcm4TlvDq8ikWAM"
    assert "AI" in config["agent"]["first_message"] and "Sarah" in config["agent"]["first_message"]
    assert "A design consultancy." in config["agent"]["prompt"]["prompt"]
    tools = {tool["name"]: tool for tool in config["agent"]["prompt"]["tools"]}
    assert set(tools) == set(TOOLS)
    for name, path in TOOLS.items():
        schema = tools[name]["api_schema"]
        assert schema["url"] == f"https://cal.example.com/api/voice/tools/{path}?agent_id={agent.id}"
        assert schema["method"] == "POST" and schema["request_headers"] == {"X-Voice-Secret": WEBHOOK_SECRET}
        props = schema["request_body_schema"]["properties"]
        assert props["conversation_id"]["dynamic_variable"] == "system__conversation_id"
        assert props["user_id"]["dynamic_variable"] == "user_id"
    booking = tools["create_booking"]["api_schema"]["request_body_schema"]
    assert {"event_type_slug", "invitee_name", "invitee_email", "start_time", "timezone", "notes",
            "invitee_phone"} <= set(booking["properties"])
    assert set(booking["required"]) == {"event_type_slug", "invitee_name", "invitee_email", "start_time"}

    [bought] = fakes.twilio.numbers.values()
    assert bought["phone_number"] == "+14155550100"
    assert bought["sms_url"] == "https://cal.example.com/api/webhooks/twilio/inbound"
    [imported] = fakes.eleven.phone_numbers.values()
    assert imported["phone_number"] == "+14155550100"
    assert imported["assigned_agent"]["agent_id"] == agent.elevenlabs_agent_id
    with ctx(app):
        stored = VoiceAgent.get_by_id(agent.id)
        assert stored.phone_number.e164 == "+14155550100"
        assert stored.phone_number.elevenlabs_phone_id == imported["phone_number_id"]
        assert stored.is_active and stored.greeting is None and stored.template == "scheduling"
    assert actions(app) == ["voice_agent.created"]


def test_a_free_account_gets_a_browser_only_agent(app, fakes):
    agent = create(app, user(app, plan="FREE"))
    assert agent.elevenlabs_agent_id in fakes.eleven.agents
    assert agent.phone_number_id is None and fakes.twilio.requests == []


def test_a_template_gives_its_name_and_language(app, fakes):
    agent = create(app, user(app), {"template": "multilingual"}, phone=False)
    assert (agent.name, agent.language, agent.template) == ("Asistente de agenda", "es", "multilingual")
    remote = fakes.eleven.agents[agent.elevenlabs_agent_id]["conversation_config"]["agent"]
    assert remote["language"] == "es" and "asistente de IA" in remote["first_message"]


def test_step_one_failing_leaves_nothing(app, fakes):
    hana = user(app)
    fakes.eleven.fail(503)
    with pytest.raises(AgentFailed) as failed:
        create(app, hana)
    assert str(failed.value).startswith("Failed to create AI agent: ")
    assert "503" in str(failed.value)
    assert rows(app) == ([], []) and fakes.twilio.requests == [] and fakes.eleven.agents == {}
    assert actions(app) == []


def test_step_two_failing_deletes_the_remote_agent(app, fakes):
    hana = user(app)
    fakes.twilio.fail(400)
    with pytest.raises(numbers.NumberFailed) as failed:
        create(app, hana)
    assert str(failed.value).startswith("Failed to provision phone number: ")
    assert fakes.eleven.agents == {} and fakes.twilio.numbers == {}
    assert [r.method for r in fakes.eleven.requests] == ["POST", "DELETE"]
    assert rows(app) == ([], []) and actions(app) == []


def test_step_three_failing_gives_the_number_back_and_deletes_the_remote_agent(app, fakes):
    hana = user(app)
    fakes.eleven.fail_on("POST", "/v1/convai/phone-numbers", 500)
    with pytest.raises(numbers.NumberFailed) as failed:
        create(app, hana)
    assert str(failed.value).startswith("Failed to provision phone number: ")
    assert fakes.twilio.numbers == {} and [n["phone_number"] for n in fakes.twilio.released] == ["+14155550100"]
    assert fakes.eleven.agents == {} and fakes.eleven.phone_numbers == {}
    assert rows(app) == ([], []) and actions(app) == []


def test_binding_failing_after_the_import_removes_the_import_too(app, fakes):
    hana = user(app)
    fakes.eleven.fail_on("PATCH", "/v1/convai/phone-numbers/", 500)
    with pytest.raises(numbers.NumberFailed):
        create(app, hana)
    assert fakes.eleven.phone_numbers == {} and fakes.eleven.agents == {} and fakes.twilio.numbers == {}
    assert rows(app) == ([], [])


# --- changes -----------------------------------------------------------------------------------------------------
def test_patch_syncs_the_changes_to_elevenlabs(app, fakes):
    hana = user(app)
    agent = create(app, hana, phone=False)
    with ctx(app):
        agents.update_agent(hana, agent.id, {"agentName": "Alex", "businessContext": "We are a law firm.",
                                             "voiceId": "pNInz6obpgDQGcFmaJgB", "language": "fr"})
    remote = fakes.eleven.agents[agent.elevenlabs_agent_id]
    config = remote["conversation_config"]
    assert remote["name"] == "Alex" and config["tts"]["voice_id"] == "pNInz6obpgDQGcFmaJgB"
    assert config["agent"]["language"] == "fr" and "Alex" in config["agent"]["first_message"]
    assert "We are a law firm." in config["agent"]["prompt"]["prompt"]
    assert len(config["agent"]["prompt"]["tools"]) == 4
    with ctx(app):
        agents.update_agent(hana, agent.id, {"greeting": "Hello, Alex here, an AI assistant."})
        assert VoiceAgent.get_by_id(agent.id).greeting == "Hello, Alex here, an AI assistant."
    assert remote["conversation_config"]["agent"]["first_message"] == "Hello, Alex here, an AI assistant."
    assert actions(app) == ["voice_agent.created", "voice_agent.updated", "voice_agent.updated"]


def test_a_change_elevenlabs_refuses_is_not_stored(app, fakes):
    hana = user(app)
    agent = create(app, hana, phone=False)
    fakes.eleven.fail(500)
    with ctx(app), pytest.raises(AgentFailed) as failed:
        agents.update_agent(hana, agent.id, {"agentName": "Alex"})
    assert str(failed.value).startswith("Failed to update AI agent: ")
    with ctx(app):
        assert VoiceAgent.get_by_id(agent.id).name == "Scheduling Assistant"


def test_invalid_fields_are_refused_with_their_names(app):
    hana = user(app)
    with ctx(app), pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, {"agentName": "x" * 101, "greeting": "g" * 501, "businessContext": "b" * 5001,
                                   "template": "pirate", "language": "English", "voiceId": "no spaces"})
    assert set(failed.value.errors) == {"agentName", "greeting", "businessContext", "template", "language",
                                        "voiceId"}
    agent = create(app, hana, phone=False)
    with ctx(app), pytest.raises(ValidationFailed) as failed:
        agents.update_agent(hana, agent.id, {"agentName": "  "})
    assert set(failed.value.errors) == {"agentName"}


def test_another_accounts_agent_is_not_found(app):
    hana, omar = user(app), user(app, "omar")
    agent = create(app, hana, phone=False)
    with ctx(app):
        for call in (lambda: agents.get_agent(omar, agent.id), lambda: agents.update_agent(omar, agent.id, {}),
                     lambda: agents.delete_agent(omar, agent.id)):
            with pytest.raises(NotFound):
                call()
        assert agents.agents_of(omar) == []


def test_event_types_must_be_the_hosts_own(app):
    hana, omar = user(app), user(app, "omar")
    agent = create(app, hana, phone=False)
    with ctx(app):
        own = factories.event_type(hana)
        coaching = factories.new_event_type(hana)
        theirs = factories.event_type(omar)
        with pytest.raises(ValidationFailed) as failed:
            agents.set_event_types(hana, agent.id, [own.id, theirs.id])
        assert "eventTypeIds" in failed.value.errors
        agents.set_event_types(hana, agent.id, [coaching.id, own.id, own.id])
        assert {et.id for et in agents.linked_event_types(agent)} == {own.id, coaching.id}
        agents.set_event_types(hana, agent.id, [])
        assert agents.linked_event_types(agent) == []
        assert agents.agent_json(VoiceAgent.get_by_id(agent.id), full=True)["eventTypeIds"] == []


def test_active_hours_are_validated_and_stored(app):
    hana = user(app)
    agent = create(app, hana, phone=False)
    with ctx(app):
        with pytest.raises(ValidationFailed) as failed:
            agents.set_active_hours(hana, agent.id, {"enabled": True, "schedule": [
                {"day": "monday", "start": "18:00", "end": "09:00"}], "afterHoursBehavior": "sing"})
        assert set(failed.value.errors) == {"schedule[0]", "afterHoursBehavior"}
        stored = agents.set_active_hours(hana, agent.id, {"enabled": True, "afterHoursBehavior": "message",
                                                          "afterHoursMessage": "We are closed.",
                                                          "schedule": [{"day": "friday", "start": "09:00",
                                                                        "end": "17:00"}]})
        assert stored.active_hours == {"enabled": True, "timezone": "America/New_York",
                                       "afterHoursBehavior": "message", "afterHoursMessage": "We are closed.",
                                       "schedule": [{"day": "friday", "start": "09:00", "end": "17:00"}]}


# --- deleting ----------------------------------------------------------------------------------------------------
def test_deleting_deactivates_the_agent_and_holds_its_number(app, fakes):
    hana = user(app)
    agent = create(app, hana)
    remote_id = agent.elevenlabs_agent_id
    with ctx(app):
        gone = agents.delete_agent(hana, agent.id)
        assert gone.is_active is False and gone.deleted_at is not None and gone.phone_number_id is None
        [number] = PhoneNumber.select()
        assert number.status == "held" and number.hold_until is not None
        assert agents.agents_of(hana) == [] and agents.first_agent(hana) is None
        with pytest.raises(NotFound):
            agents.get_agent(hana, agent.id)
    assert remote_id not in fakes.eleven.agents and fakes.eleven.phone_numbers == {}
    [bought] = fakes.twilio.numbers.values()
    assert bought["voice_url"] == "https://cal.example.com/api/voice/held-line"
    assert actions(app)[-1] == "voice_agent.deleted"


def test_a_shared_number_stays_with_the_agent_still_using_it(app, fakes):
    hana = user(app, plan="BUSINESS")
    first = create(app, hana)
    second = create(app, hana, phone=False)
    with ctx(app):
        agents.add_phone(hana, second.id, phone_number_id=first.phone_number_id)
        agents.delete_agent(hana, first.id)
        [number] = PhoneNumber.select()
        assert number.status == "active"
        assert VoiceAgent.get_by_id(second.id).phone_number_id == number.id
    [imported] = fakes.eleven.phone_numbers.values()
    assert imported["assigned_agent"]["agent_id"] == second.elevenlabs_agent_id


def test_removing_the_phone_number_holds_it(app, fakes):
    hana = user(app)
    agent = create(app, hana)
    with ctx(app):
        agents.remove_phone(hana, agent.id)
        assert VoiceAgent.get_by_id(agent.id).phone_number_id is None
        assert PhoneNumber.get().status == "held"
        with pytest.raises(NotFound):
            agents.remove_phone(hana, agent.id)


# --- limits ------------------------------------------------------------------------------------------------------
def test_free_allows_one_agent(app):
    free = user(app, plan="FREE")
    create(app, free)
    with pytest.raises(PlanLimitReached) as refused:
        create(app, free)
    assert "Free plan allows 1 voice agents" in str(refused.value)


def test_pro_allows_two_agents_and_one_number(app, fakes):
    pro = user(app)
    first = create(app, pro)
    second = create(app, pro)
    assert first.phone_number_id is not None
    assert second.phone_number_id is None and "phone numbers" in second.last_error
    assert len(fakes.twilio.numbers) == 1
    with pytest.raises(PlanLimitReached):
        create(app, pro)
    with ctx(app):
        agents.delete_agent(pro, second.id)
    create(app, pro, phone=False)                 # a deleted agent no longer counts


def test_phone_numbers_need_pro(app):
    free = user(app, plan="FREE")
    agent = create(app, free)
    with ctx(app), pytest.raises(PlanLimitReached):
        agents.add_phone(free, agent.id, country="US")


def test_add_phone_buys_in_the_chosen_country(app, fakes):
    hana = user(app)
    agent = create(app, hana, phone=False)
    with ctx(app):
        with pytest.raises(ValidationFailed):
            agents.add_phone(hana, agent.id, country="ZZ")
        agent = agents.add_phone(hana, agent.id, country="GB")
        assert agent.phone_number.e164 == "+442071838750" and agent.phone_number.country == "GB"


# --- organizations -----------------------------------------------------------------------------------------------
def test_organization_agents_belong_to_the_organization_and_its_managers(app):
    owner, admin, member = user(app, "olga", plan="FREE"), user(app, "adam", plan="FREE"), user(app, "mia", "FREE")
    outsider = user(app, "zed", plan="FREE")
    with ctx(app):
        org = organizations.create_organization(owner, name="Acme", slug="acme")
        Membership.create(organization=org, user=admin, role="ADMIN")
        Membership.create(organization=org, user=member, role="MEMBER")
        agent = agents.create_agent(admin, {"organizationId": org.id}, phone=False)
        assert agent.organization_id == org.id
        assert [a.id for a in agents.agents_of(owner)] == [agent.id]
        assert agents.agents_of(member) == []
        with pytest.raises(Forbidden):
            agents.create_agent(member, {"organizationId": org.id}, phone=False)
        with pytest.raises(NotFound):
            agents.create_agent(outsider, {"organizationId": org.id}, phone=False)
        members_type = factories.event_type(member)
        agents.set_event_types(owner, agent.id, [members_type.id])
        assert [et.id for et in agents.linked_event_types(agent)] == [members_type.id]
