"""WhatsApp confirmations of bookings a WhatsApp conversation led to that were confirmed later (issue 22, spec page
11: template notifications for booking confirmations, SMS when the templates are pending or rejected;
app/services/messaging/notices.py). The booking here waits for its payment, which arrives later
(``payments.confirm_payment`` emits ``booking.created``); a booking waiting for the host's approval ends the same
way. Inside the 24-hour window a free-form WhatsApp message, outside it the approved template (ContentSid +
ContentVariables), an SMS from the same number without an approved template; sent once, whatever is retried.
Checked on what the Twilio fake received."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.models import OutboxMessage
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent
from app.models.payments import Payment
from app.services import opt_outs, outbox
from app.services.booking import payments
from app.services.messaging import booking_tools, notices, whatsapp
from app.services.voice import numbers
from app.services.voice import tools as voice_tools
from tests import factories

pytest_plugins = ["tests.number_fixtures"]
CONFIRMATION = "HX" + "c0" * 16
CUSTOMER = "+14155557788"


@pytest.fixture(params=[CONFIRMATION, ""], ids=["template approved", "template pending"])
def template(request, app_factory, twilio_fake, elevenlabs_fake, number_settings):
    from app.db import db

    app = app_factory(**number_settings(twilio_fake, elevenlabs_fake,
                                        WHATSAPP_TEMPLATE_CONFIRMATION_SID=request.param))
    with app.app_context(), db.connection_context():
        yield request.param


@pytest.fixture
def approved_template(app_factory, twilio_fake, elevenlabs_fake, number_settings):
    from app.db import db

    app = app_factory(**number_settings(twilio_fake, elevenlabs_fake, WHATSAPP_TEMPLATE_CONFIRMATION_SID=CONFIRMATION))
    with app.app_context(), db.connection_context():
        yield CONFIRMATION


def setup_agent(twilio_fake, *, channel: str = "whatsapp", sender_online: bool = True):
    host = factories.user("hana", plan="PRO")
    number = numbers.provision_number(host, "US")
    if channel == "whatsapp":
        row = whatsapp.register(host, number.id, "Acme Corp")
        if sender_online:
            twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
            assert whatsapp.status(host, number.id, refresh=True).status == "approved"
    agent = MessagingAgent.create(user=host, name="Sarah", channel=channel, phone_number=number)
    return host, number, agent


def awaiting_payment(agent, *, wrote_hours_ago: float, channel: str = "whatsapp"):
    """A booking the agent made that waits for its payment, as ``booking_tools`` leaves the conversation."""
    host = agent.user
    booking = factories.booking_row(factories.event_type(host), factories.weekday_at(3, hour=15), name="Ivan Petrov",
                                    invitee_phone=CUSTOMER, status="PENDING_PAYMENT", source=channel,
                                    held_until=utcnow() + timedelta(hours=1))
    payment = Payment.create(booking=booking, provider="stripe", amount=5000, currency="usd", provider_ref="cs_1")
    conversation = Conversation.create(
        user=host, agent=agent, channel=channel, contact_phone=CUSTOMER, agent_phone=agent.phone_number.e164,
        booking=booking, state="booked", data={"booking_id": booking.id, booking_tools.UNCONFIRMED: [booking.id]},
        last_inbound_at=utcnow() - timedelta(hours=wrote_hours_ago))
    return booking, payment, conversation


def pay(payment) -> None:
    assert payments.confirm_payment(payment, transaction_id="pi_1", method="card") == "confirmed"


def notice_rows(conversation) -> list[ConversationMessage]:
    return list(ConversationMessage.select().where((ConversationMessage.conversation == conversation.id)
                                                   & (ConversationMessage.direction == "outbound")))


def test_inside_the_window_a_free_form_whatsapp_message(template, twilio_fake):
    _host, number, agent = setup_agent(twilio_fake)
    booking, payment, conversation = awaiting_payment(agent, wrote_hours_ago=2)
    before = len(twilio_fake.messages)
    pay(payment)
    [message] = twilio_fake.messages[before:]
    assert (message["from"], message["to"], message["content_sid"]) == (
        f"whatsapp:{number.e164}", f"whatsapp:{CUSTOMER}", None)
    assert message["body"].startswith(f"Hi Ivan, your {booking.event_name} is confirmed for ")
    [row] = notice_rows(conversation)
    assert (row.status, row.twilio_sid, row.content) == ("sent", message["sid"], message["body"])


def test_outside_the_window_the_template_or_an_sms_without_one(template, twilio_fake):
    _host, number, agent = setup_agent(twilio_fake)
    booking, payment, conversation = awaiting_payment(agent, wrote_hours_ago=30)
    before = len(twilio_fake.messages)
    pay(payment)
    [message] = twilio_fake.messages[before:]
    if template:                                       # the approved template, with its variables
        assert (message["from"], message["to"], message["content_sid"]) == (
            f"whatsapp:{number.e164}", f"whatsapp:{CUSTOMER}", CONFIRMATION)
        variables = message["content_variables"]
        assert (variables["1"], variables["2"]) == ("Ivan", booking.event_name)
        assert variables["3"].endswith("PM UTC") and " at 3" in variables["3"]
    else:                                              # pending or rejected template: SMS from the agent's number
        assert (message["from"], message["to"], message.get("content_sid")) == (number.e164, CUSTOMER, None)
        assert message["body"].startswith(f"Hi Ivan, your {booking.event_name} is confirmed for ")
    [row] = notice_rows(conversation)
    assert (row.status, row.twilio_sid) == ("sent", message["sid"])


def test_a_sender_not_approved_yet_falls_back_to_sms_even_with_a_template(approved_template, twilio_fake):
    _host, number, agent = setup_agent(twilio_fake, sender_online=False)
    _booking, payment, _conversation = awaiting_payment(agent, wrote_hours_ago=30)
    before = len(twilio_fake.messages)
    pay(payment)
    [message] = twilio_fake.messages[before:]
    assert (message["from"], message["to"], message.get("content_sid")) == (number.e164, CUSTOMER, None)


def test_a_retry_never_sends_twice(approved_template, twilio_fake):
    _host, _number, agent = setup_agent(twilio_fake)
    _booking, payment, conversation = awaiting_payment(agent, wrote_hours_ago=30)
    twilio_fake.fail(500)                              # the first attempt: Twilio is down
    before = len(twilio_fake.messages)
    pay(payment)
    assert twilio_fake.messages[before:] == []
    [row] = notice_rows(conversation)
    assert row.status == notices.QUEUED and row.twilio_sid is None
    [queued] = OutboxMessage.select().where(OutboxMessage.kind == notices.KIND)
    assert outbox.process(queued.id, max_attempts=5, retry_delay=1, now=utcnow() + timedelta(hours=1)) == "done"
    [message] = twilio_fake.messages[before:]
    assert ConversationMessage.get_by_id(row.id).twilio_sid == message["sid"]

    # the outbox runs the row again (a lost lease, a redelivered task): the stored SID says it was sent
    notices.deliver(_payload(queued))
    # a worker died after Twilio took the message, before its SID was stored: found at Twilio, not sent again
    ConversationMessage.update(status=notices.SENDING, twilio_sid=None).where(
        ConversationMessage.id == row.id).execute()
    notices.deliver(_payload(queued))
    assert twilio_fake.messages[before:] == [message]
    fresh = ConversationMessage.get_by_id(row.id)
    assert (fresh.status, fresh.twilio_sid) == ("sent", message["sid"])


def _payload(row: OutboxMessage) -> dict:
    return json.loads(OutboxMessage.get_by_id(row.id).payload)


def test_a_customer_who_texted_stop_gets_nothing(approved_template, twilio_fake):
    _host, _number, agent = setup_agent(twilio_fake)
    _booking, payment, conversation = awaiting_payment(agent, wrote_hours_ago=2)
    opt_outs.opt_out(CUSTOMER)
    before = len(twilio_fake.messages)
    pay(payment)
    assert twilio_fake.messages[before:] == []
    [row] = notice_rows(conversation)
    assert row.status == "failed" and "STOP" in row.error


def test_no_whatsapp_confirmation_for_an_sms_conversation(approved_template, twilio_fake):
    _host, _number, agent = setup_agent(twilio_fake, channel="sms")
    _booking, payment, conversation = awaiting_payment(agent, wrote_hours_ago=2, channel="sms")
    before = len(twilio_fake.messages)
    pay(payment)
    assert twilio_fake.messages[before:] == [] and notice_rows(conversation) == []


def test_a_booking_the_agent_confirmed_at_once_gets_no_second_confirmation(approved_template, twilio_fake):
    """The agent's own reply confirmed it: booking.created comes with the booking, no notice follows."""
    host, _number, agent = setup_agent(twilio_fake)
    conversation = Conversation.create(user=host, agent=agent, channel="whatsapp", contact_phone=CUSTOMER,
                                       agent_phone=agent.phone_number.e164, last_inbound_at=utcnow())
    day = factories.weekday_at(2, hour=10)
    slots = booking_tools.run(conversation, "get_available_slots", {"event_type_slug": "30-min",
                                                                    "date": day.date().isoformat(), "timezone": "UTC"})
    assert not slots.is_error and slots.content["slots"]
    Conversation.update(data=slots.data).where(Conversation.id == conversation.id).execute()
    conversation = Conversation.get_by_id(conversation.id)
    before = len(twilio_fake.messages)
    outcome = booking_tools.run(conversation, "create_booking", {
        "event_type_slug": "30-min", "start_time": slots.content["slots"][0]["start_time"],
        "invitee_name": "Ivan Petrov", "invitee_email": "ivan@example.com", "timezone": "UTC"})
    assert not outcome.is_error and booking_tools.UNCONFIRMED not in outcome.data
    assert "is booked for" in outcome.content["booking"]["confirmation_message"]
    assert twilio_fake.messages[before:] == [] and notice_rows(conversation) == []


def test_the_agent_says_a_booking_waiting_for_the_host_is_not_confirmed_yet(approved_template, twilio_fake,
                                                                            monkeypatch):
    """A booking the service leaves unconfirmed (the host approves it later) is kept in the conversation's data,
    which is what makes its later booking.created send the confirmation."""
    host, _number, agent = setup_agent(twilio_fake)
    conversation = Conversation.create(user=host, agent=agent, channel="whatsapp", contact_phone=CUSTOMER,
                                       agent_phone=agent.phone_number.e164, last_inbound_at=utcnow())
    day = factories.weekday_at(2, hour=10)
    slots = booking_tools.run(conversation, "get_available_slots", {"event_type_slug": "30-min",
                                                                    "date": day.date().isoformat(), "timezone": "UTC"})
    Conversation.update(data=slots.data).where(Conversation.id == conversation.id).execute()
    conversation = Conversation.get_by_id(conversation.id)

    def book_pending(event_type, req, *, now=None):
        return factories.booking_row(event_type, req.start, name=req.invitee_name, email=req.invitee_email,
                                     status="PENDING", invitee_phone=req.invitee_phone, source="whatsapp")

    monkeypatch.setattr(voice_tools, "book", book_pending)
    outcome = booking_tools.run(conversation, "create_booking", {
        "event_type_slug": "30-min", "start_time": slots.content["slots"][0]["start_time"],
        "invitee_name": "Ivan Petrov", "invitee_email": "ivan@example.com", "timezone": "UTC"})
    assert not outcome.is_error
    assert outcome.data[booking_tools.UNCONFIRMED] == [outcome.booking_id]
    answer = outcome.content["booking"]
    assert answer["status"] == "PENDING" and "not confirmed yet" in answer["confirmation_message"]
    # the model asks again (the same request): the same booking, still not called booked
    Conversation.update(data={**conversation.data, **outcome.data}).where(Conversation.id == conversation.id).execute()
    again = booking_tools.run(Conversation.get_by_id(conversation.id), "create_booking", {
        "event_type_slug": "30-min", "start_time": slots.content["slots"][0]["start_time"],
        "invitee_name": "Ivan Petrov", "invitee_email": "ivan@example.com", "timezone": "UTC"})
    assert again.booking_id == outcome.booking_id and "not confirmed yet" in again.content["booking"][
        "confirmation_message"]
