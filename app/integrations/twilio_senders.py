"""Twilio's Channels Senders API (WhatsApp Business senders, issue 22, spec page 11) and WhatsApp messages.

Built on the official ``twilio`` SDK (9.13: ``client.messaging.v2.channels_senders``), with ``twilio_sms``'s
credentials and guarded HTTP session (``app.net``; every call inside ``net.deadline(INTEGRATION_HTTP_TIMEOUT)``).
The Senders API lives on another host than the Messages API: ``https://messaging.twilio.com``. It is derived from
``TWILIO_API_BASE``: the default base (``https://api.twilio.com``) means Twilio's own messaging host; any other base
(a fake in tests) serves both APIs, so no setting of its own is needed.

The requests, as Twilio documents them (JSON bodies, Basic auth ``AccountSid:AuthToken``):

* ``POST /v2/Channels/Senders`` ``{"sender_id": "whatsapp:+E164", "profile": {"name": <display name>},
  "webhook": {"callback_url", "callback_method", "status_callback_url", "status_callback_method"}}``: 202 with the
  Sender (``sid`` ``XE`` + 32 hex, ``status`` ``CREATING``).
* ``GET /v2/Channels/Senders/{Sid}``: 200 with the Sender; ``status`` one of ``STATUSES``; ``offline_reasons``.
* ``DELETE /v2/Channels/Senders/{Sid}``: 204.

WhatsApp messages go through the Messages API (``twilio_sms``'s base) with ``whatsapp:`` addresses: free-form
``Body`` inside the 24-hour customer-service window, an approved template (``ContentSid`` ``HX...`` and
``ContentVariables``, a JSON object) outside it. ``send_message`` also sends a plain SMS from a given number.

Errors follow ``twilio_sms``: connection failures, timeouts, 429 and 5xx are ``TransientError``; refused
credentials ``TwilioAuthRejected``; any other refusal a ``SenderError`` (a ``TwilioError``) with Twilio's code and
plain words; 21656 is page 11's admin message (``WHATSAPP_API_UNAVAILABLE``).
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from requests import hooks
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.messaging.v2.channels_sender import ChannelsSenderList

from app import net
from app.integrations.errors import TransientError
from app.integrations.twilio_sms import (
    DEFAULT_API_BASE,
    DEFAULT_TIMEOUT,
    PROVIDER,
    TwilioError,
    _classify,
    _GuardedHttpClient,
    _settings,
    api_base,
)

DEFAULT_MESSAGING_BASE = "https://messaging.twilio.com"
# Every status the Senders API documents (channels_sender_enum_status).
STATUSES = ("CREATING", "ONLINE", "OFFLINE", "PENDING_VERIFICATION", "VERIFYING", "ONLINE:UPDATING",
            "TWILIO_REVIEW", "DRAFT", "STUBBED")
SENDER_SID = re.compile(r"XE[0-9a-fA-F]{32}")
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MISSING_SETTINGS_NOTE = "WhatsApp needs the server settings TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
WHATSAPP_API_UNAVAILABLE = (
    "WhatsApp API not yet available: Twilio requires at least one WhatsApp sender registered manually in the "
    "Twilio Console before senders can be registered through the API. This is a one-time setup per Twilio "
    "account; ask the administrator of this LinkTime server to do it (Twilio error 21656).")
_EXPLANATIONS = {
    21656: WHATSAPP_API_UNAVAILABLE,
    20404: "Twilio has no such WhatsApp sender on this account (Twilio error 20404).",
}

T = TypeVar("T")


class SenderError(TwilioError):
    """Twilio refused a Senders API request or a WhatsApp message (``code``: Twilio's error code, or None)."""


@dataclass(frozen=True)
class Sender:
    sid: str
    status: str                    # Twilio's status, raw (one of STATUSES, or a newer one)
    sender_id: str | None
    display_name: str | None
    offline_reasons: tuple[str, ...] = ()


def configured(config: Mapping[str, Any] | None = None) -> bool:
    cfg = _settings(config)
    return bool(cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN"))


def messaging_base(config: Mapping[str, Any] | None = None) -> str:
    """``https://messaging.twilio.com`` for Twilio's own API base; the configured base otherwise (a fake)."""
    base = api_base(_settings(config))
    return DEFAULT_MESSAGING_BASE if base == DEFAULT_API_BASE else base


# --- the HTTP seam: twilio_sms's guarded client, with JSON bodies ----------------------------------------------
class _JsonGuardedHttpClient(_GuardedHttpClient):
    """The Senders API sends JSON (``Content-Type: application/json``): the body is the JSON of ``data``."""

    def request(self, method: str, url: str, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects: bool = False):
        if not (headers and headers.get("Content-Type") == "application/json"):
            return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                                   timeout=timeout, allow_redirects=allow_redirects)
        session = net.session(self._allow_private)
        prepared = session.prepare_request(requests.Request(method.upper(), url, params=params, headers=headers,
                                                            auth=auth, json=data, hooks=hooks.default_hooks()))
        answer = session.send(prepared, allow_redirects=False, timeout=timeout or self.timeout)
        return Response(int(answer.status_code), answer.text, answer.headers)


_clients = threading.local()


def _client(cfg: Mapping[str, Any]) -> tuple[Client, float]:
    if not configured(cfg):
        raise SenderError(MISSING_SETTINGS_NOTE)
    base, messaging = api_base(cfg), messaging_base(cfg)
    timeout = float(cfg.get("INTEGRATION_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
    key = (str(cfg["TWILIO_ACCOUNT_SID"]), str(cfg["TWILIO_AUTH_TOKEN"]), base, timeout)
    cached = getattr(_clients, "entry", None)
    if cached is not None and cached[0] == key:
        return cached[1], timeout
    http = _JsonGuardedHttpClient(base != DEFAULT_API_BASE, timeout)
    client = Client(key[0], key[1], http_client=http, environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
    client.api.base_url = base
    client.messaging.base_url = messaging
    _clients.entry = (key, client)
    return client, timeout


class _CreateBody(ChannelsSenderList.MessagingV2ChannelsSenderRequestsCreate):
    """The SDK's create request without the fields left unset (it would send them as JSON nulls)."""

    def to_dict(self):
        return _pruned(super().to_dict())


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None and _pruned(v) != {}}
    return value


def _call(timeout: float, request: Callable[[], T]) -> T:
    try:
        with net.deadline(timeout):
            return request()
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _refusal(exc) from exc
    except (requests.RequestException, OSError, net.AddressNotAllowed) as exc:
        refused = net.refusal(exc)
        if refused is not None:
            raise SenderError(f"Twilio cannot be reached from here: {refused}") from exc
        raise TransientError("Twilio could not be reached or did not answer in time.", provider=PROVIDER) from exc
    except (TwilioException, ValueError) as exc:         # an answer that is not JSON
        raise TransientError("Twilio answered something unexpected.", provider=PROVIDER) from exc


def _refusal(exc: TwilioRestException | TwilioServiceException) -> Exception:
    classified = _classify(exc)
    if type(classified) is not TwilioError:              # transient, or the credentials refused
        return classified
    code, status = classified.code, classified.status
    reason = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "") or "").strip()
    words = _EXPLANATIONS.get(code or 0) or (f"Twilio error {code}." if code else f"Twilio refused ({status}).")
    if reason and code not in _EXPLANATIONS and reason not in words:
        words = f"{words} Twilio says: {reason}"
    return SenderError(words, code=code, status=status)


def _sender(raw: Any) -> Sender:
    sid = getattr(raw, "sid", None)
    if not isinstance(sid, str) or not SENDER_SID.fullmatch(sid):
        raise TransientError("Twilio answered a sender without a SID.", provider=PROVIDER)
    profile = getattr(raw, "profile", None)
    name = profile.get("name") if isinstance(profile, Mapping) else None
    reasons = getattr(raw, "offline_reasons", None) or ()
    return Sender(sid=sid, status=str(getattr(raw, "status", "") or ""), sender_id=getattr(raw, "sender_id", None),
                  display_name=name, offline_reasons=tuple(str(r) for r in reasons if r))


def _check_sid(sid: str) -> None:
    if not isinstance(sid, str) or not SENDER_SID.fullmatch(sid):
        raise SenderError(f"{sid!r} is not a Twilio sender SID (XE followed by 32 hex digits).")


# --- the calls -------------------------------------------------------------------------------------------------
def create_sender(phone_number: str, display_name: str, *, callback_url: str | None = None,
                  status_callback_url: str | None = None, config: Mapping[str, Any] | None = None) -> Sender:
    """Register ``phone_number`` (E.164, a number of the account) as a WhatsApp sender named ``display_name``."""
    if not isinstance(phone_number, str) or not E164.fullmatch(phone_number):
        raise SenderError(f"{phone_number!r} is not a phone number in E.164 form.")
    client, timeout = _client(_settings(config))
    webhook = {"callback_url": callback_url, "callback_method": "POST" if callback_url else None,
               "status_callback_url": status_callback_url,
               "status_callback_method": "POST" if status_callback_url else None}
    body = _CreateBody({"sender_id": f"whatsapp:{phone_number}", "profile": {"name": display_name},
                        "webhook": webhook})
    return _sender(_call(timeout, lambda: client.messaging.v2.channels_senders.create(body)))


def fetch_sender(sid: str, *, config: Mapping[str, Any] | None = None) -> Sender:
    _check_sid(sid)
    client, timeout = _client(_settings(config))
    return _sender(_call(timeout, lambda: client.messaging.v2.channels_senders(sid).fetch()))


def delete_sender(sid: str, *, config: Mapping[str, Any] | None = None) -> bool:
    """Deregister the sender; False when Twilio no longer has it (deleted before: a retry)."""
    _check_sid(sid)
    client, timeout = _client(_settings(config))
    try:
        _call(timeout, lambda: client.messaging.v2.channels_senders(sid).delete())
    except SenderError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def send_message(from_: str, to: str, *, body: str | None = None, content_sid: str | None = None,
                 content_variables: Mapping[str, str] | None = None, status_callback: str | None = None,
                 config: Mapping[str, Any] | None = None) -> str:
    """Send one message through the Messages API; ``from_``/``to`` are E.164 (SMS) or ``whatsapp:+E164``. Either
    ``body`` or an approved template (``content_sid`` with ``content_variables``). Answers the SID (``SM...``)."""
    if content_sid is not None and not CONTENT_SID.fullmatch(content_sid):
        raise SenderError(f"{content_sid!r} is not a Twilio Content SID (HX followed by 32 hex digits).")
    if content_sid is None and not (body and body.strip()):
        raise SenderError("The message was empty (Twilio error 21602).", code=21602)
    client, timeout = _client(_settings(config))
    params: dict[str, Any] = {"from_": from_, "to": to}
    if content_sid is not None:
        params["content_sid"] = content_sid
        params["content_variables"] = json.dumps({str(k): str(v) for k, v in (content_variables or {}).items()})
    else:
        params["body"] = body
    if status_callback:
        params["status_callback"] = status_callback
    message = _call(timeout, lambda: client.messages.create(**params))
    sid = getattr(message, "sid", None)
    if not isinstance(sid, str) or not sid:
        raise TransientError("Twilio answered a message without a SID.", provider=PROVIDER)
    return sid
