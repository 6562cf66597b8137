"""ElevenLabs' webhooks to LinkTime (spec page 10): the tool endpoints (secret header, the account bound to the agent,
spoken errors), the personalization webhook (greeting and variables, over the minutes, after hours, switched off)
and the signed post-call webhook (signature and freshness, the call's log, idempotence, auto-deactivation)."""
from __future__ import annotations

import json
import time

import pytest

from app.models import Booking, CallLog, OutboxMessage, SmsOptOut
from app.models.voice import VoiceAgent, VoicePeriodNotice
from tests import call_fixtures, factories
from tests.api.conftest import in_db
from tests.fakes.elevenlabs import signature_headers, transcription_payload
from tests.fakes.twilio import TwilioFake

CALLER = "+14155551234"
NUMBER = "+12125550100"


@pytest.fixture
def voice_app(app_factory):
    return app_factory(**call_fixtures.voice_settings(), BASE_URL="https://linktime.test")


@pytest.fixture
def client(voice_app):
    return voice_app.test_client()


@pytest.fixture
def host(voice_app):
    return in_db(voice_app, factories.user, "emmanuel", timezone="UTC", name="Emmanuel Vidal", plan="PRO")


@pytest.fixture
def agent(voice_app, host):
    def make():
        number = call_fixtures.phone_number(host, NUMBER)
        return call_fixtures.agent(host, number=number, business_context="I run a design consultancy")
    return in_db(voice_app, make)


def tool(client, name, agent, body=None, secret=call_fixtures.TOOL_SECRET):
    return client.post(f"/api/voice/tools/{name}?agent_id={agent.id}", json=body or {},
                       headers=call_fixtures.tool_headers(secret))


def personalize(client, body=None, secret=call_fixtures.TOOL_SECRET):
    body = body or {"from": CALLER, "to": NUMBER, "conversation_id": "conv_abc", "call_sid": "CA123"}
    return client.post("/api/voice/webhook/personalization", json=body, headers={"X-Voice-Secret": secret})


def post_call(client, payload, *, secret=call_fixtures.SIGNING_SECRET, timestamp=None):
    body = json.dumps(payload).encode()
    return client.post("/api/voice/webhook/call-status", data=body,
                       headers=signature_headers(body, secret, timestamp))


# --- tools ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", ["wrong", ""])
def test_tools_refuse_a_wrong_or_missing_secret(client, agent, secret):
    for name in ("event-types", "available-slots", "create-booking", "booking-details"):
        response = tool(client, name, agent, secret=secret)
        assert response.status_code == 401
        assert response.get_json()["error"] is True


def test_tools_without_a_configured_secret_refuse_everything(app_factory, host):
    app = app_factory(ELEVENLABS_WEBHOOK_SECRET="")
    made = in_db(app, call_fixtures.agent, host)
    response = app.test_client().post(f"/api/voice/tools/event-types?agent_id={made.id}", json={},
                                      headers={"X-Voice-Secret": ""})
    assert response.status_code == 401


def test_event_types_answer_the_spec_shape(client, agent, host):
    response = tool(client, "event-types", agent, {"user_id": host.id})
    assert response.status_code == 200
    [item] = response.get_json()["event_types"]
    assert (item["slug"], item["name"], item["duration_minutes"]) == ("30-min", "30 Minute Meeting", 30)


def test_a_foreign_user_id_is_refused_never_trusted(voice_app, client, agent, host):
    other = in_db(voice_app, factories.user, "olga")
    for name in ("event-types", "available-slots", "create-booking", "booking-details"):
        response = tool(client, name, agent, {"user_id": other.id, "booking_id": "x"})
        assert response.status_code == 403
        assert response.get_json() == {"error": True, "message": "I'm sorry, I can't access that calendar."}
    response = tool(client, "event-types", agent, {"organization_id": "org_someone_else"})
    assert response.status_code == 403


def test_unknown_or_inactive_agents_get_a_spoken_error(voice_app, client, agent):
    response = client.post("/api/voice/tools/event-types?agent_id=missing", json={},
                           headers=call_fixtures.tool_headers())
    assert response.status_code == 200 and response.get_json()["error"] is True
    in_db(voice_app, lambda: VoiceAgent.update(is_active=False).where(VoiceAgent.id == agent.id).execute())
    assert tool(client, "event-types", agent).get_json()["message"] == (
        "I'm sorry, this scheduling assistant is not available right now. Please book online instead.")


def test_slots_then_booking_then_details_over_http(voice_app, client, agent, host):
    day = factories.weekday_at(1, hour=10)
    slots = tool(client, "available-slots", agent, {"user_id": host.id, "event_type_slug": "30-min",
                                                    "date": day.date().isoformat(),
                                                    "timezone": "America/New_York"}).get_json()
    chosen = next(s for s in slots["slots"] if s["start_time"] == day.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert chosen["time"] in ("5:00 AM", "6:00 AM")          # 10:00 UTC in New York (EST or EDT)
    body = {"user_id": host.id, "conversation_id": "conv_http", "event_type_slug": "30-min",
            "invitee_name": "John Doe", "invitee_email": "john@example.com", "start_time": chosen["start_time"],
            "timezone": "America/New_York"}
    first = tool(client, "create-booking", agent, body)
    again = tool(client, "create-booking", agent, body)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json() and first.get_json()["success"] is True
    assert in_db(voice_app, Booking.select().count) == 1
    booking_id = first.get_json()["booking"]["id"]
    details = tool(client, "booking-details", agent, {"booking_id": booking_id}).get_json()["booking"]
    assert details["status"] == "CONFIRMED" and details["invitee_email"] == "john@example.com"
    other = dict(body, invitee_email="eve@example.com", invitee_name="Eve", conversation_id="conv_other")
    taken = tool(client, "create-booking", agent, other)
    assert taken.status_code == 200
    assert taken.get_json() == {"error": True, "message": "I'm sorry, that time was just taken. "
                                                          "Would you like me to check other times?"}


def test_a_broken_tool_says_the_system_trouble_message(voice_app, client, agent, monkeypatch):
    from app.services.voice import tools

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")
    monkeypatch.setitem(tools.TOOLS, "event-types", broken)
    response = tool(client, "event-types", agent)
    assert response.status_code == 200
    assert response.get_json() == {"error": True, "message": "I'm having trouble accessing the calendar right now. "
                                                             "Can I take your number and have someone call you back?"}


# --- personalization ------------------------------------------------------------------------------------------
def test_personalization_needs_the_secret(client, agent):
    assert personalize(client, secret="nope").status_code == 401
    assert in_db(client.application, CallLog.select().count) == 0


def test_personalization_greets_and_opens_the_call_log(voice_app, client, agent, host):
    answer = personalize(client).get_json()
    assert answer == {"type": "conversation_initiation_client_data", "dynamic_variables": {
        "host_name": "Emmanuel Vidal", "business_context": "I run a design consultancy",
        "booking_url": "https://linktime.test/emmanuel", "host_email": "emmanuel@example.com",
        "host_timezone": "UTC", "agent_name": "Scheduling Assistant", "user_id": host.id, "agent_id": agent.id},
        "conversation_config_override": {"agent": {
            "first_message": "Hi! I'm Scheduling Assistant, Emmanuel's AI scheduling assistant. "
                             "How can I help you today?"}}}
    personalize(client)                                      # asked twice: still one log
    [row] = in_db(voice_app, lambda: list(CallLog.select()))
    assert (row.direction, row.conversation_id, row.call_sid, row.caller_phone, row.agent_phone, row.agent_name) == (
        "inbound", "conv_abc", "CA123", CALLER, NUMBER, "Scheduling Assistant")
    assert row.status == "IN_PROGRESS" and row.user_id == host.id


def test_personalization_accepts_elevenlabs_field_names(voice_app, client, agent):
    answer = personalize(client, {"caller_id": CALLER, "called_number": NUMBER, "agent_id": "agent_x",
                                  "call_sid": "CA999"}).get_json()
    assert answer["dynamic_variables"]["agent_id"] == agent.id
    assert in_db(voice_app, lambda: CallLog.get().call_sid) == "CA999"


def test_over_the_minute_limit_the_caller_is_sent_online(voice_app, client, agent, host):
    in_db(voice_app, lambda: CallLog.create(user=host, agent=agent, conversation_id="conv_old", status="COMPLETED",
                                            duration_seconds=59 * 60 + 1))
    answer = personalize(client).get_json()
    assert answer["type"] == "conversation_initiation_client_data"
    assert answer["conversation_config_override"] == {"agent": {
        "first_message": "I'm sorry, Emmanuel's scheduling assistant is currently unavailable. Please visit "
                         "linktime.test/emmanuel to book a meeting online.",
        "prompt": {"prompt": "Apologize that you're unavailable and direct the caller to the booking URL. "
                             "End the call politely."}}}
    assert in_db(voice_app, lambda: CallLog.get(CallLog.conversation_id == "conv_abc").over_limit)


def test_a_switched_off_or_unknown_agent_is_unavailable(voice_app, client, agent):
    in_db(voice_app, lambda: VoiceAgent.update(is_active=False).where(VoiceAgent.id == agent.id).execute())
    first = personalize(client).get_json()["conversation_config_override"]["agent"]["first_message"]
    assert first.startswith("I'm sorry, Emmanuel's scheduling assistant is currently unavailable.")
    unknown = personalize(client, {"from": CALLER, "to": "+12125550199", "conversation_id": "conv_z"}).get_json()
    assert "not taking calls" in unknown["conversation_config_override"]["agent"]["first_message"]


CLOSED = {"enabled": True, "timezone": "UTC", "afterHoursBehavior": "voicemail", "afterHoursMessage": None,
          "schedule": []}


@pytest.mark.parametrize(("behavior", "message", "expected"), [
    ("voicemail", None, "Please leave your name, number and the reason for your call"),
    ("message", "We are at the trade fair until Monday.", "We are at the trade fair until Monday."),
])
def test_after_hours_voicemail_or_the_hosts_message(voice_app, client, agent, behavior, message, expected):
    hours = dict(CLOSED, afterHoursBehavior=behavior, afterHoursMessage=message)
    in_db(voice_app, lambda: VoiceAgent.update(active_hours=hours).where(VoiceAgent.id == agent.id).execute())
    answer = personalize(client).get_json()
    assert expected in answer["conversation_config_override"]["agent"]["first_message"]
    assert answer["dynamic_variables"]["agent_id"] == agent.id


def test_after_hours_booking_url_is_said_and_texted_unless_opted_out(app_factory):
    with TwilioFake() as twilio:
        app = app_factory(**call_fixtures.voice_settings(), **twilio.settings(), BASE_URL="https://linktime.test")
        client = app.test_client()

        def setup():
            owner = factories.user("emmanuel", timezone="UTC", plan="PRO")
            made = call_fixtures.agent(owner, number=call_fixtures.phone_number(owner, NUMBER),
                                       active_hours=dict(CLOSED, afterHoursBehavior="booking_url"))
            return made
        in_db(app, setup)
        first = personalize(client).get_json()["conversation_config_override"]["agent"]["first_message"]
        assert "linktime.test/emmanuel" in first and "sent the link to you by text" in first
        [text] = [m for m in twilio.messages if m["to"] == CALLER]
        assert "https://linktime.test/emmanuel" in text["body"]
        personalize(client)                                  # ElevenLabs asks again for the same call: one text
        assert len([m for m in twilio.messages if m["to"] == CALLER]) == 1
        in_db(app, lambda: SmsOptOut.create(phone=CALLER))
        again = personalize(client, {"from": CALLER, "to": NUMBER, "conversation_id": "conv_2"}).get_json()
        assert "by text" not in again["conversation_config_override"]["agent"]["first_message"]
        assert len([m for m in twilio.messages if m["to"] == CALLER]) == 1


# --- call status ----------------------------------------------------------------------------------------------
def test_call_status_refuses_a_bad_or_stale_signature(voice_app, client, agent):
    personalize(client)
    payload = {"conversation_id": "conv_abc", "status": "completed", "transcript": "x", "duration_secs": 10}
    assert post_call(client, payload, secret="not-the-secret").status_code == 401
    assert post_call(client, payload, timestamp=int(time.time()) - 3600).status_code == 401
    body = json.dumps(payload).encode()
    headers = signature_headers(body)
    tampered = client.post("/api/voice/webhook/call-status", data=body.replace(b"10", b"99"), headers=headers)
    assert tampered.status_code == 401
    assert client.post("/api/voice/webhook/call-status", json=payload).status_code == 401
    assert in_db(voice_app, lambda: CallLog.get().status) == "IN_PROGRESS"


def test_call_status_completes_the_log_once(voice_app, client, agent):
    personalize(client)
    payload = {"conversation_id": "conv_abc", "status": "completed",
               "transcript": "Agent: Hi! I'm Emmanuel's assistant...\nCaller: I'd like to book a meeting...",
               "duration_secs": 142, "tool_calls": [{"name": "list_event_types", "result": "..."},
                                                    {"name": "get_available_slots", "result": "..."}]}
    assert post_call(client, payload).status_code == 200
    assert post_call(client, payload).status_code == 200
    [row] = in_db(voice_app, lambda: list(CallLog.select()))
    assert (row.status, row.duration_seconds, row.cost_cents, row.outcome) == ("COMPLETED", 142, 30, "info_provided")
    assert row.transcript.startswith("Agent: Hi!")


def test_a_widget_conversation_gets_a_web_log(voice_app, client, agent):
    in_db(voice_app, lambda: VoiceAgent.update(elevenlabs_agent_id="agent_widget").where(
        VoiceAgent.id == agent.id).execute())
    payload = transcription_payload("agent_widget", "conv_web", duration_secs=61)
    assert post_call(client, payload).status_code == 200
    row = in_db(voice_app, lambda: CallLog.get(CallLog.conversation_id == "conv_web"))
    assert (row.direction, row.agent_id, row.duration_seconds, row.cost_cents, row.outcome) == (
        "web", agent.id, 61, 20, "no_action")
    assert row.transcript == "Agent: Hi! How can I help?\nCaller: I'd like to book a meeting."
    assert post_call(client, transcription_payload("agent_unknown", "conv_x")).status_code == 200
    assert in_db(voice_app, CallLog.select().count) == 1


def test_a_call_past_the_limit_switches_the_agents_off_and_emails_once(app_factory):
    app = app_factory(**call_fixtures.voice_settings(), BASE_URL="https://linktime.test")
    client = app.test_client()

    def setup():
        owner = factories.user("fred", timezone="UTC")         # Free: 5 minutes
        return call_fixtures.agent(owner, number=call_fixtures.phone_number(owner, NUMBER), elevenlabs_agent_id="ag1")
    made = in_db(app, setup)
    personalize(client)
    payload = {"conversation_id": "conv_abc", "status": "completed", "transcript": "…", "duration_secs": 301}
    assert post_call(client, payload).status_code == 200
    assert post_call(client, payload).status_code == 200
    row = in_db(app, VoiceAgent.get_by_id, made.id)
    assert (row.is_active, row.auto_deactivated) == (False, True)
    assert in_db(app, VoicePeriodNotice.select().count) == 1
    mails = in_db(app, lambda: OutboxMessage.select().where(OutboxMessage.kind == "email").count())
    assert mails == 1
    # the next caller hears the override
    answer = personalize(client, {"from": CALLER, "to": NUMBER, "conversation_id": "conv_next"}).get_json()
    assert "currently unavailable" in answer["conversation_config_override"]["agent"]["first_message"]
