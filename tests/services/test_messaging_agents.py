"""Messaging agents (spec page 11): fields and their validation, limits per channel and plan, the phone number rules
(an account without numbers, held numbers, another's number), WhatsApp only on an approved sender, one active agent
per number and channel, linked event types, soft deletion, organizations, the JSON shape."""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.db import db
from app.models import AuditLog, Membership
from app.models.messaging import MessagingAgent, WhatsAppSender
from app.models.voice import PhoneNumber
from app.services.account import organizations
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.messaging import agents
from app.services.plans import PlanLimitReached
from tests import factories

SETTINGS = {"ANTHROPIC_API_KEY": "sk-ant-test", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
_serial = itertools.count(100)


@pytest.fixture
def app(app_factory):
    return app_factory(**SETTINGS)


@pytest.fixture
def ctx(app):
    with app.app_context(), db.connection_context():
        yield app


def number(owner, *, organization=None, status="active", sender=None) -> PhoneNumber:
    n = next(_serial)
    row = PhoneNumber.create(user=owner, organization=organization, e164=f"+1415555{n:04d}", country="US",
                             twilio_sid=f"PN{n:032d}", status=status)
    if sender:
        WhatsAppSender.create(phone_number=row, display_name="Acme Dental", status=sender)
    return row


def body(phone: PhoneNumber, **fields) -> dict:
    return {"name": "Sarah", "phoneNumberId": phone.id, **fields}


def test_create_with_defaults_and_every_field(ctx):
    hana = factories.user("hana", plan="PRO")
    phone = number(hana)
    plain = agents.create_agent(hana, body(phone))
    assert (plain.name, plain.channel, plain.tone, plain.language, plain.is_active) == ("Sarah", "sms",
                                                                                        "professional", "en", True)
    assert plain.greeting is None and plain.custom_tone is None and plain.phone_number_id == phone.id
    other = number(hana, sender="approved")
    full = agents.create_agent(hana, body(other, name="  Alex ", greeting="Hi! I'm Alex, an AI assistant.",
                                          tone="custom", customTone="Warm and brief.", language="pt-BR",
                                          businessContext="A dental practice.", channel="whatsapp",
                                          isActive=True))
    assert (full.name, full.tone, full.custom_tone, full.language, full.channel) == (
        "Alex", "custom", "Warm and brief.", "pt-BR", "whatsapp")
    assert not AuditLog.select().where(AuditLog.action.contains("agent")).exists()  # page 21 names no action


def test_invalid_fields_are_named(ctx):
    hana = factories.user("hana", plan="PRO")
    phone = number(hana)
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(phone, name="x" * 101, greeting="g" * 501, tone="grumpy", language="English",
                                       businessContext="b" * 5001, channel="fax", isActive="yes"))
    assert set(failed.value.errors) == {"name", "greeting", "tone", "language", "businessContext", "channel",
                                        "isActive"}
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(phone, name="  "))
    assert failed.value.errors == {"name": "Give 1 to 100 characters."}
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(phone, tone="custom"))
    assert set(failed.value.errors) == {"customTone"}
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(phone, tone="custom", customTone="c" * 501))
    assert failed.value.errors == {"customTone": "At most 500 characters."}
    with pytest.raises(ValidationFailed):
        agents.create_agent(hana, ["not", "an", "object"])
    assert MessagingAgent.select().count() == 0


def test_the_plan_limits_agents_per_channel(ctx):
    free = factories.user("fred", plan="FREE")
    with pytest.raises(PlanLimitReached) as refused:
        agents.create_agent(free, body(number(free)))
    assert "Free plan allows 0 SMS messaging agents" in str(refused.value)

    hana = factories.user("hana", plan="PRO")
    phone, approved = number(hana), number(hana, sender="approved")
    agents.create_agent(hana, body(phone))
    agents.create_agent(hana, body(phone, isActive=False))
    with pytest.raises(PlanLimitReached) as refused:
        agents.create_agent(hana, body(phone, isActive=False))
    assert "Pro plan allows 2 SMS messaging agents" in str(refused.value)
    agents.create_agent(hana, body(approved, channel="whatsapp"))       # the other channel has its own two
    wa = agents.create_agent(hana, body(approved, channel="whatsapp", isActive=False))
    with pytest.raises(PlanLimitReached):
        agents.update_agent(hana, wa.id, {"channel": "sms"})             # a third SMS agent by changing channel
    agents.delete_agent(hana, agents.agents_of(hana)[0].id)               # a deleted one frees its place
    agents.update_agent(hana, wa.id, {"channel": "sms"})
    assert agents.counts(hana) == {"sms": 2, "whatsapp": 1}


def test_business_allows_ten_per_channel(ctx):
    bob = factories.user("bob", plan="BUSINESS")
    phone = number(bob)
    for _ in range(10):
        agents.create_agent(bob, body(phone, isActive=False))
    with pytest.raises(PlanLimitReached) as refused:
        agents.create_agent(bob, body(phone, isActive=False))
    assert "allows 10 SMS messaging agents" in str(refused.value)


def test_an_agent_needs_an_active_number_of_the_account(ctx):
    hana = factories.user("hana", plan="PRO")
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, {"name": "Sarah"})
    assert "Dashboard → Phone Numbers" in failed.value.errors["phoneNumberId"]
    omar = factories.user("omar", plan="PRO")
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(number(omar)))                      # another's number
    assert "Dashboard → Phone Numbers" in failed.value.errors["phoneNumberId"]
    held = number(hana, status="held")
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(held))
    assert "on hold" in failed.value.errors["phoneNumberId"]
    number(hana)
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, {"name": "Sarah"})
    assert failed.value.errors == {"phoneNumberId": "Choose the agent's phone number."}
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(number(omar)))
    assert failed.value.errors == {"phoneNumberId": "Not one of your phone numbers."}


def test_whatsapp_is_active_only_on_an_approved_sender(ctx):
    hana = factories.user("hana", plan="PRO")
    bare, pending = number(hana), number(hana, sender="pending")
    for phone, state in ((bare, "WhatsApp is not enabled on it"), (pending, "its WhatsApp sender is pending")):
        with pytest.raises(ValidationFailed) as failed:
            agents.create_agent(hana, body(phone, channel="whatsapp"))
        message = failed.value.errors["isActive"]
        assert state in message and "Agent not responding" in message and phone.e164 in message
    off = agents.create_agent(hana, body(pending, channel="whatsapp", isActive=False))   # saved switched off
    with pytest.raises(ValidationFailed):
        agents.update_agent(hana, off.id, {"isActive": True})
    WhatsAppSender.update(status="approved").execute()
    assert agents.update_agent(hana, off.id, {"isActive": True}).is_active
    sms = agents.create_agent(hana, body(bare, isActive=False))
    with pytest.raises(ValidationFailed):                      # an active SMS agent moved to WhatsApp on a bare number
        agents.update_agent(hana, sms.id, {"channel": "whatsapp", "isActive": True})


def test_one_active_agent_per_number_and_channel(ctx):
    hana = factories.user("hana", plan="BUSINESS")
    phone = number(hana, sender="approved")
    first = agents.create_agent(hana, body(phone))
    with pytest.raises(ValidationFailed) as failed:
        agents.create_agent(hana, body(phone, name="Second"))
    assert "“Sarah” already answers SMS texts on" in failed.value.errors["phoneNumberId"]
    second = agents.create_agent(hana, body(phone, name="Second", isActive=False))
    agents.create_agent(hana, body(phone, name="On WhatsApp", channel="whatsapp"))  # same number, other channel
    with pytest.raises(ValidationFailed):
        agents.update_agent(hana, second.id, {"isActive": True})
    agents.update_agent(hana, first.id, {"isActive": False})
    assert agents.update_agent(hana, second.id, {"isActive": True}).is_active
    other = number(hana)
    moved = agents.update_agent(hana, first.id, {"phoneNumberId": other.id, "isActive": True})
    assert moved.phone_number_id == other.id and moved.is_active


def test_update_changes_what_is_sent(ctx):
    hana = factories.user("hana", plan="PRO")
    agent = agents.create_agent(hana, body(number(hana), tone="custom", customTone="Brief."))
    changed = agents.update_agent(hana, agent.id, {"name": "Alex", "tone": "professional",
                                                    "greeting": "Hello, this is Alex from LinkTime."})
    assert (changed.name, changed.tone, changed.custom_tone, changed.greeting) == (
        "Alex", "professional", None, "Hello, this is Alex from LinkTime.")
    assert changed.updated_at >= agent.updated_at and changed.language == "en"
    with pytest.raises(ValidationFailed) as failed:
        agents.update_agent(hana, agent.id, {"name": ""})
    assert failed.value.errors == {"name": "Give 1 to 100 characters."}
    with pytest.raises(ValidationFailed):
        agents.update_agent(hana, agent.id, {"tone": "custom"})           # custom without its text
    assert agents.update_agent(hana, agent.id, {"greeting": ""}).greeting is None


def test_another_accounts_agent_is_not_found(ctx):
    hana = factories.user("hana", plan="PRO")
    omar = factories.user("omar", plan="PRO")
    agent = agents.create_agent(hana, body(number(hana)))
    for call in (lambda: agents.get_agent(omar, agent.id), lambda: agents.update_agent(omar, agent.id, {}),
                 lambda: agents.delete_agent(omar, agent.id), lambda: agents.set_event_types(omar, agent.id, [])):
        with pytest.raises(NotFound):
            call()
    assert agents.agents_of(omar) == []


def test_linked_event_types(ctx):
    hana = factories.user("hana", plan="PRO")
    omar = factories.user("omar", plan="PRO")
    mine, coaching = factories.event_type(hana), factories.new_event_type(hana)
    agent = agents.create_agent(hana, body(number(hana), eventTypeIds=[coaching.id]))
    assert [et.id for et in agents.linked_event_types(agent)] == [coaching.id]
    assert [et.id for et in agents.set_event_types(hana, agent.id, [mine.id, coaching.id, mine.id])] == sorted(
        [mine.id, coaching.id], key=lambda i: [mine.id, coaching.id].index(i))
    with pytest.raises(ValidationFailed) as failed:
        agents.set_event_types(hana, agent.id, [factories.event_type(omar).id])
    assert "Not one of your event types" in failed.value.errors["eventTypeIds"]
    with pytest.raises(ValidationFailed):
        agents.set_event_types(hana, agent.id, "all")
    with pytest.raises(ValidationFailed):
        agents.create_agent(hana, body(number(hana), eventTypeIds=[factories.event_type(omar).id]))
    agents.update_agent(hana, agent.id, {"eventTypeIds": []})
    assert agents.linked_event_types(agent) == []                      # none: all active non-secret ones


def test_delete_is_soft(ctx):
    hana = factories.user("hana", plan="PRO")
    agent = agents.create_agent(hana, body(number(hana)))
    deleted = agents.delete_agent(hana, agent.id)
    assert deleted.deleted_at is not None and deleted.is_active is False
    assert MessagingAgent.select().count() == 1 and agents.agents_of(hana) == []
    with pytest.raises(NotFound):
        agents.get_agent(hana, agent.id)
    agents.create_agent(hana, body(agent.phone_number))               # the number is free again


def test_organization_agents(ctx):
    owner = factories.user("olga", plan="FREE")
    admin = factories.user("adam", plan="FREE")
    member = factories.user("mia", plan="FREE")
    outsider = factories.user("otto", plan="PRO")
    org = organizations.create_organization(owner, name="Acme", slug="acme")
    org.plan = "BUSINESS"
    org.save()
    Membership.create(organization=org, user=admin, role="ADMIN")
    Membership.create(organization=org, user=member, role="MEMBER")
    phone = number(owner, organization=org)
    agent = agents.create_agent(admin, body(phone, organizationId=org.id,
                                            eventTypeIds=[factories.event_type(member).id]))
    assert agent.organization_id == org.id and agent in agents.agents_of(owner)
    assert {et.user_id for et in agents.eligible_event_types(agent)} == {owner.id, admin.id, member.id}
    with pytest.raises(Forbidden):
        agents.create_agent(member, body(phone, organizationId=org.id))
    with pytest.raises(NotFound):
        agents.create_agent(outsider, body(number(outsider), organizationId=org.id))
    with pytest.raises(NotFound):
        agents.get_agent(member, agent.id)
    assert agents.update_agent(owner, agent.id, {"name": "Front desk"}).name == "Front desk"


def test_agent_json(ctx):
    hana = factories.user("hana", plan="PRO")
    phone = number(hana, sender="approved")
    coaching = factories.new_event_type(hana)
    agent = agents.create_agent(hana, body(phone, channel="whatsapp", eventTypeIds=[coaching.id]))
    shown = agents.agent_json(agent)
    assert shown == {
        "id": agent.id, "name": "Sarah", "greeting": None, "tone": "professional", "customTone": None,
        "language": "en", "businessContext": None, "channel": "whatsapp", "phoneNumberId": phone.id,
        "phoneNumber": phone.e164, "isActive": True, "organizationId": None, "createdAt": shown["createdAt"],
        "updatedAt": shown["updatedAt"], "whatsappStatus": "approved", "eventTypeIds": [coaching.id],
        "eventTypes": [{"id": coaching.id, "name": "Coaching", "slug": "coaching"}]}
    assert shown["createdAt"].endswith("Z")
    assert agents.problem_of(agent) is None
    WhatsAppSender.update(status="revoked").execute()
    assert "not approved" in agents.problem_of(agent)


def test_creations_racing_for_one_number_leave_one_active_agent(app):
    with app.app_context(), db.connection_context():
        hana = factories.user("hana", plan="BUSINESS")
        phone = number(hana)
    start = threading.Barrier(4)

    def create(i):
        with app.app_context(), db.connection_context():
            start.wait()
            try:
                return agents.create_agent(hana, body(phone, name=f"Agent {i}")).id
            except ValidationFailed:
                return None
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(create, range(4)))
    assert len([r for r in results if r]) == 1
    with app.app_context(), db.connection_context():
        assert MessagingAgent.select().where(MessagingAgent.is_active).count() == 1
