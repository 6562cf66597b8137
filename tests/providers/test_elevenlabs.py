"""The ElevenLabs Conversational AI client against the local fake: every call, the failure vocabulary, the address
guard, and the post-call webhook signature."""
from __future__ import annotations

import json
import socket
import time

import pytest
from flask import Flask, request

from app import net
from app.integrations import elevenlabs as el
from app.integrations.elevenlabs import ElevenLabsClient, SignatureRejected, ToolSpec, verify_post_call_signature
from app.integrations.errors import NotFound, PermanentError, TransientError, Unauthorized
from tests.fakes.elevenlabs import WEBHOOK_SECRET, ElevenLabsFake, signature_headers, transcription_payload
from tests.fakes.flask_server import FlaskFake

TWILIO_SID = "AC" + "0123456789abcdef" * 2
SECRET = "voice-secret-123"


@pytest.fixture
def fake():
    with ElevenLabsFake() as server:
        yield server


@pytest.fixture
def client(fake):
    return ElevenLabsClient(fake.client_config())


def _tools() -> list[dict]:
    specs = [ToolSpec("list_event_types", "List the host's meeting types.", "https://linktime.test/api/voice/tools/"
                      "event-types", {"user_id": {"type": "string", "description": "The host"}}, ("user_id",)),
             ToolSpec("create_booking", "Book a meeting.", "https://linktime.test/api/voice/tools/create-booking",
                      {"start_time": {"type": "string", "description": "UTC start"},
                       "invitee_email": {"type": "string", "description": "Email"}}, ("start_time",))]
    return [el.webhook_tool(spec, SECRET) for spec in specs]


def _agent(client: ElevenLabsClient, **kwargs) -> str:
    return client.create_agent(name=kwargs.pop("name", "Scheduling Assistant"),
                               prompt="You book meetings for Emmanuel.",
                               first_message="Hi! I'm Emmanuel's AI scheduling assistant.", tools=_tools(), **kwargs)


# --- agents ----------------------------------------------------------------------------------------------------
def test_create_agent_sends_prompt_first_message_language_voice_and_secret_tools(fake, client):
    agent_id = _agent(client, language="es", voice_id="pNInz6obpgDQGcFmaJgB")
    stored = fake.agents[agent_id]
    assert fake.requests[-1].method == "POST" and fake.requests[-1].path == "/v1/convai/agents/create"
    assert stored["name"] == "Scheduling Assistant"
    agent = stored["conversation_config"]["agent"]
    assert agent["first_message"] == "Hi! I'm Emmanuel's AI scheduling assistant." and agent["language"] == "es"
    assert agent["prompt"]["prompt"] == "You book meetings for Emmanuel."
    assert stored["conversation_config"]["tts"] == {"voice_id": "pNInz6obpgDQGcFmaJgB"}
    tools = agent["prompt"]["tools"]
    assert [t["name"] for t in tools] == ["list_event_types", "create_booking"]
    assert all(t["type"] == "webhook" and t["api_schema"]["method"] == "POST"
               and t["api_schema"]["request_headers"] == {"X-Voice-Secret": SECRET} for t in tools)
    assert tools[1]["api_schema"]["request_body_schema"]["required"] == ["start_time"]


def test_a_tool_may_name_a_stored_workspace_secret_instead(fake, client):
    spec = ToolSpec("get_booking_details", "Look a booking up.", "https://linktime.test/api/voice/tools/"
                    "booking-details", {"booking_id": {"type": "string", "description": "The booking"}})
    tool = el.webhook_tool(spec, {"secret_id": "sec_123"})
    assert tool["api_schema"]["request_headers"] == {"X-Voice-Secret": {"secret_id": "sec_123"}}
    agent_id = client.create_agent(name="A", prompt="p", first_message="hi", tools=[tool])
    assert fake.agents[agent_id]["conversation_config"]["agent"]["prompt"]["tools"][0] == tool
    with pytest.raises(ValueError):
        el.webhook_tool(spec, {"secret_id": "x", "value": "leak"})
    with pytest.raises(ValueError):
        el.webhook_tool(spec, "")


def test_default_voice_is_rachel_and_language_english(fake, client):
    config = fake.agents[_agent(client)]["conversation_config"]
    assert config["tts"]["voice_id"] == "21m00Tcm4TlvDq8ikWAM" and config["agent"]["language"] == "en"


def test_update_agent_sends_only_the_changes_and_delete_removes_it(fake, client):
    agent_id = _agent(client)
    client.update_agent(agent_id, name="Alex", first_message="Hello, I'm Alex, an AI assistant.")
    sent = fake.requests[-1]
    assert sent.method == "PATCH" and sent.path == f"/v1/convai/agents/{agent_id}"
    assert sent.body == {"name": "Alex", "conversation_config": {"agent": {
        "first_message": "Hello, I'm Alex, an AI assistant."}}}
    stored = fake.agents[agent_id]
    assert stored["name"] == "Alex" and stored["conversation_config"]["agent"]["language"] == "en"
    count = len(fake.requests)
    assert client.update_agent(agent_id) == {} and len(fake.requests) == count     # nothing to change: no call
    client.delete_agent(agent_id)
    assert agent_id not in fake.agents
    with pytest.raises(NotFound) as caught:
        client.delete_agent(agent_id)
    assert caught.value.code == "agent_not_found" and caught.value.status == 404


def test_bad_arguments_are_refused_before_any_request(fake, client):
    with pytest.raises(ValueError):
        client.create_agent(name="", prompt="p", first_message="hi")
    with pytest.raises(ValueError):
        client.create_agent(name="A", prompt="p", first_message="x" * 501)
    with pytest.raises(ValueError):
        client.delete_agent("../phone-numbers")
    with pytest.raises(ValueError):
        el.webhook_tool(ToolSpec("Bad Name", "d", "https://x.test/t"), SECRET)
    with pytest.raises(ValueError):
        el.webhook_tool(ToolSpec("ok", "d", "ftp://x.test/t"), SECRET)
    with pytest.raises(ValueError):
        el.webhook_tool(ToolSpec("ok", "d", "https://x.test/t", required=("missing",)), SECRET)
    assert fake.requests == []


def test_the_fake_refuses_a_malformed_tool_with_422(fake, client):
    with pytest.raises(PermanentError) as caught:
        client.create_agent(name="A", prompt="p", first_message="hi", tools=[{"type": "client", "name": "x"}])
    assert caught.value.status == 422 and not caught.value.transient
    assert "tools" in caught.value.message


# --- phone numbers ---------------------------------------------------------------------------------------------
def test_import_assign_and_delete_a_twilio_number(fake, client):
    agent_id = _agent(client)
    number_id = client.import_twilio_number(phone_number="+19143593794", label="Main line",
                                            account_sid=TWILIO_SID, auth_token="twilio-token")
    assert fake.requests[-1].path == "/v1/convai/phone-numbers"
    assert fake.requests[-1].body == {"provider": "twilio", "phone_number": "+19143593794", "label": "Main line",
                                      "sid": TWILIO_SID, "token": "twilio-token"}
    answer = client.assign_phone_number(number_id, agent_id)
    assert fake.requests[-1].method == "PATCH" and fake.requests[-1].body == {"agent_id": agent_id}
    assert answer["assigned_agent"]["agent_id"] == agent_id and "token" not in answer
    client.assign_phone_number(number_id, None)
    assert fake.phone_numbers[number_id]["assigned_agent"] is None
    with pytest.raises(PermanentError) as caught:                       # imported twice
        client.import_twilio_number(phone_number="+19143593794", label="again", account_sid=TWILIO_SID,
                                    auth_token="twilio-token")
    assert caught.value.status == 409 and caught.value.code == "phone_number_already_exists"
    assert "twilio-token" not in caught.value.message
    with pytest.raises(NotFound):
        client.assign_phone_number(number_id, "agent_unknown")
    client.delete_phone_number(number_id)
    assert number_id not in fake.phone_numbers
    with pytest.raises(ValueError):
        client.import_twilio_number(phone_number="914-359-3794", label="x", account_sid=TWILIO_SID, auth_token="t")


# --- calls and sessions ----------------------------------------------------------------------------------------
def test_outbound_call_with_dynamic_variables_and_first_message(fake, client):
    agent_id = _agent(client)
    number_id = client.import_twilio_number(phone_number="+19143593794", label="Main", account_sid=TWILIO_SID,
                                            auth_token="t")
    call = client.outbound_call(agent_id=agent_id, phone_number_id=number_id, to_number="+14155551234",
                                dynamic_variables={"call_type": "reminder", "booking_id": "b1"},
                                first_message="Hi John, this is a reminder from Emmanuel's AI assistant.")
    recorded = fake.calls[-1]
    assert call.conversation_id == recorded["conversation_id"] and call.call_sid == recorded["callSid"]
    assert fake.requests[-1].path == "/v1/convai/twilio/outbound-call"
    assert recorded["agent_phone_number_id"] == number_id and recorded["to_number"] == "+14155551234"
    data = recorded["conversation_initiation_client_data"]
    assert data["dynamic_variables"] == {"call_type": "reminder", "booking_id": "b1"}
    assert data["conversation_config_override"]["agent"]["first_message"].startswith("Hi John")
    with pytest.raises(ValueError):
        client.outbound_call(agent_id=agent_id, phone_number_id=number_id, to_number="+14155551234",
                             dynamic_variables={"nested": {"a": 1}})
    with pytest.raises(NotFound):
        client.outbound_call(agent_id="agent_gone", phone_number_id=number_id, to_number="+14155551234")


def test_conversation_token_and_signed_url_for_the_widget(fake, client):
    agent_id = _agent(client)
    token = client.conversation_token(agent_id)
    assert fake.tokens == [{"agent_id": agent_id, "token": token}]
    assert fake.requests[-1].query == {"agent_id": agent_id}
    url = client.signed_url(agent_id)
    assert url.startswith("wss://") and f"agent_id={agent_id}" in url
    with pytest.raises(NotFound):
        client.conversation_token("agent_missing")


# --- failures --------------------------------------------------------------------------------------------------
def test_a_wrong_api_key_is_unauthorized(fake):
    client = ElevenLabsClient(fake.client_config(api_key="sk_wrong"))
    with pytest.raises(Unauthorized) as caught:
        client.conversation_token("agent_x")
    assert caught.value.status == 401 and caught.value.code == "invalid_api_key"
    assert "sk_wrong" not in str(caught.value) and "sk_wrong" not in repr(client)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient_with_retry_after(fake, client, status):
    fake.fail(status, retry_after="7")
    with pytest.raises(TransientError) as caught:
        _agent(client)
    assert caught.value.status == status and caught.value.retry_after == 7.0
    assert fake.agents == {}
    assert _agent(client) in fake.agents                    # the next attempt goes through


def test_a_429_without_retry_after_and_an_http_date(fake, client):
    fake.fail(429)
    with pytest.raises(TransientError) as caught:
        client.conversation_token("agent_x")
    assert caught.value.retry_after is None
    fake.fail(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")            # in the past: retry now
    with pytest.raises(TransientError) as caught:
        client.conversation_token("agent_x")
    assert caught.value.retry_after == 0.0


def test_a_hanging_elevenlabs_is_a_transient_timeout_within_the_deadline(fake):
    client = ElevenLabsClient(fake.client_config(timeout=0.5))
    fake.hang(5)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        client.conversation_token("agent_x")
    assert time.monotonic() - started < 3 and "did not answer" in caught.value.message


def test_an_unreachable_elevenlabs_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ElevenLabsClient({"api_key": "k", "api_base": f"http://127.0.0.1:{port}", "timeout": 2})
    with pytest.raises(TransientError):
        client.conversation_token("agent_x")


def test_an_answer_that_is_not_json_and_one_without_an_id():
    with _Odd() as odd:
        client = ElevenLabsClient({"api_key": "k", "api_base": odd.url})
        with pytest.raises(TransientError):
            client.conversation_token("html")
        with pytest.raises(PermanentError) as caught:
            client.conversation_token("empty")
        assert "without token" in caught.value.message
        with pytest.raises(PermanentError):
            client.signed_url("plain")                  # not a wss/https URL


class _Odd(FlaskFake):
    def __init__(self) -> None:
        self._init_server("odd_elevenlabs")
        app: Flask = self.app

        @app.get("/v1/convai/conversation/token")
        def token():
            if request.args["agent_id"] == "html":
                return "<html>oops</html>", 200, {"Content-Type": "text/html"}
            return {}

        @app.get("/v1/convai/conversation/get-signed-url")
        def signed():
            return {"signed_url": "http://insecure.test/x"}


# --- the address guard -----------------------------------------------------------------------------------------
def test_the_default_base_is_guarded_and_a_private_answer_is_refused(monkeypatch):
    def private_answer(host, port, *args):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.0.0.7", port))]

    monkeypatch.setattr(net, "_getaddrinfo", private_answer)
    client = ElevenLabsClient({"api_key": "k"})
    assert client.api_base == el.DEFAULT_API_BASE and client.allow_private is False
    assert client.session is net.session(False)
    with pytest.raises(PermanentError) as caught:
        client.conversation_token("agent_x")
    assert not caught.value.transient and "not allowed" in caught.value.message


def test_a_configured_base_may_be_local_and_settings_build_the_config(fake):
    config = el.config_from_settings({"ELEVENLABS_API_KEY": "k", "ELEVENLABS_API_BASE": fake.url,
                                      "INTEGRATION_HTTP_TIMEOUT": "4", "OTHER": "x"})
    assert config == {"api_key": "k", "api_base": fake.url, "timeout": 4.0}
    local = ElevenLabsClient(config)
    assert local.allow_private is True and local.session is net.session(True) and local.timeout == 4.0
    assert el.config_from_settings({}) == {}
    with pytest.raises(ValueError):
        ElevenLabsClient({})
    with pytest.raises(ValueError):
        ElevenLabsClient({"api_key": "k", "api_base": "ftp://x"})


# --- post-call signatures --------------------------------------------------------------------------------------
def _signed(payload: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, signature_headers(body, secret, timestamp)[el.SIGNATURE_HEADER]


def test_a_genuine_post_call_signature_verifies():
    payload = transcription_payload("agent_1", "conv_1", tool_names=("create_booking",))
    body, header = _signed(payload)
    assert header.startswith("t=") and ",v0=" in header
    stamp = int(header.split(",")[0][2:])
    assert verify_post_call_signature(header, body, WEBHOOK_SECRET) == stamp
    assert verify_post_call_signature(header, body.decode(), WEBHOOK_SECRET) == stamp
    assert verify_post_call_signature(f"{header},v0={'0' * 64}", body, WEBHOOK_SECRET) == stamp   # one of many


def test_a_wrong_secret_or_a_changed_body_is_refused():
    body, header = _signed({"type": "post_call_transcription"})
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_post_call_signature(header, body, "another-secret")
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_post_call_signature(header, body + b" ", WEBHOOK_SECRET)
    with pytest.raises(SignatureRejected):
        verify_post_call_signature(header, body, "")


def test_a_stale_or_future_signature_is_refused_with_a_30_minute_tolerance():
    now = 1_770_000_000
    body, header = _signed({"a": 1}, timestamp=now - 29 * 60)
    assert verify_post_call_signature(header, body, WEBHOOK_SECRET, now=now) == now - 29 * 60
    body, header = _signed({"a": 1}, timestamp=now - 31 * 60)
    with pytest.raises(SignatureRejected, match="tolerance"):
        verify_post_call_signature(header, body, WEBHOOK_SECRET, now=now)
    body, header = _signed({"a": 1}, timestamp=now + 31 * 60)
    with pytest.raises(SignatureRejected, match="tolerance"):
        verify_post_call_signature(header, body, WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureRejected):
        verify_post_call_signature(header, body, WEBHOOK_SECRET, now=now, tolerance=60)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v0=" + "a" * 64, "v0=" + "a" * 64,
                                    "t=1770000000", "t=1770000000,v0=nothex", "t=1,t=2,v0=" + "a" * 64,
                                    "t=1770000000,v1=" + "a" * 64, "x" * 3000])
def test_malformed_headers_are_refused(header):
    with pytest.raises(SignatureRejected):
        verify_post_call_signature(header, b"{}", WEBHOOK_SECRET, now=1_770_000_000)


def test_the_fake_posts_signed_post_call_webhooks_a_receiver_can_verify():
    received: list[int] = []
    receiver = FlaskFake()
    receiver._init_server("receiver")

    @receiver.app.post("/api/voice/webhook/call-status")
    def call_status():
        try:
            received.append(verify_post_call_signature(request.headers.get("ElevenLabs-Signature"),
                                                       request.get_data(), WEBHOOK_SECRET))
        except SignatureRejected:
            return {"error": "bad signature"}, 401
        return {"ok": True}

    with receiver:
        url = receiver.url + "/api/voice/webhook/call-status"
        payload = transcription_payload("agent_1", "conv_9", duration_secs=90)
        assert ElevenLabsFake.post_call(url, payload).status_code == 200
        assert ElevenLabsFake.post_call(url, payload, "wrong-secret").status_code == 401
        assert ElevenLabsFake.post_call(url, payload, timestamp=int(time.time()) - 3600).status_code == 401
    assert len(received) == 1
    assert payload["data"]["metadata"]["call_duration_secs"] == 90
