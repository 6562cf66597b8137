"""A fake of the Stripe API endpoints LinkTime uses, and of Stripe's signed webhooks.

Served on ``127.0.0.1:<free port>`` from a thread (``with StripeFake() as fake``); point ``STRIPE_API_BASE`` at
``fake.url``. Endpoints, as Stripe documents them (v1, form-encoded bodies with bracketed keys such as
``line_items[0][price_data][unit_amount]``):

* ``POST /v1/checkout/sessions``: mode ``payment``; ``line_items`` with ``quantity`` and ``price_data``
  (``currency`` lower-case ISO 4217, ``unit_amount`` an integer, ``product_data[name]``); ``success_url``;
  optional ``cancel_url``, ``client_reference_id`` (200 characters), ``metadata`` and
  ``payment_intent_data[metadata]`` (keys 40, values 500 characters), ``customer_email``, ``expires_at`` (30 minutes
  to 24 hours from now on the fake's clock), ``payment_method_types``, ``locale``;
* ``GET /v1/checkout/sessions/{id}``; an open Session whose ``expires_at`` passed reads as expired;
* ``POST /v1/checkout/sessions/{id}/expire``: only an open Session, else 400;
* ``POST /v1/refunds``: ``payment_intent`` (of a paid Session), optional ``amount`` (at most what is left:
  ``amount_too_large``; nothing left: ``charge_already_refunded``), ``reason``, ``metadata``.

Every request needs ``Authorization: Bearer <api_key>`` (401 otherwise). Unknown parameters, missing or malformed
ones answer 400 with Stripe's error shape ``{"error": {"type": "invalid_request_error", "message", "param"[,
"code"]}}``; unknown ids 404 ``resource_missing``. ``Idempotency-Key`` on POSTs: the same key with the same
endpoint and parameters answers the saved response again (header ``Idempotent-Replayed: true``); with other
parameters or another endpoint, 400 ``idempotency_error``; while the first request with a key is still running,
409 ``idempotency_key_in_use``. As at Stripe, a request refused by validation saves nothing. The fake is stricter than
Stripe in one respect: a currency in upper case is refused (LinkTime always sends lower case).

Test helpers: ``complete(session_id)`` pays an open Session (PaymentIntent ``pi_...``, Charge ``ch_...``) and
returns the ``checkout.session.completed`` event; ``expired_event``, ``payment_intent_succeeded_event`` and
``charge_refunded_event`` build the other events; ``sign(payload, secret, timestamp)`` builds a ``Stripe-Signature``
header and ``deliver(url, event)`` POSTs a signed event the way Stripe does. ``fail``/``slow`` inject errors and
delays (``work_delay``: each POST takes that long after claiming its idempotency key), ``calls`` lists what
arrived, ``advance(seconds)`` moves the fake's clock.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from flask import Response, request

from tests.fakes.flask_server import FlaskFake

API_KEY = "sk_test_linktime_fake_key"
WEBHOOK_SECRET = "whsec_linktime_fake_secret"
API_VERSION = "2026-10-28.endive"
SESSION_FIELDS = {"mode", "line_items", "success_url", "cancel_url", "client_reference_id", "metadata",
                  "payment_intent_data", "customer_email", "expires_at", "payment_method_types", "locale", "expand"}
LINE_ITEM_FIELDS = {"quantity", "price_data", "price"}
PRICE_DATA_FIELDS = {"currency", "unit_amount", "product_data", "product"}
PRODUCT_DATA_FIELDS = {"name", "description"}
REFUND_FIELDS = {"payment_intent", "amount", "reason", "metadata", "expand"}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
INTEGER = re.compile(r"(0|[1-9][0-9]{0,15})")
KEY_PART = re.compile(r"\[([^\[\]]*)\]")


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.param:
            error["param"] = self.param
        if self.code:
            error["code"] = self.code
        return {"error": error}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]              # the flat form fields as sent (bracketed keys)
    body: str


@dataclass
class _Injection:
    path: str | None
    times: int
    status: int = 0
    delay: float = 0.0
    body: Any = None
    headers: dict = field(default_factory=dict)


@dataclass
class _Saved:
    endpoint: tuple[str, str]
    params: list[tuple[str, str]]
    status: int = 0
    body: str = ""
    done: bool = False


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response


# --- form decoding as Stripe does it -----------------------------------------------------------------------------
def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` pairs into nested dicts; a dict whose keys are 0..n-1 becomes a list. Repeated keys: 400."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        rest = key[len(head):]
        parts = KEY_PART.findall(rest)
        if not head or "".join(f"[{p}]" for p in parts) != rest or any(p == "" for p in parts):
            raise StripeError(400, f"Invalid parameter name: {key}", param=key)
        node = root
        path = [head, *parts]
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StripeError(400, f"Invalid parameter: {key}", param=key)
            node = child
        if path[-1] in node:
            raise StripeError(400, f"Received a parameter twice: {key}", param=key)
        node[path[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes != list(range(len(indexes))):
            raise StripeError(400, "Invalid array: indexes must start at 0 and be consecutive")
        return [converted[str(i)] for i in indexes]
    return converted


def _unknown(body: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def _string(body: dict, key: str, param: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise StripeError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise StripeError(400, f"Invalid string: {param}", param=param)
    if len(value) > max_length:
        raise StripeError(400, f"Invalid string: {param} must be at most {max_length} characters", param=param)
    return value


def _integer(body: dict, key: str, param: str, *, required: bool = False) -> int | None:
    value = _string(body, key, param, required=required)
    if value is None:
        return None
    if not INTEGER.fullmatch(value):
        raise StripeError(400, f"Invalid integer: {value}", param=param)
    return int(value)


def _url(body: dict, key: str, *, required: bool = False) -> str | None:
    value = _string(body, key, key, required=required, max_length=5000)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StripeError(400, "Not a valid URL", param=key, code="url_invalid")
    return value


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 50:
        raise StripeError(400, f"Invalid hash: {param}", param=param)
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise StripeError(400, f"Invalid metadata: keys up to 40, values up to 500 characters ({param}[{key}])",
                              param=f"{param}[{key}]")
    return dict(value)


# --- the server -------------------------------------------------------------------------------------------------
class StripeFake(FlaskFake):
    def __init__(self, *, api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}    # per Session, as the fake understood them
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self.offset = 0.0                                  # advance() moves the fake's clock
        self.work_delay = 0.0                              # seconds each POST takes once its key is claimed
        self._saved: dict[str, _Saved] = {}
        self._injections: list[_Injection] = []
        self.webhook_url: str | None = None               # where the hosted page's "Pay" delivers its event
        self._init_server("fake_stripe")
        self._routes()


    def settings(self, **overrides) -> dict[str, Any]:
        """The LinkTime settings that point the Stripe client at this fake."""
        return {"STRIPE_SECRET_KEY": self.api_key, "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
                "STRIPE_API_BASE": self.url, "INTEGRATION_HTTP_TIMEOUT": 5, **overrides}

    # -- test knobs
    def now(self) -> int:
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds

    def fail(self, status: int = 500, *, times: int = 1, path: str | None = None, body: Any = None,
             headers: dict | None = None) -> None:
        with self.lock:
            self._injections.append(_Injection(path, times, status=status, body=body, headers=headers or {}))

    def slow(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        with self.lock:
            self._injections.append(_Injection(path, times, delay=seconds))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or r.path == path)]

    # -- plumbing
    def _routes(self) -> None:
        app = self.app

        @app.before_request
        def _record_and_inject():
            raw = request.get_data(as_text=True)
            with self.lock:
                form = dict(parse_qsl(raw, keep_blank_values=True)) if request.method == "POST" else \
                    request.args.to_dict()
                self.requests.append(Recorded(request.method, request.path, dict(request.headers), form, raw))
                injection = next((i for i in self._injections if i.times > 0
                                  and (i.path is None or request.path.startswith(i.path))), None)
                if injection:
                    injection.times -= 1
            if injection and injection.delay:
                time.sleep(injection.delay)
            if injection and injection.status:
                if isinstance(injection.body, bytes):
                    return Response(injection.body, status=injection.status, mimetype="text/html",
                                    headers=injection.headers)
                body = injection.body if injection.body is not None else {
                    "error": {"type": "api_error", "message": "injected failure"}}
                return _json(body, injection.status, injection.headers)
            return None

        @app.errorhandler(StripeError)
        def _error(exc: StripeError):
            return _json(exc.body(), exc.status)

        @app.errorhandler(404)
        def _not_found(exc):
            return _json(StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}).").body(),
                         404)

        @app.errorhandler(405)
        def _not_allowed(exc):
            return _json(StripeError(405, f"Unrecognized request URL ({request.method}: {request.path}).").body(),
                         405)

        app.add_url_rule("/v1/checkout/sessions", "create", self._api(self._create_session), methods=["POST"])
        app.add_url_rule("/v1/checkout/sessions/<session_id>", "retrieve", self._api(self._retrieve_session),
                         methods=["GET"])
        app.add_url_rule("/v1/checkout/sessions/<session_id>/expire", "expire", self._api(self._expire_session),
                         methods=["POST"])
        app.add_url_rule("/v1/refunds", "refund", self._api(self._create_refund), methods=["POST"])
        app.add_url_rule("/c/pay/<session_id>", "hosted", self._hosted_page, methods=["GET"])
        app.add_url_rule("/c/pay/<session_id>", "hosted_pay", self._hosted_pay, methods=["POST"])

    # -- the hosted Checkout page (browser tests): a Session's ``url``
    def _hosted_page(self, session_id: str) -> Response:
        from html import escape

        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                return Response("<!doctype html><title>Not found</title><h1>No such Checkout Session</h1>", 404,
                                mimetype="text/html")
            session = self._session(session_id)
            amount = f"{session['amount_total']} {session['currency']} (minor units)"
            status = session["status"]
        button = (f'<form method="post" action="/c/pay/{escape(session_id)}"><button type="submit">Pay</button></form>'
                  if status == "open" else f"<p id=\"status\">This Checkout Session is {escape(status)}.</p>")
        return Response(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fake Stripe Checkout'
                        f'</title></head><body><h1>Fake Stripe Checkout</h1><p id="amount">{escape(amount)}</p>'
                        f"{button}</body></html>", mimetype="text/html")

    def _hosted_pay(self, session_id: str) -> Response:
        """The invitee pays: the Session completes, its signed event goes to ``webhook_url``, then the browser
        goes to the Session's ``success_url`` (as Stripe does, after the event is sent)."""
        with self.lock:
            if session_id not in self.sessions:
                return Response("No such Checkout Session", 404)
            try:
                event = self.complete(session_id)
            except ValueError as exc:
                return Response(str(exc), 409)
            success_url = self.sessions[session_id]["success_url"]
        if self.webhook_url:
            self.deliver(self.webhook_url, event)
        return Response("", 303, headers={"Location": success_url})

    def _api(self, handler):
        def view(**kwargs):
            self._authenticate()
            if request.method != "POST":
                return _json(handler(None, **kwargs))
            if request.mimetype != "application/x-www-form-urlencoded" and request.get_data():
                raise StripeError(400, "Invalid request: the body must be application/x-www-form-urlencoded")
            pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
            key = request.headers.get("Idempotency-Key")
            if not key:
                return _json(handler(decode_form(pairs), **kwargs))
            return self._idempotent(key, sorted(pairs), handler, pairs, kwargs)
        view.__name__ = handler.__name__
        return view

    def _idempotent(self, key: str, fingerprint, handler, pairs, kwargs) -> Response:
        endpoint = (request.method, request.path)
        with self.lock:
            saved = self._saved.get(key)
            if saved is None:
                saved = self._saved[key] = _Saved(endpoint, fingerprint)
            elif not saved.done:
                raise StripeError(409, "There is currently another in-progress request using this Stripe API key "
                                       "(or one of its restricted keys) with the same idempotency key.",
                                  code="idempotency_key_in_use")
            elif saved.endpoint != endpoint or saved.params != fingerprint:
                raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters "
                                       f"they were first used with. Try using a key other than '{key}' if you meant "
                                       "to execute a different request.", kind="idempotency_error")
            else:
                return Response(saved.body, status=saved.status, mimetype="application/json",
                                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
        try:
            time.sleep(self.work_delay)
            body = json.dumps(handler(decode_form(pairs), **kwargs), indent=2)
        except BaseException:
            with self.lock:                                # refused (or broken): nothing is saved
                del self._saved[key]
            raise
        with self.lock:
            saved.status, saved.body, saved.done = 200, body, True
        return Response(body, status=200, mimetype="application/json", headers={"Idempotency-Key": key})

    def _authenticate(self) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not value:
            raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                                   "Authorization header, using Bearer auth.")
        if not hmac.compare_digest(value.encode(), self.api_key.encode()):
            raise StripeError(401, f"Invalid API Key provided: {value[:8]}{'*' * 4}{value[-4:]}")

    # -- Checkout Sessions
    def _create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        _unknown(body, SESSION_FIELDS)
        mode = _string(body, "mode", "mode", required=True)
        if mode != "payment":
            raise StripeError(400, f"Invalid mode: this fake implements only payment, not {mode!r}", param="mode")
        items = body.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "You must specify `line_items` in `payment` mode.", param="line_items",
                              code="parameter_missing")
        total, currency, line_items = 0, None, []
        for index, item in enumerate(items):
            line_items.append(self._line_item(item, f"line_items[{index}]"))
            if currency not in (None, line_items[-1]["currency"]):
                raise StripeError(400, "All line items must have the same currency.", param=f"line_items[{index}]")
            currency = line_items[-1]["currency"]
            total += line_items[-1]["amount_total"]
        success_url = _url(body, "success_url", required=True)
        cancel_url = _url(body, "cancel_url")
        reference = _string(body, "client_reference_id", "client_reference_id", max_length=200)
        metadata = _metadata(body.get("metadata"), "metadata")
        intent_data = body.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise StripeError(400, "Invalid hash: payment_intent_data", param="payment_intent_data")
        _unknown(intent_data, {"metadata", "description"}, "payment_intent_data")
        intent_metadata = _metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")
        email = _string(body, "customer_email", "customer_email", max_length=800)
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise StripeError(400, f"Invalid email address: {email}", param="customer_email", code="email_invalid")
        methods = body.get("payment_method_types") or ["card"]
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise StripeError(400, "Invalid array: payment_method_types", param="payment_method_types")
        now = self.now()
        expires_at = _integer(body, "expires_at", "expires_at")
        if expires_at is None:
            expires_at = now + 86400
        elif expires_at < now + 1800:
            raise StripeError(400, "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                                   "creation.", param="expires_at")
        elif expires_at > now + 86400:
            raise StripeError(400, "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                                   "creation.", param="expires_at")
        session_id = "cs_test_" + secrets.token_urlsafe(40).replace("-", "x").replace("_", "y")
        session = {
            "id": session_id, "object": "checkout.session", "amount_subtotal": total, "amount_total": total,
            "cancel_url": cancel_url, "client_reference_id": reference, "created": now, "currency": currency,
            "customer_details": None, "customer_email": email, "expires_at": expires_at, "livemode": False,
            "locale": body.get("locale"), "metadata": metadata, "mode": "payment", "payment_intent": None,
            "payment_method_types": methods, "payment_status": "unpaid", "status": "open",
            "success_url": success_url, "url": f"{self.url}/c/pay/{session_id}",
        }
        with self.lock:
            self.sessions[session_id] = session
            self.line_items[session_id] = line_items
            session["_intent_metadata"] = intent_metadata
        return self._public(session)

    @staticmethod
    def _line_item(item: Any, param: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise StripeError(400, f"Invalid hash: {param}", param=param)
        _unknown(item, LINE_ITEM_FIELDS, param)
        quantity = _integer(item, "quantity", f"{param}[quantity]", required=True)
        if quantity < 1:
            raise StripeError(400, "Quantity must be at least 1", param=f"{param}[quantity]")
        if "price" in item:
            raise StripeError(400, "This fake implements price_data only", param=f"{param}[price]")
        price = item.get("price_data")
        if not isinstance(price, dict):
            raise StripeError(400, f"Missing required param: {param}[price_data].", param=f"{param}[price_data]",
                              code="parameter_missing")
        _unknown(price, PRICE_DATA_FIELDS, f"{param}[price_data]")
        currency = _string(price, "currency", f"{param}[price_data][currency]", required=True)
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeError(400, f"Invalid currency: {currency}", param=f"{param}[price_data][currency]")
        amount = _integer(price, "unit_amount", f"{param}[price_data][unit_amount]", required=True)
        if amount > 99_999_999:
            raise StripeError(400, "Invalid integer: unit_amount is too large",
                              param=f"{param}[price_data][unit_amount]")
        product = price.get("product_data")
        if not isinstance(product, dict):
            raise StripeError(400, f"Missing required param: {param}[price_data][product_data].",
                              param=f"{param}[price_data][product_data]", code="parameter_missing")
        _unknown(product, PRODUCT_DATA_FIELDS, f"{param}[price_data][product_data]")
        name = _string(product, "name", f"{param}[price_data][product_data][name]", required=True)
        if not name.strip():
            raise StripeError(400, "A product name must not be empty",
                              param=f"{param}[price_data][product_data][name]")
        return {"currency": currency, "unit_amount": amount, "quantity": quantity, "name": name,
                "amount_total": amount * quantity}

    def _session(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise StripeError(404, f"No such checkout.session: '{session_id}'", param="session",
                                  code="resource_missing")
            if session["status"] == "open" and self.now() >= session["expires_at"]:
                session.update(status="expired", url=None)
            return session

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _retrieve_session(self, body, session_id: str) -> dict[str, Any]:
        return self._public(self._session(session_id))

    def _expire_session(self, body: dict[str, Any], session_id: str) -> dict[str, Any]:
        _unknown(body, {"expand"})
        with self.lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise StripeError(400, 'Only Checkout Sessions with a status in ["open"] can be expired. This '
                                       f'Checkout Session has a status of "{session["status"]}".')
            session.update(status="expired", url=None)
            return self._public(session)

    # -- refunds
    def _create_refund(self, body: dict[str, Any]) -> dict[str, Any]:
        _unknown(body, REFUND_FIELDS)
        intent_id = _string(body, "payment_intent", "payment_intent")
        if intent_id is None:
            raise StripeError(400, "One of the following params should be provided for this request: payment_intent "
                                   "or charge.", param="payment_intent", code="parameter_missing")
        amount = _integer(body, "amount", "amount")
        reason = _string(body, "reason", "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(400, f"Invalid reason: must be one of {', '.join(sorted(REFUND_REASONS))}",
                              param="reason")
        metadata = _metadata(body.get("metadata"), "metadata")
        with self.lock:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise StripeError(400, f"No such payment_intent: '{intent_id}'", param="payment_intent",
                                  code="resource_missing")
            charge = self.charges[intent["latest_charge"]]
            left = charge["amount"] - charge["amount_refunded"]
            if left <= 0:
                raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                                  code="charge_already_refunded")
            if amount is None:
                amount = left
            if amount < 1:
                raise StripeError(400, "Refund amount must be positive.", param="amount")
            if amount > left:
                raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                                       f"({left})", param="amount", code="amount_too_large")
            refund = {"id": "re_" + secrets.token_hex(12), "object": "refund", "amount": amount,
                      "charge": charge["id"], "created": self.now(), "currency": charge["currency"],
                      "metadata": metadata, "payment_intent": intent_id, "reason": reason, "status": "succeeded"}
            self.refunds[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            return dict(refund)

    # -- what Stripe would do and send
    def complete(self, session_id: str, *, payment_method: str = "card", email: str = "bo@example.com") -> dict:
        """The invitee pays: the Session completes; answers the ``checkout.session.completed`` event."""
        with self.lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"the Session is {session['status']}, not open")
            intent_id, charge_id = "pi_" + secrets.token_hex(12), "ch_" + secrets.token_hex(12)
            metadata = dict(session["_intent_metadata"])
            self.charges[charge_id] = {
                "id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_captured":
                session["amount_total"], "amount_refunded": 0, "currency": session["currency"], "captured": True,
                "created": self.now(), "metadata": metadata, "paid": True, "payment_intent": intent_id,
                "payment_method_details": {"type": payment_method}, "refunded": False, "status": "succeeded"}
            self.payment_intents[intent_id] = {
                "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
                "amount_received": session["amount_total"], "currency": session["currency"], "created": self.now(),
                "latest_charge": charge_id, "metadata": metadata, "payment_method_types": [payment_method],
                "status": "succeeded"}
            session.update(status="complete", payment_status="paid", payment_intent=intent_id, url=None,
                           customer_details={"email": email, "name": None})
            return self.event("checkout.session.completed", self._public(session))

    def expired_event(self, session_id: str) -> dict:
        session = self._session(session_id)
        if session["status"] != "expired":
            raise ValueError("the Session has not expired")
        return self.event("checkout.session.expired", self._public(session))

    def payment_intent_succeeded_event(self, payment_intent: str) -> dict:
        return self.event("payment_intent.succeeded", dict(self.payment_intents[payment_intent]))

    def charge_refunded_event(self, payment_intent: str) -> dict:
        with self.lock:
            charge = self.charges[self.payment_intents[payment_intent]["latest_charge"]]
            return self.event("charge.refunded", json.loads(json.dumps(charge)))

    def event(self, kind: str, obj: dict[str, Any]) -> dict:
        return {"id": "evt_" + secrets.token_hex(12), "object": "event", "api_version": API_VERSION,
                "created": self.now(), "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}, "type": kind}

    def sign(self, payload: bytes | str, secret: str | None = None, timestamp: int | None = None) -> str:
        """A ``Stripe-Signature`` header for ``payload``: ``t=<timestamp>,v1=<HMAC-SHA256 of "t.payload">``."""
        body = payload.encode() if isinstance(payload, str) else payload
        t = self.now() if timestamp is None else int(timestamp)
        digest = hmac.new((secret or self.webhook_secret).encode(), f"{t}.".encode() + body, hashlib.sha256)
        return f"t={t},v1={digest.hexdigest()}"

    def deliver(self, url: str, event: dict | bytes, *, secret: str | None = None, timestamp: int | None = None,
                signature: str | None = None, timeout: float = 10) -> requests.Response:
        """POST ``event`` to ``url`` as Stripe does (JSON body, ``Stripe-Signature``); ``signature`` overrides it."""
        body = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode()
        header = signature if signature is not None else self.sign(body, secret, timestamp)
        return requests.post(url, data=body, timeout=timeout, allow_redirects=False, headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)", "Cache-Control": "no-cache"})
