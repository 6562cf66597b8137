"""Texts to a messaging agent through ``POST /api/webhooks/twilio/inbound`` (issue 22): stored, answered on the queue
from the agent's number through the Twilio fake; keywords, duplicates, WhatsApp, the kill switch, the pool, limits.

The model side (``app.services.messaging.engine.respond``) is replaced by a scripted one; the real engine is driven
through this webhook in tests/integration/test_messaging_sms.py."""
from __future__ import annotations

import importlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from app.db import db
from app.models import OutboxMessage
from app.models.messaging import (
    Conversation,
    ConversationMessage,
    MessagingAgent,
    MessagingPoolNotice,
)
from app.models.voice import PhoneNumber
from app.models.workflows import SmsOptOut
from app.services.mailer import unseal
from app.services.messaging import inbound, replies
from tests.fakes.twilio import TwilioFake, inbound_params, signed_inbound

BASE = "https://cal.example.com"
INBOUND = "/api/webhooks/twilio/inbound"
AGENT_NUMBER = "+14155550100"
CUSTOMER = "+14155550123"
OTHER_CUSTOMER = "+14155550124"
ADMIN_SECRET = "kill-secret-0123456789"
ENGINE = "app.services.messaging.engine"


@dataclass
class Reply:
    texts: list[str]
    cost_micros: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class ScriptedEngine:
    """``respond(conversation_id, text)``: ``script`` answers (default: two texts echoing the message)."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    script: object = None

    def respond(self, conversation_id: str, text: str):
        self.calls.append((conversation_id, text))
        if self.script is not None:
            return self.script(conversation_id, text)
        return Reply([f"You said: {text}", "Which day suits you?"], cost_micros=2500, input_tokens=120,
                     output_tokens=30)


@pytest.fixture
def engine(monkeypatch):
    scripted = ScriptedEngine()
    monkeypatch.setattr(importlib.import_module(ENGINE), "respond", scripted.respond)
    return scripted


@pytest.fixture
def twilio():
    with TwilioFake() as fake:
        yield fake


def settings(twilio, **extra):
    return {**twilio.settings(), "BASE_URL": BASE, "ADMIN_KILL_SECRET": ADMIN_SECRET, **extra}


@pytest.fixture
def app(app_factory, twilio, engine):
    return app_factory(**settings(twilio))


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def make_agent(app, user, *, channel="sms", number=AGENT_NUMBER):
    def make():
        phone = PhoneNumber.get_or_none(PhoneNumber.e164 == number) or PhoneNumber.create(
            user=user.id, e164=number, country="US", twilio_sid="PN" + number[1:].ljust(32, "0"))
        return MessagingAgent.create(user=user.id, name="Sarah", channel=channel, phone_number=phone.id)
    return in_db(app, make)


@pytest.fixture
def host(make_user):
    return make_user("hana", plan="PRO", name="Hana Host")


@pytest.fixture
def agent(app, host):
    return make_agent(app, host)


def post(client, params):
    return client.post(INBOUND, data=params, headers=signed_inbound(BASE + INBOUND, params))


def text(client, body, *, phone=CUSTOMER, to=AGENT_NUMBER, whatsapp=False):
    prefix = "whatsapp:" if whatsapp else ""
    return post(client, inbound_params(prefix + phone, body, to=prefix + to))


def twiml_message(response) -> str | None:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


def rows(app, direction=None) -> list[ConversationMessage]:
    def load():
        query = ConversationMessage.select().order_by(ConversationMessage.created_at)
        if direction:
            query = query.where(ConversationMessage.direction == direction)
        return list(query)
    return in_db(app, load)


def sent(twilio) -> list[dict]:
    with twilio.lock:
        return list(twilio.messages)


def emails(app) -> list[dict]:
    return in_db(app, lambda: [unseal(json.loads(m.payload)) for m in OutboxMessage.select().where(
        OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)])


# --- the conversation ------------------------------------------------------------------------------------------
def test_a_text_is_stored_and_answered_from_the_agents_number(app, client, agent, twilio, engine):
    response = text(client, "Hi, I'd like to book a meeting")
    assert twiml_message(response) is None and b"<Response/>" in response.data
    assert [t for _, t in engine.calls] == ["Hi, I'd like to book a meeting"]
    messages = sent(twilio)
    assert [(m["from"], m["to"], m["body"]) for m in messages] == [
        (AGENT_NUMBER, CUSTOMER, "You said: Hi, I'd like to book a meeting"),
        (AGENT_NUMBER, CUSTOMER, "Which day suits you?")]
    inbound_row, = rows(app, "inbound")
    assert inbound_row.status == "answered" and inbound_row.twilio_sid and not inbound_row.by_agent
    first, second = rows(app, "outbound")
    assert [first.twilio_sid, second.twilio_sid] == [m["sid"] for m in messages]
    assert first.by_agent and second.by_agent and first.status == second.status == "sent"
    assert (first.cost_micros, first.input_tokens, first.output_tokens) == (2500, 120, 30)
    assert (second.cost_micros, second.input_tokens, second.output_tokens) == (0, 0, 0)
    conversation = in_db(app, Conversation.get)
    assert (conversation.user_id, conversation.agent_id, conversation.channel, conversation.contact_phone,
            conversation.agent_phone) == (agent.user_id, agent.id, "sms", CUSTOMER, AGENT_NUMBER)
    assert conversation.last_inbound_at is not None and conversation.expires_at > conversation.last_inbound_at
    assert engine.calls[0][0] == conversation.id


def test_the_next_text_continues_the_conversation_and_an_idle_one_starts_anew(app, client, agent, engine):
    text(client, "Hello")
    text(client, "Tuesday please")
    conversation = in_db(app, Conversation.get)
    assert {cid for cid, _ in engine.calls} == {conversation.id}

    def age():
        past = datetime.now(UTC) - inbound.idle_expiry() - timedelta(minutes=1)
        Conversation.update(last_message_at=past, expires_at=past).execute()
    in_db(app, age)
    text(client, "Hello again")
    assert in_db(app, Conversation.select().count) == 2
    assert engine.calls[-1][0] != conversation.id


def test_the_webhook_answers_at_once_while_the_responder_is_slow(app, client, agent, twilio, engine, monkeypatch):
    """The reply task runs on a worker thread (as a consumer would): the webhook's empty TwiML comes back while the
    responder is still waiting to be released, and the reply is sent afterwards."""
    from tasks.messaging import reply_to_message

    started, release, workers = threading.Event(), threading.Event(), []

    def slow(conversation_id, body):
        started.set()
        assert release.wait(10)
        return Reply(["Here are Tuesday's times: 9:00, 11:00"])

    def run_on_worker(message_id):
        worker = threading.Thread(target=reply_to_message.call_local, args=(message_id,))
        workers.append(worker)
        worker.start()
    engine.script = slow
    monkeypatch.setattr(inbound, "_enqueue_reply", run_on_worker)

    response = text(client, "Any time Tuesday?")
    assert not release.is_set()                # the answer is here and the responder has not been let go
    assert twiml_message(response) is None
    assert started.wait(10)
    assert sent(twilio) == []
    release.set()
    workers[0].join(10)
    assert not workers[0].is_alive()
    assert [m["body"] for m in sent(twilio)] == ["Here are Tuesday's times: 9:00, 11:00"]


def test_a_text_to_a_number_without_an_agent_keeps_the_old_answer(app, client, agent, engine, twilio):
    response = text(client, "Hello?", to="+14155550199")
    assert twiml_message(response) is None
    assert rows(app) == [] and engine.calls == [] and sent(twilio) == []


def test_a_switched_off_agent_does_not_answer(app, client, agent, engine, twilio):
    in_db(app, lambda: MessagingAgent.update(is_active=False).execute())
    assert twiml_message(text(client, "Hello?")) is None
    assert rows(app) == [] and engine.calls == [] and sent(twilio) == []


# --- signatures, keywords, duplicates --------------------------------------------------------------------------
@pytest.mark.parametrize("forgery", ["missing", "other_token", "tampered"])
def test_a_forged_signature_is_refused_and_nothing_is_stored(app, client, agent, engine, twilio, forgery):
    params = inbound_params(CUSTOMER, "Book me in", to=AGENT_NUMBER)
    if forgery == "missing":
        response = client.post(INBOUND, data=params)
    elif forgery == "other_token":
        response = client.post(INBOUND, data=params, headers=signed_inbound(BASE + INBOUND, params, "0" * 32))
    else:
        response = client.post(INBOUND, data=params,
                               headers=signed_inbound(BASE + INBOUND, {**params, "Body": "hello"}))
    assert response.status_code == 403
    assert rows(app) == [] and engine.calls == [] and sent(twilio) == []


def test_the_signature_is_checked_against_base_url_behind_a_proxy(app, client, agent, engine):
    """The app is reached as http://localhost (a proxy in front); Twilio signed the public https URL."""
    params = inbound_params(CUSTOMER, "Hi", to=AGENT_NUMBER)
    internal = client.post(INBOUND, data=params, headers=signed_inbound("http://localhost" + INBOUND, params))
    assert internal.status_code == 403
    assert post(client, params).status_code == 200 and len(engine.calls) == 1


@pytest.mark.parametrize("whatsapp", [False, True])
def test_stop_help_start_come_first_on_both_channels(app, client, host, engine, twilio, whatsapp):
    make_agent(app, host, channel="whatsapp" if whatsapp else "sms")
    if whatsapp:
        twilio.online_sender(AGENT_NUMBER)
    assert twiml_message(text(client, "STOP", whatsapp=whatsapp)) == "You've been unsubscribed."
    assert in_db(app, lambda: SmsOptOut.select().where(SmsOptOut.phone == CUSTOMER).count()) == 1
    assert "Reply STOP" in twiml_message(text(client, "help", whatsapp=whatsapp))
    assert engine.calls == [] and rows(app) == []

    assert twiml_message(text(client, "I want to book", whatsapp=whatsapp)) is None   # opted out: stored, silent
    assert [r.status for r in rows(app)] == ["ignored"] and engine.calls == [] and sent(twilio) == []

    assert "resubscribed" in twiml_message(text(client, "START", whatsapp=whatsapp))
    text(client, "I want to book", whatsapp=whatsapp)
    assert len(engine.calls) == 1 and len(sent(twilio)) == 2


def test_a_repeated_message_sid_is_answered_once(app, client, agent, engine, twilio):
    params = inbound_params(CUSTOMER, "Book Tuesday", to=AGENT_NUMBER)
    assert post(client, params).status_code == 200
    second = post(client, params)
    assert twiml_message(second) is None
    assert len(rows(app, "inbound")) == 1 and len(engine.calls) == 1 and len(sent(twilio)) == 2


def test_a_duplicate_that_wins_the_race_is_stored_once(app, client, agent, engine, twilio, monkeypatch):
    """Both copies passed the look-up before either was stored: the unique SID refuses the second."""
    params = inbound_params(CUSTOMER, "Book Tuesday", to=AGENT_NUMBER)
    post(client, params)
    real, looked = inbound.known, []

    def first_miss(sid):
        looked.append(sid)
        return False if len(looked) == 1 else real(sid)
    monkeypatch.setattr(inbound, "known", first_miss)
    assert twiml_message(post(client, params)) is None
    assert len(looked) == 2                                  # the insert failed, then the row was found
    assert len(rows(app, "inbound")) == 1 and in_db(app, Conversation.select().count) == 1
    assert len(engine.calls) == 1 and len(sent(twilio)) == 2


# --- WhatsApp --------------------------------------------------------------------------------------------------
def test_whatsapp_texts_are_answered_with_whatsapp_addresses(app, client, host, engine, twilio):
    make_agent(app, host, channel="whatsapp")
    twilio.online_sender(AGENT_NUMBER)             # Twilio sends WhatsApp only from a registered sender
    assert twiml_message(text(client, "Hola", whatsapp=True)) is None
    messages = sent(twilio)
    assert {(m["from"], m["to"]) for m in messages} == {("whatsapp:" + AGENT_NUMBER, "whatsapp:" + CUSTOMER)}
    conversation = in_db(app, Conversation.get)
    assert (conversation.channel, conversation.contact_phone, conversation.agent_phone) == (
        "whatsapp", CUSTOMER, AGENT_NUMBER)


def test_an_sms_does_not_reach_a_whatsapp_agent_on_the_same_number(app, client, host, engine, twilio):
    make_agent(app, host, channel="whatsapp")
    assert twiml_message(text(client, "Hello")) is None
    assert rows(app) == [] and engine.calls == []


# --- failures --------------------------------------------------------------------------------------------------
def test_a_transient_twilio_failure_is_retried_without_asking_the_model_again(app, client, agent, engine, twilio,
                                                                            monkeypatch):
    monkeypatch.setattr(inbound, "_enqueue_reply", lambda message_id: None)   # the test runs the task itself
    text(client, "Hello")
    message_id = rows(app, "inbound")[0].id
    twilio.fail(503, times=1)
    from app.integrations.errors import TransientError
    with pytest.raises(TransientError):
        in_db(app, inbound.reply, message_id)
    assert [r.status for r in rows(app, "outbound")] == ["queued", "queued"]
    in_db(app, inbound.reply, message_id)                                     # the task's retry
    assert len(engine.calls) == 1
    assert [r.status for r in rows(app, "outbound")] == ["sent", "sent"] and len(sent(twilio)) == 2


def test_a_permanent_twilio_failure_is_stored_with_the_reason(app, client, agent, engine, twilio):
    twilio.unsubscribed.add(CUSTOMER)
    text(client, "Hello")
    outbound = rows(app, "outbound")
    assert [r.status for r in outbound] == ["failed", "failed"]
    assert all("21610" in r.error for r in outbound) and sent(twilio) == []


# --- the kill switch and the pool ------------------------------------------------------------------------------
def booking_url_answer(twilio) -> str:
    body, = [m["body"] for m in sent(twilio)]
    assert f"{BASE}/hana" in body
    return body


def test_the_setting_off_answers_with_the_booking_url(app_factory, twilio, host, engine):
    app = app_factory(**settings(twilio, MESSAGING_AGENT_ENABLED=False))
    make_agent(app, host)
    client = app.test_client()
    text(client, "Hello")
    booking_url_answer(twilio)
    assert engine.calls == []
    reply_row, = rows(app, "outbound")
    assert not reply_row.by_agent and reply_row.status == "sent"


def test_the_admin_kill_switch_stops_and_resumes_the_agents(app, client, agent, engine, twilio):
    headers = {"X-Admin-Secret": ADMIN_SECRET}
    assert client.post("/api/admin/messaging/kill", headers=headers).json["killed"] is True
    text(client, "Hello")
    booking_url_answer(twilio)
    assert engine.calls == []
    assert client.post("/api/admin/messaging/resume", headers=headers).json["answering"] is True
    text(client, "Hello again")
    assert len(engine.calls) == 1 and len(sent(twilio)) == 3


def fill_pool(app, agent, count: int):
    def fill():
        conversation = Conversation.create(user=agent.user_id, agent=agent.id, contact_phone=OTHER_CUSTOMER,
                                           agent_phone=AGENT_NUMBER)
        ConversationMessage.insert_many([{"id": f"pool{i:028d}", "conversation": conversation.id,
                                          "direction": "outbound", "content": "x", "status": "sent",
                                          "by_agent": True} for i in range(count)]).execute()
    in_db(app, fill)


def test_an_exhausted_pool_answers_with_the_booking_url_and_tells_the_host_once(app, client, agent, engine, twilio):
    fill_pool(app, agent, 100)                                 # Pro: 100 messages a month
    text(client, "Hello")
    text(client, "Anyone there?", phone=OTHER_CUSTOMER)
    assert engine.calls == []
    bodies = [m["body"] for m in sent(twilio)]
    assert len(bodies) == 2 and all(f"{BASE}/hana" in b for b in bodies)
    notices = emails(app)
    assert len(notices) == 1 and notices[0]["to"] == ["hana@example.com"]
    assert "100" in notices[0]["text"] and f"{BASE}/hana" in notices[0]["html"]
    assert in_db(app, MessagingPoolNotice.select().count) == 1


def test_a_pool_with_room_left_uses_the_agent(app, client, agent, engine, twilio):
    fill_pool(app, agent, 99)
    text(client, "Hello")
    assert len(engine.calls) == 1 and emails(app) == []


# --- rate limits -----------------------------------------------------------------------------------------------
def test_a_phone_over_its_limit_is_stored_not_answered_and_told_once(app, client, agent, engine, twilio,
                                                                      monkeypatch):
    monkeypatch.setattr(inbound, "PHONE_PER_MINUTE", "2/minute")
    answers = [twiml_message(text(client, f"message {i}")) for i in range(4)]
    assert answers[:2] == [None, None]
    assert answers[2] == inbound.RATE_LIMITED_NOTE and answers[3] is None      # the note once
    assert [r.status for r in rows(app, "inbound")] == ["answered", "answered", "rate_limited", "rate_limited"]
    assert len(engine.calls) == 2
    assert text(client, "from someone else", phone=OTHER_CUSTOMER).status_code == 200
    assert len(engine.calls) == 3


def test_a_user_over_the_hourly_limit_is_not_answered(app, client, agent, engine, monkeypatch):
    monkeypatch.setattr(inbound, "USER_PER_HOUR", "2/hour")
    for phone in (CUSTOMER, OTHER_CUSTOMER, "+14155550125"):
        text(client, "Hello", phone=phone)
    assert len(engine.calls) == 2
    assert [r.status for r in rows(app, "inbound")][-1] == "rate_limited"


def test_the_documented_limits(app):
    assert (inbound.PHONE_PER_MINUTE, inbound.PHONE_PER_DAY, inbound.USER_PER_HOUR) == (
        "10/minute", "100/day", "300/hour")
    assert "10 per minute" in inbound.__doc__ and "300 per hour" in inbound.__doc__


# --- replies.send_text -----------------------------------------------------------------------------------------
def test_send_text_sends_from_the_agents_number_and_stores_the_row(app, agent, twilio):
    def send():
        conversation = Conversation.create(user=agent.user_id, agent=agent.id, contact_phone=CUSTOMER,
                                           agent_phone=AGENT_NUMBER, channel="sms")
        return replies.send_text(conversation, "Your meeting is booked.")
    row = in_db(app, send)
    message, = sent(twilio)
    assert (message["from"], message["to"], message["body"]) == (AGENT_NUMBER, CUSTOMER, "Your meeting is booked.")
    assert row.twilio_sid == message["sid"] and row.status == "sent" and row.by_agent


def test_a_failing_reply_task_never_fails_the_webhook(app, client, agent, engine, twilio):
    twilio.fail(503, times=1)
    response = text(client, "Hello")
    assert twiml_message(response) is None
    assert "queued" in [r.status for r in rows(app, "outbound")]      # left for the task's retry


def test_agents_need_no_instance_sender_number(app_factory, twilio, host, engine):
    """Without TWILIO_FROM_NUMBER (only the account's SID and token) the agent still answers from its own number;
    the instance's workflow texts keep needing a sender."""
    from app.integrations import twilio_sms

    app = app_factory(**settings(twilio, TWILIO_FROM_NUMBER=""))
    make_agent(app, host)
    text(app.test_client(), "Hello")
    assert {m["from"] for m in sent(twilio)} == {AGENT_NUMBER}
    with app.app_context(), pytest.raises(twilio_sms.TwilioError):
        twilio_sms.send_sms(CUSTOMER, "a workflow text")


def test_status_callbacks_mark_the_agents_texts_delivered_or_failed(app, client, agent, engine, twilio):
    from tests.fakes.twilio import ACCOUNT_SID

    text(client, "Hello")
    first, second = sent(twilio)
    assert first["status_callback"] == BASE + "/api/webhooks/twilio/status"

    def callback(sid, status, code=None):
        params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, "To": CUSTOMER,
                  "From": AGENT_NUMBER, **({"ErrorCode": str(code)} if code else {})}
        url = BASE + "/api/webhooks/twilio/status"
        return client.post("/api/webhooks/twilio/status", data=params, headers=signed_inbound(url, params))
    assert callback(first["sid"], "delivered").status_code == 204
    assert callback(second["sid"], "undelivered", 30007).status_code == 204
    assert callback(first["sid"], "failed", 30008).status_code == 204         # late: never moves back
    one, two = rows(app, "outbound")
    assert one.status == "delivered" and one.error is None
    assert two.status == "failed" and "30007" in two.error


def test_a_text_left_sending_by_a_dead_worker_is_not_sent_twice(app, agent, twilio):
    from app.integrations import twilio_sms

    def crashed_then_retried():
        conversation = Conversation.create(user=agent.user_id, agent=agent.id, contact_phone=CUSTOMER,
                                           agent_phone=AGENT_NUMBER)
        row = replies.queue_text(conversation, "Booked for Tuesday 9:00.")
        ConversationMessage.update(status="sending").where(ConversationMessage.id == row.id).execute()
        twilio_sms.send_sms(CUSTOMER, "Booked for Tuesday 9:00.", from_=AGENT_NUMBER)   # reached Twilio, then died
        replies.deliver_pending(conversation)
        return ConversationMessage.get_by_id(row.id)
    row = in_db(app, crashed_then_retried)
    message, = sent(twilio)
    assert row.status == "sent" and row.twilio_sid == message["sid"]
