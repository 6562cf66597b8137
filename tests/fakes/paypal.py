"""A fake of the PayPal REST API that LinkTime's PayPal client uses, served on 127.0.0.1 like the OAuth fakes.

Paths, auth and bodies as PayPal documents them:

* ``POST /v1/oauth2/token``: HTTP Basic client_id:secret only, form ``grant_type=client_credentials``; answers
  ``{"scope", "access_token", "token_type": "Bearer", "app_id", "expires_in", "nonce"}``; errors
  ``{"error": "invalid_client", "error_description"}`` (401).
* ``POST /v2/checkout/orders``, ``GET /v2/checkout/orders/{id}``, ``POST /v2/checkout/orders/{id}/capture``,
  ``POST /v2/payments/captures/{id}/refund``, ``POST /v1/notifications/verify-webhook-signature``: a Bearer token
  this fake issued (unknown, expired -> 401 ``AUTHENTICATION_FAILURE``).
* Errors in PayPal's shape: ``{"name": "INVALID_REQUEST", "message", "debug_id", "details": [{"field", "value",
  "location", "issue", "description"}], "links"}``. Malformed bodies (a missing or unknown field, an amount
  ``value`` that is not a decimal string or has more decimals than PayPal allows for the currency, a currency
  PayPal does not take, a non-positive amount, a relative return URL) are refused.
* ``PayPal-Request-Id``: a create, capture or refund repeated with the same id answers the first result (200)
  and changes nothing (``replays`` counts them).

State: an order is ``PAYER_ACTION_REQUIRED`` when created with ``payment_source.paypal.experience_context`` (link
``payer-action``) or ``CREATED`` with the older ``application_context`` (link ``approve``); ``approve(order_id)``
(the payer approving at PayPal, also ``GET /checkoutnow?token=<id>`` which then redirects to the return URL) makes
it ``APPROVED``; a capture makes it ``COMPLETED`` with a capture id (422 ``ORDER_NOT_APPROVED`` before,
``ORDER_ALREADY_CAPTURED`` after); ``void(order_id)`` makes it ``VOIDED`` as PayPal does with an order nobody
captured. Refunds are full or partial up to what remains (422 ``REFUND_AMOUNT_EXCEEDED``,
``CAPTURE_FULLY_REFUNDED``).

Webhooks: every change appends the event PayPal would send to ``events`` (``CHECKOUT.ORDER.APPROVED``,
``PAYMENT.CAPTURE.COMPLETED``, ``PAYMENT.CAPTURE.REFUNDED``). ``sign(event)`` returns the transmission headers
and the exact body bytes (compact JSON); ``deliver(url, event)`` POSTs them. The fake remembers what it signed, and
verify-webhook-signature answers ``SUCCESS`` only when every field matches a transmission it signed, the
``webhook_id`` is the one it signed for, and the request carries the delivered body byte for byte as
``webhook_event`` (as with PayPal, a re-serialized event does not verify); anything else is ``FAILURE``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import jsonify, redirect, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, OAuthError

# The currencies PayPal takes, with the decimals it allows in ``value``.
CURRENCY_DECIMALS = {"AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
                     "HKD": 2, "HUF": 0, "ILS": 2, "JPY": 0, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "PHP": 2,
                     "PLN": 2, "SEK": 2, "SGD": 2, "THB": 2, "TWD": 0, "USD": 2}
VALUE_RE = re.compile(r"-?[0-9]+|-?([0-9]+)?[.][0-9]+")
ORDER_KEYS = {"intent", "purchase_units", "payment_source", "application_context", "payer", "processing_instruction"}
UNIT_KEYS = {"reference_id", "description", "custom_id", "invoice_id", "soft_descriptor", "amount", "payee", "items",
             "shipping", "payment_instruction", "supplementary_data"}
EXPERIENCE = {"return_url": None, "cancel_url": None, "brand_name": None, "locale": None,
              "user_action": {"CONTINUE", "PAY_NOW"},
              "shipping_preference": {"GET_FROM_FILE", "NO_SHIPPING", "SET_PROVIDED_ADDRESS"},
              "landing_page": {"LOGIN", "GUEST_CHECKOUT", "NO_PREFERENCE"},
              "payment_method_preference": {"UNRESTRICTED", "IMMEDIATE_PAYMENT_REQUIRED"}}
REFUND_KEYS = {"amount", "note_to_payer", "invoice_id", "custom_id", "payment_instruction"}
VERIFY_KEYS = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
ERRORS = {
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
    401: ("AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication credentials or a missing "
                                    "Authorization header."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    409: ("RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The server does not support the request payload's media type."),
    422: ("UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically incorrect, or failed "
                                  "business validation."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error has occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}


def _paypal_id(length: int = 17) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(status: int, issue_code: str, description: str, *, field: str | None = None, value: Any = None,
          location: str = "body") -> ApiError:
    """An ApiError that renders as PayPal's error with one detail."""
    detail: dict[str, Any] = {"issue": issue_code, "description": description}
    if field is not None:
        detail.update(field=field, location=location)
    if value is not None:
        detail["value"] = str(value)
    return ApiError(status, description, code=[detail])


@dataclass
class Signed:
    transmission_id: str
    transmission_time: str
    webhook_id: str
    body: bytes
    signature: str
    cert_url: str
    auth_algo: str = "SHA256withRSA"


class PayPalFake(FakeOAuthServer):
    name = "paypal"
    authorize_path = "/connect"                 # Log In with PayPal: not used by LinkTime (answers 404)
    token_path = "/v1/oauth2/token"
    client_auth_methods = ("client_secret_basic",)

    def __init__(self, *, webhook_id: str | None = None, merchant_email: str = "shop@example.com",
                 token_lifetime: int = 32400, **kwargs) -> None:
        self.webhook_id = webhook_id or _paypal_id()
        self.merchant_email = merchant_email
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.signed: dict[str, Signed] = {}
        self.replays = 0
        self.tokens_issued = 0
        self._idempotent: dict[tuple[str, str], dict[str, Any]] = {}
        self._minor: dict[str, tuple[int, str]] = {}           # capture id -> (minor units left, currency)
        self._key = secrets.token_bytes(32)
        super().__init__(token_lifetime=token_lifetime, **kwargs)

    # -- configuration for the code under test
    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "webhook_id": self.webhook_id,
                "api_base": self.url, "timeout": 5, **overrides}

    def settings(self, **overrides) -> dict[str, Any]:
        """The PAYPAL_* settings that point the app at this fake."""
        return {"PAYPAL_CLIENT_ID": self.client_id, "PAYPAL_CLIENT_SECRET": self.client_secret,
                "PAYPAL_WEBHOOK_ID": self.webhook_id, "PAYPAL_MODE": "sandbox", "PAYPAL_API_BASE": self.url,
                **overrides}

    # -- error shapes
    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        name, default = ERRORS.get(status, ("INTERNAL_SERVER_ERROR", "An internal server error has occurred."))
        body: dict[str, Any] = {"name": name, "message": default, "debug_id": secrets.token_hex(7)}
        details = code if isinstance(code, list) else ([{"issue": code, "description": message}] if code else [])
        if details:
            body["details"] = details
        body["links"] = [{"href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{details[0]['issue']}"
                          if details else "https://developer.paypal.com/api/rest/reference/orders/v2/errors/",
                          "rel": "information_link", "method": "GET"}]
        return body

    def error_body(self, status: int, issue_code: str, description: str = "injected") -> dict[str, Any]:
        """For ``fail(status, body=...)``: PayPal's error with one issue."""
        return self.api_error_body(status, description, [{"issue": issue_code, "description": description}])

    # -- routes
    def add_routes(self, app) -> None:
        app.add_url_rule("/v2/checkout/orders", "create_order", self._create_order, methods=["POST"])
        app.add_url_rule("/v2/checkout/orders/<order_id>", "get_order", self._get_order, methods=["GET"])
        app.add_url_rule("/v2/checkout/orders/<order_id>/capture", "capture", self._capture, methods=["POST"])
        app.add_url_rule("/v2/payments/captures/<capture_id>/refund", "refund", self._refund, methods=["POST"])
        app.add_url_rule("/v1/notifications/verify-webhook-signature", "verify", self._verify, methods=["POST"])
        app.add_url_rule("/checkoutnow", "checkoutnow", self._checkoutnow, methods=["GET"])

    def _authorize(self):
        raise ApiError(404, "not part of this fake")

    def _token(self):
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the token request must be form-encoded")
        self._authenticate_client()
        if request.form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        body = self._issue({"https://uri.paypal.com/services/payments/payment/authcapture",
                            "https://uri.paypal.com/services/payments/refund",
                            "https://uri.paypal.com/services/applications/verify-webhook-signature"},
                           with_refresh=False)
        with self.lock:
            self.tokens_issued += 1
        body.update(app_id="APP-80W284485P519543T", nonce=f"{_now()}{secrets.token_urlsafe(12)}")
        return jsonify(body)

    def _body(self, *, allow_empty: bool = False) -> dict[str, Any]:
        raw = request.get_data()
        if allow_empty and not raw.strip():
            return {}
        if request.mimetype != "application/json":
            raise issue(415, "UNSUPPORTED_MEDIA_TYPE", "The body must be application/json.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise issue(400, "MALFORMED_REQUEST_JSON", "The request JSON is not well formed.") from None
        if not isinstance(body, dict):
            raise issue(400, "MALFORMED_REQUEST_JSON", "The request body must be a JSON object.")
        return body

    def _replay(self) -> tuple[tuple[str, str] | None, Any]:
        request_id = request.headers.get("PayPal-Request-Id")
        if not request_id:
            return None, None
        if len(request_id) > 108:
            raise issue(400, "INVALID_STRING_LENGTH", "PayPal-Request-Id is too long.", field="PayPal-Request-Id",
                        location="header")
        key = (request.path, request_id)
        stored = self._idempotent.get(key)
        if stored is not None:
            self.replays += 1
            return key, jsonify(stored)
        return key, None

    # -- orders
    def _create_order(self):
        self.bearer()
        body = self._body()
        unknown = set(body) - ORDER_KEYS
        if unknown:
            raise issue(400, "UNKNOWN_FIELD", "A field the API does not know.", field=f"/{sorted(unknown)[0]}")
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            raise issue(400, "MISSING_REQUIRED_PARAMETER" if "intent" not in body else "INVALID_PARAMETER_VALUE",
                        "intent must be CAPTURE or AUTHORIZE.", field="/intent", value=body.get("intent"))
        if body["intent"] != "CAPTURE":
            raise issue(422, "INTENT_NOT_SUPPORTED_BY_FAKE", "This fake implements intent CAPTURE only.")
        units = body.get("purchase_units")
        if not isinstance(units, list) or not 1 <= len(units) <= 10:
            raise issue(400, "MISSING_REQUIRED_PARAMETER", "purchase_units needs 1 to 10 items.",
                        field="/purchase_units")
        checked = [self._check_unit(unit, n) for n, unit in enumerate(units)]
        experience, link_rel, status = self._check_experience(body)
        with self.lock:
            key, replay = self._replay()
            if replay is not None:
                return replay, 200
            order_id = _paypal_id()
            order = {"id": order_id, "intent": "CAPTURE", "status": status, "purchase_units": checked,
                     "create_time": _now(), "_experience": experience,
                     "links": [{"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
                               {"href": f"{self.url}/checkoutnow?token={order_id}", "rel": link_rel,
                                "method": "GET"},
                               {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "update",
                                "method": "PATCH"},
                               {"href": f"{self.url}/v2/checkout/orders/{order_id}/capture", "rel": "capture",
                                "method": "POST"}]}
            if status == "PAYER_ACTION_REQUIRED":
                order["payment_source"] = {"paypal": {}}
            self.orders[order_id] = order
            answer = self._public(order)
            if key:
                self._idempotent[key] = answer
        return jsonify(answer), 201

    def _check_unit(self, unit: Any, n: int) -> dict[str, Any]:
        where = f"/purchase_units/{n}"
        if not isinstance(unit, dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "A purchase unit is an object.", field=where)
        unknown = set(unit) - UNIT_KEYS
        if unknown:
            raise issue(400, "UNKNOWN_FIELD", "A field the API does not know.", field=f"{where}/{sorted(unknown)[0]}")
        for key, limit in (("reference_id", 256), ("custom_id", 127), ("description", 127), ("invoice_id", 127)):
            if key in unit and (not isinstance(unit[key], str) or not 1 <= len(unit[key]) <= limit):
                raise issue(400, "INVALID_STRING_LENGTH", f"{key} must be 1 to {limit} characters.",
                            field=f"{where}/{key}")
        minor, currency = self._amount(unit.get("amount"), f"{where}/amount")
        checked = {k: v for k, v in unit.items() if k != "amount"}
        checked.setdefault("reference_id", "default")
        checked["amount"] = {"currency_code": currency, "value": unit["amount"]["value"]}
        checked["payee"] = {"email_address": self.merchant_email, "merchant_id": "FAKEMERCHANT01"}
        checked["_minor"] = minor
        return checked

    def _amount(self, amount: Any, where: str) -> tuple[int, str]:
        """(minor units at PayPal's decimals, currency) of a money object, refusing what PayPal refuses."""
        if not isinstance(amount, dict):
            raise issue(400, "MISSING_REQUIRED_PARAMETER", "amount is required.", field=where)
        currency, value = amount.get("currency_code"), amount.get("value")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "currency_code is three upper-case letters.",
                        field=f"{where}/currency_code", value=currency)
        if not isinstance(value, str) or len(value) > 32 or not VALUE_RE.fullmatch(value):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "value is a decimal number in a string.",
                        field=f"{where}/value", value=value)
        if currency not in CURRENCY_DECIMALS:
            raise issue(422, "CURRENCY_NOT_SUPPORTED", "Currency code is not supported.",
                        field=f"{where}/currency_code", value=currency)
        decimals = CURRENCY_DECIMALS[currency]
        places = len(value.partition(".")[2])
        if decimals == 0 and "." in value:
            raise issue(422, "DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.",
                        field=f"{where}/value", value=value)
        if places > decimals:
            raise issue(400, "DECIMAL_PRECISION", f"{currency} supports at most {decimals} decimal places.",
                        field=f"{where}/value", value=value)
        minor = int(Decimal(value).scaleb(decimals))
        if minor <= 0:
            raise issue(422, "CANNOT_BE_ZERO_OR_NEGATIVE", "The amount must be greater than zero.",
                        field=f"{where}/value", value=value)
        return minor, currency

    def _check_experience(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        source = body.get("payment_source")
        if source is not None:
            if not isinstance(source, dict) or set(source) != {"paypal"} or not isinstance(source["paypal"], dict):
                raise issue(400, "INVALID_PARAMETER_SYNTAX", "This fake takes payment_source.paypal only.",
                            field="/payment_source")
            context, where, link, status = (source["paypal"].get("experience_context") or {},
                                            "/payment_source/paypal/experience_context", "payer-action",
                                            "PAYER_ACTION_REQUIRED")
        else:
            context, where, link, status = body.get("application_context") or {}, "/application_context", \
                "approve", "CREATED"
        if not isinstance(context, dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "The experience context is an object.", field=where)
        for key, value in context.items():
            if key not in EXPERIENCE:
                raise issue(400, "UNKNOWN_FIELD", "A field the API does not know.", field=f"{where}/{key}")
            allowed = EXPERIENCE[key]
            if not isinstance(value, str) or (allowed is not None and value not in allowed):
                raise issue(400, "INVALID_PARAMETER_VALUE", f"{key} has a value the API does not take.",
                            field=f"{where}/{key}", value=value)
            if key.endswith("_url") and (urlsplit(value).scheme not in ("http", "https")
                                         or not urlsplit(value).hostname):
                raise issue(400, "INVALID_PARAMETER_SYNTAX", f"{key} must be an absolute URL.",
                            field=f"{where}/{key}", value=value)
        return dict(context), link, status

    def _get_order(self, order_id: str):
        self.bearer()
        with self.lock:
            order = self._order(order_id)
            return jsonify(self._public(order))

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise issue(404, "INVALID_RESOURCE_ID", "Specified resource ID does not exist.", field="order_id",
                        value=order_id, location="path")
        return order

    @staticmethod
    def _public(resource: dict[str, Any]) -> dict[str, Any]:
        """A deep copy without the fake's own bookkeeping (keys starting with ``_``)."""
        if isinstance(resource, dict):
            return {k: PayPalFake._public(v) for k, v in resource.items() if not k.startswith("_")}
        if isinstance(resource, list):
            return [PayPalFake._public(v) for v in resource]
        return resource

    def _capture(self, order_id: str):
        self.bearer()
        self._body(allow_empty=True)
        with self.lock:
            order = self._order(order_id)
            key, replay = self._replay()
            if replay is not None:
                return replay, 200
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                raise issue(422, "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment.")
            if order["status"] == "COMPLETED":
                raise issue(422, "ORDER_ALREADY_CAPTURED", "Order already captured.")
            if order["status"] == "VOIDED":
                raise issue(422, "ORDER_EXPIRED", "The order was voided.")
            unit = order["purchase_units"][0]
            capture_id = _paypal_id()
            capture = {"id": capture_id, "status": "COMPLETED", "amount": dict(unit["amount"]), "final_capture": True,
                       "custom_id": unit.get("custom_id"), "seller_protection": {"status": "ELIGIBLE"},
                       "seller_receivable_breakdown": {"gross_amount": dict(unit["amount"])},
                       "supplementary_data": {"related_ids": {"order_id": order_id}},
                       "create_time": _now(), "update_time": _now(),
                       "links": [{"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "self",
                                  "method": "GET"},
                                 {"href": f"{self.url}/v2/payments/captures/{capture_id}/refund", "rel": "refund",
                                  "method": "POST"},
                                 {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "up", "method": "GET"}]}
            if capture["custom_id"] is None:
                del capture["custom_id"]
            unit["payments"] = {"captures": [capture]}
            order["status"] = "COMPLETED"
            self.captures[capture_id] = capture
            self._minor[capture_id] = (unit["_minor"], unit["amount"]["currency_code"])
            self.events.append(self.make_event("PAYMENT.CAPTURE.COMPLETED", capture, "capture"))
            answer = self._public(order)
            if key:
                self._idempotent[key] = answer
        return jsonify(answer), 201

    def _refund(self, capture_id: str):
        self.bearer()
        body = self._body(allow_empty=True)
        unknown = set(body) - REFUND_KEYS
        if unknown:
            raise issue(400, "UNKNOWN_FIELD", "A field the API does not know.", field=f"/{sorted(unknown)[0]}")
        with self.lock:
            capture = self.captures.get(capture_id)
            if capture is None:
                raise issue(404, "INVALID_RESOURCE_ID", "Specified resource ID does not exist.", field="capture_id",
                            value=capture_id, location="path")
            key, replay = self._replay()
            if replay is not None:
                return replay, 200
            left, currency = self._minor[capture_id]
            if left == 0:
                raise issue(422, "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded.")
            if "amount" in body:
                minor, refund_currency = self._amount(body["amount"], "/amount")
                if refund_currency != currency:
                    raise issue(422, "REFUND_CURRENCY_MISMATCH", "The refund currency must be the capture's.",
                                field="/amount/currency_code", value=refund_currency)
                if minor > left:
                    raise issue(422, "REFUND_AMOUNT_EXCEEDED", "The refund amount must be at most what remains.")
                amount = dict(body["amount"])
            else:
                minor = left
                decimals = CURRENCY_DECIMALS[currency]
                amount = {"currency_code": currency, "value": str(Decimal(minor).scaleb(-decimals))}
            self._minor[capture_id] = (left - minor, currency)
            capture["status"] = "REFUNDED" if left == minor else "PARTIALLY_REFUNDED"
            refund_id = _paypal_id()
            refund = {"id": refund_id, "status": "COMPLETED", "amount": amount, "create_time": _now(),
                      "update_time": _now(),
                      "links": [{"href": f"{self.url}/v2/payments/refunds/{refund_id}", "rel": "self",
                                 "method": "GET"},
                                {"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "up",
                                 "method": "GET"}]}
            for extra in ("note_to_payer", "invoice_id"):
                if extra in body:
                    refund[extra] = body[extra]
            if "custom_id" in capture:
                refund["custom_id"] = capture["custom_id"]
            self.refunds[refund_id] = refund
            self.events.append(self.make_event("PAYMENT.CAPTURE.REFUNDED", refund, "refund"))
            answer = self._public(refund)
            if key:
                self._idempotent[key] = answer
        return jsonify(answer), 201

    # -- the payer at PayPal
    def approve(self, order_id: str, *, payer_email: str = "buyer@example.com") -> dict[str, Any]:
        """The payer approves the order at PayPal: APPROVED, with a payer; the CHECKOUT.ORDER.APPROVED event."""
        with self.lock:
            order = self._order(order_id)
            if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
                raise ValueError(f"order {order_id} is {order['status']}, not waiting for approval")
            order["status"] = "APPROVED"
            payer = {"email_address": payer_email, "payer_id": _paypal_id(13),
                     "name": {"given_name": "Bo", "surname": "Buyer"}}
            order["payer"] = payer
            order["payment_source"] = {"paypal": {**payer, "account_status": "VERIFIED"}}
            self.events.append(self.make_event("CHECKOUT.ORDER.APPROVED", self._public(order), "checkout-order"))
            return self._public(order)

    def void(self, order_id: str) -> None:
        """PayPal voiding an order nobody captured in time."""
        with self.lock:
            order = self._order(order_id)
            if order["status"] == "COMPLETED":
                raise ValueError("a captured order cannot be voided")
            order["status"] = "VOIDED"

    def _checkoutnow(self):
        """The payer's page: approve (or ``?cancel=1``) and go back to the order's return (cancel) URL."""
        order_id = request.args.get("token", "")
        with self.lock:
            order = self._order(order_id)
            experience = order["_experience"]
        if request.args.get("cancel"):
            return redirect(experience["cancel_url"] + ("&" if "?" in experience["cancel_url"] else "?")
                            + urlencode({"token": order_id}), code=302)
        order = self.approve(order_id)
        back = experience["return_url"]
        return redirect(back + ("&" if "?" in back else "?")
                        + urlencode({"token": order_id, "PayerID": order["payer"]["payer_id"]}), code=302)

    # -- webhooks
    def make_event(self, event_type: str, resource: dict[str, Any], resource_type: str) -> dict[str, Any]:
        event_id = f"WH-{_paypal_id(8)}-{_paypal_id(17)}"
        return {"id": event_id, "event_version": "1.0", "create_time": _now(), "resource_type": resource_type,
                "resource_version": "2.0", "event_type": event_type,
                "summary": f"{event_type.replace('.', ' ').title()}", "resource": self._public(resource),
                "links": [{"href": f"{self.url}/v1/notifications/webhooks-events/{event_id}", "rel": "self",
                           "method": "GET"}]}

    def last_event(self, event_type: str) -> dict[str, Any]:
        with self.lock:
            return next(e for e in reversed(self.events) if e["event_type"] == event_type)

    def sign(self, event: dict[str, Any] | bytes, *, webhook_id: str | None = None,
             transmission_time: str | None = None) -> tuple[dict[str, str], bytes]:
        """The transmission headers and the body bytes of a delivery of ``event``, remembered for verification."""
        body = event if isinstance(event, bytes) else json.dumps(event, separators=(",", ":")).encode()
        transmission_id = secrets.token_hex(16)
        sent_at = transmission_time or _now()
        hook = webhook_id or self.webhook_id
        message = f"{transmission_id}|{sent_at}|{hook}|{zlib.crc32(body)}".encode()
        signature = base64.b64encode(hmac.new(self._key, message, hashlib.sha256).digest()).decode()
        cert_url = f"{self.url}/v1/notifications/certs/CERT-360caa42-fca2a594-{secrets.token_hex(4)}"
        with self.lock:
            self.signed[transmission_id] = Signed(transmission_id, sent_at, hook, body, signature, cert_url)
        headers = {"PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": sent_at,
                   "PAYPAL-TRANSMISSION-SIG": signature, "PAYPAL-CERT-URL": cert_url,
                   "PAYPAL-AUTH-ALGO": "SHA256withRSA"}
        return headers, body

    def deliver(self, url: str, event: dict[str, Any] | bytes, **kwargs) -> requests.Response:
        """POST a signed event to LinkTime's webhook URL as PayPal does."""
        headers, body = self.sign(event, **kwargs)
        return requests.post(url, data=body, timeout=10, allow_redirects=False,
                             headers={"Content-Type": "application/json", "User-Agent": "PayPal/AUHD-214.0-58335961",
                                      **headers})

    def _verify(self):
        self.bearer()
        body = self._body()
        for key in (*VERIFY_KEYS, "webhook_event"):
            if key not in body:
                raise issue(400, "MISSING_REQUIRED_PARAMETER", f"{key} is required.", field=f"/{key}")
        if not all(isinstance(body[key], str) for key in VERIFY_KEYS) or not isinstance(body["webhook_event"], dict):
            raise issue(400, "INVALID_PARAMETER_SYNTAX", "The fields are strings and webhook_event an object.")
        with self.lock:
            signed = self.signed.get(body["transmission_id"])
        raw = request.get_data()
        ok = (signed is not None
              and hmac.compare_digest(body["transmission_sig"].encode(), signed.signature.encode())
              and body["transmission_time"] == signed.transmission_time
              and body["webhook_id"] == signed.webhook_id == self.webhook_id
              and body["cert_url"] == signed.cert_url and body["auth_algo"] == signed.auth_algo
              and signed.body in raw and body["webhook_event"] == json.loads(signed.body))
        return jsonify(verification_status="SUCCESS" if ok else "FAILURE")
