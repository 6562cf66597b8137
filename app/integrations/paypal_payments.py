"""PayPal payments: the REST API called directly (no SDK) through the outbound HTTP guard (``app.net``).

Endpoints below ``PAYPAL_API_BASE`` (https://api-m.sandbox.paypal.com or https://api-m.paypal.com):

  POST /v1/oauth2/token                                 Basic client_id:secret, grant_type=client_credentials
  POST /v2/checkout/orders                              create an order (intent CAPTURE)   PayPal-Request-Id
  GET  /v2/checkout/orders/{order_id}                   read it
  POST /v2/checkout/orders/{order_id}/capture           take the approved payment          PayPal-Request-Id
  POST /v2/payments/captures/{capture_id}/refund        give it back, all or part          PayPal-Request-Id
  POST /v1/notifications/verify-webhook-signature       PayPal checks a webhook event's signature

A paid booking: ``create_order`` (the booking id as ``reference_id`` and ``custom_id``) -> the invitee approves at
``order.approve_url`` -> PayPal sends ``CHECKOUT.ORDER.APPROVED`` -> ``capture_order`` -> PayPal sends
``PAYMENT.CAPTURE.COMPLETED``, which confirms the booking. With intent CAPTURE no money moves until LinkTime
captures: an order that is never captured is never charged (PayPal voids it after its validity), so releasing a
held slot needs no call. ``PAYMENT.CAPTURE.REFUNDED`` follows a refund.

Amounts are integer minor units with lower-case currency codes (``app.money``), sent as PayPal's decimal strings
in upper case; PayPal takes only ``CURRENCIES`` (HUF and TWD without decimals). Every write carries the caller's
``PayPal-Request-Id``: repeating a call with the same id (after a timeout, a crash, a retried task) answers the
first result instead of creating, capturing or refunding twice.

The access token (client credentials) is cached per client until shortly before ``expires_in``; an API answer 401
drops it and the call is tried once more with a fresh one. Failures are the integrations' vocabulary
(``app.integrations.errors``) with PayPal's issue (``ORDER_NOT_APPROVED``, ``DECIMAL_PRECISION``...) as ``code``;
a webhook that does not verify raises ``WebhookRejected``.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app import money, net
from app.integrations.errors import (
    AuthRevoked,
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
    retry_after_seconds,
)

PROVIDER = "paypal"
LIVE_API = "https://api-m.paypal.com"
SANDBOX_API = "https://api-m.sandbox.paypal.com"
DEFAULT_TIMEOUT = 10.0
TOKEN_MARGIN = 300.0                  # seconds before expiry from which a cached token is replaced
WEBHOOK_TOLERANCE = 300.0             # a transmission time further than this from now is refused (replay)
MAX_EVENT_BYTES = 512 * 1024

# The currencies PayPal takes and the decimals it wants in ``value`` (HUF and TWD: none, unlike ISO 4217).
CURRENCIES: dict[str, int] = {
    "aud": 2, "brl": 2, "cad": 2, "chf": 2, "cny": 2, "czk": 2, "dkk": 2, "eur": 2, "gbp": 2, "hkd": 2, "huf": 0,
    "ils": 2, "jpy": 0, "mxn": 2, "myr": 2, "nok": 2, "nzd": 2, "php": 2, "pln": 2, "sek": 2, "sgd": 2, "thb": 2,
    "twd": 0, "usd": 2,
}

# Order statuses (Orders v2): waiting for the payer, approved (ready to capture), captured, or voided.
AWAITING_PAYER = frozenset({"CREATED", "SAVED", "PAYER_ACTION_REQUIRED"})
APPROVED, COMPLETED, VOIDED = "APPROVED", "COMPLETED", "VOIDED"
# The webhook events a booking listens to.
ORDER_APPROVED = "CHECKOUT.ORDER.APPROVED"
CAPTURE_COMPLETED = "PAYMENT.CAPTURE.COMPLETED"
CAPTURE_DENIED = "PAYMENT.CAPTURE.DENIED"
CAPTURE_REFUNDED = "PAYMENT.CAPTURE.REFUNDED"

WEBHOOK_HEADERS = ("PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG",
                   "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,108}")
_RESOURCE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_TRANSMISSION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/=_-]{1,1000}")      # base64 (either alphabet)
_ALGO = re.compile(r"[A-Za-z0-9]{1,100}")


class WebhookRejected(PermanentError):
    """A webhook event that must not be acted on (answer 400): ``code`` says why: ``missing_header``,
    ``malformed``, ``stale``, ``not_verified``."""


# --- amounts ---------------------------------------------------------------------------------------------------
def supports_currency(code: str) -> bool:
    return isinstance(code, str) and code.strip().lower() in CURRENCIES


def paypal_amount(minor: int, currency: str) -> dict[str, str]:
    """``{"currency_code": "USD", "value": "49.99"}`` for 4999 minor units of USD, built without float.

    ValueError (``money.MoneyError``) for a currency PayPal does not take, an amount that is not a positive int,
    or an amount PayPal cannot express (HUF and TWD: whole units only)."""
    cur = money.currency(currency)
    if cur.code not in CURRENCIES:
        raise money.MoneyError(f"PayPal does not take {cur.upper}.")
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise money.MoneyError("A PayPal amount is a positive number of minor units.")
    drop = cur.decimals - CURRENCIES[cur.code]
    if minor % 10**drop:
        raise money.MoneyError(f"PayPal takes {cur.upper} amounts in whole units only.")
    return {"currency_code": cur.upper, "value": money.decimal_string(minor // 10**drop, CURRENCIES[cur.code])}


def amount_from_paypal(body: Any) -> tuple[int, str]:
    """(minor units, lower-case currency) of a PayPal money object; PermanentError when it cannot be read."""
    try:
        cur = money.currency(body["currency_code"])
        return money.parse_amount(str(body["value"]), cur.code), cur.code
    except (KeyError, TypeError, money.MoneyError) as exc:
        raise PermanentError("PayPal answered an amount LinkTime cannot read.", provider=PROVIDER) from exc


# --- what the calls return -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capture:
    id: str
    status: str                        # COMPLETED, PENDING, DECLINED, REFUNDED, PARTIALLY_REFUNDED, FAILED
    amount: int | None
    currency: str | None
    custom_id: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Order:
    id: str
    status: str                        # CREATED / PAYER_ACTION_REQUIRED, APPROVED, COMPLETED, VOIDED
    approve_url: str | None            # where the invitee approves (link "payer-action", or "approve")
    reference_id: str | None
    custom_id: str | None              # the booking id
    amount: int | None
    currency: str | None
    captures: tuple[Capture, ...] = ()
    payer_email: str | None = None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def awaiting_payer(self) -> bool:
        return self.status in AWAITING_PAYER

    @property
    def completed_capture(self) -> Capture | None:
        """The capture whose money arrived (check this, not only the order's COMPLETED status)."""
        return next((c for c in self.captures if c.status == "COMPLETED"), None)


@dataclass(frozen=True)
class Refund:
    id: str
    status: str                        # COMPLETED, PENDING, CANCELLED, FAILED
    amount: int | None
    currency: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    id: str                            # the event id: the same on every redelivery (deduplicate on it)
    event_type: str                    # CHECKOUT.ORDER.APPROVED, PAYMENT.CAPTURE.COMPLETED, ...
    resource_type: str | None
    resource: dict[str, Any]
    transmission_id: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def order_id(self) -> str | None:
        """The order an order event is about, or the order a capture belongs to."""
        if self.event_type.startswith("CHECKOUT.ORDER."):
            return _str(self.resource.get("id"))
        return _str(_dig(self.resource, "supplementary_data", "related_ids", "order_id"))

    @property
    def capture_id(self) -> str | None:
        """The capture of a PAYMENT.CAPTURE.* event (for a refund event: the refunded capture)."""
        if self.event_type == CAPTURE_REFUNDED:
            return _link_id(self.resource, "up", "/captures/")
        if self.event_type.startswith("PAYMENT.CAPTURE."):
            return _str(self.resource.get("id"))
        return None

    @property
    def booking_id(self) -> str | None:
        """The ``custom_id`` LinkTime gave the order (carried on to its captures and refunds)."""
        if self.event_type.startswith("CHECKOUT.ORDER."):
            units = self.resource.get("purchase_units")
            return _str(_dig(units[0], "custom_id")) if isinstance(units, list) and units else None
        return _str(self.resource.get("custom_id"))

    @property
    def amount(self) -> tuple[int, str] | None:
        """(minor units, currency) of a capture or refund event's resource."""
        return amount_from_paypal(self.resource["amount"]) if "amount" in self.resource else None


# --- configuration ---------------------------------------------------------------------------------------------
def configured(settings: Mapping[str, Any]) -> bool:
    """Whether the instance offers PayPal (client id, secret and webhook id all set)."""
    return all(settings.get(n) for n in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"))


def config_from_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    mode = str(settings.get("PAYPAL_MODE") or "sandbox")
    return {"client_id": settings.get("PAYPAL_CLIENT_ID"), "client_secret": settings.get("PAYPAL_CLIENT_SECRET"),
            "webhook_id": settings.get("PAYPAL_WEBHOOK_ID"),
            "api_base": settings.get("PAYPAL_API_BASE") or (LIVE_API if mode == "live" else SANDBOX_API),
            "timeout": float(settings.get("INTEGRATION_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)}


_clients: dict[tuple, PayPalClient] = {}
_clients_lock = threading.Lock()


def client_from_settings(settings: Mapping[str, Any]) -> PayPalClient:
    """One client per configuration for the process, so its access token is reused across requests and tasks."""
    config = config_from_settings(settings)
    key = tuple(sorted((k, str(v)) for k, v in config.items()))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = PayPalClient(config)
        return client


# --- the client ------------------------------------------------------------------------------------------------
class PayPalClient:
    """Config keys: ``client_id``, ``client_secret``, ``webhook_id`` (for ``verify_webhook``), ``api_base``
    (default sandbox), ``timeout`` (seconds for the whole exchange, default 10). PayPal's own hosts are reached
    only at public addresses over https; any other ``api_base`` (a local fake, a proxy) is the operator's choice
    and may be private or plain http. ``clock`` (epoch seconds) is for tests."""

    name = PROVIDER

    def __init__(self, config: Mapping[str, Any], *, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        for key in ("client_id", "client_secret"):
            if not config.get(key):
                raise ValueError(f"paypal: {key} is not configured")
        self.client_id = str(config["client_id"])
        self._client_secret = str(config["client_secret"])
        self.webhook_id = str(config.get("webhook_id") or "")
        self.api_base = str(config.get("api_base") or SANDBOX_API).rstrip("/")
        self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
        self.allow_private = self.api_base not in (LIVE_API, SANDBOX_API)
        parts = urlsplit(self.api_base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("paypal: api_base must be an http(s) URL")
        self._session = session
        self._clock = clock
        self._token: tuple[str, float] | None = None          # (access token, epoch seconds to replace it at)
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:                                # never print the secret or a token
        return f"PayPalClient(api_base={self.api_base!r}, client_id={self.client_id!r})"

    # -- access token
    def access_token(self) -> str:
        """The cached token, or a new one from ``/v1/oauth2/token`` once it is within TOKEN_MARGIN of expiry."""
        with self._token_lock:
            if self._token is not None and self._clock() < self._token[1]:
                return self._token[0]
            obtained_at = self._clock()
            response = self._send("POST", "/v1/oauth2/token", data={"grant_type": "client_credentials"},
                                  auth=(self.client_id, self._client_secret), token_endpoint=True)
            body = self._json(response)
            token, lifetime = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not token:
                raise PermanentError("PayPal's token endpoint answered without an access token.", provider=PROVIDER)
            if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
                raise PermanentError("PayPal's token endpoint answered a malformed expires_in.", provider=PROVIDER)
            self._token = (token, obtained_at + lifetime - min(TOKEN_MARGIN, lifetime / 2))
            return token

    def forget_token(self, token: str | None = None) -> None:
        with self._token_lock:
            if self._token is not None and (token is None or self._token[0] == token):
                self._token = None

    # -- orders
    def create_order(self, *, booking_id: str, amount: int, currency: str, return_url: str, cancel_url: str,
                     request_id: str, description: str | None = None, brand_name: str | None = None,
                     locale: str | None = None) -> Order:
        """An order of ``amount`` minor units for one booking; send the invitee to ``approve_url``."""
        _check_reference(booking_id)
        for what, url in (("return_url", return_url), ("cancel_url", cancel_url)):
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ValueError(f"paypal: {what} must be an absolute http(s) URL")
        unit: dict[str, Any] = {"reference_id": booking_id, "custom_id": booking_id,
                                "amount": paypal_amount(amount, currency)}
        if description:
            unit["description"] = description[:127]
        experience: dict[str, Any] = {"return_url": return_url, "cancel_url": cancel_url, "user_action": "PAY_NOW",
                                      "shipping_preference": "NO_SHIPPING",
                                      "payment_method_preference": "IMMEDIATE_PAYMENT_REQUIRED"}
        if brand_name:
            experience["brand_name"] = brand_name[:127]
        if locale:
            experience["locale"] = locale
        body = {"intent": "CAPTURE", "purchase_units": [unit],
                "payment_source": {"paypal": {"experience_context": experience}}}
        return _order(self._api("POST", "/v2/checkout/orders", json_body=body, request_id=request_id))

    def get_order(self, order_id: str) -> Order:
        return _order(self._api("GET", f"/v2/checkout/orders/{_resource_id(order_id)}"))

    def capture_order(self, order_id: str, *, request_id: str) -> Order:
        """Take the payment of an APPROVED order. PermanentError code ``ORDER_NOT_APPROVED`` before approval,
        ``ORDER_ALREADY_CAPTURED`` when it was captured under another request id."""
        return _order(self._api("POST", f"/v2/checkout/orders/{_resource_id(order_id)}/capture", request_id=request_id,
                                empty_json=True))

    def refund_capture(self, capture_id: str, *, request_id: str, amount: int | None = None,
                       currency: str | None = None, note_to_payer: str | None = None) -> Refund:
        """Refund a capture: all of it (``amount`` None) or ``amount`` minor units of ``currency``."""
        body: dict[str, Any] = {}
        if amount is not None:
            if currency is None:
                raise ValueError("paypal: a partial refund needs its currency")
            body["amount"] = paypal_amount(amount, currency)
        if note_to_payer:
            body["note_to_payer"] = note_to_payer[:255]
        answer = self._api("POST", f"/v2/payments/captures/{_resource_id(capture_id)}/refund", json_body=body,
                           request_id=request_id)
        return _refund(answer)

    # -- webhooks
    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> WebhookEvent:
        """The event of a webhook request, once PayPal confirmed its signature (``verification_status`` SUCCESS).

        ``body`` is the raw request body: it is passed to PayPal byte for byte (a re-serialized event would not
        match the signature). A missing transmission header, a body that is not a JSON event, or a transmission
        time more than 5 minutes from now raise ``WebhookRejected`` before anything is sent; so does any answer
        but SUCCESS. PayPal being unreachable is a TransientError (answer 5xx so PayPal delivers again)."""
        if not self.webhook_id:
            raise PermanentError("PAYPAL_WEBHOOK_ID is not configured.", provider=PROVIDER, code="not_configured")
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        values = {}
        for name in WEBHOOK_HEADERS:
            value = lowered.get(name.lower(), "").strip()
            if not value:
                raise WebhookRejected(f"The webhook request has no {name} header.", provider=PROVIDER,
                                      code="missing_header")
            values[name] = value
        _check_transmission(values, now=self._clock() if now is None else now)
        event, text = _parse_event(body)
        fields = {"auth_algo": values["PAYPAL-AUTH-ALGO"], "cert_url": values["PAYPAL-CERT-URL"],
                  "transmission_id": values["PAYPAL-TRANSMISSION-ID"],
                  "transmission_sig": values["PAYPAL-TRANSMISSION-SIG"],
                  "transmission_time": values["PAYPAL-TRANSMISSION-TIME"], "webhook_id": self.webhook_id}
        payload = json.dumps(fields)[:-1] + ', "webhook_event": ' + text + "}"
        try:
            answer = self._api("POST", "/v1/notifications/verify-webhook-signature", raw_json=payload.encode())
        except PermanentError as exc:
            if exc.status == 400:          # PayPal refused the fields themselves: a forged or mangled request
                raise WebhookRejected(f"PayPal refused to check the webhook ({exc.message}).", provider=PROVIDER,
                                      status=400, code="malformed") from exc
            raise
        if answer.get("verification_status") != "SUCCESS":
            raise WebhookRejected("PayPal did not confirm the webhook's signature.", provider=PROVIDER,
                                  code="not_verified")
        return WebhookEvent(id=str(event["id"]), event_type=str(event["event_type"]),
                            resource_type=_str(event.get("resource_type")), resource=event["resource"],
                            transmission_id=values["PAYPAL-TRANSMISSION-ID"], raw=event)

    # -- HTTP
    def _api(self, method: str, path: str, *, json_body: Any = None, raw_json: bytes | None = None,
             request_id: str | None = None, empty_json: bool = False) -> dict[str, Any]:
        headers = {"Prefer": "return=representation"}
        if request_id is not None:
            if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
                raise ValueError("paypal: request_id is 1-108 letters, digits and . _ : -")
            headers["PayPal-Request-Id"] = request_id
        data = raw_json
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
        if data is not None or empty_json:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            token = self.access_token()
            try:
                return self._json(self._send(method, path, data=data, headers=headers, bearer=token))
            except Unauthorized:
                self.forget_token(token)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, *, data: Any = None, headers: Mapping[str, str] | None = None,
              auth: tuple[str, str] | None = None, bearer: str | None = None,
              token_endpoint: bool = False) -> requests.Response:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if bearer is not None:
            all_headers["Authorization"] = f"Bearer {bearer}"
        url = self.api_base + path
        if not self.allow_private and not url.startswith("https://"):
            raise PermanentError("PayPal is only reached over https.", provider=PROVIDER)
        session = self._session or net.session(self.allow_private)
        try:
            with net.deadline(self.timeout):
                response = session.request(method, url, data=data, headers=all_headers, auth=auth,
                                           timeout=self.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise TransientError(f"PayPal did not answer within {self.timeout:g} s.", provider=PROVIDER) from exc
        except (requests.RequestException, net.AddressNotAllowed) as exc:
            cause: BaseException | None = exc
            while cause is not None:
                if isinstance(cause, net.AddressNotAllowed | net.InvalidHostName):
                    raise PermanentError(f"PayPal's address is not allowed ({cause}).", provider=PROVIDER) from exc
                cause = cause.__cause__ or cause.__context__
            if net.expired():
                raise TransientError(f"PayPal did not answer within {self.timeout:g} s.", provider=PROVIDER) from exc
            raise TransientError(f"PayPal could not be reached ({type(exc).__name__}).", provider=PROVIDER) from exc
        if 200 <= response.status_code < 300:
            return response
        raise _classify(response, token_endpoint)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError("PayPal answered something that is not JSON.", provider=PROVIDER,
                                 status=response.status_code) from exc
        if not isinstance(body, dict):
            raise PermanentError("PayPal answered an unexpected JSON document.", provider=PROVIDER,
                                 status=response.status_code)
        return body


# --- helpers ---------------------------------------------------------------------------------------------------
def _classify(response: requests.Response, token_endpoint: bool) -> IntegrationError:
    """PayPal's errors: ``{"name", "message", "debug_id", "details": [{"issue", "field", ...}]}`` from the REST
    APIs, ``{"error", "error_description"}`` from the token endpoint."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    details = body.get("details") if isinstance(body.get("details"), list) else []
    issue = next((d.get("issue") for d in details if isinstance(d, dict) and d.get("issue")), None)
    name = body.get("name") or body.get("error")
    code = str(issue or name) if (issue or name) else None
    debug_id = body.get("debug_id") or response.headers.get("PayPal-Debug-Id")
    text = " ".join(str(p) for p in (name, issue) if p) or f"HTTP {status}"
    message = f"PayPal answered {status}: {text[:200]}" + (f" (debug id {str(debug_id)[:40]})" if debug_id else "")
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status, "code": code}
    if status == 429 or status >= 500 or status == 409:     # 409: the same PayPal-Request-Id is still in progress
        return TransientError(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")), **kwargs)
    if token_endpoint and status in (400, 401):
        return AuthRevoked("PayPal refused the client id or secret (PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET): "
                           + message, **kwargs)
    if status == 401:
        return Unauthorized(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    return PermanentError(message, **kwargs)


def _check_transmission(values: Mapping[str, str], *, now: float) -> None:
    try:
        sent = datetime.fromisoformat(values["PAYPAL-TRANSMISSION-TIME"])
    except ValueError:
        sent = None
    if sent is None or sent.tzinfo is None:
        raise WebhookRejected("The webhook's transmission time is not a date-time with a time zone.",
                              provider=PROVIDER, code="malformed")
    if abs(sent.astimezone(UTC).timestamp() - now) > WEBHOOK_TOLERANCE:
        raise WebhookRejected("The webhook's transmission time is more than 5 minutes from now.", provider=PROVIDER,
                              code="stale")
    for name, pattern in (("PAYPAL-TRANSMISSION-ID", _TRANSMISSION_ID), ("PAYPAL-TRANSMISSION-SIG", _SIGNATURE)):
        if not pattern.fullmatch(values[name]):
            raise WebhookRejected(f"The webhook's {name} header is malformed.", provider=PROVIDER, code="malformed")
    if not _ALGO.fullmatch(values["PAYPAL-AUTH-ALGO"]) or len(values["PAYPAL-CERT-URL"]) > 500:
        raise WebhookRejected("The webhook's PAYPAL-AUTH-ALGO or PAYPAL-CERT-URL header is malformed.",
                              provider=PROVIDER, code="malformed")


def _parse_event(body: bytes) -> tuple[dict[str, Any], str]:
    if not isinstance(body, bytes | bytearray) or len(body) > MAX_EVENT_BYTES:
        raise WebhookRejected("The webhook body is missing or too large.", provider=PROVIDER, code="malformed")
    try:
        text = bytes(body).decode("utf-8")
        event = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("The webhook body is not JSON.", provider=PROVIDER, code="malformed") from None
    if (not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]
            or not isinstance(event.get("event_type"), str) or not isinstance(event.get("resource"), dict)):
        raise WebhookRejected("The webhook body is not a PayPal event.", provider=PROVIDER, code="malformed")
    return event, text


def _check_reference(booking_id: str) -> None:
    if not isinstance(booking_id, str) or not 0 < len(booking_id) <= 127:
        raise ValueError("paypal: the booking id (custom_id) is 1-127 characters")


def _resource_id(value: str) -> str:
    if not isinstance(value, str) or not _RESOURCE_ID.fullmatch(value):
        raise ValueError("paypal: not a PayPal id")
    return quote(value, safe="")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _link(body: Mapping[str, Any], *rels: str) -> str | None:
    links = body.get("links") if isinstance(body.get("links"), list) else []
    for rel in rels:
        for link in links:
            if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
                return link["href"]
    return None


def _link_id(body: Mapping[str, Any], rel: str, marker: str) -> str | None:
    href = _link(body, rel)
    if not href or marker not in href:
        return None
    return _str(urlsplit(href).path.rsplit(marker, 1)[1].split("/")[0])


def _money_or_none(body: Any) -> tuple[int | None, str | None]:
    if not isinstance(body, dict) or "value" not in body:
        return None, None
    return amount_from_paypal(body)


def _capture(body: Mapping[str, Any]) -> Capture:
    amount, currency = _money_or_none(body.get("amount"))
    return Capture(id=str(body.get("id") or ""), status=str(body.get("status") or ""), amount=amount,
                   currency=currency, custom_id=_str(body.get("custom_id")), raw=dict(body))


def _order(body: dict[str, Any]) -> Order:
    if not _str(body.get("id")) or not _str(body.get("status")):
        raise PermanentError("PayPal answered an order without an id or status.", provider=PROVIDER)
    units = body.get("purchase_units") if isinstance(body.get("purchase_units"), list) else []
    unit = units[0] if units and isinstance(units[0], dict) else {}
    amount, currency = _money_or_none(unit.get("amount"))
    payments = unit.get("payments") if isinstance(unit.get("payments"), dict) else {}
    captures = tuple(_capture(c) for c in payments.get("captures") or [] if isinstance(c, dict))
    email = _dig(body, "payer", "email_address") or _dig(body, "payment_source", "paypal", "email_address")
    return Order(id=body["id"], status=body["status"], approve_url=_link(body, "payer-action", "approve"),
                 reference_id=_str(unit.get("reference_id")), custom_id=_str(unit.get("custom_id")), amount=amount,
                 currency=currency, captures=captures, payer_email=_str(email), raw=body)


def _refund(body: dict[str, Any]) -> Refund:
    if not _str(body.get("id")) or not _str(body.get("status")):
        raise PermanentError("PayPal answered a refund without an id or status.", provider=PROVIDER)
    amount, currency = _money_or_none(body.get("amount"))
    return Refund(id=body["id"], status=body["status"], amount=amount, currency=currency, raw=body)
