"""The Anthropic client against the local Messages API fake: the request and answer shapes, errors classified, the
outbound address guard, the cost."""
from __future__ import annotations

import socket

import httpx2
import pytest

from app import net
from app.integrations import anthropic_client
from app.integrations.anthropic_client import AnthropicClient, GuardedTransport, cost_micros
from app.integrations.errors import PermanentError, TransientError, Unauthorized
from tests.fakes.anthropic import API_KEY, AnthropicFake, tool_use

TOOLS = [{"name": "get_available_slots", "description": "Free times.",
          "input_schema": {"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]}}]


@pytest.fixture
def fake():
    with AnthropicFake() as server:
        yield server


def test_a_text_turn_and_a_tool_turn_with_the_documented_shapes(fake):
    client = AnthropicClient(fake.client_config())
    fake.turn({"type": "text", "text": "Let me check."}, tool_use("get_available_slots", {"date": "2026-06-02"}),
              input_tokens=250, output_tokens=40)
    turn = client.create_message(system="You book.", messages=[{"role": "user", "content": "Tuesday?"}], tools=TOOLS)
    assert turn.stop_reason == "tool_use"
    [use] = turn.tool_uses
    assert use["name"] == "get_available_slots" and use["input"] == {"date": "2026-06-02"}
    assert use["id"].startswith("toolu_")
    assert (turn.text, turn.input_tokens, turn.output_tokens) == ("Let me check.", 250, 40)
    assert turn.cost_micros == 250 * 3 + 40 * 15                      # Sonnet 4.5: $3 / $15 per MTok
    fake.reply("Tuesday at 10:00 AM is free.")
    answer = client.create_message(system="You book.", tools=TOOLS, messages=[
        {"role": "user", "content": "Tuesday?"}, {"role": "assistant", "content": turn.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "{}"}]}])
    assert answer.stop_reason == "end_turn" and answer.text == "Tuesday at 10:00 AM is free."
    first, second = fake.requests
    assert first.headers["anthropic-version"] and "x-api-key" not in first.headers
    assert first.body["model"] == "claude-sonnet-4-5" and first.body["max_tokens"] > 0
    assert first.body["system"] == "You book." and first.body["tools"] == TOOLS
    assert second.body["messages"][2]["content"][0]["tool_use_id"] == use["id"]
    assert "max_retries" not in repr(client) and API_KEY not in repr(client)


def test_errors_are_classified(fake):
    client = AnthropicClient(fake.client_config())
    messages = [{"role": "user", "content": "hi"}]
    fake.fail(429, retry_after="7")
    with pytest.raises(TransientError) as limited:
        client.create_message(system="s", messages=messages)
    assert (limited.value.status, limited.value.retry_after, limited.value.code) == (429, 7.0, "rate_limit_error")
    for status in (500, 529):
        fake.fail(status)
        with pytest.raises(TransientError) as failed:
            client.create_message(system="s", messages=messages)
        assert failed.value.status == status
    with pytest.raises(Unauthorized) as refused:
        AnthropicClient(fake.client_config(api_key="sk-ant-wrong")).create_message(system="s", messages=messages)
    assert refused.value.status == 401 and "sk-ant-wrong" not in str(refused.value)
    with pytest.raises(PermanentError) as bad:          # the first message must be the user's
        client.create_message(system="s", messages=[{"role": "assistant", "content": "hello"}])
    assert (bad.value.status, bad.value.code, bad.value.transient) == (400, "invalid_request_error", False)
    with pytest.raises(PermanentError):                 # a tool_use without its tool_result
        client.create_message(system="s", tools=TOOLS, messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [tool_use("get_available_slots", {"date": "x"})]},
            {"role": "user", "content": "b"}])


def test_a_slow_model_is_a_transient_timeout(fake):
    client = AnthropicClient(fake.client_config(timeout=0.5))
    fake.delay(3)
    fake.reply("late")
    with pytest.raises(TransientError) as slow:
        client.create_message(system="s", messages=[{"role": "user", "content": "hi"}])
    assert slow.value.code == "timeout"


def test_the_default_base_refuses_private_addresses_and_pins_the_checked_one(monkeypatch):
    def resolver(answer):
        return lambda host, port, *a: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(net, "_getaddrinfo", resolver("127.0.0.1"))
    client = AnthropicClient({"api_key": "sk-ant-x", "timeout": 2})
    assert client.allow_private is False
    with pytest.raises(PermanentError) as refused:
        client.create_message(system="s", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.code == "address_not_allowed" and "sk-ant-x" not in str(refused.value)

    monkeypatch.setattr(net, "_getaddrinfo", resolver("160.79.104.10"))
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages",
                             headers={"Host": "api.anthropic.com"})
    pinned = GuardedTransport(False).pin(request)
    assert pinned.url.host == "160.79.104.10" and pinned.headers["host"] == "api.anthropic.com"
    assert pinned.extensions["sni_hostname"] == "api.anthropic.com"
    untouched = GuardedTransport(True).pin(httpx2.Request("POST", "http://127.0.0.1:9/v1/messages"))
    assert untouched.url.host == "127.0.0.1"


def test_an_operator_base_on_loopback_is_allowed(fake):
    client = anthropic_client.AnthropicClient(fake.client_config())
    assert client.allow_private is True
    fake.reply("ok")
    assert client.create_message(system="s", messages=[{"role": "user", "content": "hi"}]).text == "ok"


def test_config_and_cost():
    config = anthropic_client.config_from_settings({"ANTHROPIC_API_KEY": "k", "ANTHROPIC_API_BASE": "",
                                                    "ANTHROPIC_MODEL": "claude-haiku-4-5",
                                                    "INTEGRATION_HTTP_TIMEOUT": 10})
    assert config == {"api_key": "k", "model": "claude-haiku-4-5", "timeout": 30.0}    # never below 30 s
    assert anthropic_client.config_from_settings({"INTEGRATION_HTTP_TIMEOUT": 60})["timeout"] == 60.0
    with pytest.raises(ValueError):
        AnthropicClient({"api_key": ""})
    assert cost_micros("claude-haiku-4-5-20251001", input_tokens=1000, output_tokens=100) == 1000 + 500
    assert cost_micros("claude-opus-4-1", input_tokens=1, output_tokens=1) == 90
    assert cost_micros("some-future-model", input_tokens=10) == 30       # priced as Sonnet, never free
    assert cost_micros("claude-sonnet-4-5", cache_read_input_tokens=10) == 3


def test_the_fake_refuses_what_the_api_refuses(fake):
    import requests

    def post(body, **headers):
        headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01", **headers}
        return requests.post(fake.url + "/v1/messages", json=body, headers={k: v for k, v in headers.items() if v},
                             timeout=5)

    good = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    assert post(good, **{"x-api-key": "nope"}).status_code == 401
    assert post(good, **{"anthropic-version": None}).status_code == 400
    use = tool_use("get_available_slots", {"date": "2026-06-02"})
    bad = [
        {**good, "max_tokens": 0},
        {**good, "model": ""},
        {**good, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        {**good, "tools": [{"name": "x", "input_schema": {"type": "string"}}]},
        {**good, "tools": TOOLS, "messages": [{"role": "user", "content": "a"},
                                              {"role": "assistant", "content": [use]},
                                              {"role": "user", "content": [{"type": "tool_result",
                                                                            "tool_use_id": "toolu_other"}]}]},
        {**good, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [use]},
                              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"]}]}]},
    ]
    for body in bad:
        answer = post(body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["type"] == "invalid_request_error"
    fake.reply("fine")
    ok = post({**good, "tools": TOOLS, "messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": [use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "{}"}]}]})
    assert ok.status_code == 200 and ok.json()["content"] == [{"type": "text", "text": "fine"}]
