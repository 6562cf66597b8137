"""A fake of ElevenLabs' Conversational AI API (agents, Twilio phone numbers, outbound calls, browser sessions) and
of its signed post-call webhooks.

Served on ``127.0.0.1:<free port>`` from a thread (``with ElevenLabsFake() as fake``); point the client's
``api_base`` at ``fake.url`` (``fake.client_config()``). Every request needs ``xi-api-key: <fake.api_key>`` (401
``{"detail": {"status": "invalid_api_key", "message"}}`` otherwise). Endpoints, as ElevenLabs documents them:

* ``POST /v1/convai/agents/create``: ``name`` (1-100), ``conversation_config`` with ``agent`` {``first_message``,
  ``language``, ``prompt`` {``prompt``, ``tools``}} and ``tts`` {``voice_id``}, optional ``platform_settings``;
  unknown top-level keys, a missing prompt and a tool that is not a webhook tool (``name``, ``description``,
  ``api_schema`` {``url`` http(s), ``method``, ``request_headers`` of strings, ``request_body_schema`` of type
  object}) answer 422 with FastAPI's ``{"detail": [{"loc", "msg", "type"}]}``. Answers ``{"agent_id"}``.
* ``GET`` / ``PATCH`` / ``DELETE /v1/convai/agents/{id}``: PATCH merges the parts sent (the same checks); unknown
  ids answer 404 ``{"detail": {"status": "agent_not_found"}}``.
* ``POST /v1/convai/phone-numbers``: ``provider`` "twilio", ``phone_number`` (E.164), ``label``, ``sid``
  (``AC`` + 32 hex), ``token``; a number already imported answers 409 ``phone_number_already_exists``. Answers
  ``{"phone_number_id"}``. ``PATCH /v1/convai/phone-numbers/{id}`` ``{"agent_id"}`` (a known agent or null);
  ``DELETE``.
* ``POST /v1/convai/twilio/outbound-call``: ``agent_id`` and ``agent_phone_number_id`` known, ``to_number`` E.164,
  optional ``conversation_initiation_client_data`` ({``dynamic_variables`` of scalars,
  ``conversation_config_override``}); answers ``{success, message, conversation_id, callSid}`` and records the call.
* ``GET /v1/convai/conversation/token?agent_id=`` ``{"token"}``; ``GET /v1/convai/conversation/get-signed-url``
  ``{"signed_url": "wss://..."}`` (an unknown agent: 404; ``conversation_base`` names the WebSocket fake the URL
  points at, ``signatures`` the ones issued).

Knobs: ``fail(status, times, retry_after)`` answers the next requests with ``status`` (``fail_on(method, path,
status)`` only the next matching one); ``hang(seconds, times)``
holds the next answers back (released by ``stop()``). ``requests`` records everything that arrived (the key
removed). ``post_call(url, payload, secret)`` sends a post-call webhook the way ElevenLabs does
(``ElevenLabs-Signature: t=...,v0=...`` over the raw body); ``signature_headers(body, secret)`` gives just the
headers, and ``transcription_payload(...)`` a ``post_call_transcription`` body.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Response, jsonify, request

from app.integrations.elevenlabs import SIGNATURE_HEADER, sign_post_call
from tests.fakes.flask_server import FlaskFake

API_KEY = "sk_" + "fa4e" * 12
WEBHOOK_SECRET = "wsec_" + "c0de" * 8
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
AGENT_KEYS = {"name", "conversation_config", "platform_settings", "tags"}
TOOL_KEYS = {"type", "name", "description", "api_schema", "response_timeout_secs"}
SCHEMA_KEYS = {"url", "method", "request_headers", "request_body_schema", "path_params_schema",
               "query_params_schema"}


class Invalid(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def _unprocessable(loc: list[str], msg: str) -> Invalid:
    return Invalid(422, [{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])


def _not_found(what: str) -> Invalid:
    return Invalid(404, {"status": f"{what}_not_found", "message": f"The {what.replace('_', ' ')} was not found."})


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


def signature_headers(body: bytes | str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a genuine post-call webhook carrying ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign_post_call(body, secret, stamp)}


def transcription_payload(agent_id: str, conversation_id: str, *, duration_secs: int = 142,
                          transcript: list[dict[str, Any]] | None = None, status: str = "done",
                          tool_names: tuple[str, ...] = (), dynamic_variables: dict[str, Any] | None = None,
                          event_timestamp: int | None = None) -> dict[str, Any]:
    """A ``post_call_transcription`` webhook body as ElevenLabs sends it (the fields LinkTime reads)."""
    turns = list(transcript or [{"role": "agent", "message": "Hi! How can I help?", "time_in_call_secs": 0},
                                {"role": "user", "message": "I'd like to book a meeting.", "time_in_call_secs": 3}])
    if tool_names:
        turns.append({"role": "agent", "message": "", "time_in_call_secs": 20,
                      "tool_calls": [{"tool_name": name, "request_id": secrets.token_hex(6), "params_as_json": "{}"}
                                     for name in tool_names],
                      "tool_results": [{"tool_name": name, "request_id": "", "result_value": "{}", "is_error": False}
                                       for name in tool_names]})
    return {"type": "post_call_transcription", "event_timestamp": event_timestamp or int(time.time()),
            "data": {"agent_id": agent_id, "conversation_id": conversation_id, "status": status,
                     "transcript": turns,
                     "metadata": {"start_time_unix_secs": int(time.time()) - duration_secs,
                                  "call_duration_secs": duration_secs},
                     "conversation_initiation_client_data": {"dynamic_variables": dynamic_variables or {}}}}


class ElevenLabsFake(FlaskFake):
    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.agents: dict[str, dict[str, Any]] = {}
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.tokens: list[dict[str, str]] = []
        self.signatures: list[dict[str, str]] = []         # issued signed URLs: {"agent_id", "signature"}
        self.conversation_base: str | None = None          # signed URLs' wss://host (tests/fakes/elevenlabs_ws.py)
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._failures: list[tuple[int, str | None]] = []
        self._path_failures: list[tuple[str, str, int]] = []         # (method, path prefix, status)
        self._hangs: list[float] = []
        self._released = threading.Event()
        self._init_server("fake_elevenlabs")
        self._routes()

    def client_config(self, **overrides: Any) -> dict[str, Any]:
        return {"api_key": self.api_key, "api_base": self.url, "timeout": 5, **overrides}

    # -- knobs
    def fail(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self._failures.extend([(status, retry_after)] * times)

    def hang(self, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self._hangs.extend([seconds] * times)

    def fail_on(self, method: str, path: str, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` ``method`` requests whose path starts with ``path`` with ``status`` (other
        requests pass): a failure at one step of a sequence."""
        with self.lock:
            self._path_failures.extend([(method.upper(), path, status)] * times)

    def stop(self) -> None:
        self._released.set()
        super().stop()

    # -- webhooks ElevenLabs sends
    @staticmethod
    def post_call(url: str, payload: dict[str, Any], secret: str = WEBHOOK_SECRET, *,
                  timestamp: int | None = None, timeout: float = 10) -> requests.Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return requests.post(url, data=body, headers=signature_headers(body, secret, timestamp), timeout=timeout)

    # -- a whole inbound call, as ElevenLabs runs one against LinkTime (issue 21)
    def tool_urls(self, agent_id: str) -> dict[str, str]:
        """The stored agent's webhook tools: name -> URL."""
        with self.lock:
            return {tool["name"]: tool["api_schema"]["url"] for tool in _tools_of(self.agents[agent_id])}

    def simulate_inbound_call(self, *, personalization_url: str, post_call_url: str, agent_id: str, caller: str,
                              called: str, tool_calls: Any = (), webhook_secret: str,
                              signing_secret: str = WEBHOOK_SECRET, duration_secs: int = 95,
                              spec_shape: bool = False, post_call: bool = True, tool_secret: str | None = None,
                              timeout: float = 20) -> SimulatedCall:
        """Play one phone call to ``called`` through the stored agent ``agent_id``, as ElevenLabs does it:

        1. the conversation-initiation (personalization) webhook, with the secret header: ElevenLabs' documented
           fields ``caller_id``, ``agent_id``, ``called_number``, ``call_sid`` (``spec_shape``: page 10's ``from``,
           ``to``, ``conversation_id``, ``call_sid``);
        2. each of ``tool_calls`` (``(tool name, params)``, where params may be a function of the results so far)
           POSTed to the URL of that tool in the agent's stored configuration with its ``request_headers`` (a
           stored secret ``{"secret_id"}`` is sent as ``webhook_secret``; ``tool_secret`` replaces every header
           value, as an agent configured with an old secret would send); body properties that name a
           ``dynamic_variable`` (and ``user_id`` / ``conversation_id`` when the model left them out) are filled
           from the dynamic variables the personalization answered plus the ``system__*`` ones;
        3. the signed ``post_call_transcription`` webhook with the transcript, the tool calls and their results.
        """
        conversation_id = "conv_" + secrets.token_hex(12)
        call_sid = "CA" + secrets.token_hex(16)
        if spec_shape:
            start = {"from": caller, "to": called, "conversation_id": conversation_id, "call_sid": call_sid}
        else:
            start = {"caller_id": caller, "agent_id": agent_id, "called_number": called, "call_sid": call_sid}
        answer = requests.post(personalization_url, json=start, headers={"X-Voice-Secret": webhook_secret},
                               timeout=timeout)
        call = SimulatedCall(conversation_id=conversation_id, call_sid=call_sid,
                             personalization_status=answer.status_code,
                             personalization=answer.json() if answer.content else {})
        variables = {**(call.personalization.get("dynamic_variables") or {}),
                     "system__conversation_id": conversation_id, "system__call_sid": call_sid,
                     "system__caller_id": caller, "system__called_number": called, "system__agent_id": agent_id}
        with self.lock:
            tools = {tool["name"]: json.loads(json.dumps(tool)) for tool in _tools_of(self.agents[agent_id])}
        for name, params in tool_calls:
            given = params(call.tool_results) if callable(params) else dict(params)
            tool = tools[name]
            schema = tool["api_schema"]
            headers = {key: tool_secret if tool_secret is not None else
                       (webhook_secret if isinstance(value, dict) else value)
                       for key, value in (schema.get("request_headers") or {}).items()}
            body: dict[str, Any] = {}
            for prop, spec in ((schema.get("request_body_schema") or {}).get("properties") or {}).items():
                if isinstance(spec, dict) and spec.get("dynamic_variable") in variables:
                    body[prop] = variables[spec["dynamic_variable"]]
            body.setdefault("user_id", variables.get("user_id"))
            body.setdefault("conversation_id", conversation_id)
            body.update(given)
            body = {key: value for key, value in body.items() if value is not None}
            response = requests.request(schema.get("method", "POST"), schema["url"], json=body, headers=headers,
                                        timeout=timeout)
            result = response.json() if response.content else {}
            call.tool_results.append(ToolResult(name=name, params=body, status=response.status_code, result=result))
        if post_call:
            payload = call_payload(agent_id, call, caller=caller, called=called, duration_secs=duration_secs)
            call.post_call_status = self.post_call(post_call_url, payload, signing_secret, timeout=timeout).status_code
        return call

    # -- the server
    def _routes(self) -> None:
        app = self.app
        app.before_request(self._gate)
        app.register_error_handler(Invalid, self._invalid)
        app.add_url_rule("/v1/convai/agents/create", "create_agent", self._create_agent, methods=["POST"])
        app.add_url_rule("/v1/convai/agents/<agent_id>", "agent", self._agent, methods=["GET", "PATCH", "DELETE"])
        app.add_url_rule("/v1/convai/phone-numbers", "import_number", self._import_number, methods=["POST"])
        app.add_url_rule("/v1/convai/phone-numbers/<number_id>", "number", self._number,
                         methods=["GET", "PATCH", "DELETE"])
        app.add_url_rule("/v1/convai/twilio/outbound-call", "outbound", self._outbound, methods=["POST"])
        app.add_url_rule("/v1/convai/conversation/token", "token", self._token, methods=["GET"])
        app.add_url_rule("/v1/convai/conversation/get-signed-url", "signed_url", self._signed_url, methods=["GET"])

    @staticmethod
    def _invalid(exc: Invalid) -> Response:
        response = jsonify({"detail": exc.detail})
        response.status_code = exc.status
        return response

    def _gate(self) -> Response | None:
        body = request.get_json(silent=True) if request.data else None
        with self.lock:
            self.requests.append(Recorded(request.method, request.path, dict(request.args), body))
            failure = self._failures.pop(0) if self._failures else None
            matched = next((f for f in self._path_failures
                            if f[0] == request.method and request.path.startswith(f[1])), None)
            if failure is None and matched is not None:
                self._path_failures.remove(matched)
                failure = (matched[2], None)
            delay = self._hangs.pop(0) if self._hangs else 0.0
        if delay:
            self._released.wait(delay)
        if not secrets.compare_digest(request.headers.get("xi-api-key", ""), self.api_key):
            raise Invalid(401, {"status": "invalid_api_key", "message": "Invalid API key"})
        if failure is not None:
            status, retry_after = failure
            response = jsonify({"detail": {"status": "rate_limit_exceeded" if status == 429 else "server_error",
                                           "message": f"injected {status}"}})
            response.status_code = status
            if retry_after is not None:
                response.headers["Retry-After"] = retry_after
            return response
        if request.method in ("POST", "PATCH") and (request.mimetype != "application/json"
                                                    or not isinstance(body, dict)):
            raise _unprocessable([], "the body must be a JSON object")
        return None

    # -- agents
    def _check_agent(self, body: dict[str, Any], creating: bool) -> None:
        unknown = set(body) - AGENT_KEYS
        if unknown:
            raise _unprocessable([sorted(unknown)[0]], "extra fields not permitted")
        if "name" in body and not (isinstance(body["name"], str) and 1 <= len(body["name"]) <= 100):
            raise _unprocessable(["name"], "a name is 1 to 100 characters")
        config = body.get("conversation_config")
        if config is None and creating:
            raise _unprocessable(["conversation_config"], "field required")
        if config is None:
            return
        if not isinstance(config, dict) or set(config) - {"agent", "tts", "asr", "turn", "conversation"}:
            raise _unprocessable(["conversation_config"], "unknown conversation_config parts")
        agent = config.get("agent", {})
        if not isinstance(agent, dict) or set(agent) - {"first_message", "language", "prompt"}:
            raise _unprocessable(["conversation_config", "agent"], "unknown agent fields")
        for key in ("first_message", "language"):
            if key in agent and not isinstance(agent[key], str):
                raise _unprocessable(["conversation_config", "agent", key], "str type expected")
        prompt = agent.get("prompt")
        if creating and not (isinstance(prompt, dict) and isinstance(prompt.get("prompt"), str)):
            raise _unprocessable(["conversation_config", "agent", "prompt", "prompt"], "field required")
        if prompt is not None:
            if not isinstance(prompt, dict) or set(prompt) - {"prompt", "tools", "llm"}:
                raise _unprocessable(["conversation_config", "agent", "prompt"], "unknown prompt fields")
            for index, tool in enumerate(prompt.get("tools") or []):
                self._check_tool(tool, index)
        tts = config.get("tts")
        if tts is not None and not (isinstance(tts, dict) and isinstance(tts.get("voice_id"), str)):
            raise _unprocessable(["conversation_config", "tts", "voice_id"], "str type expected")

    @staticmethod
    def _check_tool(tool: Any, index: int) -> None:
        loc = ["conversation_config", "agent", "prompt", "tools", str(index)]
        if not isinstance(tool, dict) or tool.get("type") != "webhook" or set(tool) - TOOL_KEYS:
            raise _unprocessable(loc, "a webhook tool is expected")
        if not (isinstance(tool.get("name"), str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool["name"])):
            raise _unprocessable([*loc, "name"], "invalid tool name")
        if not isinstance(tool.get("description"), str) or not tool["description"]:
            raise _unprocessable([*loc, "description"], "field required")
        schema = tool.get("api_schema")
        if not isinstance(schema, dict) or set(schema) - SCHEMA_KEYS:
            raise _unprocessable([*loc, "api_schema"], "invalid api_schema")
        if not (isinstance(schema.get("url"), str) and re.match(r"https?://[^/\s]+", schema["url"])):
            raise _unprocessable([*loc, "api_schema", "url"], "an http(s) URL is required")
        if schema.get("method", "GET") not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise _unprocessable([*loc, "api_schema", "method"], "invalid method")
        headers = schema.get("request_headers", {})
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str | dict)
                                                    for k, v in headers.items()):
            raise _unprocessable([*loc, "api_schema", "request_headers"], "a map of header values is required")
        body_schema = schema.get("request_body_schema")
        if body_schema is not None and not (isinstance(body_schema, dict) and body_schema.get("type") == "object"
                                            and isinstance(body_schema.get("properties"), dict)):
            raise _unprocessable([*loc, "api_schema", "request_body_schema"], "an object schema is required")

    def _create_agent(self):
        body = request.get_json()
        self._check_agent(body, creating=True)
        agent_id = "agent_" + secrets.token_hex(13)
        with self.lock:
            self.agents[agent_id] = {"agent_id": agent_id, **json.loads(json.dumps(body))}
        return jsonify({"agent_id": agent_id})

    def _agent(self, agent_id: str):
        with self.lock:
            agent = self.agents.get(agent_id)
            if agent is None:
                raise _not_found("agent")
            if request.method == "DELETE":
                del self.agents[agent_id]
                return jsonify({})
            if request.method == "PATCH":
                body = request.get_json()
                self._check_agent(body, creating=False)
                _merge(agent, body)
            return jsonify(agent)

    # -- phone numbers
    def _import_number(self):
        body = request.get_json()
        allowed = {"provider", "phone_number", "label", "sid", "token", "supports_inbound", "supports_outbound"}
        if set(body) - allowed:
            raise _unprocessable([sorted(set(body) - allowed)[0]], "extra fields not permitted")
        if body.get("provider", "twilio") != "twilio":
            raise _unprocessable(["provider"], "only twilio is faked")
        if not (isinstance(body.get("phone_number"), str) and E164.fullmatch(body["phone_number"])):
            raise _unprocessable(["phone_number"], "an E.164 number is required")
        if not isinstance(body.get("label"), str) or not body["label"]:
            raise _unprocessable(["label"], "field required")
        if not (isinstance(body.get("sid"), str) and ACCOUNT_SID.fullmatch(body["sid"])):
            raise _unprocessable(["sid"], "a Twilio account SID is required")
        if not isinstance(body.get("token"), str) or not body["token"]:
            raise _unprocessable(["token"], "field required")
        with self.lock:
            if any(n["phone_number"] == body["phone_number"] for n in self.phone_numbers.values()):
                raise Invalid(409, {"status": "phone_number_already_exists",
                                    "message": "This phone number has already been imported."})
            number_id = "phnum_" + secrets.token_hex(13)
            self.phone_numbers[number_id] = {"phone_number_id": number_id, "phone_number": body["phone_number"],
                                             "label": body["label"], "provider": "twilio", "sid": body["sid"],
                                             "token": body["token"], "assigned_agent": None}
        return jsonify({"phone_number_id": number_id})

    def _number(self, number_id: str):
        with self.lock:
            number = self.phone_numbers.get(number_id)
            if number is None:
                raise _not_found("phone_number")
            if request.method == "DELETE":
                del self.phone_numbers[number_id]
                return jsonify({})
            if request.method == "PATCH":
                body = request.get_json()
                if set(body) - {"agent_id", "label"}:
                    raise _unprocessable([sorted(set(body) - {"agent_id", "label"})[0]], "extra fields not permitted")
                if "agent_id" in body:
                    agent_id = body["agent_id"]
                    if agent_id is not None and agent_id not in self.agents:
                        raise _not_found("agent")
                    number["assigned_agent"] = None if agent_id is None else {
                        "agent_id": agent_id, "agent_name": self.agents[agent_id].get("name")}
                if "label" in body:
                    number["label"] = body["label"]
            return jsonify({k: v for k, v in number.items() if k != "token"})

    # -- calls and sessions
    def _outbound(self):
        body = request.get_json()
        allowed = {"agent_id", "agent_phone_number_id", "to_number", "conversation_initiation_client_data",
                   "call_recording_enabled"}
        if set(body) - allowed:
            raise _unprocessable([sorted(set(body) - allowed)[0]], "extra fields not permitted")
        for key in ("agent_id", "agent_phone_number_id", "to_number"):
            if not isinstance(body.get(key), str):
                raise _unprocessable([key], "field required")
        if not E164.fullmatch(body["to_number"]):
            raise _unprocessable(["to_number"], "an E.164 number is required")
        data = body.get("conversation_initiation_client_data")
        if data is not None:
            if not isinstance(data, dict) or set(data) - {"dynamic_variables", "conversation_config_override",
                                                          "user_id", "source_info"}:
                raise _unprocessable(["conversation_initiation_client_data"], "invalid client data")
            variables = data.get("dynamic_variables") or {}
            if not isinstance(variables, dict) or not all(
                    isinstance(v, str | int | float | bool) or v is None for v in variables.values()):
                raise _unprocessable(["conversation_initiation_client_data", "dynamic_variables"],
                                     "dynamic variables are scalars")
        with self.lock:
            if body["agent_id"] not in self.agents:
                raise _not_found("agent")
            if body["agent_phone_number_id"] not in self.phone_numbers:
                raise _not_found("phone_number")
            call = {"conversation_id": "conv_" + secrets.token_hex(13), "callSid": "CA" + secrets.token_hex(16),
                    **body}
            self.calls.append(call)
        return jsonify({"success": True, "message": "Success", "conversation_id": call["conversation_id"],
                        "callSid": call["callSid"]})

    def _session_agent(self) -> str:
        agent_id = request.args.get("agent_id", "")
        if not agent_id:
            raise Invalid(422, [{"loc": ["query", "agent_id"], "msg": "field required", "type": "value_error.missing"}])
        with self.lock:
            if agent_id not in self.agents:
                raise _not_found("agent")
        return agent_id

    def _token(self):
        agent_id = self._session_agent()
        token = "eyJ" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens.append({"agent_id": agent_id, "token": token})
        return jsonify({"token": token})

    def _signed_url(self):
        agent_id = self._session_agent()
        base = self.conversation_base or f"wss://{request.host}"
        signature = secrets.token_urlsafe(24)
        with self.lock:
            self.signatures.append({"agent_id": agent_id, "signature": signature})
        return jsonify({"signed_url": f"{base}/v1/convai/conversation?agent_id={agent_id}"
                                      f"&conversation_signature={signature}"})


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = json.loads(json.dumps(value))


# --- the call simulation's values (issue 21) -----------------------------------------------------------------
@dataclass
class ToolResult:
    name: str
    params: dict[str, Any]
    status: int
    result: dict[str, Any]


@dataclass
class SimulatedCall:
    conversation_id: str
    call_sid: str
    personalization_status: int
    personalization: dict[str, Any]
    tool_results: list[ToolResult] = field(default_factory=list)
    post_call_status: int | None = None

    def result(self, name: str) -> dict[str, Any]:
        """The last answer of tool ``name``."""
        return [r for r in self.tool_results if r.name == name][-1].result


def _tools_of(agent: dict[str, Any]) -> list[dict[str, Any]]:
    prompt = ((agent.get("conversation_config") or {}).get("agent") or {}).get("prompt") or {}
    return [tool for tool in prompt.get("tools") or [] if isinstance(tool, dict) and tool.get("type") == "webhook"]


def call_payload(agent_id: str, call: SimulatedCall, *, caller: str, called: str,
                 duration_secs: int = 95) -> dict[str, Any]:
    """The ``post_call_transcription`` of a simulated phone call: the first message, one turn per tool call with
    its result, and the phone call's metadata (``phone_call`` {direction, call_sid, agent_number,
    external_number})."""
    override = (call.personalization.get("conversation_config_override") or {}).get("agent") or {}
    turns: list[dict[str, Any]] = [
        {"role": "agent", "message": override.get("first_message") or "Hi! How can I help?", "time_in_call_secs": 0},
        {"role": "user", "message": "I'd like to book a meeting.", "time_in_call_secs": 4}]
    for index, tool in enumerate(call.tool_results):
        request_id = secrets.token_hex(6)
        turns.append({"role": "agent", "message": "", "time_in_call_secs": 10 + index * 5,
                      "tool_calls": [{"tool_name": tool.name, "request_id": request_id,
                                      "params_as_json": json.dumps(tool.params)}],
                      "tool_results": [{"tool_name": tool.name, "request_id": request_id,
                                        "result_value": json.dumps(tool.result),
                                        "is_error": tool.status >= 400 or bool(tool.result.get("error"))}]})
    payload = transcription_payload(agent_id, call.conversation_id, duration_secs=duration_secs, transcript=turns,
                                    dynamic_variables=call.personalization.get("dynamic_variables") or {})
    payload["data"]["metadata"]["phone_call"] = {"direction": "inbound", "type": "twilio", "call_sid": call.call_sid,
                                                 "agent_number": called, "external_number": caller}
    return payload
