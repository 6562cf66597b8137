"""Stripe: Checkout Sessions for held bookings, refunds and signed webhooks (issue 16, paid bookings).

Built on the official ``stripe`` SDK through a ``stripe.StripeClient`` owned by each ``StripePayments`` object: no
module-level ``stripe.api_key`` or ``stripe.api_base`` is ever set. Its API base is ``STRIPE_API_BASE``, so tests
point it at the local fake (``tests/fakes/stripe.py``).

Outbound HTTP follows ``app.net``: the SDK's ``RequestsClient`` is handed the calling thread's guarded session (no
cookies, no proxies from the environment, no redirects, connections pinned to the checked address) and every call
runs inside ``net.deadline(timeout)`` (``INTEGRATION_HTTP_TIMEOUT``, 10 s), so a slow or trickling answer cannot
hold a worker longer than that. The address guard is on for the default base (api.stripe.com is public); a base the
operator changed (a fake, stripe-mock) may be on a private or loopback address. The SDK's own network retries are
off: a ``TransientError`` is retried later by the queue, and every POST carries an idempotency key derived from the
booking (or the refund's reference), so a retry never creates a second Session or refund.

Endpoints (form-encoded bodies, ``Authorization: Bearer <secret key>``):
  POST /v1/checkout/sessions               create: mode=payment, one line item with ``price_data``
  GET  /v1/checkout/sessions/{id}          retrieve
  POST /v1/checkout/sessions/{id}/expire   expire an open Session (a complete or expired one is answered as is)
  POST /v1/refunds                         refund a PaymentIntent in full, or ``amount`` minor units of it

Amounts are ``int`` minor units (never float or Decimal; a bool is refused too) and currencies lower-case ISO 4217
codes, as Stripe takes them.

The payment window: Stripe accepts a Session's ``expires_at`` only between 30 minutes and 24 hours after it is
created. ``checkout_expiry`` derives both moments from when the hold began (``held_at``), never from "now", so a
retried create sends the same parameters under the same idempotency key: the hold ends at ``held_at + window``;
Stripe's ``expires_at`` is the same moment when the window is at least 40 minutes, else ``held_at + 40 minutes``
(30 minutes plus 10 of slack for Stripe's clock and a retry). When Stripe would expire the Session after the hold
ends (``CheckoutSession.expire_ourselves``), the caller expires it itself at ``hold_until``
(``expire_checkout_session``); doing that in every case is harmless. Windows over 23 h 50 min are refused.

Webhooks: ``verify_webhook`` checks ``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=...]``, the HMAC-SHA256 of
``"{t}.{raw body}"`` under the endpoint's signing secret, compared in constant time, with ``t`` at most 5 minutes
from now in either direction. It is written here rather than taken from ``stripe.Webhook.construct_event``: the SDK
accepts any timestamp in the future, decodes the body as text before hashing (a body that is not UTF-8 raises
something other than a verification error) and reads the clock itself. Tests check it against the SDK's signer.
Replays inside the 5 minutes carry the same event ``id``: the caller stores ids and processes each event once.

Errors map onto ``app.integrations.errors``: connection failures, timeouts, 429, 409 (the same idempotency key still
in flight), ``Stripe-Should-Retry: true`` and 5xx are TransientError; 401/403 (a wrong, revoked or restricted key)
AuthRevoked; 404 NotFound; other 4xx PermanentError whose ``code`` is Stripe's error code (or its type, e.g.
``idempotency_error``). A base address the guard refuses is a PermanentError.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import stripe

from app import net
from app.integrations.errors import (
    AuthRevoked,
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    retry_after_seconds,
)

PROVIDER = "stripe"
DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
SIGNATURE_TOLERANCE = 300                       # seconds, Stripe's documented default
SIGNATURE_HEADER = "Stripe-Signature"
STRIPE_MIN_EXPIRY = timedelta(minutes=30)       # expires_at: 30 minutes ...
STRIPE_MAX_EXPIRY = timedelta(hours=24)         # ... to 24 hours after the Session is created
EXPIRY_SLACK = timedelta(minutes=10)
MAX_WINDOW = STRIPE_MAX_EXPIRY - EXPIRY_SLACK
MAX_AMOUNT = 99_999_999                         # Stripe amounts have at most eight digits
SESSION_STATUSES = ("open", "complete", "expired")
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
PAYMENT_INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,250}")
CURRENCY = re.compile(r"[a-z]{3}")
REFERENCE = re.compile(r"[A-Za-z0-9_.:-]{1,180}")

# The SDK would send a platform string and a persistent id with every request and write ~/.config/stripe/
# telemetry_id: a self-hosted instance tells Stripe nothing it does not need (a process-wide switch, set once here).
stripe.enable_telemetry = False


class WebhookRejected(ValueError):
    """The request is not a genuine, fresh Stripe event: answer 400 and change nothing."""


# --- values --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None                  # where the invitee pays (None once the Session is complete or expired)
    status: str                      # open, complete, expired
    payment_status: str              # unpaid, paid, no_payment_required
    payment_intent: str | None       # pi_... once the invitee paid
    amount_total: int | None
    currency: str | None
    booking_id: str | None           # client_reference_id
    expires_at: datetime             # when Stripe expires it
    hold_until: datetime | None = None   # set by create: when the booking's hold ends
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"

    @property
    def expire_ourselves(self) -> bool:
        """Stripe would keep the Session open after the hold ends: expire it at ``hold_until``."""
        return self.hold_until is not None and self.expires_at > self.hold_until


@dataclass(frozen=True)
class Refund:
    id: str
    amount: int
    currency: str
    status: str                      # pending, requires_action, succeeded, failed, canceled
    payment_intent: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class StripeEvent:
    id: str                          # evt_...: process each once
    type: str                        # checkout.session.completed, checkout.session.expired, charge.refunded, ...
    created: int
    livemode: bool
    object: dict[str, Any]           # data.object: the Session, Charge or PaymentIntent
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def booking_id(self) -> str | None:
        """``metadata.bookingId`` (Sessions, and PaymentIntents and Charges made by one) or client_reference_id."""
        metadata = self.object.get("metadata")
        value = metadata.get("bookingId") if isinstance(metadata, dict) else None
        value = value or self.object.get("client_reference_id")
        return str(value) if value else None


# --- checks of what is sent ----------------------------------------------------------------------------------
def check_amount(amount: Any) -> int:
    """An amount in minor units: a positive ``int`` of at most eight digits (float, Decimal and bool refused)."""
    if type(amount) is not int:
        raise TypeError(f"amounts are int minor units, not {type(amount).__name__}")
    if not 0 < amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be between 1 and {MAX_AMOUNT} minor units")
    return amount


def check_currency(currency: Any) -> str:
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency.lower()):
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return currency.lower()


def checkout_expiry(held_at: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """(when the hold ends, the ``expires_at`` to give Stripe) for a hold that began at ``held_at``."""
    if held_at.tzinfo is None:
        raise ValueError("held_at must be an aware datetime")
    if not timedelta(0) < window <= MAX_WINDOW:
        raise ValueError("a Stripe payment window is longer than 0 and at most 23 h 50 min")
    held_at = held_at.astimezone(UTC).replace(microsecond=0)
    return held_at + window, held_at + max(window, STRIPE_MIN_EXPIRY + EXPIRY_SLACK)


def checkout_idempotency_key(booking_id: str, attempt: int = 1) -> str:
    return f"linktime-checkout-{booking_id}-{attempt}"


# --- the HTTP seam -------------------------------------------------------------------------------------------
class _GuardedRequestsClient(stripe.RequestsClient):
    """The SDK's requests transport on ``app.net``'s guarded session of the calling thread."""

    def __init__(self, allow_private: bool, timeout: tuple[float, float]) -> None:
        self._allow_private = allow_private
        super().__init__(timeout=timeout)

    @property
    def _session(self):                                   # read once per thread by RequestsClient
        return net.session(self._allow_private)

    @_session.setter
    def _session(self, value) -> None:                    # the base class stores None here
        pass

    def close(self) -> None:                              # the sessions belong to app.net
        pass


def _classify(exc: stripe.StripeError, what: str) -> IntegrationError:
    status = exc.http_status
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code") or error.get("type") or exc.code
    detail = str(error.get("message") or "")[:300]
    param = error.get("param")
    message = f"{what}: Stripe answered {status}" + (f": {detail}" if detail else "") + (
        f" (param {param})" if param else "")
    kwargs = {"provider": PROVIDER, "status": status, "code": str(code) if code else None}
    headers = exc.headers or {}
    if isinstance(exc, stripe.APIConnectionError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, net.AddressNotAllowed):
                return PermanentError(f"{what}: {cause}", provider=PROVIDER)
            cause = cause.__cause__ or cause.__context__
        return TransientError(f"{what}: Stripe could not be reached or did not answer in time.", provider=PROVIDER)
    if status is None or status >= 500 or status in (409, 429) or headers.get("Stripe-Should-Retry") == "true":
        return TransientError(message, retry_after=retry_after_seconds(headers.get("Retry-After")), **kwargs)
    if status in (401, 403):
        return AuthRevoked(message, **kwargs)
    if status in (404, 410):
        return NotFound(message, **kwargs)
    return PermanentError(message, **kwargs)


# --- the client ----------------------------------------------------------------------------------------------
class StripePayments:
    name = PROVIDER

    def __init__(self, secret_key: str, *, webhook_secret: str = "", api_base: str = DEFAULT_API_BASE,
                 timeout: float = DEFAULT_TIMEOUT, allow_private: bool | None = None) -> None:
        if not secret_key:
            raise ValueError("stripe: STRIPE_SECRET_KEY is not configured")
        api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("stripe: STRIPE_API_BASE must be an http(s) URL")
        self.api_base = api_base
        self.timeout = float(timeout)
        self._webhook_secret = webhook_secret
        if allow_private is None:
            allow_private = api_base != DEFAULT_API_BASE
        transport = _GuardedRequestsClient(allow_private, (min(CONNECT_TIMEOUT, self.timeout), self.timeout))
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base}, http_client=transport,
                                           max_network_retries=0)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> StripePayments:
        return cls(settings.get("STRIPE_SECRET_KEY") or "", webhook_secret=settings.get("STRIPE_WEBHOOK_SECRET") or "",
                   api_base=settings.get("STRIPE_API_BASE") or DEFAULT_API_BASE,
                   timeout=float(settings.get("INTEGRATION_HTTP_TIMEOUT") or DEFAULT_TIMEOUT))

    @staticmethod
    def configured(settings: Mapping[str, Any]) -> bool:
        """Both the secret key and the webhook secret are set (a provider without them is hidden)."""
        return bool(settings.get("STRIPE_SECRET_KEY") and settings.get("STRIPE_WEBHOOK_SECRET"))

    def __repr__(self) -> str:                            # never print a key
        return f"StripePayments(api_base={self.api_base!r})"

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            with net.deadline(self.timeout):
                answer = method(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _classify(exc, what) from exc
        data = answer.last_response.data if answer.last_response is not None else None
        if not isinstance(data, dict):
            raise PermanentError(f"{what}: Stripe answered an unexpected document.", provider=PROVIDER)
        return dict(data)

    # -- Checkout Sessions
    def create_checkout_session(self, *, booking_id: str, amount: int, currency: str, name: str, success_url: str,
                                cancel_url: str, held_at: datetime, window: timedelta,
                                customer_email: str | None = None, attempt: int = 1) -> CheckoutSession:
        """One Checkout Session paying for one booking; a retry with the same arguments answers the same Session.

        ``held_at`` is when the booking's hold began (stored with it) and ``window`` the event type's payment window;
        ``attempt`` changes only when a new Session is wanted for the same booking on purpose."""
        booking_id = str(booking_id)
        if not booking_id or not name.strip():
            raise ValueError("a booking id and a line item name are required")
        amount, currency = check_amount(amount), check_currency(currency)
        hold_until, expires_at = checkout_expiry(held_at, window)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {"currency": currency, "unit_amount": amount,
                                                          "product_data": {"name": name.strip()}}}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": booking_id,
            "metadata": {"bookingId": booking_id},
            "payment_intent_data": {"metadata": {"bookingId": booking_id}},   # charges and refunds carry it too
            "expires_at": int(expires_at.timestamp()),
        }
        if customer_email:
            params["customer_email"] = customer_email
        options = {"idempotency_key": checkout_idempotency_key(booking_id, attempt)}
        data = self._call("Creating the Checkout Session", self._client.v1.checkout.sessions.create, params, options)
        return _session(data, hold_until=hold_until)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        return _session(self._call("Reading the Checkout Session", self._client.v1.checkout.sessions.retrieve,
                                   _session_id(session_id)))

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Expire an open Session; one that completed or expired already is answered as it is (look at ``paid``)."""
        session_id = _session_id(session_id)
        try:
            data = self._call("Expiring the Checkout Session", self._client.v1.checkout.sessions.expire, session_id,
                              None, {"idempotency_key": f"linktime-expire-{session_id}"})
        except PermanentError as exc:
            if type(exc) is not PermanentError or exc.status != 400:
                raise
            current = self.retrieve_checkout_session(session_id)
            if current.status == "open":
                raise
            return current
        return _session(data)

    # -- refunds
    def create_refund(self, payment_intent: str, *, reference: str, amount: int | None = None,
                      booking_id: str | None = None, reason: str | None = None) -> Refund:
        """Refund a PaymentIntent in full (``amount=None``) or in part. ``reference`` names this refund for good
        (e.g. ``booking-42-host-cancel``, a refund row's id): the same reference never refunds twice."""
        if not isinstance(payment_intent, str) or not PAYMENT_INTENT_ID.fullmatch(payment_intent):
            raise ValueError("not a PaymentIntent id")
        if not REFERENCE.fullmatch(reference or ""):
            raise ValueError("a refund needs a reference of letters, digits and _.:-")
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = check_amount(amount)
        if reason is not None:
            if reason not in ("duplicate", "fraudulent", "requested_by_customer"):
                raise ValueError("reason is duplicate, fraudulent or requested_by_customer")
            params["reason"] = reason
        if booking_id:
            params["metadata"] = {"bookingId": str(booking_id)}
        data = self._call("Refunding the payment", self._client.v1.refunds.create, params,
                          {"idempotency_key": f"linktime-refund-{reference}"})
        try:
            return Refund(id=str(data["id"]), amount=int(data["amount"]), currency=str(data["currency"]),
                          status=str(data.get("status") or ""), payment_intent=data.get("payment_intent"), raw=data)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError("Stripe answered a malformed refund.", provider=PROVIDER) from exc

    # -- webhooks
    def verify_webhook(self, payload: bytes, header: str | None, *, now: float | None = None) -> StripeEvent:
        if not self._webhook_secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not configured")
        return verify_webhook(payload, header, self._webhook_secret, now=now)


def _session_id(value: Any) -> str:
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        raise ValueError("not a Checkout Session id")
    return value


def _session(data: dict[str, Any], *, hold_until: datetime | None = None) -> CheckoutSession:
    try:
        status = data["status"]
        if status not in SESSION_STATUSES or not isinstance(data["id"], str):
            raise ValueError(status)
        amount = data.get("amount_total")
        return CheckoutSession(
            id=data["id"], url=data.get("url"), status=status, payment_status=str(data.get("payment_status") or ""),
            payment_intent=data.get("payment_intent") if isinstance(data.get("payment_intent"), str) else None,
            amount_total=amount if type(amount) is int else None, currency=data.get("currency"),
            booking_id=data.get("client_reference_id"),
            expires_at=datetime.fromtimestamp(int(data["expires_at"]), UTC), hold_until=hold_until, raw=data)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise PermanentError("Stripe answered a malformed Checkout Session.", provider=PROVIDER) from exc


# --- webhook signatures --------------------------------------------------------------------------------------
def signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex ``v1`` signature of ``payload`` sent at ``timestamp``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()


def verify_webhook(payload: bytes, header: str | None, secret: str, *, now: float | None = None,
                   tolerance: int = SIGNATURE_TOLERANCE) -> StripeEvent:
    """The event of a genuine webhook request (raw body and ``Stripe-Signature`` header); WebhookRejected else."""
    if not secret:
        raise WebhookRejected("no webhook secret")
    if not header:
        raise WebhookRejected(f"no {SIGNATURE_HEADER} header")
    if isinstance(payload, str):
        payload = payload.encode()
    timestamps, candidates = [], []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value.strip())
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise WebhookRejected("the signature header has no single timestamp")
    if not candidates:
        raise WebhookRejected("the signature header has no v1 signature")
    timestamp = int(timestamps[0])
    expected = signature(payload, secret, timestamp).encode()
    matched = False
    for candidate in candidates:                            # no early exit: every candidate is compared
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise WebhookRejected("no signature matches the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookRejected("the signature's timestamp is outside the tolerance")
    return parse_event(payload)


def parse_event(payload: bytes) -> StripeEvent:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected("the body is not JSON") from exc
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if (event.get("object") != "event" or not isinstance(event.get("id"), str) or not event["id"].startswith("evt_")
            or not isinstance(event.get("type"), str) or not isinstance(obj, dict)):
        raise WebhookRejected("the body is not a Stripe event")
    created = event.get("created")
    return StripeEvent(id=event["id"], type=event["type"], created=created if type(created) is int else 0,
                       livemode=event.get("livemode") is True, object=obj, raw=event)
