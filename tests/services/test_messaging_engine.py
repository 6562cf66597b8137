"""The messaging agents' conversation engine against the scripted Anthropic fake: bookings over several texts with
the state carried forward, a change of mind, a slot taken in between, wrong tool arguments refused, idempotent
booking, the tool-round bound, splitting, cost, and the fallback when the model fails (the circuit breaker)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking
from app.models.messaging import Conversation, MessagingAgentEventType, MessagingCircuit
from app.services.booking import bookings as booking_service
from app.services.messaging import booking_tools, circuit, engine
from app.services.voice import tools as voice
from tests import factories
from tests.fakes.anthropic import text, tool_use

pytest_plugins = ["tests.messaging_fixtures"]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)         # Monday 08:00 New York (as tests.messaging_fixtures)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)        # Tuesday 10:00 New York
CUSTOMER = "+14155551234"

TUESDAY = "2026-06-02"
SLOT_ISO = "2026-06-02T14:00:00Z"           # Tuesday 10:00 AM New York
JOHN = {"invitee_name": "John Doe", "invitee_email": "john@example.com"}


@pytest.fixture
def fake(messaging_fakes):
    return messaging_fakes.anthropic


@pytest.fixture
def consultation(messaging_host):
    return factories.new_event_type(messaging_host, name="Consultation", slug="consultation", duration=60)


@pytest.fixture
def say(messaging):
    def say(conversation, words: str) -> engine.Reply:
        """One customer text, as the inbound helper handles it: stored, answered, the answer stored."""
        messaging.store(conversation, "inbound", words)
        reply = engine.respond(conversation.id, words, now=NOW)
        for part in reply.texts:
            messaging.store(conversation, "outbound", part, cost_micros=reply.cost_micros)
        return reply
    return say


def fresh(conversation) -> Conversation:
    return Conversation.get_by_id(conversation.id)


def last_results(body) -> list[dict]:
    """The tool_result blocks of a request's last message (what the tools answered)."""
    return [dict(b, content=json.loads(b["content"])) for b in body["messages"][-1]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"]


def test_a_booking_in_five_texts_with_the_state_carried_forward(conversation, consultation, fake, say):
    fake.tool_use("list_event_types")
    fake.reply("Hi! I'm Sarah, Emmanuel's AI assistant. I can book a 30 Minute Meeting or a Consultation.")
    first = say(conversation, "Hi, I'd like to book a meeting")
    assert first.texts == ["Hi! I'm Sarah, Emmanuel's AI assistant. I can book a 30 Minute Meeting or a "
                           "Consultation."]
    assert fresh(conversation).state == "event_selection"
    [listed] = last_results(fake.bodies[1])
    assert {t["slug"] for t in listed["content"]["event_types"]} == {"30-min", "consultation"}
    assert first.cost_micros == 2 * (100 * 3 + 20 * 15) and (first.input_tokens, first.output_tokens) == (200, 40)

    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.reply("On Tuesday I have 9:00 AM, 9:30 AM and 10:00 AM. Which works?")
    say(conversation, "The 30 minute one, on Tuesday June 2")
    state = fresh(conversation)
    assert state.state == "datetime" and state.data["event_type"]["slug"] == "30-min"
    assert SLOT_ISO in state.data["offered"][state.data["event_type"]["id"]]

    fake.reply("10:00 AM it is. What's your full name and email?")
    say(conversation, "10am please")
    state = fresh(conversation)
    assert (state.state, state.data["start_time"]) == ("details", SLOT_ISO)
    assert "Time chosen: Tuesday, June 2 at 10:00 AM EDT" in fake.bodies[-1]["system"]

    fake.reply("Thanks John! Shall I book the 30 Minute Meeting on Tuesday, June 2 at 10:00 AM EDT?")
    say(conversation, "John Doe, john@example.com")
    assert fresh(conversation).state == "confirmation"
    assert "Customer's email: john@example.com" in fake.bodies[-1]["system"]

    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN,
                                     "invitee_phone": "+19999999999", "user_id": "someone-else"})
    fake.reply("You're booked for Tuesday, June 2 at 10:00 AM EDT. A confirmation email is on its way.")
    last = say(conversation, "Yes please")
    booking = Booking.get()
    assert last.booked_booking_id == booking.id
    assert (booking.user_id, booking.start_at, booking.invitee_email) == (conversation.user_id, SLOT,
                                                                          "john@example.com")
    assert booking.invitee_phone == CUSTOMER and booking.source == "sms"      # the phone is the conversation's
    state = fresh(conversation)
    assert (state.state, state.booking_id, state.data["booking_id"]) == ("booked", booking.id, booking.id)
    sent = fake.bodies[-2]["messages"]          # the history replayed: every text so far, alternating
    assert [m["role"] for m in sent] == ["user", "assistant"] * 4 + ["user"]
    assert sent[0]["content"] == "Hi, I'd like to book a meeting" and sent[-1]["content"] == "Yes please"
    [booked] = last_results(fake.bodies[-1])
    assert booked["content"]["success"] is True and booked["is_error"] is False
    assert fake.pending == 0


def test_the_customer_changes_their_mind_mid_way(conversation, consultation, fake, say):
    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.reply("Tuesday: 9:00 AM, 10:00 AM ...")
    say(conversation, "A 30 minute meeting on Tuesday?")
    fake.reply("10:00 AM, noted. Your name and email?")
    say(conversation, "10:00 am")
    assert fresh(conversation).data["start_time"] == SLOT_ISO
    fake.tool_use("get_available_slots", {"event_type_slug": "consultation", "date": "2026-06-03"})
    fake.reply("Sure. For a Consultation on Wednesday I have 9:00 AM, 11:00 AM ...")
    say(conversation, "Actually, make it a consultation on Wednesday instead")
    state = fresh(conversation)
    assert state.state == "datetime" and state.data["event_type"]["slug"] == "consultation"
    assert "start_time" not in state.data and state.data["date"] == "2026-06-03"
    fake.reply("11:00 AM on Wednesday. Your name and email?")
    say(conversation, "11am")
    assert fresh(conversation).data["start_time"] == "2026-06-03T15:00:00Z"
    fake.tool_use("create_booking", {"event_type_slug": "consultation", "start_time": "2026-06-03T15:00:00Z",
                                     **JOHN})
    fake.reply("Booked!")
    reply = say(conversation, "John Doe, john@example.com. Yes, book it")
    booking = Booking.get_by_id(reply.booked_booking_id)
    assert booking.event_type_id == consultation.id and Booking.select().count() == 1


def test_a_slot_taken_in_between_is_answered_with_other_times(conversation, messaging_host, fake, say):
    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.reply("Tuesday: 9:00 AM, 10:00 AM, 10:30 AM ...")
    say(conversation, "30 minutes on Tuesday please")
    fake.reply("10:00 AM. Your name and email?")
    say(conversation, "10am")
    booking_service.create_booking(factories.event_type(messaging_host), booking_service.BookingRequest(
        start=SLOT, invitee_name="Someone Else", invitee_email="else@example.com",
        invitee_timezone="America/New_York"), now=NOW)

    seen: list[dict] = []

    def after_taken(body):
        seen.extend(last_results(body))
        return [tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})]

    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN})
    fake.turn_fn(after_taken)
    fake.turn_fn(lambda body: [text("Sorry, 10:00 AM was just taken. 10:30 AM is free: shall I book it?")
                               if "2026-06-02T14:30:00Z" in json.dumps(last_results(body)) else text("?")])
    reply = say(conversation, "John Doe, john@example.com")
    assert seen[0]["is_error"] is True and seen[0]["content"]["message"] == voice.TAKEN
    assert reply.texts == ["Sorry, 10:00 AM was just taken. 10:30 AM is free: shall I book it?"]
    state = fresh(conversation)
    assert state.state == "datetime" and "start_time" not in state.data and state.data["name"] == "John Doe"
    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": "2026-06-02T14:30:00Z", **JOHN})
    fake.reply("Booked for 10:30 AM.")
    reply = say(conversation, "Yes, 10:30 is fine")
    assert Booking.get_by_id(reply.booked_booking_id).start_at == SLOT + timedelta(minutes=30)
    assert fresh(conversation).state == "booked"


def test_wrong_tool_arguments_answer_error_results_the_model_sees(conversation, fake, say, messaging):
    other = messaging.make_host("maria", email="maria@example.com", name="Maria Lopez")
    factories.new_event_type(other, name="Portfolio review", slug="portfolio-review", duration=45)
    fake.turn(tool_use("get_available_slots", {"event_type_slug": "portfolio-review", "date": TUESDAY,
                                               "user_id": other.id}),
              tool_use("create_booking", {"event_type_slug": "nope", "start_time": SLOT_ISO, **JOHN}),
              tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN}),
              tool_use("create_booking", {"event_type_slug": "30-min"}))
    fake.reply("Sorry, I can only book Emmanuel's meetings.")
    say(conversation, "Book me Maria's portfolio review on Tuesday 10am, John Doe john@example.com")
    results = last_results(fake.bodies[-1])
    assert [r["is_error"] for r in results] == [True, True, True, True]
    assert results[0]["content"]["message"] == voice.UNKNOWN_TYPE          # another user's type: not the agent's
    assert results[1]["content"]["message"] == voice.UNKNOWN_TYPE
    assert results[2]["content"]["message"] == booking_tools.NOT_OFFERED    # never invent a time
    assert results[3]["content"]["message"] == voice.BAD_NAME
    assert Booking.select().count() == 0
    unknown = booking_tools.run(fresh(conversation), "delete_everything", {})
    assert unknown.is_error and unknown.content["message"] == booking_tools.UNKNOWN_TOOL


def test_linked_event_types_limit_what_the_agent_books(conversation, messaging_agent, consultation):
    assert {et.slug for et in booking_tools.agent_event_types(messaging_agent)} == {"30-min", "consultation"}
    MessagingAgentEventType.create(agent=messaging_agent, event_type=consultation)
    assert [et.slug for et in booking_tools.agent_event_types(messaging_agent)] == ["consultation"]
    outcome = booking_tools.run(conversation, "get_available_slots", {"event_type_slug": "30-min",
                                                                      "date": TUESDAY}, now=NOW)
    assert outcome.is_error and outcome.content["message"] == voice.UNKNOWN_TYPE


def test_a_repeated_create_booking_answers_the_first_booking(conversation, fake, say):
    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN})
    fake.reply("Booked!")
    first = say(conversation, "30 min Tuesday 10am, John Doe john@example.com, book it")
    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN})
    fake.reply("You're already booked.")
    second = say(conversation, "Did it work? Book it again to be sure")
    assert first.booked_booking_id and second.booked_booking_id == first.booked_booking_id
    assert Booking.select().count() == 1
    [again] = last_results(fake.bodies[-1])
    assert again["content"]["booking"]["id"] == first.booked_booking_id


def test_tool_rounds_are_bounded(conversation, fake, say):
    for _ in range(engine.MAX_TOOL_ITERATIONS + 1):
        fake.tool_use("list_event_types")
    reply = say(conversation, "hello")
    assert reply.texts == [engine.CANT_FINISH]
    assert len(fake.bodies) == engine.MAX_TOOL_ITERATIONS + 1
    assert fake.bodies[-1]["tool_choice"] == {"type": "none"}
    assert all("tool_choice" not in body for body in fake.bodies[:-1])


def test_long_replies_are_split_to_sms_length(conversation, fake, say):
    words = ("Here are the details of the meeting. " * 60).strip()
    fake.reply(words)
    reply = say(conversation, "tell me everything")
    assert len(reply.texts) == 2 and all(len(t) <= engine.SMS_LIMIT for t in reply.texts)
    assert " ".join(reply.texts) == words
    assert engine.split_text("x" * 3300) == ["x" * 1600, "x" * 1600, "x" * 100]
    assert engine.split_text("short") == ["short"]


def test_the_prompt_carries_the_agents_settings(messaging_host, fake, say, messaging):
    agent = messaging.make_agent(messaging_host, e164="+12125550111", tone="custom", custom_tone="Speak like a pirate.",
                       language="es", business_context="Dental clinic on Main Street.",
                       greeting="Hola, soy Sarah.")
    conversation = messaging.make_conversation(agent)
    fake.reply("¡Hola! Soy Sarah, una asistente de IA.")
    say(conversation, "hola")
    system = fake.bodies[0]["system"]
    for part in ("Speak like a pirate.", "Reply in Spanish", "Dental clinic on Main Street.", "Hola, soy Sarah.",
                 "AI assistant", "Never invent", "https://cal.example.com/emmanuel", CUSTOMER):
        assert part in system
    assert fake.bodies[0]["tools"] == booking_tools.TOOLS
    assert fresh(conversation).state == "event_selection"


def test_model_failures_answer_the_booking_url_and_open_the_circuit(conversation, fake, say):
    fallback = "Sorry, I can't reply right now. You can book online at https://cal.example.com/emmanuel."
    fake.fail(529, retry_after="0")                      # one overloaded answer: tried again at once
    fake.reply("Hi!")
    assert say(conversation, "hi").texts == ["Hi!"]
    fake.fail(500, times=engine.MODEL_ATTEMPTS * circuit.THRESHOLD, retry_after="0")
    for i in range(circuit.THRESHOLD):
        reply = say(conversation, f"hello {i}")
        assert (reply.texts, reply.fallback) == ([fallback], True)
    assert circuit.state(NOW) == "open"
    count = len(fake.requests)
    reply = say(conversation, "anyone there?")
    assert reply.texts == [fallback] and len(fake.requests) == count       # open: the model is not called
    MessagingCircuit.update(opened_at=NOW - circuit.COOLDOWN).execute()     # the cooldown passed
    fake.reply("I'm back.")
    assert say(conversation, "hello?").texts == ["I'm back."]
    assert circuit.state(NOW) == "closed"


def test_a_wrong_key_is_a_failure_too(app_factory, messaging_fakes, messaging):
    from app.db import db
    app = app_factory(**messaging.settings(messaging_fakes.anthropic, messaging_fakes.twilio,
                                           ANTHROPIC_API_KEY="sk-ant-revoked"))
    with app.app_context(), db.connection_context():
        conversation = messaging.make_conversation(messaging.make_agent(messaging.make_host()))
        reply = engine.respond(conversation.id, "hi", now=NOW)
        assert reply.fallback and MessagingCircuit.get_by_id("anthropic").failures == 1


def test_idle_expiry(conversation):
    assert engine.IDLE_EXPIRY == timedelta(hours=24)
    conversation.last_message_at = NOW
    assert not engine.expired(conversation, NOW + timedelta(hours=23))
    assert engine.expired(conversation, NOW + timedelta(hours=24))


def test_a_time_is_noted_only_when_the_customer_names_an_offered_one(conversation, fake, say):
    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.reply("Tuesday: 9:00 AM to 4:30 PM. Which time?")
    say(conversation, "30 min on Tuesday")
    fake.reply("Which time would you like?")
    say(conversation, "Is that June 2nd? I mean June 2")
    state = fresh(conversation)
    assert state.state == "datetime" and "start_time" not in state.data
    fake.reply("2:00 PM, noted.")
    say(conversation, "2pm")
    assert fresh(conversation).data["start_time"] == "2026-06-02T18:00:00Z"
    fake.reply("Noted.")
    say(conversation, "3 please")                          # a bare hour in a short answer: 3 PM (3 AM is not offered)
    assert fresh(conversation).data["start_time"] == "2026-06-02T19:00:00Z"


def test_a_model_failure_after_the_booking_still_confirms_it(conversation, fake, say):
    fake.tool_use("get_available_slots", {"event_type_slug": "30-min", "date": TUESDAY})
    fake.tool_use("create_booking", {"event_type_slug": "30-min", "start_time": SLOT_ISO, **JOHN})
    for _ in range(engine.MODEL_ATTEMPTS):                              # the call after the booking fails
        fake.fail_turn(500, retry_after="0")
    reply = say(conversation, "30 min Tuesday 10am, John Doe john@example.com, book it")
    assert reply.booked_booking_id == Booking.get().id and not reply.fallback
    assert reply.texts == ["Your 30 Minute Meeting with Emmanuel is booked for Tuesday, June 2 at 10:00 AM EDT. A "
                           "confirmation email is on its way to john@example.com."]
    assert fresh(conversation).state == "booked"


def test_a_slow_model_is_waited_for(app_factory, messaging_fakes, messaging):
    from app.db import db

    app = app_factory(**messaging.settings(messaging_fakes.anthropic, messaging_fakes.twilio,
                                           INTEGRATION_HTTP_TIMEOUT=1))
    with app.app_context(), db.connection_context():
        conversation = messaging.make_conversation(messaging.make_agent(messaging.make_host()))
        messaging_fakes.anthropic.delay(1.5)
        messaging_fakes.anthropic.reply("Sorry for the wait!")
        reply = engine.respond(conversation.id, "hi", now=NOW)
        assert reply.texts == ["Sorry for the wait!"] and not reply.fallback


def test_an_organization_agent_books_its_members_types(messaging_host, messaging):
    from app.models.organizations import Membership
    from app.services.account import organizations

    member = messaging.make_host("maria", timezone="Europe/Madrid", name="Maria Lopez")
    factories.new_event_type(member, name="Portfolio review", slug="review", duration=45)
    org = organizations.create_organization(messaging_host, name="Studio", slug="studio")
    Membership.create(organization=org, user=member, role="MEMBER")
    agent = messaging.make_agent(messaging_host, e164="+12125550122", organization=org)
    conversation = messaging.make_conversation(agent)
    listed = booking_tools.run(conversation, "list_event_types", {}).content["event_types"]
    assert {i["slug"] for i in listed} == {"emmanuel/30-min", "maria/30-min", "review"}
    slots = booking_tools.run(conversation, "get_available_slots", {"event_type_slug": "review",
                                                                    "date": TUESDAY}, now=NOW)
    assert not slots.is_error and slots.data["event_type"]["slug"] == "review"
