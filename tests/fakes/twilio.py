"""A fake of the Twilio Messages API and of Twilio's signed status callbacks.

Served on ``127.0.0.1:<free port>`` from a thread (``with TwilioFake() as fake``); point ``TWILIO_API_BASE`` at
``fake.url`` (``fake.settings()`` gives every Twilio setting). Endpoints, as Twilio documents them:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP Basic auth ``AccountSid:AuthToken`` (401 code
  20003 otherwise; another account's SID in the path: 404 code 20404); a form-encoded body with ``To`` (E.164:
  missing 21604, malformed 21211), exactly one of ``From`` (E.164; 21603 when neither is given, 21606 when it is
  not a number) and ``MessagingServiceSid`` (``MG`` + 32 hex), ``Body`` (missing or empty 21602, over 1600
  characters 21617) and an optional ``StatusCallback`` (an http(s) URL, else 21609). A number in ``unsubscribed``
  answers 400 code 21610. The answer is 201 with the Message (``sid`` ``SM...``, ``status`` ``queued``, or
  ``accepted`` through a Messaging Service); errors answer ``{code, message, more_info, status}``.
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``: the Message, or 404 code 20404.
* Phone numbers (issue 21): ``GET .../AvailablePhoneNumbers/{CC}/Local.json`` and ``/TollFree.json`` answer
  ``{"available_phone_numbers": [...]}`` from ``inventory`` (``DEFAULT_STOCK``; ``stock(cc, local=, toll_free=)``
  replaces a country's; an unstocked country answers empty lists), filtered by ``AreaCode`` (3 digits, else 21451;
  +1 numbers only), ``SmsEnabled``, ``VoiceEnabled`` (true/false) and ``PageSize``; what a search answered is
  ``offered``. ``POST .../IncomingPhoneNumbers.json`` buys one: ``PhoneNumber`` E.164 (else 400 code 21421) and
  offered and still in stock (else 400 code 21422), optional ``FriendlyName``, ``VoiceUrl``, ``SmsUrl``,
  ``StatusCallback`` (http(s) or empty, else 21402), ``VoiceMethod``/``SmsMethod`` (GET/POST, else 21403); 201 with
  the IncomingPhoneNumber (``sid`` ``PN...``), kept in ``numbers``. ``POST .../IncomingPhoneNumbers/{Sid}.json``
  changes those fields; ``DELETE`` answers 204 and moves it to ``released``; an unknown SID answers 404 code 20404.

After a create with a ``StatusCallback``, the fake POSTs the callbacks Twilio sends (form-encoded, signed with
``X-Twilio-Signature`` under the auth token): ``sent``, then ``delivered``, or ``undelivered`` with ``ErrorCode``
(``undeliverable[number]``) for a number in ``undeliverable``. ``callbacks`` lists what was sent and the answers
(``wait_callbacks(n)`` waits for them); callbacks go to loopback addresses only (others are recorded with no
answer). A few sender threads post them, each on its own keep-alive connection, in the order the messages were
created (``stop()`` sends what is pending first).

Served by waitress (HTTP/1.1 keep-alive, as Twilio's API: a client sending many texts reuses its connections;
Werkzeug's development server closes each connection after one answer); ``stop()`` closes the connections still
open too, so a stopped fake answers nothing.

Test knobs: ``fail(status, times)`` answers the next requests with ``status`` (Twilio's error shape),
``hang(seconds, times)`` holds the next answers back; ``messages`` lists what was accepted, ``requests`` everything
that arrived. ``signed_inbound(url, params, auth_token)`` builds the headers of a signed inbound request for tests
posting inbound texts, and ``inbound_params`` the form Twilio sends for one.
"""
from __future__ import annotations

import base64
import json
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from flask import Response, jsonify, request
from twilio.request_validator import RequestValidator
from waitress import wasyncore
from waitress.server import create_server

from tests.fakes.flask_server import FlaskFake

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fa4e" + "0" * 24 + "c0de"
FROM_NUMBER = "+15005550006"
MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
MAX_BODY = 1600
API_VERSION = "2010-04-01"
CALLBACK_SENDERS = 4                    # threads posting status callbacks
SERVER_THREADS = 8
COUNTRY = re.compile(r"[A-Z]{2}")
AREA_CODE = re.compile(r"[0-9]{3}")
HOOK_FIELDS = {"FriendlyName": "friendly_name", "VoiceUrl": "voice_url", "SmsUrl": "sms_url",
               "StatusCallback": "status_callback", "VoiceMethod": "voice_method", "SmsMethod": "sms_method"}
# What each fake starts with: (country, local numbers, toll-free numbers); "AE" offers toll-free numbers only.
DEFAULT_STOCK = (
    ("US", ("+14155550100", "+14155550101", "+12125550100"), ("+18005550100",)),
    ("GB", ("+442071838750", "+442071838751"), ("+448000148000",)),
    ("AE", (), ("+97180012345",)),
)


def signed_inbound(url: str, params: dict[str, Any], auth_token: str = AUTH_TOKEN) -> dict[str, str]:
    """The headers of a genuine Twilio POST of ``params`` to ``url`` (``X-Twilio-Signature``)."""
    signature = RequestValidator(auth_token).compute_signature(url, {k: str(v) for k, v in params.items()})
    return {"X-Twilio-Signature": signature}


def inbound_params(from_: str, body: str, *, to: str = FROM_NUMBER, account_sid: str = ACCOUNT_SID) -> dict[str, str]:
    """The form Twilio POSTs to a number's messaging webhook for an incoming text."""
    sid = "SM" + secrets.token_hex(16)
    return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": account_sid,
            "From": from_, "ApiVersion": API_VERSION}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: list[tuple[str, str]]
    body: str
    query: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int | None                  # the receiver's answer (None: it could not be reached)


@dataclass
class _Injection:
    times: int
    status: int = 0
    delay: float = 0.0


def _error(status: int, code: int, message: str) -> Response:
    response = jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status})
    response.status_code = status
    return response


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ValueError(value)
    return value.lower() == "true"


def _invalid_hooks(form: dict[str, str]) -> Response | None:
    """Twilio's checks on an IncomingPhoneNumber's webhooks: an http(s) URL (or empty: cleared), GET or POST."""
    for name in ("VoiceUrl", "SmsUrl", "StatusCallback"):
        value = form.get(name)
        if value and urlsplit(value).scheme not in ("http", "https"):
            return _error(400, 21402, f"{name} is not a valid URL: {value}")
    for name in ("VoiceMethod", "SmsMethod"):
        if form.get(name) is not None and form[name].upper() not in ("GET", "POST"):
            return _error(400, 21403, f"{name} must be GET or POST")
    return None


def _apply(record: dict[str, Any], form: dict[str, str]) -> None:
    for name, key in HOOK_FIELDS.items():
        if name in form:
            record[key] = form[name].upper() if key.endswith("_method") else form[name]


# --- WhatsApp senders (issue 22): the Channels Senders API and WhatsApp messages --------------------------------
# ``POST /v2/Channels/Senders`` (JSON: ``sender_id`` ``whatsapp:+E164`` of a number the account owns, ``profile.name``
# 1-256 characters, optional ``webhook`` with http(s) URLs and POST/PUT methods, ``configuration``, ``friendly_name``;
# nothing else): 202 with the Sender (``XE...``, ``CREATING``); a sender_id already registered 409; a malformed body
# 400 code 20001. ``GET``/``DELETE /v2/Channels/Senders/{Sid}``: 200 / 204, unknown 404 code 20404. Knobs:
# ``refuse_senders(code)`` (every create answers 400 with ``code``, 21656 "WhatsApp API not yet available" by default;
# ``refuse_senders(None)`` stops), ``bad_display_names`` (a create with one of these names answers 400 code 21656),
# ``set_sender_status(sid, status, notify=True)`` moves a sender and builds the signed form Twilio POSTs to its
# ``webhook.status_callback_url`` (``AccountSid``, ``SenderSid``, ``SenderId``, ``Status``, ``OfflineReasons``):
# delivered when the URL is on loopback, returned (a ``Callback``) for a test to replay. ``senders`` and
# ``deleted_senders`` hold the state.
# Messages with ``whatsapp:`` addresses or a ``ContentSid`` (``HX`` + 32 hex, else 21655; ``ContentVariables`` a JSON
# object of strings, else 21656) need a ``From`` whose sender is ONLINE (else 400 code 63007); they join ``messages``.
SENDER_STATUSES = ("CREATING", "ONLINE", "OFFLINE", "PENDING_VERIFICATION", "VERIFYING", "ONLINE:UPDATING",
                   "TWILIO_REVIEW", "DRAFT", "STUBBED")
SENDER_KEYS = {"sender_id", "friendly_name", "configuration", "webhook", "profile"}
SENDER_ID = re.compile(r"whatsapp:(\+[1-9][0-9]{6,14})")
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
MESSAGING_BASE = "/v2/Channels/Senders"


class _SendersFake:
    """The Senders part of ``TwilioFake`` (see the comment above)."""

    def _sender_routes(self) -> None:
        self.senders: dict[str, dict[str, Any]] = {}
        self.deleted_senders: list[dict[str, Any]] = []
        self.bad_display_names: set[str] = set()
        self._sender_refusal: int | None = None
        app = self.app

        @app.post(MESSAGING_BASE)
        def create_sender():
            if self._sender_refusal is not None:
                return _error(400, self._sender_refusal, "WhatsApp senders cannot be created through the API yet")
            body = request.get_json(silent=True) if request.mimetype == "application/json" else None
            refused = self._invalid_sender(body)
            if refused is not None:
                return refused
            number = SENDER_ID.fullmatch(body["sender_id"]).group(1)
            name = body["profile"]["name"]
            if name in self.bad_display_names:
                return _error(400, 21656, f"The display name {name!r} is not allowed")
            with self.lock:
                if number not in {n["phone_number"] for n in self.numbers.values()}:
                    return _error(400, 20001, f"{number} is not a phone number of this account")
                if any(s["sender_id"] == body["sender_id"] for s in self.senders.values()):
                    return _error(409, 20001, f"A sender for {body['sender_id']} already exists")
                sid = "XE" + secrets.token_hex(16)
                record = {"sid": sid, "status": "CREATING", "sender_id": body["sender_id"],
                          "friendly_name": body.get("friendly_name"), "configuration": body.get("configuration"),
                          "webhook": body.get("webhook"), "profile": body["profile"], "properties": None,
                          "offline_reasons": None, "compliance": None,
                          "url": f"https://messaging.twilio.com{MESSAGING_BASE}/{sid}"}
                self.senders[sid] = record
                response = jsonify(record)
            response.status_code = 202
            return response

        @app.get(MESSAGING_BASE + "/<sid>")
        def fetch_sender(sid: str):
            with self.lock:
                record = self.senders.get(sid)
                if record is None:
                    return _error(404, 20404, f"The requested resource {request.path} was not found")
                return jsonify(record)

        @app.delete(MESSAGING_BASE + "/<sid>")
        def delete_sender(sid: str):
            with self.lock:
                record = self.senders.pop(sid, None)
                if record is None:
                    return _error(404, 20404, f"The requested resource {request.path} was not found")
                self.deleted_senders.append(record)
            return Response(status=204)

        @app.before_request
        def _whatsapp_message():
            """WhatsApp and template messages; plain texts go on to ``create_message``."""
            if request.method != "POST" or not request.path.endswith("/Messages.json"):
                return None
            form = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
            to, sender, content = form.get("To") or "", form.get("From") or "", form.get("ContentSid")
            if not (to.startswith("whatsapp:") or sender.startswith("whatsapp:") or content):
                return None
            return self._whatsapp_create(form, to, sender, content)

    def _invalid_sender(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, 20001, "The request body must be a JSON object")
        if set(body) - SENDER_KEYS:
            return _error(400, 20001, f"Unknown parameters: {', '.join(sorted(set(body) - SENDER_KEYS))}")
        if not isinstance(body.get("sender_id"), str) or not SENDER_ID.fullmatch(body["sender_id"]):
            return _error(400, 20001, "sender_id must be whatsapp:<E.164 number>")
        profile = body.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            return _error(400, 20001, "profile.name is required for a WhatsApp sender (1-256 characters)")
        webhook = body.get("webhook")
        if webhook is not None:
            if not isinstance(webhook, dict):
                return _error(400, 20001, "webhook must be an object")
            for key in ("callback_url", "fallback_url", "status_callback_url"):
                if webhook.get(key) is not None and urlsplit(webhook[key]).scheme not in ("http", "https"):
                    return _error(400, 20001, f"webhook.{key} is not a valid URL")
            for key in ("callback_method", "fallback_method", "status_callback_method"):
                if webhook.get(key) is not None and webhook[key] not in ("POST", "PUT"):
                    return _error(400, 20001, f"webhook.{key} must be POST or PUT")
        return None

    def _whatsapp_create(self, form: dict[str, str], to: str, sender: str, content: str | None) -> Response:
        channel = sender.startswith("whatsapp:")
        if to.startswith("whatsapp:") != channel:
            return _error(400, 21910, "From and To must be on the same channel")
        bare_to, bare_from = to.removeprefix("whatsapp:"), sender.removeprefix("whatsapp:")
        if not E164.fullmatch(bare_to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if channel:
            with self.lock:
                online = any(s["sender_id"] == sender and s["status"] in ("ONLINE", "ONLINE:UPDATING")
                             for s in self.senders.values())
            if not online:
                return _error(400, 63007, "Twilio could not find a Channel with the specified From address")
        elif not E164.fullmatch(bare_from):
            return _error(400, 21606, f"The From phone number {sender} is not a valid phone number")
        variables = None
        if content is not None:
            if not CONTENT_SID.fullmatch(content):
                return _error(400, 21655, "The ContentSid is Invalid")
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                variables = None
            if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
                return _error(400, 21656, "The ContentVariables Parameter is invalid")
        elif not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        now = formatdate(usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        message = {"account_sid": self.account_sid, "api_version": API_VERSION, "body": form.get("Body") or "",
                   "content_sid": content, "content_variables": variables, "date_created": now, "date_sent": None,
                   "date_updated": now, "direction": "outbound-api", "error_code": None, "error_message": None,
                   "from": sender, "messaging_service_sid": None, "num_media": "0", "num_segments": "1",
                   "price": None, "price_unit": "USD", "sid": sid, "status": "queued", "to": to,
                   "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
                   "status_callback": form.get("StatusCallback")}
        with self.lock:
            self.messages.append(message)
        response = jsonify({k: v for k, v in message.items() if k != "status_callback"})
        response.status_code = 201
        return response

    # -- knobs
    def refuse_senders(self, code: int | None = 21656) -> None:
        self._sender_refusal = code

    def online_sender(self, e164: str, name: str = "Test Business") -> str:
        """A WhatsApp sender for ``e164`` already ONLINE (registered and approved earlier); answers its sid."""
        sid = "XE" + secrets.token_hex(16)
        with self.lock:
            self.senders[sid] = {"sid": sid, "status": "ONLINE", "sender_id": "whatsapp:" + e164,
                                 "friendly_name": None, "configuration": None, "webhook": None,
                                 "profile": {"name": name}, "properties": None, "offline_reasons": None,
                                 "compliance": None, "url": f"https://messaging.twilio.com{MESSAGING_BASE}/{sid}"}
        return sid

    def set_sender_status(self, sid: str, status: str, *, notify: bool = True,
                          offline_reasons: list[str] | None = None) -> Callback | None:
        """Move a sender to ``status``; with ``notify``, the signed callback to its status URL (see above)."""
        assert status in SENDER_STATUSES, status
        with self.lock:
            record = self.senders[sid]
            record["status"] = status
            record["offline_reasons"] = offline_reasons if status == "OFFLINE" else None
            url = (record.get("webhook") or {}).get("status_callback_url")
        if not notify or not url:
            return None
        params = {"AccountSid": self.account_sid, "SenderSid": sid, "SenderId": record["sender_id"],
                  "Status": status}
        if offline_reasons:
            params["OfflineReasons"] = ", ".join(offline_reasons)
        headers = {**signed_inbound(url, params, self.auth_token), "User-Agent": "TwilioProxy/1.1"}
        answered = None
        if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
            with requests.Session() as session:
                session.trust_env = False
                try:
                    answered = session.post(url, data=params, headers=headers, timeout=5).status_code
                except requests.RequestException:
                    pass
        callback = Callback(url, params, headers, answered)
        with self._cond:
            self.callbacks.append(callback)
            self._cond.notify_all()
        return callback


@dataclass
class TwilioFake(_SendersFake, FlaskFake):
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    unsubscribed: set[str] = field(default_factory=set)
    undeliverable: dict[str, int] = field(default_factory=dict)     # number -> ErrorCode of its undelivered callback
    callback_delay: float = 0.0

    def __post_init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[Recorded] = []
        self.callbacks: list[Callback] = []
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._injections: list[_Injection] = []
        self._threads: list[threading.Thread] = []
        self._pending: queue.Queue = queue.Queue()
        self.inventory: dict[str, dict[str, list[dict[str, Any]]]] = {}     # country -> Local/TollFree -> numbers
        self.offered: set[str] = set()          # numbers a search answered (only those can be bought)
        self.numbers: dict[str, dict[str, Any]] = {}                         # PN sid -> IncomingPhoneNumber
        self.released: list[dict[str, Any]] = []
        for country, local, toll_free in DEFAULT_STOCK:
            self.stock(country, local=local, toll_free=toll_free)
        self._init_server("fake_twilio")
        self._routes()
        self._number_routes()
        self._sender_routes()

    def start(self):
        """Serve on a free loopback port with waitress (HTTP/1.1 keep-alive, a pool of threads): Werkzeug's
        development server closes every connection after one answer."""
        server = self._server = create_server(self.app, host="127.0.0.1", port=0, threads=SERVER_THREADS,
                                              ident="fake-twilio", expose_tracebacks=False)
        self.url = f"http://127.0.0.1:{server.effective_port}"

        def serve():
            try:
                server.run()
            except (OSError, ValueError):   # the socket map was closed under the loop by stop()
                pass
        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for _ in self._threads:
            self._pending.put(None)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._threads.clear()
        server, self._server = self._server, None
        if server is not None:       # the listener and every open keep-alive connection: a stopped fake answers nothing
            wasyncore.close_all(server._map)
            server.task_dispatcher.shutdown()
            self._thread.join(timeout=5)

    def settings(self, *, messaging_service: bool = False, **overrides) -> dict[str, Any]:
        """The LinkTime settings that point the Twilio client at this fake."""
        sender = {"TWILIO_FROM_NUMBER": "", "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID} \
            if messaging_service else {"TWILIO_FROM_NUMBER": FROM_NUMBER, "TWILIO_MESSAGING_SERVICE_SID": ""}
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token, **sender,
                "TWILIO_API_BASE": self.url, "INTEGRATION_HTTP_TIMEOUT": 5, **overrides}

    # -- test knobs
    def fail(self, status: int = 500, *, times: int = 1) -> None:
        with self.lock:
            self._injections.append(_Injection(times, status=status))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self._injections.append(_Injection(times, delay=seconds))

    def stock(self, country: str, *, local=(), toll_free=(), sms: bool = True, voice: bool = True) -> None:
        """Replace what ``country`` offers (E.164 strings); a country stocked with nothing answers empty lists."""
        def entry(number: str, kind: str) -> dict[str, Any]:
            return {"friendly_name": number, "phone_number": number, "lata": None, "locality": "Testville"
                    if kind == "Local" else None, "rate_center": None, "latitude": None, "longitude": None,
                    "region": None, "postal_code": None, "iso_country": country, "address_requirements": "none",
                    "beta": False, "capabilities": {"voice": voice, "SMS": sms, "MMS": False, "fax": False}}
        with self.lock:
            self.inventory[country] = {"Local": [entry(n, "Local") for n in local],
                                       "TollFree": [entry(n, "TollFree") for n in toll_free]}

    def wait_callbacks(self, count: int, timeout: float = 10.0) -> list[Callback]:
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.callbacks) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} status callbacks, got {len(self.callbacks)}")
                self._cond.wait(left)
            return list(self.callbacks)

    # -- the API
    def _routes(self) -> None:
        app = self.app
        base = f"/{API_VERSION}/Accounts/<account>"

        @app.before_request
        def _record_and_inject():
            raw = request.get_data(as_text=True)
            with self.lock:
                self.requests.append(Recorded(request.method, request.path, dict(request.headers),
                                              parse_qsl(raw, keep_blank_values=True), raw,
                                              parse_qsl(request.query_string.decode(), keep_blank_values=True)))
                injection = next((i for i in self._injections if i.times > 0), None)
                if injection is not None:
                    injection.times -= 1
            if injection is not None:
                if injection.delay:
                    time.sleep(injection.delay)
                if injection.status:
                    return _error(injection.status, 20500 if injection.status >= 500 else injection.status,
                                  "An internal server error has occurred" if injection.status >= 500
                                  else "Injected failure")
            refused = self._authenticate()
            if refused is not None:
                return refused
            return None

        @app.post(base + "/Messages.json")
        def create_message(account: str):
            if account != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            form = self._form()
            if isinstance(form, Response):
                return form
            to, sender, service = form.get("To"), form.get("From"), form.get("MessagingServiceSid")
            body, callback = form.get("Body"), form.get("StatusCallback")
            if not to:
                return _error(400, 21604, "A 'To' phone number is required.")
            if not E164.fullmatch(to.removeprefix("whatsapp:")):      # WhatsApp: whatsapp:+E164 (To and From)
                return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if not sender and not service:
                return _error(400, 21603, "A 'From' phone number is required.")
            if sender and service:
                return _error(400, 21603, "Give either 'From' or 'MessagingServiceSid', not both (fake's rule).")
            if sender and (not E164.fullmatch(sender.removeprefix("whatsapp:"))
                           or sender.startswith("whatsapp:") != to.startswith("whatsapp:")):
                return _error(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound "
                                          "phone number or short code for your account.")
            if service and not SERVICE_SID.fullmatch(service):
                return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
            if not body:
                return _error(400, 21602, "Message body is required.")
            if len(body) > MAX_BODY:
                return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
                return _error(400, 21609, "Invalid StatusCallback url")
            if to in self.unsubscribed:
                return _error(400, 21610, "Attempt to send to unsubscribed recipient")
            now = formatdate(usegmt=True)
            sid = "SM" + secrets.token_hex(16)
            message = {
                "account_sid": self.account_sid, "api_version": API_VERSION, "body": body, "date_created": now,
                "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
                "error_message": None, "from": sender, "messaging_service_sid": service, "num_media": "0",
                "num_segments": str(max(1, -(-len(body) // 153))), "price": None, "price_unit": "USD", "sid": sid,
                "status": "accepted" if service and not sender else "queued", "to": to,
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
                "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
                "status_callback": callback,
            }
            with self.lock:
                self.messages.append(message)
            if callback:
                self._queue_callbacks(message)
            public = {k: v for k, v in message.items() if k != "status_callback"}
            response = jsonify(public)
            response.status_code = 201
            return response

        @app.get(base + "/Messages.json")
        def list_messages(account: str):
            """Read a list of messages: newest first, filtered by To / From, one page of PageSize (default 50)."""
            if account != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            try:
                size = int(request.args.get("PageSize", "50"))
            except ValueError:
                return _error(400, 20001, "Invalid PageSize")
            if not 1 <= size <= 1000:
                return _error(400, 20001, "PageSize must be between 1 and 1000")
            to, sender = request.args.get("To"), request.args.get("From")
            with self.lock:
                rows = [m for m in reversed(self.messages)
                        if (to is None or m["to"] == to) and (sender is None or m["from"] == sender)][:size]
            uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json?PageSize={size}&Page=0"
            return jsonify({"messages": [{k: v for k, v in m.items() if k != "status_callback"} for m in rows],
                            "end": max(len(rows) - 1, 0), "first_page_uri": uri, "next_page_uri": None, "page": 0,
                            "page_size": size, "previous_page_uri": None, "start": 0, "uri": uri})

        @app.get(base + "/Messages/<sid>.json")
        def fetch_message(account: str, sid: str):
            if account != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            with self.lock:
                message = next((m for m in self.messages if m["sid"] == sid), None)
            if message is None:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            return jsonify({k: v for k, v in message.items() if k != "status_callback"})

    # -- phone numbers
    def _number_routes(self) -> None:
        app = self.app
        base = f"/{API_VERSION}/Accounts/<account>"

        @app.get(base + "/AvailablePhoneNumbers/<country>/<kind>.json")
        def available_numbers(account: str, country: str, kind: str):
            if account != self.account_sid or kind not in ("Local", "TollFree") or not COUNTRY.fullmatch(country):
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            args = request.args
            try:
                size = int(args.get("PageSize", "50"))
                flags = {key: _flag(args.get(name)) for key, name in (("SMS", "SmsEnabled"),
                                                                       ("voice", "VoiceEnabled"))}
            except ValueError:
                return _error(400, 20001, "Invalid PageSize, SmsEnabled or VoiceEnabled")
            if not 1 <= size <= 1000:
                return _error(400, 20001, "PageSize must be between 1 and 1000")
            area = args.get("AreaCode")
            if area is not None and not AREA_CODE.fullmatch(area):
                return _error(400, 21451, f"Invalid area code {area}")
            with self.lock:
                rows = [n for n in self.inventory.get(country, {}).get(kind, [])
                        if (area is None or (n["phone_number"].startswith("+1" + area) and country in ("US", "CA")))
                        and all(want is None or n["capabilities"][key] == want for key, want in flags.items())][:size]
                self.offered.update(n["phone_number"] for n in rows)
            uri = f"/{API_VERSION}/Accounts/{account}/AvailablePhoneNumbers/{country}/{kind}.json"
            return jsonify({"available_phone_numbers": rows, "uri": uri, "end": max(len(rows) - 1, 0),
                            "first_page_uri": uri, "next_page_uri": None, "page": 0, "page_size": size,
                            "previous_page_uri": None, "start": 0})

        @app.post(base + "/IncomingPhoneNumbers.json")
        def buy_number(account: str):
            if account != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            form = self._form()
            if isinstance(form, Response):
                return form
            number = form.get("PhoneNumber")
            if not number or not E164.fullmatch(number):
                return _error(400, 21421, f"PhoneNumber {number or ''} is invalid")
            refused = _invalid_hooks(form)
            if refused is not None:
                return refused
            with self.lock:
                stocked = next(((country, kind, n) for country, kinds in self.inventory.items()
                                for kind, rows in kinds.items() for n in rows if n["phone_number"] == number), None)
                if number not in self.offered or stocked is None:
                    return _error(400, 21422, f"PhoneNumber {number} is not available")
                country, kind, offer = stocked
                self.inventory[country][kind].remove(offer)
                self.offered.discard(number)
                now = formatdate(usegmt=True)
                sid = "PN" + secrets.token_hex(16)
                caps = offer["capabilities"]
                record = {
                    "account_sid": account, "address_requirements": "none", "address_sid": None,
                    "api_version": API_VERSION, "beta": False, "bundle_sid": None,
                    "capabilities": {"voice": caps["voice"], "sms": caps["SMS"], "mms": caps["MMS"], "fax": False},
                    "date_created": now, "date_updated": now, "emergency_address_sid": None,
                    "emergency_address_status": "unregistered", "emergency_status": "Inactive",
                    "friendly_name": form.get("FriendlyName") or number, "identity_sid": None, "origin": "twilio",
                    "phone_number": number, "sid": sid, "sms_application_sid": "", "sms_fallback_method": "POST",
                    "sms_fallback_url": "", "sms_method": "POST", "sms_url": "", "status": "in-use",
                    "status_callback": "", "status_callback_method": "POST", "trunk_sid": None,
                    "uri": f"/{API_VERSION}/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
                    "voice_application_sid": "", "voice_caller_id_lookup": False, "voice_fallback_method": "POST",
                    "voice_fallback_url": None, "voice_method": "POST", "voice_receive_mode": "voice",
                    "voice_url": "", "iso_country": country, "type": "local" if kind == "Local" else "tollfree",
                }
                _apply(record, form)
                self.numbers[sid] = record
            response = jsonify(record)
            response.status_code = 201
            return response

        @app.post(base + "/IncomingPhoneNumbers/<sid>.json")
        def update_number(account: str, sid: str):
            form = {} if not request.get_data() else self._form()
            if isinstance(form, Response):
                return form
            refused = _invalid_hooks(form)
            with self.lock:
                record = self.numbers.get(sid) if account == self.account_sid else None
                if record is None:
                    return _error(404, 20404, f"The requested resource {request.path} was not found")
                if refused is not None:
                    return refused
                _apply(record, form)
                record["date_updated"] = formatdate(usegmt=True)
                return jsonify(record)

        @app.delete(base + "/IncomingPhoneNumbers/<sid>.json")
        def release_number(account: str, sid: str):
            with self.lock:
                record = self.numbers.pop(sid, None) if account == self.account_sid else None
                if record is None:
                    return _error(404, 20404, f"The requested resource {request.path} was not found")
                self.released.append(record)
            return Response(status=204)

    def _authenticate(self) -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if scheme.lower() != "basic" or user != self.account_sid or password != self.auth_token:
            response = _error(401, 20003, "Authenticate")
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        return None

    def _form(self) -> dict[str, str] | Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return _error(400, 21604, "A 'To' phone number is required.")    # Twilio reads no parameters
        pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
        return dict(pairs)

    # -- status callbacks
    def _queue_callbacks(self, message: dict[str, Any]) -> None:
        with self.lock:
            if len(self._threads) < CALLBACK_SENDERS:
                thread = threading.Thread(target=self._callback_sender, daemon=True, name="fake-twilio-callbacks")
                self._threads.append(thread)
                thread.start()
        self._pending.put(message)

    def _callback_sender(self) -> None:
        with requests.Session() as session:
            session.trust_env = False
            while (message := self._pending.get()) is not None:
                self._send_callbacks(message, session)

    def _send_callbacks(self, message: dict[str, Any], session: requests.Session) -> None:
        to = message["to"]
        final = ("undelivered", self.undeliverable[to]) if to in self.undeliverable else ("delivered", None)
        for status, code in (("sent", None), final):
            if self.callback_delay:
                time.sleep(self.callback_delay)
            params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "MessageSid": message["sid"],
                      "SmsSid": message["sid"], "MessageStatus": status, "SmsStatus": status, "To": to,
                      "From": message["from"] or "+15005550006"}
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if code is not None:
                params["ErrorCode"] = str(code)
            with self.lock:
                message["status"] = status
                if code is not None:
                    message["error_code"] = code
            url = message["status_callback"]
            headers = {**signed_inbound(url, params, self.auth_token), "User-Agent": "TwilioProxy/1.1"}
            answered: int | None = None
            if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):     # tests never leave loopback
                try:
                    answered = session.post(url, data=params, headers=headers, timeout=5,
                                            allow_redirects=False).status_code
                except requests.RequestException:
                    pass
            with self._cond:
                self.callbacks.append(Callback(url, params, headers, answered))
                self._cond.notify_all()
