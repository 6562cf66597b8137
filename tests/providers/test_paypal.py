"""PayPal payments through PayPalClient (app/integrations/paypal_payments.py), against the local PayPal fake."""
from __future__ import annotations

import base64
import decimal
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from app import money, net
from app.config import load_config
from app.integrations import paypal_payments as pp
from app.integrations.errors import AuthRevoked, NotFound, PermanentError, TransientError
from app.integrations.paypal_payments import PayPalClient, WebhookRejected
from tests.fakes.paypal import PayPalFake
from tests.fakes.webhooks import WebhookReceiver

ORDERS = "/v2/checkout/orders"
TOKEN = "/v1/oauth2/token"
VERIFY = "/v1/notifications/verify-webhook-signature"
BOOKING = "cl8x2k3m40000abcdefghijkl"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def paypal_fake():
    with PayPalFake() as fake:
        yield fake


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def paypal(paypal_fake, clock):
    return PayPalClient(paypal_fake.client_config(), clock=clock)


def _order(client, *, amount=4999, currency="usd", request_id="create-1", booking=BOOKING):
    return client.create_order(booking_id=booking, amount=amount, currency=currency, request_id=request_id,
                               return_url=f"https://cal.example.com/pay/{booking}/return?x=1",
                               cancel_url=f"https://cal.example.com/pay/{booking}/cancel", description="Tutoring")


def _header(call, name):
    return {k.lower(): v for k, v in call.headers.items()}[name.lower()]


def _paid(client, fake, **kwargs):
    order = _order(client, **kwargs)
    fake.approve(order.id)
    return client.capture_order(order.id, request_id=f"capture-{order.id}")


# --- access token ----------------------------------------------------------------------------------------------
def test_the_token_comes_from_client_credentials_with_http_basic_and_is_cached(paypal, paypal_fake):
    order = _order(paypal)
    paypal.get_order(order.id)
    [call] = paypal_fake.calls("POST", TOKEN)
    expected = base64.b64encode(f"{paypal_fake.client_id}:{paypal_fake.client_secret}".encode()).decode()
    assert call.headers["Authorization"] == f"Basic {expected}"
    assert call.form == {"grant_type": "client_credentials"}
    api_calls = [c for c in paypal_fake.requests if c.path != TOKEN]
    assert len(api_calls) == 2 and all(c.headers["Authorization"].startswith("Bearer ") for c in api_calls)
    assert len({c.headers["Authorization"] for c in api_calls}) == 1


def test_the_cached_token_is_replaced_shortly_before_it_expires(paypal, paypal_fake, clock):
    first = paypal.access_token()
    clock.now += paypal_fake.token_lifetime - pp.TOKEN_MARGIN - 1
    assert paypal.access_token() == first and paypal_fake.tokens_issued == 1
    clock.now += 2
    second = paypal.access_token()
    assert second != first and paypal_fake.tokens_issued == 2
    assert paypal.access_token() == second


def test_a_token_refused_by_the_api_is_replaced_once_and_the_call_repeated(paypal, paypal_fake):
    order = _order(paypal)
    paypal_fake.expire_access_tokens()             # PayPal no longer takes the cached token
    assert paypal.get_order(order.id).id == order.id
    assert paypal_fake.tokens_issued == 2
    assert [c.path for c in paypal_fake.requests][-3:] == [f"{ORDERS}/{order.id}", TOKEN, f"{ORDERS}/{order.id}"]


def test_wrong_client_credentials_are_auth_revoked_without_echoing_the_secret(paypal_fake):
    client = PayPalClient(paypal_fake.client_config(client_secret="not-the-secret"))
    with pytest.raises(AuthRevoked) as caught:
        client.get_order("5O190127TN364715T")
    assert caught.value.status == 401 and caught.value.code == "invalid_client"
    assert "not-the-secret" not in str(caught.value) and "not-the-secret" not in repr(client)
    assert paypal_fake.calls("GET") == []


# --- orders ----------------------------------------------------------------------------------------------------
def test_create_order_sends_the_documented_body_and_answers_the_approval_link(paypal, paypal_fake):
    order = _order(paypal)
    [call] = paypal_fake.calls("POST", ORDERS)
    assert _header(call, "PayPal-Request-Id") == "create-1"
    assert call.headers["Content-Type"] == "application/json"
    assert call.json == {
        "intent": "CAPTURE",
        "purchase_units": [{"reference_id": BOOKING, "custom_id": BOOKING, "description": "Tutoring",
                            "amount": {"currency_code": "USD", "value": "49.99"}}],
        "payment_source": {"paypal": {"experience_context": {
            "return_url": f"https://cal.example.com/pay/{BOOKING}/return?x=1",
            "cancel_url": f"https://cal.example.com/pay/{BOOKING}/cancel", "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING", "payment_method_preference": "IMMEDIATE_PAYMENT_REQUIRED"}}},
    }
    assert order.id in paypal_fake.orders and order.status == "PAYER_ACTION_REQUIRED" and order.awaiting_payer
    assert order.approve_url == f"{paypal_fake.url}/checkoutnow?token={order.id}"
    assert (order.amount, order.currency, order.custom_id, order.reference_id) == (4999, "usd", BOOKING, BOOKING)
    assert order.captures == () and order.completed_capture is None


@pytest.mark.parametrize(("minor", "currency", "value"), [
    (5000, "JPY", "5000"), (1, "usd", "0.01"), (123456, "eur", "1234.56"), (150000, "huf", "1500"),
    (99999999999, "usd", "999999999.99"),
])
def test_amounts_are_sent_as_decimal_strings_with_paypals_decimals(paypal, paypal_fake, minor, currency, value):
    order = _order(paypal, amount=minor, currency=currency)
    sent = paypal_fake.calls("POST", ORDERS)[0].json["purchase_units"][0]["amount"]
    assert sent == {"currency_code": currency.upper(), "value": value}
    assert (order.amount, order.currency) == (minor, currency.lower())


@pytest.mark.parametrize(("minor", "currency"), [
    (1500, "kwd"), (5000, "krw"), (0, "usd"), (-100, "usd"), (150050, "huf"), (49.99, "usd"), (True, "usd"),
])
def test_amounts_paypal_cannot_take_are_refused_before_any_request(paypal, paypal_fake, minor, currency):
    with pytest.raises(money.MoneyError):
        _order(paypal, amount=minor, currency=currency)
    assert paypal_fake.requests == []
    assert not pp.supports_currency("kwd") and pp.supports_currency("USD")


def test_paypal_amounts_are_built_without_float():
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        assert pp.paypal_amount(30, "usd") == {"currency_code": "USD", "value": "0.30"}
        assert pp.amount_from_paypal({"currency_code": "USD", "value": "0.30"}) == (30, "usd")
        assert pp.amount_from_paypal({"currency_code": "HUF", "value": "1500"}) == (150000, "huf")


def test_the_same_request_id_creates_one_order(paypal, paypal_fake):
    first = _order(paypal, request_id="booking-1-create")
    again = _order(paypal, request_id="booking-1-create")
    other = _order(paypal, request_id="booking-2-create")
    assert first.id == again.id != other.id
    assert len(paypal_fake.orders) == 2 and paypal_fake.replays == 1


def test_an_order_goes_from_waiting_to_approved_to_completed(paypal, paypal_fake):
    order = _order(paypal)
    assert paypal.get_order(order.id).status == "PAYER_ACTION_REQUIRED"
    paypal_fake.approve(order.id, payer_email="bo@example.com")
    approved = paypal.get_order(order.id)
    assert approved.status == "APPROVED" and approved.payer_email == "bo@example.com"
    captured = paypal.capture_order(order.id, request_id=f"capture-{order.id}")
    call = paypal_fake.calls("POST", f"{ORDERS}/{order.id}/capture")[0]
    assert _header(call, "PayPal-Request-Id") == f"capture-{order.id}" and call.headers["Content-Type"] == \
        "application/json"
    capture = captured.completed_capture
    assert captured.status == "COMPLETED" and capture is not None and capture.id in paypal_fake.captures
    assert (capture.amount, capture.currency, capture.custom_id) == (4999, "usd", BOOKING)
    assert paypal.get_order(order.id).completed_capture.id == capture.id


def test_the_payer_page_approves_and_returns_to_linktime(paypal, paypal_fake):
    order = _order(paypal)
    answer = requests.get(order.approve_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"https://cal.example.com/pay/{BOOKING}/return?x=1&token={order.id}")
    assert paypal.get_order(order.id).status == "APPROVED"


def test_capture_before_approval_after_capture_and_after_voiding_are_refused(paypal, paypal_fake):
    order = _order(paypal)
    with pytest.raises(PermanentError) as caught:
        paypal.capture_order(order.id, request_id="c-1")
    assert (caught.value.status, caught.value.code) == (422, "ORDER_NOT_APPROVED")
    paypal_fake.approve(order.id)
    first = paypal.capture_order(order.id, request_id="c-2")
    assert paypal.capture_order(order.id, request_id="c-2").completed_capture.id == first.completed_capture.id
    assert len(paypal_fake.captures) == 1 and paypal_fake.replays == 1
    with pytest.raises(PermanentError) as caught:
        paypal.capture_order(order.id, request_id="c-3")
    assert caught.value.code == "ORDER_ALREADY_CAPTURED"
    voided = _order(paypal, request_id="create-2")
    paypal_fake.void(voided.id)
    assert paypal.get_order(voided.id).status == "VOIDED"
    with pytest.raises(PermanentError):
        paypal.capture_order(voided.id, request_id="c-4")


def test_an_unknown_order_is_not_found(paypal):
    with pytest.raises(NotFound) as caught:
        paypal.get_order("0AB12345CD678901E")
    assert caught.value.status == 404 and caught.value.code == "INVALID_RESOURCE_ID"
    with pytest.raises(ValueError):
        paypal.get_order("../v1/oauth2/token")


# --- refunds ---------------------------------------------------------------------------------------------------
def test_a_full_refund_returns_everything_once(paypal, paypal_fake):
    capture = _paid(paypal, paypal_fake).completed_capture
    refund = paypal.refund_capture(capture.id, request_id=f"refund-{capture.id}")
    call = paypal_fake.calls("POST", f"/v2/payments/captures/{capture.id}/refund")[0]
    assert call.json == {} and _header(call, "PayPal-Request-Id") == f"refund-{capture.id}"
    assert (refund.status, refund.amount, refund.currency) == ("COMPLETED", 4999, "usd")
    assert paypal.refund_capture(capture.id, request_id=f"refund-{capture.id}").id == refund.id   # replayed
    assert len(paypal_fake.refunds) == 1 and paypal_fake.captures[capture.id]["status"] == "REFUNDED"
    with pytest.raises(PermanentError) as caught:
        paypal.refund_capture(capture.id, request_id="refund-again")
    assert caught.value.code == "CAPTURE_FULLY_REFUNDED"


def test_partial_refunds_up_to_what_was_paid(paypal, paypal_fake):
    capture = _paid(paypal, paypal_fake, amount=5000, currency="eur").completed_capture
    first = paypal.refund_capture(capture.id, request_id="r-1", amount=1050, currency="EUR", note_to_payer="Sorry")
    sent = paypal_fake.calls("POST", f"/v2/payments/captures/{capture.id}/refund")[0].json
    assert sent == {"amount": {"currency_code": "EUR", "value": "10.50"}, "note_to_payer": "Sorry"}
    assert (first.amount, first.currency) == (1050, "eur")
    assert paypal_fake.captures[capture.id]["status"] == "PARTIALLY_REFUNDED"
    with pytest.raises(PermanentError) as caught:
        paypal.refund_capture(capture.id, request_id="r-2", amount=3951, currency="eur")
    assert caught.value.code == "REFUND_AMOUNT_EXCEEDED"
    assert paypal.refund_capture(capture.id, request_id="r-3", amount=3950, currency="eur").amount == 3950
    assert paypal_fake.captures[capture.id]["status"] == "REFUNDED"
    with pytest.raises(ValueError):
        paypal.refund_capture(capture.id, request_id="r-4", amount=100)          # a partial amount needs its currency


# --- failures --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "kind"), [(500, TransientError), (503, TransientError), (429, TransientError),
                                              (409, TransientError), (404, NotFound), (403, PermanentError),
                                              (400, PermanentError), (422, PermanentError)])
def test_api_errors_are_classified(paypal, paypal_fake, status, kind):
    paypal.access_token()
    paypal_fake.fail(status, path=ORDERS, headers={"Retry-After": "7"} if status == 503 else None)
    with pytest.raises(kind) as caught:
        _order(paypal)
    error = caught.value
    assert type(error) is kind and error.status == status and error.provider == "paypal"
    assert error.transient is (kind is TransientError)
    assert error.code == paypal_fake.api_error_body(status, "", None)["name"]     # e.g. INTERNAL_SERVER_ERROR
    if status == 503:
        assert error.retry_after == 7.0


def test_paypals_own_validation_errors_carry_the_issue(paypal, paypal_fake):
    """The fake refuses what PayPal refuses, in PayPal's error shape, and the client reports the issue."""
    paypal.access_token()
    bad_bodies = {
        "DECIMAL_PRECISION": {"currency_code": "USD", "value": "49.999"},
        "DECIMALS_NOT_SUPPORTED": {"currency_code": "JPY", "value": "5000.00"},
        "CURRENCY_NOT_SUPPORTED": {"currency_code": "KWD", "value": "1.500"},
        "INVALID_PARAMETER_SYNTAX": {"currency_code": "USD", "value": 49.99},
        "CANNOT_BE_ZERO_OR_NEGATIVE": {"currency_code": "USD", "value": "0.00"},
        "MISSING_REQUIRED_PARAMETER": None,
    }
    for expected, amount in bad_bodies.items():
        unit = {"reference_id": BOOKING, **({"amount": amount} if amount else {})}
        with pytest.raises(PermanentError) as caught:
            paypal._api("POST", ORDERS, json_body={"intent": "CAPTURE", "purchase_units": [unit]}, request_id="x")
        assert caught.value.code == expected, caught.value
    bad = {"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.234"}}]}
    answer = requests.post(paypal_fake.url + ORDERS, json=bad, timeout=5,
                           headers={"Authorization": f"Bearer {paypal.access_token()}"})
    body = answer.json()
    assert answer.status_code == 400 and body["name"] == "INVALID_REQUEST" and body["debug_id"]
    assert body["details"][0] == {"field": "/purchase_units/0/amount/value", "location": "body", "value": "1.234",
                                  "issue": "DECIMAL_PRECISION", "description": "USD supports at most 2 decimal places."}
    assert paypal_fake.orders == {}


def test_a_gateway_page_and_a_slow_answer_are_transient(paypal_fake):
    client = PayPalClient(paypal_fake.client_config(timeout=0.5))
    client.access_token()
    paypal_fake.fail(502, path=ORDERS, body=b"<html>Bad gateway</html>")
    with pytest.raises(TransientError) as caught:
        _order(client)
    assert caught.value.status == 502
    paypal_fake.slow(2, path=ORDERS)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _order(client)
    assert time.monotonic() - started < 1.9 and "did not answer" in caught.value.message


def test_an_unreachable_paypal_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]            # nothing listens on it once closed
    client = PayPalClient({"client_id": "id", "client_secret": "secret", "api_base": f"http://127.0.0.1:{port}"})
    with pytest.raises(TransientError):
        client.access_token()


def test_paypals_own_hosts_are_reached_only_at_public_addresses(monkeypatch):
    """The guarded client: api-m.paypal.com resolving to a private address is refused before connecting."""
    def private_answer(host, port, *args):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.0.0.7", port))]

    monkeypatch.setattr(net, "_getaddrinfo", private_answer)
    client = PayPalClient({"client_id": "id", "client_secret": "secret", "api_base": pp.LIVE_API})
    assert client.allow_private is False
    with pytest.raises(PermanentError) as caught:
        client.access_token()
    assert not caught.value.transient and "not allowed" in caught.value.message


# --- configuration ---------------------------------------------------------------------------------------------
def test_settings_choose_the_api_by_mode_and_an_explicit_base_wins(tmp_path, paypal_fake):
    base = {"INSTANCE_DIR": str(tmp_path)}
    sandbox = load_config(env=base)
    assert sandbox["PAYPAL_API_BASE"] == pp.SANDBOX_API and not pp.configured(sandbox)
    live = load_config(env={**base, "PAYPAL_MODE": "live"})
    assert pp.config_from_settings(live)["api_base"] == pp.LIVE_API
    (tmp_path / "secret").write_text(paypal_fake.client_secret + "\n")
    env = {**base, **{k: v for k, v in paypal_fake.settings().items() if k != "PAYPAL_CLIENT_SECRET"},
           "PAYPAL_CLIENT_SECRET_FILE": str(tmp_path / "secret"), "PAYPAL_MODE": "live"}
    cfg = load_config(env=env)
    assert pp.configured(cfg) and cfg["PAYPAL_API_BASE"] == paypal_fake.url
    client = pp.client_from_settings(cfg)
    assert client is pp.client_from_settings(cfg) and client.allow_private is True
    assert client.webhook_id == paypal_fake.webhook_id
    _order(client)
    assert paypal_fake.tokens_issued == 1


# --- webhooks --------------------------------------------------------------------------------------------------
def test_a_signed_event_is_verified_by_paypal_with_the_body_byte_for_byte(paypal, paypal_fake):
    order = _order(paypal)
    paypal_fake.approve(order.id)
    headers, body = paypal_fake.sign(paypal_fake.last_event(pp.ORDER_APPROVED))
    event = paypal.verify_webhook(headers, body)
    assert (event.event_type, event.order_id, event.booking_id) == (pp.ORDER_APPROVED, order.id, BOOKING)
    assert event.id.startswith("WH-") and event.transmission_id == headers["PAYPAL-TRANSMISSION-ID"]
    [call] = paypal_fake.calls("POST", VERIFY)
    sent = json.loads(paypal_fake.signed[event.transmission_id].body)
    assert call.json == {"auth_algo": "SHA256withRSA", "cert_url": headers["PAYPAL-CERT-URL"],
                         "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
                         "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
                         "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
                         "webhook_id": paypal_fake.webhook_id, "webhook_event": sent}


def test_capture_and_refund_events_name_their_booking_order_capture_and_amount(paypal, paypal_fake):
    captured = _paid(paypal, paypal_fake, amount=1500, currency="gbp")
    capture = captured.completed_capture
    completed = paypal.verify_webhook(*paypal_fake.sign(paypal_fake.last_event(pp.CAPTURE_COMPLETED)))
    assert (completed.capture_id, completed.order_id, completed.booking_id) == (capture.id, captured.id, BOOKING)
    assert completed.amount == (1500, "gbp") and completed.resource_type == "capture"
    refund = paypal.refund_capture(capture.id, request_id="r-1", amount=500, currency="gbp")
    refunded = paypal.verify_webhook(*paypal_fake.sign(paypal_fake.last_event(pp.CAPTURE_REFUNDED)))
    assert (refunded.resource["id"], refunded.capture_id, refunded.booking_id) == (refund.id, capture.id, BOOKING)
    assert refunded.amount == (500, "gbp") and refunded.order_id is None


def test_a_delivered_event_verifies_from_the_received_request(paypal, paypal_fake):
    order = _order(paypal)
    paypal_fake.approve(order.id)
    with WebhookReceiver() as receiver:
        answer = paypal_fake.deliver(receiver.url("/api/webhooks/paypal"), paypal_fake.last_event(pp.ORDER_APPROVED))
        assert answer.status_code == 200
        [received] = receiver.wait_for(1)
    assert received.path == "/api/webhooks/paypal" and received.headers["Content-Type"] == "application/json"
    assert paypal.verify_webhook(received.headers, received.body).order_id == order.id


def _approved_delivery(client, fake, **sign_kwargs):
    order = _order(client)
    fake.approve(order.id)
    return fake.sign(fake.last_event(pp.ORDER_APPROVED), **sign_kwargs)


def _rejected(client, headers, body, code):
    with pytest.raises(WebhookRejected) as caught:
        client.verify_webhook(headers, body)
    assert caught.value.code == code and not caught.value.transient
    return caught.value


def test_a_forged_signature_or_a_changed_body_is_rejected(paypal, paypal_fake):
    headers, body = _approved_delivery(paypal, paypal_fake)
    forged = {**headers, "PAYPAL-TRANSMISSION-SIG": base64.b64encode(b"x" * 32).decode()}
    _rejected(paypal, forged, body, "not_verified")
    changed = body.replace(b'"value":"49.99"', b'"value":"0.01"')
    assert changed != body
    _rejected(paypal, headers, changed, "not_verified")
    reserialized = json.dumps(json.loads(body)).encode()          # same event, other bytes: not what was signed
    _rejected(paypal, headers, reserialized, "not_verified")
    unsigned = {**headers, "PAYPAL-TRANSMISSION-ID": "a0b1c2d3e4f5"}
    _rejected(paypal, unsigned, body, "not_verified")
    assert len(paypal_fake.calls("POST", VERIFY)) == 4
    assert paypal.verify_webhook(headers, body).event_type == pp.ORDER_APPROVED    # the genuine one still verifies


def test_a_stale_or_future_transmission_is_rejected_without_asking_paypal(paypal, paypal_fake, clock):
    old = (datetime.fromtimestamp(clock.now, UTC) - timedelta(minutes=5, seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers, body = _approved_delivery(paypal, paypal_fake, transmission_time=old)
    _rejected(paypal, headers, body, "stale")
    ahead = (datetime.fromtimestamp(clock.now, UTC) + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _rejected(paypal, *paypal_fake.sign(json.loads(body), transmission_time=ahead), "stale")
    fresh_headers, fresh_body = paypal_fake.sign(json.loads(body))
    clock.now += 301                                               # the same delivery replayed later
    _rejected(paypal, fresh_headers, fresh_body, "stale")
    assert paypal_fake.calls("POST", VERIFY) == []
    clock.now -= 301
    assert paypal.verify_webhook(fresh_headers, fresh_body).event_type == pp.ORDER_APPROVED


def test_an_event_for_another_webhook_id_is_rejected(paypal_fake, clock):
    client = PayPalClient(paypal_fake.client_config(webhook_id="8PT597110X687430LKGECATA"), clock=clock)
    headers, body = _approved_delivery(client, paypal_fake)
    _rejected(client, headers, body, "not_verified")
    assert paypal_fake.calls("POST", VERIFY)[0].json["webhook_id"] == "8PT597110X687430LKGECATA"
    other_hook = PayPalClient(paypal_fake.client_config(), clock=clock)
    _rejected(other_hook, *paypal_fake.sign(json.loads(body), webhook_id="1JE4291016473214C"), "not_verified")


def test_malformed_deliveries_are_rejected_before_asking_paypal(paypal, paypal_fake):
    headers, body = _approved_delivery(paypal, paypal_fake)
    for name in pp.WEBHOOK_HEADERS:
        _rejected(paypal, {k: v for k, v in headers.items() if k != name}, body, "missing_header")
    _rejected(paypal, {**headers, "PAYPAL-TRANSMISSION-TIME": "yesterday"}, body, "malformed")
    _rejected(paypal, {**headers, "PAYPAL-TRANSMISSION-TIME": "2026-12-05T19:00:00"}, body, "malformed")
    _rejected(paypal, {**headers, "PAYPAL-AUTH-ALGO": "SHA256 with RSA"}, body, "malformed")
    _rejected(paypal, headers, b"not json", "malformed")
    _rejected(paypal, headers, b"[1, 2]", "malformed")
    _rejected(paypal, headers, b'{"id": "WH-1", "event_type": "X"}', "malformed")
    _rejected(paypal, headers, b"\xff\xfe", "malformed")
    _rejected(paypal, {**headers, "PAYPAL-TRANSMISSION-SIG": "not base64!"}, body, "malformed")
    _rejected(paypal, {**headers, "PAYPAL-TRANSMISSION-ID": "id with spaces"}, body, "malformed")
    assert paypal_fake.calls("POST", VERIFY) == []
    signature = headers["PAYPAL-TRANSMISSION-SIG"]
    for start in ("+", "/"):                                        # base64 may start with these: PayPal decides
        forged = start + signature[1:]
        if forged == signature:                                     # it started so already: change the next one
            forged = start + ("A" if signature[1] != "A" else "B") + signature[2:]
        _rejected(paypal, {**headers, "PAYPAL-TRANSMISSION-SIG": forged}, body, "not_verified")
    lower = {k.lower(): v for k, v in headers.items()}             # header names in any case
    assert paypal.verify_webhook(lower, body).event_type == pp.ORDER_APPROVED


def test_paypal_unreachable_during_verification_is_transient_not_a_rejection(paypal, paypal_fake):
    headers, body = _approved_delivery(paypal, paypal_fake)
    paypal_fake.fail(503, path=VERIFY)
    with pytest.raises(TransientError) as caught:
        paypal.verify_webhook(headers, body)
    assert not isinstance(caught.value, WebhookRejected)
    assert paypal.verify_webhook(headers, body).event_type == pp.ORDER_APPROVED


def test_verification_needs_the_configured_webhook_id(paypal_fake):
    client = PayPalClient(paypal_fake.client_config(webhook_id=""))
    headers, body = _approved_delivery(client, paypal_fake)
    with pytest.raises(PermanentError) as caught:
        client.verify_webhook(headers, body)
    assert caught.value.code == "not_configured" and not isinstance(caught.value, WebhookRejected)


def test_answers_are_read_defensively():
    """An order created the older way (``approve`` link, CREATED) reads the same; odd shapes give None, not a crash;
    an answer without id or an unreadable amount is a PermanentError."""
    older = pp._order({"id": "5O190127TN364715T", "status": "CREATED", "payment_source": "odd",
                       "links": [{"rel": "approve", "href": "https://www.sandbox.paypal.com/checkoutnow?token=5O1"}],
                       "purchase_units": [{"amount": {"currency_code": "JPY", "value": "5000"}}]})
    assert older.awaiting_payer and older.approve_url.endswith("token=5O1") and older.amount == 5000
    assert older.payer_email is None and older.custom_id is None
    event = pp.WebhookEvent(id="WH-1", event_type=pp.CAPTURE_COMPLETED, resource_type="capture",
                            resource={"id": "CAP1", "supplementary_data": "odd"}, transmission_id="t")
    assert (event.order_id, event.capture_id, event.booking_id, event.amount) == (None, "CAP1", None, None)
    approved = pp.WebhookEvent(id="WH-2", event_type=pp.ORDER_APPROVED, resource_type="checkout-order",
                               resource={"id": "O1", "purchase_units": ["odd"]}, transmission_id="t")
    assert (approved.order_id, approved.booking_id, approved.capture_id) == ("O1", None, None)
    for body in ({"status": "CREATED"}, {"id": "O1", "status": "CREATED",
                                          "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.234"}}]}):
        with pytest.raises(PermanentError):
            pp._order(body)
