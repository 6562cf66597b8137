"""ElevenLabs Conversational AI (ElevenAgents): the voice agents of issue 21, their phone numbers, outbound calls,
browser sessions, and the check of a post-call webhook's signature.

Groundwork: nothing registers, routes or configures it yet; a later change wires it. Built from a config dict
(``api_key``; ``api_base``, default ``https://api.elevenlabs.io``; ``timeout`` in seconds, default 10). Every
request carries the ``xi-api-key`` header; bodies are JSON. Endpoints, as ElevenLabs' API reference gives them:

  POST   /v1/convai/agents/create                   create an agent: ``name``, ``conversation_config`` {agent:
                                                    {first_message, language, prompt: {prompt, tools}}, tts:
                                                    {voice_id}}, optional ``platform_settings``; answers
                                                    ``{"agent_id"}``
  PATCH  /v1/convai/agents/{agent_id}               update: the same shape, only the parts that change
  DELETE /v1/convai/agents/{agent_id}               delete
  POST   /v1/convai/phone-numbers                   import a Twilio number: ``provider: "twilio"``,
                                                    ``phone_number`` (E.164), ``label``, ``sid`` (the Twilio
                                                    account SID), ``token`` (its auth token); ``{"phone_number_id"}``
  PATCH  /v1/convai/phone-numbers/{phone_number_id} ``{"agent_id": ...}`` binds the number to an agent (null unbinds)
  DELETE /v1/convai/phone-numbers/{phone_number_id} remove the number from ElevenLabs (not from Twilio)
  POST   /v1/convai/twilio/outbound-call            ``agent_id``, ``agent_phone_number_id``, ``to_number``, optional
                                                    ``conversation_initiation_client_data`` {dynamic_variables,
                                                    conversation_config_override}; answers ``{success, message,
                                                    conversation_id, callSid}``
  GET    /v1/convai/conversation/token?agent_id=    a short-lived WebRTC conversation token ``{"token"}``
  GET    /v1/convai/conversation/get-signed-url?agent_id=   a signed WebSocket URL ``{"signed_url"}``

Tools: the agent's mid-call tools are webhook "server tools" (``type: "webhook"``, ``api_schema`` {url, method,
request_headers, request_body_schema}); ``webhook_tool`` builds one whose requests carry the shared secret in a
header (``X-Voice-Secret``), so the tool endpoints can check it in constant time.

Post-call webhooks are signed: ``ElevenLabs-Signature: t=<unix seconds>,v0=<hex>``, the HMAC-SHA256 of
``"{t}.{raw body}"`` under the webhook's secret. ``verify_post_call_signature`` checks it in constant time and
refuses a timestamp more than ``tolerance`` (30 minutes, the window ElevenLabs' own example uses) from now.

Outbound HTTP goes through ``app.net``'s guarded session of the calling thread inside ``net.deadline(timeout)``:
no cookies, no proxies from the environment, no redirects, connections pinned to the checked address. The guard
refuses private and loopback addresses for the default base (and anything but https); a base the operator
changed (a local fake) may be private. Failures are ``app.integrations.errors``: a refused address
``PermanentError``; timeouts, connection failures, 429 and 5xx ``TransientError`` (``retry_after`` from
``Retry-After``); 401 ``Unauthorized`` (a wrong or revoked API key); 404 ``NotFound``; other 4xx ``PermanentError``
whose ``code`` is ElevenLabs' ``detail.status`` (or the first 422 validation ``type``). Messages never contain the
API key or the Twilio token.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app import net
from app.integrations.errors import (
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)

PROVIDER = "elevenlabs"
DEFAULT_API_BASE = "https://api.elevenlabs.io"
DEFAULT_TIMEOUT = 10.0
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"          # Rachel
SIGNATURE_HEADER = "ElevenLabs-Signature"
SIGNATURE_TOLERANCE = 30 * 60                     # seconds
SECRET_HEADER = "X-Voice-Secret"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
NAME_MAX, FIRST_MESSAGE_MAX, LABEL_MAX = 100, 500, 100


class SignatureRejected(ValueError):
    """The request is not a genuine, fresh post-call webhook of ElevenLabs: answer 401 and change nothing."""


# --- values --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolSpec:
    """One webhook tool: ElevenLabs POSTs the LLM's arguments (``parameters``: name -> JSON Schema of a property)
    to ``url`` with the secret header."""
    name: str
    description: str
    url: str
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required: Sequence[str] = ()
    timeout_secs: int = 20


@dataclass(frozen=True)
class OutboundCall:
    conversation_id: str | None
    call_sid: str | None
    message: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def webhook_tool(spec: ToolSpec, secret: str | Mapping[str, str], *, header: str = SECRET_HEADER) -> dict[str, Any]:
    """The ``tools`` entry of an agent's prompt for ``spec``: a webhook tool whose requests carry ``secret`` in
    ``header``. ``secret`` is the value itself, or ``{"secret_id": ...}`` naming a workspace secret stored at
    ElevenLabs (then the value is not readable in the agent's configuration)."""
    if not TOOL_NAME.fullmatch(spec.name):
        raise ValueError("a tool name is lower-case letters, digits and underscores")
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a tool URL must be an http(s) URL")
    if isinstance(secret, Mapping):
        if set(secret) != {"secret_id"} or not ID.fullmatch(str(secret["secret_id"])):
            raise ValueError("a stored secret is named by {'secret_id': ...}")
        secret = {"secret_id": str(secret["secret_id"])}
    elif not secret:
        raise ValueError("a tool needs the shared secret")
    missing = [name for name in spec.required if name not in spec.parameters]
    if missing:
        raise ValueError(f"required tool parameters not described: {', '.join(missing)}")
    if not 5 <= spec.timeout_secs <= 120:
        raise ValueError("a tool's response timeout is 5 to 120 seconds")
    return {"type": "webhook", "name": spec.name, "description": spec.description,
            "response_timeout_secs": spec.timeout_secs,
            "api_schema": {"url": spec.url, "method": "POST", "request_headers": {header: secret},
                           "request_body_schema": {"type": "object",
                                                   "description": spec.description,
                                                   "properties": {k: dict(v) for k, v in spec.parameters.items()},
                                                   "required": list(spec.required)}}}


def agent_body(*, name: str | None = None, prompt: str | None = None, first_message: str | None = None,
               language: str | None = None, voice_id: str | None = None,
               tools: Sequence[Mapping[str, Any]] | None = None,
               platform_settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The create / update body: only the given parts (an update sends what changes)."""
    body: dict[str, Any] = {}
    if name is not None:
        if not 1 <= len(name.strip()) <= NAME_MAX:
            raise ValueError(f"an agent name is 1 to {NAME_MAX} characters")
        body["name"] = name.strip()
    agent: dict[str, Any] = {}
    if first_message is not None:
        if len(first_message) > FIRST_MESSAGE_MAX:
            raise ValueError(f"a first message is at most {FIRST_MESSAGE_MAX} characters")
        agent["first_message"] = first_message
    if language is not None:
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", language):
            raise ValueError("a language is a code such as en or pt-BR")
        agent["language"] = language
    prompt_part: dict[str, Any] = {}
    if prompt is not None:
        prompt_part["prompt"] = prompt
    if tools is not None:
        prompt_part["tools"] = [dict(tool) for tool in tools]
    if prompt_part:
        agent["prompt"] = prompt_part
    config: dict[str, Any] = {}
    if agent:
        config["agent"] = agent
    if voice_id is not None:
        if not ID.fullmatch(voice_id):
            raise ValueError("a voice id is letters and digits")
        config["tts"] = {"voice_id": voice_id}
    if config:
        body["conversation_config"] = config
    if platform_settings is not None:
        body["platform_settings"] = dict(platform_settings)
    return body


# --- the client ----------------------------------------------------------------------------------------------
def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The client config from ``ELEVENLABS_API_KEY``, ``ELEVENLABS_API_BASE`` and ``INTEGRATION_HTTP_TIMEOUT``."""
    config: dict[str, Any] = {"api_key": settings.get("ELEVENLABS_API_KEY"),
                              "api_base": settings.get("ELEVENLABS_API_BASE")}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = float(settings["INTEGRATION_HTTP_TIMEOUT"])
    return {key: value for key, value in config.items() if value not in (None, "")}


class ElevenLabsClient:
    name = PROVIDER
    company = "ElevenLabs"

    def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None) -> None:
        self._api_key = str(config.get("api_key") or "")
        if not self._api_key:
            raise ValueError("elevenlabs: api_key is not configured")
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("elevenlabs: api_base must be an http(s) URL")
        self.api_base = base
        self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
        self.allow_private = base != DEFAULT_API_BASE
        self._given_session = session

    def __repr__(self) -> str:                            # never print the key
        return f"ElevenLabsClient(api_base={self.api_base!r})"

    @property
    def session(self) -> requests.Session:
        return self._given_session or net.session(self.allow_private)

    # -- agents
    def create_agent(self, *, name: str, prompt: str, first_message: str, language: str = "en",
                     voice_id: str = DEFAULT_VOICE_ID, tools: Sequence[Mapping[str, Any]] = (),
                     platform_settings: Mapping[str, Any] | None = None) -> str:
        """A new conversational agent; its ``agent_id``."""
        body = agent_body(name=name, prompt=prompt, first_message=first_message, language=language,
                          voice_id=voice_id, tools=list(tools), platform_settings=platform_settings)
        answer = self._call("POST", "/v1/convai/agents/create", "create the agent", json=body)
        return _id(answer, "agent_id", "create the agent")

    def update_agent(self, agent_id: str, **changes: Any) -> dict[str, Any]:
        """Change an agent (``name``, ``prompt``, ``first_message``, ``language``, ``voice_id``, ``tools``,
        ``platform_settings``); ElevenLabs' answer (the agent). Nothing to change: no call."""
        body = agent_body(**changes)
        if not body:
            return {}
        return self._call("PATCH", f"/v1/convai/agents/{_path_id(agent_id)}", "update the agent", json=body)

    def delete_agent(self, agent_id: str) -> None:
        self._call("DELETE", f"/v1/convai/agents/{_path_id(agent_id)}", "delete the agent")

    # -- phone numbers
    def import_twilio_number(self, *, phone_number: str, label: str, account_sid: str, auth_token: str) -> str:
        """Import a number the Twilio account owns; ElevenLabs' ``phone_number_id``."""
        if not E164.fullmatch(phone_number or ""):
            raise ValueError("a phone number is E.164 (+ and 7 to 15 digits)")
        if not account_sid or not auth_token:
            raise ValueError("importing a Twilio number needs the account SID and auth token")
        body = {"provider": "twilio", "phone_number": phone_number, "label": (label or phone_number)[:LABEL_MAX],
                "sid": account_sid, "token": auth_token}
        answer = self._call("POST", "/v1/convai/phone-numbers", "import the phone number", json=body)
        return _id(answer, "phone_number_id", "import the phone number")

    def assign_phone_number(self, phone_number_id: str, agent_id: str | None) -> dict[str, Any]:
        """Bind the imported number to ``agent_id`` (inbound calls reach that agent); None unbinds it."""
        body = {"agent_id": _path_id(agent_id) if agent_id is not None else None}
        return self._call("PATCH", f"/v1/convai/phone-numbers/{_path_id(phone_number_id)}",
                          "assign the phone number", json=body)

    def delete_phone_number(self, phone_number_id: str) -> None:
        self._call("DELETE", f"/v1/convai/phone-numbers/{_path_id(phone_number_id)}", "delete the phone number")

    # -- calls and sessions
    def outbound_call(self, *, agent_id: str, phone_number_id: str, to_number: str,
                      dynamic_variables: Mapping[str, str | int | float | bool | None] | None = None,
                      first_message: str | None = None) -> OutboundCall:
        """Have the agent call ``to_number`` from its imported Twilio number."""
        if not E164.fullmatch(to_number or ""):
            raise ValueError("the number to call is E.164 (+ and 7 to 15 digits)")
        body: dict[str, Any] = {"agent_id": _path_id(agent_id), "agent_phone_number_id": _path_id(phone_number_id),
                                "to_number": to_number}
        client_data: dict[str, Any] = {}
        if dynamic_variables:
            for key, value in dynamic_variables.items():
                if isinstance(value, dict | list | tuple | set):
                    raise ValueError(f"dynamic variable {key} must be a string, number, boolean or null")
            client_data["dynamic_variables"] = dict(dynamic_variables)
        if first_message is not None:
            client_data["conversation_config_override"] = {"agent": {"first_message": first_message}}
        if client_data:
            body["conversation_initiation_client_data"] = client_data
        answer = self._call("POST", "/v1/convai/twilio/outbound-call", "start the call", json=body)
        if answer.get("success") is False:
            raise PermanentError(f"ElevenLabs did not start the call: {str(answer.get('message') or '')[:300]}",
                                 provider=PROVIDER, status=200, code="call_not_started")
        return OutboundCall(conversation_id=_opt(answer.get("conversation_id")),
                            call_sid=_opt(answer.get("callSid") or answer.get("call_sid")),
                            message=str(answer.get("message") or ""), raw=answer)

    def conversation_token(self, agent_id: str) -> str:
        """A short-lived token the browser's SDK starts a WebRTC conversation with."""
        answer = self._call("GET", "/v1/convai/conversation/token", "get a conversation token",
                            params={"agent_id": _path_id(agent_id)})
        return _id(answer, "token", "get a conversation token")

    def signed_url(self, agent_id: str) -> str:
        """A signed WebSocket URL the browser's SDK starts a conversation with."""
        answer = self._call("GET", "/v1/convai/conversation/get-signed-url", "get a signed URL",
                            params={"agent_id": _path_id(agent_id)})
        url = _id(answer, "signed_url", "get a signed URL")
        if urlsplit(url).scheme not in ("wss", "https"):
            raise PermanentError("ElevenLabs answered a signed URL that is not wss or https.", provider=PROVIDER)
        return url

    # -- HTTP
    def _call(self, method: str, path: str, what: str, *, params: Mapping[str, str] | None = None,
              json: Any = None) -> dict[str, Any]:
        url = self.api_base + path
        if not self.allow_private and not url.startswith("https://"):
            raise PermanentError("ElevenLabs is only reached over https.", provider=PROVIDER)
        headers = {"xi-api-key": self._api_key, "Accept": "application/json"}
        try:
            with net.deadline(self.timeout):
                response = self.session.request(method, url, params=params, json=json, headers=headers,
                                                timeout=self.timeout, allow_redirects=False)
                content = response.content                 # read inside the deadline
        except requests.Timeout as exc:
            raise TransientError(f"Could not {what}: ElevenLabs did not answer within {self.timeout:g} s.",
                                 provider=PROVIDER) from exc
        except (requests.RequestException, net.AddressNotAllowed, OSError) as exc:
            refused = net.refusal(exc)
            if refused is not None:
                raise PermanentError(f"Could not {what}: ElevenLabs' address is not allowed ({refused}).",
                                     provider=PROVIDER) from exc
            if net.expired() or isinstance(exc, net.DeadlineExceeded):
                raise TransientError(f"Could not {what}: ElevenLabs did not answer within {self.timeout:g} s.",
                                     provider=PROVIDER) from exc
            raise TransientError(f"Could not {what}: ElevenLabs could not be reached ({type(exc).__name__}).",
                                 provider=PROVIDER) from exc
        if not 200 <= response.status_code < 300:
            raise classify(response, what)
        if not content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"Could not {what}: ElevenLabs answered something that is not JSON.",
                                 provider=PROVIDER, status=response.status_code) from exc
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise PermanentError(f"Could not {what}: ElevenLabs answered an unexpected JSON document.",
                                 provider=PROVIDER, status=response.status_code)
        return body


def classify(response: requests.Response, what: str) -> IntegrationError:
    """The error for a refusal of ElevenLabs; ``what`` ("create the agent") starts the message."""
    status = response.status_code
    code, detail = _error_details(response)
    message = f"Could not {what}: ElevenLabs answered {status}" + (f": {detail[:300]}" if detail else "")
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status, "code": code}
    if status == 429 or status >= 500:
        return TransientError(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")), **kwargs)
    if status == 401:
        return Unauthorized(message + " (check ELEVENLABS_API_KEY)", **kwargs)
    if status in (404, 410):
        return NotFound(message, **kwargs)
    return PermanentError(message, **kwargs)


def _error_details(response: requests.Response) -> tuple[str | None, str]:
    """ElevenLabs' ``{"detail": {"status", "message"}}``, a 422's ``{"detail": [{"loc", "msg", "type"}]}``, or a
    plain ``{"detail": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        return None, ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = detail.get("status") or detail.get("code") or detail.get("type")
        return (str(code) if code else None), str(detail.get("message") or "")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(part) for part in first.get("loc") or [])
        return (str(first["type"]) if first.get("type") else None), f"{where}: {first.get('msg') or ''}".strip(": ")
    if isinstance(detail, str):
        return None, detail
    return None, ""


def _path_id(value: str | None) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ValueError("an ElevenLabs id is letters, digits, _ and -")
    return quote(value, safe="")


def _id(answer: Mapping[str, Any], key: str, what: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"Could not {what}: ElevenLabs answered without {key}.", provider=PROVIDER)
    return value


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# --- post-call webhooks --------------------------------------------------------------------------------------
def sign_post_call(body: bytes | str, secret: str, timestamp: int) -> str:
    """The ``ElevenLabs-Signature`` header ElevenLabs sends with ``body`` at ``timestamp`` (tests, fakes)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v0={digest}"


def verify_post_call_signature(header: str | None, body: bytes | str, secret: str, *,
                               tolerance: float = SIGNATURE_TOLERANCE, now: float | None = None) -> int:
    """Check ``ElevenLabs-Signature: t=<unix seconds>,v0=<hex>`` over the raw ``body``; the timestamp.

    Raises ``SignatureRejected`` for a missing or malformed header, a timestamp more than ``tolerance`` seconds
    from ``now`` (either way), or no ``v0`` equal (in constant time) to the HMAC-SHA256 of ``"{t}.{body}"``."""
    if not secret:
        raise SignatureRejected("no signing secret is configured")
    if not header or len(header) > 2048:
        raise SignatureRejected(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureRejected("malformed signature header")
        if key == "t":
            if timestamp is not None or not re.fullmatch(r"[0-9]{1,12}", value):
                raise SignatureRejected("malformed signature timestamp")
            timestamp = int(value)
        elif key == "v0":
            if re.fullmatch(r"[0-9a-f]{64}", value):
                signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureRejected("the signature header has no timestamp or no v0 signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureRejected("the signature timestamp is outside the tolerance")
    expected = sign_post_call(body, secret, timestamp).partition(",v0=")[2]
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    if not matched:
        raise SignatureRejected("the signature does not match")
    return timestamp
