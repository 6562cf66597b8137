"""Anthropic's Messages API (Claude) for the messaging agents of issue 22, through the official ``anthropic`` SDK.

Built from a config dict (``config_from_settings``: ``ANTHROPIC_API_KEY``, ``ANTHROPIC_API_BASE`` as the SDK's
``base_url``, ``ANTHROPIC_MODEL``, ``INTEGRATION_HTTP_TIMEOUT`` -- a model's answer takes longer than an OAuth
provider's, so the setting only raises the timeout above ``DEFAULT_TIMEOUT``, 30 seconds).
The SDK's own retries are off (``max_retries=0``): the engine decides when to try again and the circuit breaker
counts every failure. One call: ``create_message(system, messages, tools, max_tokens)`` = ``POST /v1/messages``
with ``x-api-key`` and ``anthropic-version``; the answer (``ModelTurn``) carries the content blocks as plain dicts
(``{"type": "text", "text"}`` and ``{"type": "tool_use", "id", "name", "input"}``), ``stop_reason`` (``end_turn``,
``tool_use``, ``max_tokens``, ...) and ``usage`` (``input_tokens``, ``output_tokens``, cache reads/writes), as
Anthropic's Messages API reference gives them. A tool's answer goes back in the next user message as a
``{"type": "tool_result", "tool_use_id", "content", "is_error"}`` block.

Outbound HTTP respects LinkTime's guard (``app.net``): the SDK gets an ``httpx2.Client`` (the SDK's HTTP library)
whose transport, for the default base, resolves the host, refuses any private/loopback/link-local address and
connects to the very address it checked (the URL's host replaced by that address, ``Host`` and TLS SNI left on the
name, so the certificate is still checked against it); a base the operator changed (a local fake, a gateway) may
be private. No proxies from the environment, no redirects, no cookies kept.

Failures are ``app.integrations.errors``: timeouts, connection failures, 429, 5xx and 529 (overloaded)
``TransientError`` (``retry_after`` from ``retry-after``); 401 ``Unauthorized``; a refused address and every
other answer ``PermanentError`` (``code`` = Anthropic's ``error.type``). Messages never contain the API key.

Cost: ``cost_micros(model, usage)`` in millionths of a dollar from ``PRICES`` (dollars per million tokens, from
Anthropic's pricing page: platform.claude.com/docs/en/about-claude/pricing, read December 2026). Since a price in
$/MTok is also micro-dollars per token, the cost is tokens x price.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx2

from app import net
from app.integrations.errors import (
    IntegrationError,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

PROVIDER = "anthropic"
DEFAULT_API_BASE = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_TIMEOUT = 30.0          # seconds for one model call (a reply is produced on the queue, never in a webhook)
DEFAULT_MAX_TOKENS = 1024

# (input, output, cache write 5 min, cache read) in US dollars per million tokens, by model id prefix (the longest
# matching prefix wins; an unknown model is priced as the default Sonnet, never as free).
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-opus-4-1": (15.0, 75.0, 18.75, 1.50),
    "claude-opus-4-0": (15.0, 75.0, 18.75, 1.50),
    "claude-opus-4-2": (15.0, 75.0, 18.75, 1.50),        # claude-opus-4-20250514
    "claude-opus-4-5": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-6": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-7": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-8": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-5": (5.0, 25.0, 6.25, 0.50),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 0.30),           # Sonnet 4, 4.5, 4.6
    "claude-sonnet-5": (2.0, 10.0, 2.50, 0.20),
    "claude-3-7-sonnet": (3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": (0.80, 4.0, 1.0, 0.08),
    "claude-3-haiku": (0.25, 1.25, 0.30, 0.03),
}
FALLBACK_PRICE = PRICES["claude-sonnet-4"]


@dataclass(frozen=True)
class ModelTurn:
    """One answer of the Messages API."""
    content: list[dict[str, Any]]
    stop_reason: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    model: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return "\n\n".join(b["text"].strip() for b in self.content if b.get("type") == "text" and b.get("text"))

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b.get("type") == "tool_use"]

    @property
    def cost_micros(self) -> int:
        return cost_micros(self.model, input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                           cache_creation_input_tokens=self.cache_creation_input_tokens,
                           cache_read_input_tokens=self.cache_read_input_tokens)


def price_of(model: str) -> tuple[float, float, float, float]:
    matches = [prefix for prefix in PRICES if (model or "").startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else FALLBACK_PRICE


def cost_micros(model: str, *, input_tokens: int = 0, output_tokens: int = 0, cache_creation_input_tokens: int = 0,
                cache_read_input_tokens: int = 0) -> int:
    """The cost in millionths of a dollar ($/MTok is micro-dollars per token), rounded up."""
    price_in, price_out, price_write, price_read = price_of(model)
    total = (input_tokens * price_in + output_tokens * price_out + cache_creation_input_tokens * price_write
             + cache_read_input_tokens * price_read)
    return int(-(-total // 1))


# --- the guarded transport -------------------------------------------------------------------------------------
class GuardedTransport(httpx2.HTTPTransport):
    """``app.net``'s address guard for httpx: with ``allow_private`` off, every address of the host must be
    public and the connection goes to the one checked (no DNS rebinding between the check and the connect)."""

    def __init__(self, allow_private: bool, **kwargs: Any) -> None:
        self.allow_private = allow_private
        super().__init__(trust_env=False, **kwargs)

    def pin(self, request: httpx2.Request) -> httpx2.Request:
        """The request sent to the checked address (unchanged when private addresses are allowed)."""
        if self.allow_private:
            return request
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        infos = net.resolve(host, port, allow_private=False)       # AddressNotAllowed / InvalidHostName
        address = infos[0][4][0]
        if address == host:
            return request
        request.extensions = {**request.extensions, "sni_hostname": host}
        if "host" not in request.headers:
            request.headers["Host"] = request.url.netloc.decode("ascii")
        request.url = request.url.copy_with(host=address)
        return request

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            pinned = self.pin(request)
        except socket.gaierror as exc:               # InvalidHostName too (a gaierror)
            raise httpx2.ConnectError(str(exc), request=request) from exc
        except net.AddressNotAllowed as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        return super().handle_request(pinned)


def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"api_key": settings.get("ANTHROPIC_API_KEY"),
                              "api_base": settings.get("ANTHROPIC_API_BASE"),
                              "model": settings.get("ANTHROPIC_MODEL")}
    if settings.get("INTEGRATION_HTTP_TIMEOUT"):
        config["timeout"] = max(float(settings["INTEGRATION_HTTP_TIMEOUT"]), DEFAULT_TIMEOUT)
    return {key: value for key, value in config.items() if value not in (None, "")}


def from_app(app=None) -> AnthropicClient:
    """The client configured by the app's settings (the current app by default)."""
    if app is None:
        from flask import current_app
        app = current_app
    return AnthropicClient(config_from_settings(app.config))


class AnthropicClient:
    name = PROVIDER
    company = "Anthropic"

    def __init__(self, config: Mapping[str, Any]) -> None:
        api_key = str(config.get("api_key") or "")
        if not api_key:
            raise ValueError("anthropic: api_key is not configured")
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("anthropic: api_base must be an http(s) URL")
        self.api_base = base
        self.model = str(config.get("model") or DEFAULT_MODEL)
        self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
        self.allow_private = base != DEFAULT_API_BASE
        if not self.allow_private and parts.scheme != "https":
            raise ValueError("anthropic: the API is reached over https")
        http = httpx2.Client(transport=GuardedTransport(self.allow_private), trust_env=False,
                             follow_redirects=False, timeout=self.timeout)
        self._sdk = anthropic.Anthropic(api_key=api_key, base_url=base, timeout=self.timeout, max_retries=0,
                                        http_client=http)

    def __repr__(self) -> str:                        # never print the key
        return f"AnthropicClient(api_base={self.api_base!r}, model={self.model!r})"

    def close(self) -> None:
        self._sdk.close()

    def create_message(self, *, system: str, messages: Sequence[Mapping[str, Any]],
                       tools: Sequence[Mapping[str, Any]] = (), max_tokens: int = DEFAULT_MAX_TOKENS,
                       tool_choice: Mapping[str, Any] | None = None, timeout: float | None = None) -> ModelTurn:
        """One ``POST /v1/messages``; raises ``IntegrationError``."""
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "system": system,
                                  "messages": [dict(m) for m in messages]}
        if tools:
            kwargs["tools"] = [dict(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = dict(tool_choice)
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            message = self._sdk.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            raise _status_error(exc) from None
        except anthropic.APITimeoutError as exc:
            raise TransientError("Anthropic did not answer in time.", provider=PROVIDER, code="timeout") from exc
        except anthropic.APIConnectionError as exc:
            refused = net.refusal(exc)
            if refused is not None:
                raise PermanentError(f"Anthropic's address is not allowed: {refused}", provider=PROVIDER,
                                     code="address_not_allowed") from exc
            raise TransientError("Could not reach Anthropic.", provider=PROVIDER, code="connection") from exc
        except anthropic.APIResponseValidationError as exc:
            raise PermanentError("Anthropic answered something that is not a message.", provider=PROVIDER,
                                 status=getattr(exc, "status_code", None), code="invalid_response") from exc
        except anthropic.AnthropicError as exc:
            raise PermanentError(f"The call to Anthropic failed: {type(exc).__name__}", provider=PROVIDER) from exc
        raw = message.model_dump(mode="json", exclude_none=True)
        usage = raw.get("usage") or {}
        content = [_block(b) for b in raw.get("content") or []]
        return ModelTurn(content=[b for b in content if b], stop_reason=raw.get("stop_reason"),
                         input_tokens=int(usage.get("input_tokens") or 0),
                         output_tokens=int(usage.get("output_tokens") or 0),
                         cache_creation_input_tokens=int(usage.get("cache_creation_input_tokens") or 0),
                         cache_read_input_tokens=int(usage.get("cache_read_input_tokens") or 0),
                         model=str(raw.get("model") or self.model), raw=raw)


def _block(block: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    if kind == "tool_use":
        given = block.get("input")
        return {"type": "tool_use", "id": str(block.get("id") or ""), "name": str(block.get("name") or ""),
                "input": dict(given) if isinstance(given, Mapping) else {}}
    return None                                       # thinking and other blocks are not replayed


def _status_error(exc: anthropic.APIStatusError) -> IntegrationError:
    status = exc.status_code
    body = exc.body if isinstance(exc.body, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    code = str(error.get("type") or "") or None
    detail = str(error.get("message") or "")[:300]
    headers = exc.response.headers if exc.response is not None else {}
    kwargs = {"provider": PROVIDER, "status": status, "code": code}
    if status == 401:
        return Unauthorized("Anthropic refused the API key (401).", **kwargs)
    if status in (408, 409, 429) or status >= 500:
        return TransientError(f"Anthropic answered {status}{': ' + detail if detail else ''}; will try again.",
                              retry_after=retry_after_seconds(headers.get("retry-after")), **kwargs)
    return PermanentError(f"Anthropic answered {status}{': ' + detail if detail else ''}.", **kwargs)
