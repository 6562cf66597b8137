"""WhatsApp's 24-hour customer-service window (app.services.messaging.whatsapp.send_outside_window, spec page 11):
free-form inside it, the approved template (ContentSid + ContentVariables) outside it, and an SMS from the same
number when the template is pending or rejected (its setting empty) or the sender is not approved. Checked on what
the Twilio fake received."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent
from app.services import opt_outs
from app.services.errors import ValidationFailed
from app.services.messaging import whatsapp
from app.services.voice import numbers
from tests import factories

pytest_plugins = ["tests.number_fixtures"]
CONFIRMATION = "HX" + "c0" * 16
REMINDER = "HX" + "e1" * 16
CUSTOMER = "+14155557788"
VARIABLES = {"name": "Ivan", "event": "30 Minute Meeting", "when": "Tue 9 Dec, 10:00 (America/New_York)"}


@pytest.fixture
def templates_app(app_factory, twilio_fake, elevenlabs_fake, number_settings):
    return app_factory(**number_settings(twilio_fake, elevenlabs_fake, WHATSAPP_TEMPLATE_CONFIRMATION_SID=CONFIRMATION,
                                         WHATSAPP_TEMPLATE_REMINDER_SID=""))


@pytest.fixture
def ctx(templates_app):
    from app.db import db

    with templates_app.app_context(), db.connection_context():
        yield templates_app


@pytest.fixture
def pro(ctx):
    return factories.user("hana", plan="PRO")


@pytest.fixture
def number(pro, twilio_fake):
    return numbers.provision_number(pro, "US")


@pytest.fixture
def approved(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
    assert whatsapp.status(pro, number.id, refresh=True).status == "approved"
    return row


@pytest.fixture
def agent(pro, number):
    return MessagingAgent.create(user=pro, name="Sarah", channel="whatsapp", phone_number=number)


def conversation(agent, *, wrote_hours_ago: float | None) -> Conversation:
    last = utcnow() - timedelta(hours=wrote_hours_ago) if wrote_hours_ago is not None else None
    return Conversation.create(user=agent.user, agent=agent, channel="whatsapp", contact_phone=CUSTOMER,
                               agent_phone=agent.phone_number.e164, last_inbound_at=last)


def last_message(twilio_fake) -> dict:
    return twilio_fake.messages[-1]


def test_inside_the_window_a_free_form_whatsapp_message(approved, agent, number, twilio_fake):
    convo = conversation(agent, wrote_hours_ago=23)
    sent = whatsapp.send_outside_window(convo, CUSTOMER, "confirmation", VARIABLES)
    assert sent.channel == "whatsapp" and sent.content_sid is None
    message = last_message(twilio_fake)
    assert message["from"] == f"whatsapp:{number.e164}" and message["to"] == f"whatsapp:{CUSTOMER}"
    assert message["body"] == "Hi Ivan, your 30 Minute Meeting is confirmed for Tue 9 Dec, 10:00 (America/New_York)."
    assert message["content_sid"] is None
    [row] = ConversationMessage.select().where(ConversationMessage.conversation == convo)
    assert row.twilio_sid == sent.sid and row.direction == "outbound" and row.content == message["body"]


def test_outside_the_window_the_approved_template(approved, agent, number, twilio_fake):
    convo = conversation(agent, wrote_hours_ago=25)
    sent = whatsapp.send_outside_window(convo, CUSTOMER, "confirmation", VARIABLES)
    assert (sent.channel, sent.content_sid) == ("whatsapp", CONFIRMATION)
    message = last_message(twilio_fake)
    assert message["from"] == f"whatsapp:{number.e164}" and message["to"] == f"whatsapp:{CUSTOMER}"
    assert message["content_sid"] == CONFIRMATION
    assert message["content_variables"] == {"1": "Ivan", "2": "30 Minute Meeting",
                                            "3": "Tue 9 Dec, 10:00 (America/New_York)"}


def test_a_customer_who_never_wrote_is_outside_the_window(approved, agent, twilio_fake):
    sent = whatsapp.send_outside_window(conversation(agent, wrote_hours_ago=None), CUSTOMER, "confirmation",
                                        VARIABLES)
    assert sent.content_sid == CONFIRMATION


def test_a_template_not_approved_falls_back_to_sms_from_the_same_number(approved, agent, number, twilio_fake):
    convo = conversation(agent, wrote_hours_ago=30)
    sent = whatsapp.send_outside_window(convo, CUSTOMER, "reminder", VARIABLES)    # its setting is empty
    assert sent.channel == "sms" and sent.content_sid is None
    message = last_message(twilio_fake)
    assert message["from"] == number.e164 and message["to"] == CUSTOMER
    assert message["body"] == "Hi Ivan, a reminder: your 30 Minute Meeting is on Tue 9 Dec, 10:00 (America/New_York)."


def test_a_sender_not_approved_falls_back_to_sms_even_inside_the_window(pro, number, agent, twilio_fake):
    whatsapp.register(pro, number.id, "Acme Corp")                                # pending at Meta
    sent = whatsapp.send_outside_window(conversation(agent, wrote_hours_ago=1), f"whatsapp:{CUSTOMER}",
                                        "confirmation", VARIABLES)
    assert sent.channel == "sms" and last_message(twilio_fake)["from"] == number.e164


def test_the_agent_finds_its_conversation_with_the_customer(approved, agent, twilio_fake):
    conversation(agent, wrote_hours_ago=2)
    assert whatsapp.send_outside_window(agent, CUSTOMER, "confirmation", VARIABLES).content_sid is None
    assert whatsapp.send_outside_window(agent, "+14155550199", "confirmation", VARIABLES).content_sid == CONFIRMATION


def test_an_opted_out_customer_gets_nothing(approved, agent, twilio_fake):
    opt_outs.opt_out(CUSTOMER)
    before = len(twilio_fake.messages)
    with pytest.raises(whatsapp.WhatsAppFailed) as caught:
        whatsapp.send_outside_window(agent, CUSTOMER, "confirmation", VARIABLES)
    assert caught.value.code == 21610 and len(twilio_fake.messages) == before


def test_bad_input_is_refused(approved, agent):
    with pytest.raises(ValidationFailed):
        whatsapp.send_outside_window(agent, CUSTOMER, "invoice", VARIABLES)
    with pytest.raises(ValidationFailed):
        whatsapp.send_outside_window(agent, CUSTOMER, "reminder", {"name": "Ivan"})
    with pytest.raises(ValidationFailed):
        whatsapp.send_outside_window(agent, "not a number", "reminder", VARIABLES)
