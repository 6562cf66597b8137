"""Twilio SMS (issue 17, workflows): send a text, explain Twilio's error codes, check ``X-Twilio-Signature``.

Built on the official ``twilio`` SDK. Each ``send_sms`` makes a ``twilio.rest.Client`` from the settings: Basic auth
``TWILIO_ACCOUNT_SID:TWILIO_AUTH_TOKEN``, and its API domain's base is ``TWILIO_API_BASE`` (default
``https://api.twilio.com``), so tests point it at the local fake (``tests/fakes/twilio.py``). The SDK never reads the
process environment for credentials, edge or region here.

Outbound HTTP follows ``app.net``: the SDK's HTTP client is handed the calling thread's guarded session (no cookies,
no proxies from the environment, no redirects, connections pinned to the checked address) and every call runs inside
``net.deadline(INTEGRATION_HTTP_TIMEOUT)``. The address guard is on for the default base; a base the operator
changed (a fake) may be on a private or loopback address. The SDK's request and response logging is off (the body
holds phone numbers and message text).

The request, as Twilio documents it: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded
``To`` (E.164), ``From`` or ``MessagingServiceSid``, ``Body`` and optional ``StatusCallback``; the answer is 201 with
the Message (``sid`` ``SM...``, ``status`` ``queued``); an error answers ``{code, message, more_info, status}``.

Errors map onto ``app.integrations.errors``: connection failures, timeouts, 429 and 5xx are ``TransientError``;
every other refusal is a ``TwilioError`` (a ``PermanentError``) whose ``code`` is Twilio's error code (an int) and
whose message says in plain words what happened (``explain``); a refused account SID or auth token (401) is a
``TwilioAuthRejected``, both a ``TwilioError`` and an ``AuthRevoked``. A base address the guard refuses is a
``TwilioError`` too (no code).

Status callbacks and inbound messages are signed: ``X-Twilio-Signature`` is the base64 HMAC-SHA1, under the auth
token, of the full URL Twilio requested followed by each POST parameter's name and value in sorted order;
``valid_signature`` checks it with the SDK's ``RequestValidator`` (constant-time comparison).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests import hooks
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.base.version import Version
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app import net
from app.integrations.errors import AuthRevoked, PermanentError, TransientError
from app.phones import normalize_phone  # noqa: F401 (part of this client's interface)

PROVIDER = "twilio"
DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY = 1600                         # Twilio's limit for one (concatenated) message body
MISSING_SETTINGS_NOTE = ("Texting needs the server settings TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and a sender: "
                         "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID.")

_EXPLANATIONS = {
    20003: "Twilio refused the account SID or auth token (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN).",
    21211: "The phone number is not a valid number (Twilio error 21211: invalid 'To' number).",
    21408: "Texting this country is not enabled on the Twilio account (Twilio error 21408: region not enabled).",
    21610: "The recipient replied STOP and has unsubscribed from these texts; they must text START to receive "
           "them again (Twilio error 21610).",
    21614: "The phone number is not a mobile number and cannot receive texts (Twilio error 21614).",
    21602: "The message was empty (Twilio error 21602).",
    21604: "No phone number to text (Twilio error 21604).",
    21606: "The sender number cannot send texts (Twilio error 21606: check TWILIO_FROM_NUMBER).",
    21617: "The message is longer than 1600 characters (Twilio error 21617).",
    30003: "The phone was unreachable: switched off or out of coverage (Twilio error 30003).",
    30005: "The phone number is unknown or no longer exists (Twilio error 30005).",
    30006: "The number cannot receive texts: a landline or a line that cannot be reached (Twilio error 30006).",
    30007: "The carrier filtered the message as spam or unwanted (Twilio error 30007).",
    30008: "The message could not be delivered for an unknown reason (Twilio error 30008).",
}


class TwilioError(PermanentError):
    """Twilio refused the message; ``code`` is Twilio's error code (an int, or None) and the message plain words."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message, provider=PROVIDER, status=status)
        self.code = code                                   # an int here (IntegrationError's is a string)


class TwilioAuthRejected(TwilioError, AuthRevoked):
    """Twilio refused the account SID or auth token (401): no text goes out until the operator fixes the settings."""


def explain(code: int | None) -> str:
    """Plain words for a Twilio error code (from an API answer or a status callback's ``ErrorCode``)."""
    try:
        number = int(code) if code is not None else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        return "Twilio could not deliver the message."
    return _EXPLANATIONS.get(number, f"Twilio error {number}")


# --- settings --------------------------------------------------------------------------------------------------
def _settings(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if config is not None:
        return config
    from flask import current_app
    return current_app.config


def configured(config: Mapping[str, Any] | None = None) -> bool:
    """The account SID, the auth token and a sender (a From number or a Messaging Service) are all set."""
    cfg = _settings(config)
    return bool(cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN")
                and (cfg.get("TWILIO_FROM_NUMBER") or cfg.get("TWILIO_MESSAGING_SERVICE_SID")))


def api_base(config: Mapping[str, Any] | None = None) -> str:
    base = str(_settings(config).get("TWILIO_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("twilio: TWILIO_API_BASE must be an http(s) URL")
    return base


# --- phone numbers ---------------------------------------------------------------------------------------------
# --- the HTTP seam ---------------------------------------------------------------------------------------------
class _GuardedHttpClient(HttpClient):
    """The SDK's HTTP client on ``app.net``'s guarded session of the calling thread, without the SDK's logging."""

    def __init__(self, allow_private: bool, timeout: float) -> None:
        super().__init__(logging.getLogger(__name__), False, timeout)
        self._allow_private = allow_private

    def request(self, method: str, url: str, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects: bool = False):
        session = net.session(self._allow_private)
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "auth": auth, "data": data,
                                  "hooks": hooks.default_hooks()}
        prepared = session.prepare_request(requests.Request(method.upper(), url, **kwargs))
        answer = session.send(prepared, allow_redirects=False, timeout=timeout or self.timeout)
        return Response(int(answer.status_code), answer.text, answer.headers)


_clients = threading.local()


def _client(cfg: Mapping[str, Any]) -> tuple[Client, float]:
    """The SDK client of this thread for these settings (built once: a reminder burst sends thousands of texts)."""
    base = api_base(cfg)
    timeout = float(cfg.get("INTEGRATION_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
    key = (str(cfg["TWILIO_ACCOUNT_SID"]), str(cfg["TWILIO_AUTH_TOKEN"]), base, timeout)
    cached = getattr(_clients, "entry", None)
    if cached is not None and cached[0] == key:
        return cached[1], timeout
    http = _GuardedHttpClient(base != DEFAULT_API_BASE, timeout)
    client = Client(key[0], key[1], http_client=http, environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
    client.api.base_url = base
    _clients.entry = (key, client)
    return client, timeout


def _classify(exc: TwilioRestException | TwilioServiceException) -> Exception:
    status = exc.status if isinstance(exc.status, int) else None
    code = exc.code if isinstance(exc.code, int) and exc.code != status else None    # the SDK puts the status there
    if status == 429 or status is None or status >= 500:
        return TransientError(f"Twilio answered {status}; will try again.", provider=PROVIDER, status=status,
                              code=str(code) if code else None)
    kind = TwilioAuthRejected if status == 401 else TwilioError
    return kind(explain(code) if code else f"Twilio refused the message ({status}).", code=code, status=status)


def list_page_refusal(exc: TwilioException) -> TwilioRestException | None:
    """The REST error a list request's failure stands for: the SDK raises a plain ``TwilioException("Unable to
    fetch page", response)`` when Twilio refuses a page; None when ``exc`` is something else."""
    answer = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(answer, Response):
        return Version.exception("GET", "", answer, "Unable to fetch page")
    return None


def send_sms(to: str, body: str, *, status_callback: str | None = None,
             config: Mapping[str, Any] | None = None, from_: str | None = None) -> str:
    """Text ``body`` to ``to`` (E.164) through the instance's Twilio account; answers the message SID (``SM...``).

    ``from_``: send from this number of the account (a messaging agent's number; ``whatsapp:+E164`` with a
    ``whatsapp:`` ``to`` on WhatsApp) instead of TWILIO_FROM_NUMBER / the Messaging Service, which it then does not
    need (the account SID and auth token still do)."""
    cfg = _settings(config)
    if from_ is not None:
        if not (cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN") and from_.strip()):
            raise TwilioError(MISSING_SETTINGS_NOTE)
    elif not configured(cfg):
        raise TwilioError(MISSING_SETTINGS_NOTE)
    if not body or not body.strip():
        raise TwilioError(explain(21602), code=21602)
    client, timeout = _client(cfg)
    params: dict[str, Any] = {"to": to, "body": body}
    if from_ is not None:
        params["from_"] = from_.strip()
    elif cfg.get("TWILIO_MESSAGING_SERVICE_SID"):
        params["messaging_service_sid"] = cfg["TWILIO_MESSAGING_SERVICE_SID"]
    else:
        params["from_"] = cfg["TWILIO_FROM_NUMBER"]
    if status_callback:
        params["status_callback"] = status_callback
    try:
        with net.deadline(timeout):
            message = client.messages.create(**params)
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _classify(exc) from exc
    except (requests.RequestException, OSError, net.AddressNotAllowed) as exc:
        refused = net.refusal(exc)
        if refused is not None:
            raise TwilioError(f"Twilio cannot be reached from here: {refused}") from exc
        raise TransientError("Twilio could not be reached or did not answer in time.", provider=PROVIDER) from exc
    except TwilioException as exc:                       # e.g. an answer that is not JSON
        raise TransientError(f"Twilio answered something unexpected: {exc}", provider=PROVIDER) from exc
    except ValueError as exc:                             # a 2xx whose body is not JSON
        raise TransientError("Twilio answered something unexpected.", provider=PROVIDER) from exc
    sid = getattr(message, "sid", None)
    if not isinstance(sid, str) or not sid:
        raise TransientError("Twilio answered a message without a SID.", provider=PROVIDER)
    return sid


def sent_since(to: str, body: str | None, since: datetime, *, from_: str | None = None,
               config: Mapping[str, Any] | None = None) -> str | None:
    """The SID of a message with exactly ``body`` sent to ``to`` since ``since``, if Twilio has one: a retry asks
    first, so a text whose first attempt reached Twilio before the worker died is not sent twice. ``from_``: only
    messages from that address; ``body`` None: any body (a template message, whose text Twilio renders)."""
    cfg = _settings(config)
    client, timeout = _client(cfg)
    filters: dict[str, Any] = {"to": to} if from_ is None else {"to": to, "from_": from_}
    try:
        with net.deadline(timeout):
            recent = client.messages.list(**filters, limit=50)
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _classify(exc) from exc
    except TwilioException as exc:                       # a refused page (401: the credentials), or not JSON
        refused = list_page_refusal(exc)
        if refused is not None:
            raise _classify(refused) from exc
        raise TransientError("Twilio answered something unexpected.", provider=PROVIDER) from exc
    except (requests.RequestException, OSError, net.AddressNotAllowed, ValueError) as exc:
        raise TransientError("Twilio could not be reached or did not answer in time.", provider=PROVIDER) from exc
    for message in recent:
        created = getattr(message, "date_created", None)
        if (body is None or message.body == body) and (created is None or created >= since):
            return message.sid
    return None


# --- webhook signatures ----------------------------------------------------------------------------------------
def valid_signature(url: str, params: Mapping[str, Any] | None, signature: str | None,
                    config: Mapping[str, Any] | None = None) -> bool:
    """Whether ``signature`` (``X-Twilio-Signature``) signs ``url`` and the POST ``params`` under the auth token."""
    token = _settings(config).get("TWILIO_AUTH_TOKEN")
    if not token or not signature or not isinstance(signature, str):
        return False
    values = {str(k): str(v) for k, v in (params or {}).items()}
    try:
        return bool(RequestValidator(str(token)).validate(url, values, signature))
    except (ValueError, TypeError, UnicodeError):
        return False


def sign(url: str, params: Mapping[str, Any], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``params`` to ``url`` (fakes and tests use it)."""
    return RequestValidator(auth_token).compute_signature(url, {str(k): str(v) for k, v in params.items()})
