"""A WhatsApp conversation end to end through the signed Twilio inbound webhook (issue 22 acceptance): the real
engine asks the scripted Anthropic fake, the customer changes their mind mid-way (another day: the chosen time is
forgotten), the slot they then pick is taken by someone else before they confirm (the model sees the refusal and
offers another offered time), and the booking is made with everything said before carried forward. Every reply
leaves from the agent's WhatsApp sender; the booking the agent confirmed in the chat gets no second confirmation
(``notices`` sends one only for a booking confirmed later)."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from app.db import db
from app.models import Booking, OutboxMessage
from app.models.messaging import Conversation, ConversationMessage
from app.services import mailer
from app.services.booking import bookings as booking_service
from app.services.messaging import notices
from app.services.voice import tools as voice
from tests import factories
from tests.fakes.twilio import inbound_params, signed_inbound

pytest_plugins = ["tests.messaging_fixtures"]

INBOUND = "/api/webhooks/twilio/inbound"


@pytest.fixture
def app(app_factory, messaging_fakes, messaging):
    return app_factory(**messaging.settings(messaging_fakes.anthropic, messaging_fakes.twilio))


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def results(body) -> list[dict]:
    return [dict(b, content=json.loads(b["content"])) for b in body["messages"][-1]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"]


def test_a_change_of_mind_and_a_slot_taken_in_between_on_whatsapp(app, messaging_fakes, messaging):
    anthropic, twilio = messaging_fakes.anthropic, messaging_fakes.twilio
    agent = in_db(app, lambda: messaging.make_agent(messaging.make_host("emmanuel", timezone="UTC"),
                                                    channel="whatsapp"))
    twilio.online_sender(messaging.AGENT_NUMBER)
    client = app.test_client()
    first_day = factories.weekday_at(2, hour=10).date().isoformat()
    second_day = factories.weekday_at(3, hour=10).date().isoformat()

    def text(words: str, params: dict | None = None) -> dict:
        params = params or inbound_params("whatsapp:" + messaging.CUSTOMER, words,
                                          to="whatsapp:" + messaging.AGENT_NUMBER)
        answer = client.post(INBOUND, data=params, headers=signed_inbound(messaging.BASE + INBOUND, params))
        assert answer.status_code == 200 and b"<Response" in answer.data, answer.data
        return params

    def state() -> Conversation:
        return in_db(app, Conversation.get)

    anthropic.tool_use("list_event_types")
    anthropic.reply("Hi! I'm Sarah, Emmanuel's AI assistant. I can book a 30 Minute Meeting. Which day suits you?")
    text("Hi, I'd like to book a meeting")

    anthropic.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": first_day, "timezone": "UTC"})
    anthropic.turn_fn(lambda body: [{"type": "text", "text": "I have " + results(body)[0]["content"]["slots"][0]["time"]
                                     + ". Does that work?"}])
    text(f"The 30 minute one on {first_day}")
    early = results(anthropic.bodies[-1])[0]["content"]["slots"][0]

    anthropic.reply("Great. What's your full name and email?")
    text(early["time"])
    assert (state().state, state().data["start_time"]) == ("details", early["start_time"])

    # The customer changes their mind: another day. The time chosen for the first day is forgotten.
    anthropic.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": second_day, "timezone": "UTC"})
    anthropic.turn_fn(lambda body: [{"type": "text", "text": "On that day I have "
                                     + ", ".join(s["time"] for s in results(body)[0]["content"]["slots"][:2])}])
    text(f"Actually, {second_day} would be better")
    offered = results(anthropic.bodies[-1])[0]["content"]["slots"]
    later = state()
    assert later.state == "datetime" and later.data["date"] == second_day and "start_time" not in later.data

    # Someone else books the first offered time before the customer confirms it.
    def someone_else():
        booking_service.create_booking(factories.event_type(agent.user), booking_service.BookingRequest(
            start=_parse(offered[0]["start_time"]), invitee_name="Someone Else", invitee_email="else@example.com",
            invitee_timezone="UTC"))
    in_db(app, someone_else)
    anthropic.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": offered[0]["start_time"],
                                          "invitee_name": "Ann Lee", "invitee_email": "ann@example.com",
                                          "timezone": "UTC"})
    anthropic.turn_fn(lambda body: [{"type": "text", "text": "Sorry, that time was just taken. "
                                     f"{offered[1]['time']} is free: shall I book it?"}])
    text(f"{offered[0]['time']}, Ann Lee, ann@example.com")
    [taken] = results(anthropic.bodies[-1])
    assert taken["is_error"] is True and taken["content"]["message"] == voice.TAKEN
    assert state().state == "datetime" and state().data["name"] == "Ann Lee"

    anthropic.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": offered[1]["start_time"],
                                          "invitee_name": "Ann Lee", "invitee_email": "ann@example.com",
                                          "timezone": "UTC"})
    anthropic.reply("You're booked! A confirmation email is on its way to ann@example.com.")
    last = text("Yes please")
    text("", last)                                        # Twilio repeats the webhook: same MessageSid

    [booked] = in_db(app, lambda: list(Booking.select().where(Booking.invitee_email == "ann@example.com")))
    mails = in_db(app, lambda: [mailer.unseal(json.loads(m.payload))
                                for m in OutboxMessage.select().where(OutboxMessage.kind == "email")])
    about_ann = [m for m in mails if m["to"] == ["ann@example.com"] or "Ann Lee" in m["subject"]]
    assert len(about_ann) == 2                            # the invitee's and the host's confirmation, once
    assert booked.start_at == _parse(offered[1]["start_time"])
    assert (booked.invitee_phone, booked.source, booked.status) == (messaging.CUSTOMER, "whatsapp", "CONFIRMED")
    assert (state().state, state().booking_id) == ("booked", booked.id)
    assert anthropic.pending == 0
    replies = [m for m in twilio.messages if m["to"] == "whatsapp:" + messaging.CUSTOMER]
    assert len(replies) == 6 and {m["from"] for m in replies} == {"whatsapp:" + messaging.AGENT_NUMBER}
    assert replies[-1]["body"].startswith("You're booked!")
    # confirmed in the chat: no WhatsApp confirmation notice on top
    assert in_db(app, lambda: OutboxMessage.select().where(OutboxMessage.kind == notices.KIND).count()) == 0
    assert in_db(app, lambda: ConversationMessage.select().where(
        ConversationMessage.status.in_(notices.PENDING)).count()) == 0


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
