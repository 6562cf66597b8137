"""A fake of Anthropic's Messages API (``POST /v1/messages``) that plays scripted model turns.

Served on ``127.0.0.1:<free port>`` from a thread (``with AnthropicFake() as fake``); ``fake.settings()`` gives the
``ANTHROPIC_*`` settings pointing at it. Every request is checked the way the real API checks it:

* the key: ``x-api-key: <fake.api_key>``, or ``Authorization: Bearer <fake.api_key>`` as the ``anthropic`` SDK 2.x
  sends it (else 401 ``authentication_error``); ``anthropic-version`` must be a
  ``YYYY-MM-DD`` date (missing or malformed: 400 ``invalid_request_error``).
* the JSON body: ``model`` (a non-empty string), ``max_tokens`` (a positive integer), ``messages`` (non-empty, first
  one ``user``, roles alternating user/assistant, content a string or a list of ``text`` / ``tool_use`` /
  ``tool_result`` blocks; every ``tool_use`` of an assistant turn answered by a ``tool_result`` with its id in the
  next user turn, and a ``tool_result`` only for the previous turn's ids), optional ``system`` (a string or text
  blocks), ``tools`` (``name``, ``description``, ``input_schema`` of type object; names unique), ``tool_choice``
  (``auto``, ``any``, ``none``, ``tool``). Any violation: 400 ``{"type": "error", "error": {"type":
  "invalid_request_error", "message"}}``.

Scripted turns: ``fake.reply(text)``, ``fake.tool_use(name, input)`` / ``fake.turn(*blocks)`` queue answers (a
``tool_use`` block gets a ``toolu_`` id; ``stop_reason`` is ``tool_use`` when a turn has one, else ``end_turn``);
``input_tokens`` / ``output_tokens`` per turn (defaults 100 / 20). A turn may be a function of the request body
(``fake.turn_fn(fn)``), to answer from what the tools returned. With nothing queued the fake answers 500 (a test
that forgot a turn fails loudly).

``fake.fail_turn(status, retry_after)`` queues a failure in the script (the request answered at that point fails).

Knobs: ``fail(status, times, retry_after)`` answers the next requests with 429 ``rate_limit_error``, 500
``api_error``, 529 ``overloaded_error`` ...; ``delay(seconds, times)`` holds the next answers back (released by
``release()`` or ``stop()``). ``requests`` records every request's body and headers (the key removed);
``bodies`` the bodies of the accepted ones.
"""
from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import jsonify, request

from tests.fakes.flask_server import FlaskFake

API_KEY = "sk-ant-fake-" + "a1b2" * 10
MODEL = "claude-sonnet-4-5"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
VERSION = re.compile(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]")


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Recorded:
    headers: dict[str, str]
    body: Any
    status: int = 0


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, given: dict[str, Any] | None = None, *, id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or "toolu_" + secrets.token_hex(12), "name": name, "input": given or {}}


class AnthropicFake(FlaskFake):
    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._turns: list[Any] = []
        self._failures: list[tuple[int, str | None]] = []
        self._delays: list[float] = []
        self._released = threading.Event()
        self._init_server("fake_anthropic")
        self.app.add_url_rule("/v1/messages", "messages", self._messages, methods=["POST"])

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"ANTHROPIC_API_KEY": self.api_key, "ANTHROPIC_API_BASE": self.url, "ANTHROPIC_MODEL": MODEL,
                **overrides}

    def client_config(self, **overrides: Any) -> dict[str, Any]:
        return {"api_key": self.api_key, "api_base": self.url, "model": MODEL, "timeout": 5, **overrides}

    # -- script
    def turn(self, *blocks: dict[str, Any], input_tokens: int = 100, output_tokens: int = 20,
             stop_reason: str | None = None) -> None:
        with self.lock:
            self._turns.append({"content": [dict(b) for b in blocks], "input_tokens": input_tokens,
                                "output_tokens": output_tokens, "stop_reason": stop_reason})

    def reply(self, value: str, **kwargs: Any) -> None:
        self.turn(text(value), **kwargs)

    def tool_use(self, name: str, given: dict[str, Any] | None = None, *, say: str | None = None,
                 **kwargs: Any) -> None:
        blocks = ([text(say)] if say else []) + [tool_use(name, given)]
        self.turn(*blocks, **kwargs)

    def turn_fn(self, fn: Callable[[dict[str, Any]], list[dict[str, Any]]], **kwargs: Any) -> None:
        """A turn computed from the request body: ``fn(body) -> blocks``."""
        with self.lock:
            self._turns.append({"fn": fn, "input_tokens": kwargs.get("input_tokens", 100),
                                "output_tokens": kwargs.get("output_tokens", 20), "stop_reason": None})

    def fail_turn(self, status: int = 500, *, retry_after: str | None = None) -> None:
        with self.lock:
            self._turns.append({"fail": status, "retry_after": retry_after})

    @property
    def pending(self) -> int:
        with self.lock:
            return len(self._turns)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.requests if r.status == 200]

    # -- knobs
    def fail(self, status: int = 500, *, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self._failures.extend([(status, retry_after)] * times)

    def delay(self, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self._delays.extend([seconds] * times)

    def release(self) -> None:
        """Answer the held requests now (and any later ones without delay)."""
        self._released.set()

    def stop(self) -> None:
        self._released.set()
        super().stop()

    # -- the endpoint
    def _error(self, status: int, message: str, record: Recorded, retry_after: str | None = None):
        record.status = status
        answer = jsonify({"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                                     "message": message},
                          "request_id": "req_" + secrets.token_hex(8)})
        answer.status_code = status
        if retry_after is not None:
            answer.headers["retry-after"] = retry_after
        return answer

    def _messages(self):
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("x-api-key",
                                                                                          "authorization")}
        body = request.get_json(silent=True)
        record = Recorded(headers=headers, body=body)
        with self.lock:
            self.requests.append(record)
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
        if delay:
            self._released.wait(delay)
        bearer = request.headers.get("authorization", "")
        given = request.headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None)
        if given != self.api_key:
            return self._error(401, "invalid x-api-key", record)
        version = request.headers.get("anthropic-version")
        if not version or not VERSION.fullmatch(version):
            return self._error(400, "anthropic-version: header is required and must be a valid version", record)
        if failure is not None:
            status, retry_after = failure
            return self._error(status, {429: "Number of requests has exceeded your rate limit",
                                        529: "Overloaded"}.get(status, "Internal server error"), record,
                               retry_after)
        try:
            check_body(body)
        except Invalid as exc:
            return self._error(exc.status, exc.message, record)
        with self.lock:
            turn = self._turns.pop(0) if self._turns else None
        if turn is None:
            return self._error(500, "the fake has no scripted turn left", record)
        if "fail" in turn:
            return self._error(turn["fail"], "Internal server error", record, turn["retry_after"])
        blocks = turn["fn"](body) if "fn" in turn else turn["content"]
        blocks = [dict(b, id=b.get("id") or "toolu_" + secrets.token_hex(12)) if b.get("type") == "tool_use"
                  else dict(b) for b in blocks]
        stop = turn["stop_reason"] or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
        record.status = 200
        return jsonify({"id": "msg_" + secrets.token_hex(12), "type": "message", "role": "assistant",
                        "model": body["model"], "content": blocks, "stop_reason": stop, "stop_sequence": None,
                        "usage": {"input_tokens": turn["input_tokens"], "output_tokens": turn["output_tokens"],
                                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})


# --- the request checks -------------------------------------------------------------------------------------
def check_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    allowed = {"model", "max_tokens", "messages", "system", "tools", "tool_choice", "metadata", "temperature",
               "stop_sequences", "top_p", "top_k", "stream"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Field required (a positive integer)")
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not (
            isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in system)):
        raise Invalid("system: a string or a list of text blocks")
    names = _check_tools(body.get("tools"))
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
            raise Invalid("tool_choice.type: auto, any, none or tool")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid("tool_choice.name: not one of the tools")
    _check_messages(body.get("messages"), names)


def _check_tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise Invalid("tools: a list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) \
                or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", tool["name"]):
            raise Invalid(f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if tool["name"] in names:
            raise Invalid("tools: Tool names must be unique.")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.input_schema: a JSON schema of type object")
        if "description" in tool and not isinstance(tool["description"], str):
            raise Invalid(f"tools.{i}.description: a string")
        names.add(tool["name"])
    return names


def _check_messages(messages: Any, tool_names: set[str]) -> None:
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    expected_role = "user"
    open_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: user or assistant")
        if message["role"] != expected_role:
            raise Invalid(f"messages: roles must alternate between \"user\" and \"assistant\" (messages.{i})"
                          if i else "messages: the first message must use the \"user\" role")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            raise Invalid(f"messages.{i}.content: a string or a non-empty list of blocks")
        answered: set[str] = set()
        uses: set[str] = set()
        for j, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            where = f"messages.{i}.content.{j}"
            if kind == "text":
                if not isinstance(block.get("text"), str) or not block["text"].strip():
                    raise Invalid(f"{where}: text content blocks must be non-empty")
            elif kind == "tool_use":
                if message["role"] != "assistant":
                    raise Invalid(f"{where}: tool_use blocks are only allowed in assistant messages")
                if not isinstance(block.get("id"), str) or not block["id"] or not isinstance(block.get("input"),
                                                                                            dict):
                    raise Invalid(f"{where}: tool_use needs an id and an input object")
                if block.get("name") not in tool_names:
                    raise Invalid(f"{where}: tool_use names a tool that is not defined")
                uses.add(block["id"])
            elif kind == "tool_result":
                if message["role"] != "user":
                    raise Invalid(f"{where}: tool_result blocks are only allowed in user messages")
                if block.get("tool_use_id") not in open_ids:
                    raise Invalid(f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                                  f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                                  "`tool_use` block in the previous message.")
                result = block.get("content")
                if result is not None and not isinstance(result, str | list):
                    raise Invalid(f"{where}.content: a string or a list of blocks")
                answered.add(block["tool_use_id"])
            else:
                raise Invalid(f"{where}.type: text, tool_use or tool_result")
        if open_ids - answered:
            raise Invalid(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                          f"{', '.join(sorted(open_ids - answered))}")
        open_ids = uses
        expected_role = "assistant" if expected_role == "user" else "user"
    if open_ids:
        raise Invalid("messages: the last assistant turn's tool_use blocks have no tool_result")
