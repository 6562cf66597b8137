"""A customer books by text, end to end (issue 22 acceptance): texts arrive through the signed Twilio inbound webhook,
the real conversation engine asks the scripted Anthropic fake, the replies leave from the agent's number through the
Twilio fake, and the booking's emails and webhook happen once even when Twilio repeats the last webhook."""
from __future__ import annotations

import json

import pytest

from app.db import db
from app.models import Booking
from app.models.messaging import Conversation, ConversationMessage
from app.services.developer import webhooks
from tests import factories
from tests.fakes.twilio import inbound_params, signed_inbound

pytest_plugins = ["tests.messaging_fixtures"]

INBOUND = "/api/webhooks/twilio/inbound"


@pytest.fixture
def app(app_factory, messaging_fakes, messaging, smtp_server):
    return app_factory(**messaging.settings(messaging_fakes.anthropic, messaging_fakes.twilio),
                       SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def tool_result(body) -> dict:
    [block] = [b for b in body["messages"][-1]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    return json.loads(block["content"])


def test_a_customer_books_in_four_texts_and_a_repeated_webhook_changes_nothing(app, messaging_fakes, messaging,
                                                                               smtp_server, receiver):
    anthropic, twilio = messaging_fakes.anthropic, messaging_fakes.twilio

    def setup():
        host = messaging.make_host("emmanuel", timezone="UTC")
        webhooks.create_webhook(host, receiver.url(), ["booking.created"])
        return messaging.make_agent(host)
    agent = in_db(app, setup)
    client = app.test_client()
    day = factories.weekday_at(2, hour=10).date().isoformat()

    def text(words: str, params: dict | None = None):
        params = params or inbound_params(messaging.CUSTOMER, words, to=messaging.AGENT_NUMBER)
        answer = client.post(INBOUND, data=params, headers=signed_inbound(messaging.BASE + INBOUND, params))
        assert answer.status_code == 200 and b"<Response" in answer.data, answer.data     # empty TwiML at once
        return params

    anthropic.tool_use("list_event_types")
    anthropic.reply("Hi! I'm Sarah, Emmanuel's AI assistant. I can book a 30 Minute Meeting. Which day suits you?")
    text("Hi, I'd like to book a meeting")

    anthropic.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": day, "timezone": "UTC"})
    anthropic.turn_fn(lambda body: [{"type": "text", "text": "I have " + tool_result(body)["slots"][0]["time"]
                                     + ". Does that work?"}])
    text(f"The 30 minute one on {day}")
    first = tool_result(anthropic.bodies[-1])["slots"][0]

    anthropic.reply("Great. What's your full name and email?")
    text(first["time"])

    anthropic.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": first["start_time"],
                                          "invitee_name": "Ann Lee", "invitee_email": "ann@example.com",
                                          "timezone": "UTC"})
    anthropic.reply("You're booked! A confirmation email is on its way to ann@example.com.")
    last = text("Ann Lee, ann@example.com")
    text("", last)                                        # Twilio repeats the webhook: same MessageSid

    [booked] = in_db(app, lambda: list(Booking.select()))
    assert (booked.user_id, booked.invitee_email, booked.invitee_phone) == (agent.user_id, "ann@example.com",
                                                                           messaging.CUSTOMER)
    assert booked.start_at.strftime("%Y-%m-%dT%H:%M:%SZ") == first["start_time"]
    conversation = in_db(app, Conversation.get)
    assert (conversation.state, conversation.booking_id) == ("booked", booked.id)
    assert anthropic.pending == 0                         # the repeated webhook asked the model nothing
    replies = [m for m in twilio.messages if m["to"] == messaging.CUSTOMER]
    assert [m["from"] for m in replies] == [messaging.AGENT_NUMBER] * 4
    assert replies[-1]["body"].startswith("You're booked!")
    inbound = in_db(app, lambda: ConversationMessage.select().where(ConversationMessage.direction == "inbound")
                    .count())
    assert inbound == 4
    mails = smtp_server.wait_for(2)
    assert sorted(r for m in mails[:2] for r in m.envelope_rcpt) == ["ann@example.com", "emmanuel@example.com"]
    [hook] = receiver.wait_for(1)
    assert booked.id.encode() in hook.body
