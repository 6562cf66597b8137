"""Stripe Checkout, refunds and webhook signatures through StripePayments, against the local Stripe fake."""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import stripe
from flask import Flask, request
from werkzeug.serving import make_server

from app.config import load_config, markdown_table
from app.integrations.errors import AuthRevoked, NotFound, PermanentError, TransientError
from app.integrations.stripe_payments import (
    StripePayments,
    WebhookRejected,
    checkout_expiry,
    verify_webhook,
)
from tests.fakes.stripe import StripeFake

ROOT = Path(__file__).resolve().parents[2]
SUCCESS = "https://cal.example.com/booking/42/paid?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://cal.example.com/booking/42/cancel"


@pytest.fixture
def fake():
    with StripeFake() as server:
        yield server


@pytest.fixture
def client(fake):
    return StripePayments.from_config(fake.settings())


def _checkout(client, booking_id="42", *, amount=2500, currency="eur", held_at=None, window=timedelta(minutes=15),
              **kwargs):
    return client.create_checkout_session(
        booking_id=booking_id, amount=amount, currency=currency, name="Intro call with Lin", success_url=SUCCESS,
        cancel_url=CANCEL, held_at=held_at or datetime.now(UTC), window=window, **kwargs)


def _paid(client, fake, booking_id="42", amount=2500):
    session = _checkout(client, booking_id, amount=amount)
    event = fake.complete(session.id)
    return session, event, event["data"]["object"]["payment_intent"]


# --- Checkout Sessions -----------------------------------------------------------------------------------------
def test_create_sends_the_documented_form_fields(client, fake):
    held_at = datetime.now(UTC)
    session = _checkout(client, held_at=held_at, customer_email="bo@example.com")
    call = fake.calls("POST", "/v1/checkout/sessions")[0]
    expected_expiry = int(held_at.replace(microsecond=0).timestamp()) + 40 * 60
    assert call.form == {
        "mode": "payment", "line_items[0][quantity]": "1", "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "2500",
        "line_items[0][price_data][product_data][name]": "Intro call with Lin",
        "success_url": SUCCESS, "cancel_url": CANCEL, "client_reference_id": "42", "metadata[bookingId]": "42",
        "payment_intent_data[metadata][bookingId]": "42", "expires_at": str(expected_expiry),
        "customer_email": "bo@example.com"}
    assert call.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert call.headers["Idempotency-Key"] == "linktime-checkout-42-1"
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Cookie" not in call.headers
    assert (session.status, session.payment_status, session.amount_total, session.currency) == (
        "open", "unpaid", 2500, "eur")
    assert session.booking_id == "42" and session.url.startswith(fake.url) and not session.paid
    assert fake.sessions[session.id]["metadata"] == {"bookingId": "42"}
    assert fake.line_items[session.id] == [{"currency": "eur", "unit_amount": 2500, "quantity": 1,
                                            "name": "Intro call with Lin", "amount_total": 2500}]


def test_a_retried_create_answers_the_same_session_and_never_makes_a_second(client, fake):
    held_at = datetime.now(UTC)
    first = _checkout(client, held_at=held_at)
    again = _checkout(client, held_at=held_at)
    assert again.id == first.id and len(fake.sessions) == 1
    with pytest.raises(PermanentError) as caught:            # same booking, other parameters: Stripe refuses
        _checkout(client, held_at=held_at, amount=3000)
    assert caught.value.code == "idempotency_error" and caught.value.status == 400
    assert len(fake.sessions) == 1
    second_attempt = _checkout(client, held_at=held_at, attempt=2)   # a new Session on purpose
    assert second_attempt.id != first.id and len(fake.sessions) == 2


def test_concurrent_creates_with_one_key_make_one_session(client, fake):
    fake.work_delay = 1.0                                     # the first request is still running ...
    held_at, results = datetime.now(UTC), []

    def create():
        try:
            results.append(_checkout(client, held_at=held_at).id)
        except TransientError as exc:
            results.append(exc)

    first = threading.Thread(target=create)
    first.start()
    deadline = time.monotonic() + 5
    while not fake.calls("POST") and time.monotonic() < deadline:
        time.sleep(0.01)
    create()                                                  # ... when the retry arrives: 409, try later
    first.join(10)
    fake.work_delay = 0
    ids = [r for r in results if isinstance(r, str)]
    busy = [r for r in results if isinstance(r, TransientError)]
    assert len(ids) == 1 and len(busy) == 1 and set(ids) == set(fake.sessions)
    assert busy[0].status == 409 and busy[0].code == "idempotency_key_in_use"
    assert _checkout(client, held_at=held_at).id == ids[0]   # the later retry answers the same Session


def test_payment_windows_under_30_minutes_are_expired_by_us():
    held_at = datetime(2026, 3, 10, 9, 0, 0, 500000, tzinfo=UTC)
    start = held_at.replace(microsecond=0)
    assert checkout_expiry(held_at, timedelta(minutes=15)) == (start + timedelta(minutes=15),
                                                              start + timedelta(minutes=40))
    assert checkout_expiry(held_at, timedelta(hours=2)) == (start + timedelta(hours=2), start + timedelta(hours=2))
    for window in (timedelta(0), timedelta(hours=24), timedelta(minutes=-5)):
        with pytest.raises(ValueError):
            checkout_expiry(held_at, window)
    with pytest.raises(ValueError):
        checkout_expiry(datetime(2026, 3, 10, 9, 0), timedelta(minutes=15))


def test_session_expiry_in_the_fake_and_the_flags(client, fake):
    short = _checkout(client, "1", window=timedelta(minutes=15))
    assert short.expire_ourselves and short.expires_at - short.hold_until == timedelta(minutes=25)
    long = _checkout(client, "2", window=timedelta(hours=3))
    assert not long.expire_ourselves and long.expires_at == long.hold_until
    # a create first sent 9 minutes after the hold began is still accepted; 11 minutes after, Stripe refuses it
    late_ok = _checkout(client, "3", held_at=datetime.now(UTC) - timedelta(minutes=9))
    assert late_ok.status == "open"
    with pytest.raises(PermanentError) as caught:
        _checkout(client, "4", held_at=datetime.now(UTC) - timedelta(minutes=11))
    assert caught.value.status == 400 and "expires_at" in caught.value.message
    fake.advance(41 * 60)                                     # Stripe's own expiry passes
    assert client.retrieve_checkout_session(short.id).status == "expired"
    assert client.retrieve_checkout_session(long.id).status == "open"


def test_retrieve_after_payment(client, fake):
    session, event, intent = _paid(client, fake)
    current = client.retrieve_checkout_session(session.id)
    assert current.paid and current.payment_intent == intent and intent.startswith("pi_")
    assert fake.calls("GET")[-1].path == f"/v1/checkout/sessions/{session.id}"
    with pytest.raises(NotFound) as caught:
        client.retrieve_checkout_session("cs_test_unknown")
    assert caught.value.code == "resource_missing" and caught.value.status == 404
    count = len(fake.requests)
    for bad in ("../v1/refunds", "cs_test_a/expire", "pi_123", ""):
        with pytest.raises(ValueError):
            client.retrieve_checkout_session(bad)
    assert len(fake.requests) == count                         # nothing was sent


def test_expire_an_open_session_and_answer_finished_ones_as_they_are(client, fake):
    session = _checkout(client, "1")
    expired = client.expire_checkout_session(session.id)
    assert expired.status == "expired" and expired.url is None
    assert fake.calls("POST")[-1].path == f"/v1/checkout/sessions/{session.id}/expire"
    assert client.expire_checkout_session(session.id).status == "expired"        # again: harmless
    with pytest.raises(ValueError):
        fake.complete(session.id)                                                 # nobody can pay it now
    paid, _, intent = _paid(client, fake, "2")
    late = client.expire_checkout_session(paid.id)                                # the payment won the race
    assert late.status == "complete" and late.paid and late.payment_intent == intent
    with pytest.raises(NotFound):
        client.expire_checkout_session("cs_test_missing")


# --- refunds ---------------------------------------------------------------------------------------------------
def test_partial_then_full_refund(client, fake):
    _, _, intent = _paid(client, fake)
    part = client.create_refund(intent, reference="booking-42-partial-1", amount=1000, booking_id="42",
                                reason="requested_by_customer")
    assert (part.amount, part.currency, part.status, part.payment_intent) == (1000, "eur", "succeeded", intent)
    call = fake.calls("POST", "/v1/refunds")[-1]
    assert call.form == {"payment_intent": intent, "amount": "1000", "reason": "requested_by_customer",
                         "metadata[bookingId]": "42"}
    assert call.headers["Idempotency-Key"] == "linktime-refund-booking-42-partial-1"
    again = client.create_refund(intent, reference="booking-42-partial-1", amount=1000, booking_id="42",
                                 reason="requested_by_customer")
    assert again.id == part.id and len(fake.refunds) == 1      # a retry never refunds twice
    with pytest.raises(PermanentError) as caught:
        client.create_refund(intent, reference="booking-42-too-much", amount=2000)
    assert caught.value.code == "amount_too_large"
    rest = client.create_refund(intent, reference="booking-42-host-cancel")   # in full: what is left
    assert rest.amount == 1500 and "amount" not in fake.calls("POST", "/v1/refunds")[-1].form
    with pytest.raises(PermanentError) as caught:
        client.create_refund(intent, reference="booking-42-again")
    assert caught.value.code == "charge_already_refunded"
    charge = fake.charge_refunded_event(intent)["data"]["object"]
    assert charge["amount_refunded"] == 2500 and charge["refunded"] is True


def test_refund_arguments_are_checked_before_anything_is_sent(client, fake):
    _, _, intent = _paid(client, fake)
    count = len(fake.requests)
    for bad in (dict(payment_intent="ch_123", reference="r1"), dict(payment_intent=intent, reference=""),
                dict(payment_intent=intent, reference="a b"), dict(payment_intent=intent, reference="r", reason="x")):
        with pytest.raises(ValueError):
            client.create_refund(bad.pop("payment_intent"), **bad)
    with pytest.raises(PermanentError) as caught:
        client.create_refund("pi_unknown", reference="r2")
    assert caught.value.code == "resource_missing"
    assert len(fake.requests) == count + 1


# --- amounts ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [25.0, 0.1 + 0.2, Decimal("25"), True, "2500", None])
def test_only_int_minor_units_are_accepted(client, fake, amount):
    with pytest.raises(TypeError):
        _checkout(client, amount=amount)
    _, _, intent = _paid(client, fake)
    if amount is not None:                                       # None is a full refund
        with pytest.raises(TypeError):
            client.create_refund(intent, reference="r", amount=amount)
    assert not fake.calls("POST", "/v1/refunds") and len(fake.sessions) == 1


@pytest.mark.parametrize(("amount", "currency"), [(1500, "JPY"), (12345, "kwd"), (1999, "usd")])
def test_amounts_go_out_as_integer_strings_and_currencies_lower_case(client, fake, amount, currency):
    session = _checkout(client, amount=amount, currency=currency)
    form = fake.calls("POST", "/v1/checkout/sessions")[-1].form
    assert form["line_items[0][price_data][unit_amount]"] == str(amount)
    assert form["line_items[0][price_data][currency]"] == currency.lower()
    assert type(session.amount_total) is int and session.amount_total == amount
    for key in ("line_items[0][price_data][unit_amount]", "line_items[0][quantity]", "expires_at"):
        assert re.fullmatch(r"[1-9][0-9]*", form[key]), (key, form[key])


@pytest.mark.parametrize("amount", [0, -1, 100_000_000])
def test_amounts_out_of_range(client, fake, amount):
    with pytest.raises(ValueError):
        _checkout(client, amount=amount)
    with pytest.raises(ValueError):
        _checkout(client, currency="euro")
    assert not fake.calls("POST")


# --- errors ----------------------------------------------------------------------------------------------------
def test_errors_are_classified(client, fake):
    fake.fail(500)
    with pytest.raises(TransientError) as caught:
        client.retrieve_checkout_session("cs_test_x")
    assert caught.value.status == 500 and caught.value.provider == "stripe"
    fake.fail(429, headers={"Retry-After": "7"},
              body={"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}})
    with pytest.raises(TransientError) as caught:
        _checkout(client)
    assert caught.value.retry_after == 7 and caught.value.code == "rate_limit"
    fake.fail(502, body=b"<html>Bad gateway</html>")
    with pytest.raises(TransientError):
        _checkout(client)
    fake.fail(400, headers={"Stripe-Should-Retry": "true"},
              body={"error": {"type": "api_error", "message": "Lock timeout"}})
    with pytest.raises(TransientError):
        _checkout(client)
    fake.fail(403, body={"error": {"type": "invalid_request_error", "message": "restricted key"}})
    with pytest.raises(AuthRevoked):
        _checkout(client)
    wrong = StripePayments.from_config(fake.settings(STRIPE_SECRET_KEY="sk_test_wrong_key_1234"))
    with pytest.raises(AuthRevoked) as caught:
        _checkout(wrong)
    assert caught.value.status == 401 and "sk_test_wrong_key_1234" not in str(caught.value)
    assert "sk_test" not in repr(client) and fake.api_key not in repr(client)


def test_a_slow_stripe_is_a_transient_error_within_the_timeout(fake):
    impatient = StripePayments.from_config(fake.settings(INTEGRATION_HTTP_TIMEOUT=0.5))
    fake.slow(3, path="/v1/checkout/sessions")
    started = time.monotonic()
    with pytest.raises(TransientError):
        _checkout(impatient)
    assert time.monotonic() - started < 2.5                     # no SDK retries, one deadline


def test_unreachable_stripe_is_transient_and_the_address_guard_applies(fake):
    with StripeFake() as gone:
        url = gone.url
    closed = StripePayments("sk_test_x", api_base=url)
    with pytest.raises(TransientError):
        closed.retrieve_checkout_session("cs_test_x")
    guarded = StripePayments(fake.api_key, api_base=fake.url, allow_private=False)
    with pytest.raises(PermanentError) as caught:
        guarded.retrieve_checkout_session("cs_test_x")
    assert "private or local address" in caught.value.message and not fake.requests
    with pytest.raises(ValueError):
        StripePayments("", api_base=fake.url)
    with pytest.raises(ValueError):
        StripePayments("sk_test_x", api_base="ftp://stripe.example")


# --- the fake checks what arrives ------------------------------------------------------------------------------
def test_fake_refuses_bad_requests_in_stripes_error_shape(fake):
    api, auth = fake.url + "/v1", {"Authorization": f"Bearer {fake.api_key}"}
    now = fake.now()
    good = {"mode": "payment", "line_items[0][quantity]": "1", "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "1000", "line_items[0][price_data][product_data][name]": "x",
            "success_url": "https://a.example/ok", "expires_at": str(now + 3600)}
    assert requests.post(api + "/checkout/sessions", data=good, headers=auth, timeout=5).status_code == 200
    cases = [({**good, "line_items[0][price_data][unit_amount]": "10.5"}, "line_items[0][price_data][unit_amount]"),
             ({**good, "line_items[0][price_data][currency]": "USD"}, "line_items[0][price_data][currency]"),
             ({k: v for k, v in good.items() if "name" not in k}, "line_items[0][price_data][product_data]"),
             ({k: v for k, v in good.items() if k != "success_url"}, "success_url"),
             ({**good, "expires_at": str(now + 600)}, "expires_at"),
             ({**good, "expires_at": str(now + 90000)}, "expires_at"),
             ({**good, "colour": "red"}, "colour"),
             ({**good, "metadata[bookingId]": "x" * 501}, "metadata[bookingId]"),
             ({**good, "client_reference_id": "x" * 201}, "client_reference_id")]
    for body, param in cases:
        answer = requests.post(api + "/checkout/sessions", data=body, headers=auth, timeout=5)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert answer.json()["error"]["param"] == param and answer.json()["error"]["message"]
    answer = requests.post(api + "/checkout/sessions", json={"mode": "payment"}, headers=auth, timeout=5)
    assert answer.status_code == 400
    answer = requests.post(api + "/checkout/sessions", data=good, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "invalid_request_error"
    answer = requests.post(api + "/checkout/sessions", data=good, headers={"Authorization": "Bearer sk_nope"},
                           timeout=5)
    assert answer.status_code == 401
    assert requests.get(api + "/refunds", headers=auth, timeout=5).status_code in (404, 405)
    assert requests.post(api + "/checkout/session", data=good, headers=auth, timeout=5).status_code == 404


def test_fake_idempotency_like_stripe(fake):
    api, headers = fake.url + "/v1/checkout/sessions", {"Authorization": f"Bearer {fake.api_key}",
                                                       "Idempotency-Key": "k1"}
    good = {"mode": "payment", "line_items[0][quantity]": "1", "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "1000", "line_items[0][price_data][product_data][name]": "x",
            "success_url": "https://a.example/ok"}
    bad = requests.post(api, data={**good, "mode": "subscription"}, headers=headers, timeout=5)
    assert bad.status_code == 400                          # refused by validation: the key stays free
    first = requests.post(api, data=good, headers=headers, timeout=5)
    replay = requests.post(api, data=good, headers=headers, timeout=5)
    assert first.status_code == replay.status_code == 200 and first.json()["id"] == replay.json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true" and len(fake.sessions) == 1
    other = requests.post(api, data={**good, "line_items[0][price_data][unit_amount]": "999"}, headers=headers,
                          timeout=5)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    elsewhere = requests.post(fake.url + "/v1/refunds", data={"payment_intent": "pi_x"}, headers=headers, timeout=5)
    assert elsewhere.status_code == 400 and elsewhere.json()["error"]["type"] == "idempotency_error"


# --- events ----------------------------------------------------------------------------------------------------
def test_event_shapes(client, fake):
    session, completed, intent = _paid(client, fake)
    assert completed["object"] == "event" and completed["id"].startswith("evt_")
    assert completed["type"] == "checkout.session.completed"
    obj = completed["data"]["object"]
    assert obj["object"] == "checkout.session" and obj["id"] == session.id and obj["payment_status"] == "paid"
    assert obj["client_reference_id"] == "42" and obj["metadata"] == {"bookingId": "42"}
    assert obj["amount_total"] == 2500 and obj["currency"] == "eur"
    succeeded = fake.payment_intent_succeeded_event(intent)
    assert succeeded["type"] == "payment_intent.succeeded"
    assert succeeded["data"]["object"]["metadata"] == {"bookingId": "42"}
    client.create_refund(intent, reference="r-1", amount=500)
    refunded = fake.charge_refunded_event(intent)
    charge = refunded["data"]["object"]
    assert refunded["type"] == "charge.refunded" and charge["object"] == "charge"
    assert (charge["amount_refunded"], charge["refunded"], charge["payment_intent"]) == (500, False, intent)
    open_one = _checkout(client, "43")
    client.expire_checkout_session(open_one.id)
    expired = fake.expired_event(open_one.id)
    assert expired["type"] == "checkout.session.expired" and expired["data"]["object"]["status"] == "expired"
    for event, booking in ((completed, "42"), (succeeded, "42"), (refunded, "42"), (expired, "43")):
        body = json.dumps(event).encode()
        parsed = client.verify_webhook(body, fake.sign(body))
        assert (parsed.id, parsed.type, parsed.booking_id) == (event["id"], event["type"], booking)


# --- webhook signatures ----------------------------------------------------------------------------------------
@pytest.fixture
def signed(fake):
    event = fake.event("checkout.session.completed", {"id": "cs_test_1", "object": "checkout.session",
                                                      "metadata": {"bookingId": "7"}})
    body = json.dumps(event, indent=2).encode()
    return event, body


def test_a_genuine_signature_verifies_and_agrees_with_the_sdk(fake, signed):
    event, body = signed
    secret = fake.webhook_secret
    assert verify_webhook(body, fake.sign(body), secret).id == event["id"]
    sdk_header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    assert verify_webhook(body, sdk_header, secret).booking_id == "7"
    assert stripe.WebhookSignature.verify_header(body, fake.sign(body), secret, 300) is True   # the fake is right
    rotated = f"{fake.sign(body, secret='whsec_old')},v1={fake.sign(body).split('v1=')[1]}"     # two secrets
    assert verify_webhook(body, rotated, secret).id == event["id"]


def test_forged_stale_and_malformed_signatures_are_rejected(fake, signed):
    _, body = signed
    secret, now = fake.webhook_secret, fake.now()
    t = fake.sign(body).split(",")[0]
    rejected = {
        "forged": f"{t},v1={secrets.token_hex(32)}",
        "wrong secret": fake.sign(body, secret="whsec_someone_else"),
        "stale": fake.sign(body, timestamp=now - 301),
        "from the future": fake.sign(body, timestamp=now + 301),
        "missing": None, "empty": "",
        "no v1": fake.sign(body).replace("v1=", "v0="),
        "two timestamps": f"t={now},{fake.sign(body)}",
        "timestamp not a number": fake.sign(body).replace(t, "t=12e3"),
        "signature of another timestamp": f"t={now - 1},{fake.sign(body, timestamp=now).split(',')[1]}",
    }
    for why, header in rejected.items():
        with pytest.raises(WebhookRejected):
            verify_webhook(body, header, secret, now=now)
        assert why
    assert verify_webhook(body, fake.sign(body, timestamp=now - 299), secret, now=now)
    with pytest.raises(WebhookRejected):
        verify_webhook(body, fake.sign(body), "")


def test_a_header_replayed_with_another_body_is_rejected(fake, signed, client):
    event, body = signed
    header = fake.sign(body)
    other = json.dumps({**event, "id": "evt_other", "type": "charge.refunded"}, indent=2).encode()
    for changed in (other, body + b" ", body.replace(b'"7"', b'"8"'), body[:-1]):
        with pytest.raises(WebhookRejected):
            verify_webhook(changed, header, fake.webhook_secret)
    with pytest.raises(WebhookRejected):                       # signed, but not a Stripe event
        verify_webhook(b"\xff\xfe not json", fake.sign(b"\xff\xfe not json"), fake.webhook_secret)
    with pytest.raises(WebhookRejected):
        verify_webhook(b'{"object": "list"}', fake.sign(b'{"object": "list"}'), fake.webhook_secret)
    unset = StripePayments.from_config(fake.settings(STRIPE_WEBHOOK_SECRET=""))
    with pytest.raises(WebhookRejected):
        unset.verify_webhook(body, header)
    assert not StripePayments.configured(fake.settings(STRIPE_WEBHOOK_SECRET=""))
    assert StripePayments.configured(fake.settings())


def test_deliver_posts_a_signed_event_like_stripe(fake, client):
    received: list[str] = []
    app = Flask("receiver")

    @app.post("/api/webhooks/stripe")
    def hook():
        try:
            event = client.verify_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
        except WebhookRejected:
            return "", 400
        received.append(event.id)
        return "", 200

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/webhooks/stripe"
        _, event, _ = _paid(client, fake)
        assert fake.deliver(url, event).status_code == 200 and received == [event["id"]]
        assert fake.deliver(url, event, secret="whsec_forged").status_code == 400
        assert fake.deliver(url, event, timestamp=fake.now() - 600).status_code == 400
        header = fake.sign(json.dumps(event, indent=2).encode())
        forged = {**event, "data": {"object": {**event["data"]["object"], "amount_total": 1}}}
        assert fake.deliver(url, forged, signature=header).status_code == 400
        assert received == [event["id"]]
    finally:
        server.shutdown()
        thread.join(5)


# --- configuration ---------------------------------------------------------------------------------------------
def test_settings_secrets_from_files_and_the_readme(tmp_path):
    (tmp_path / "key").write_text("sk_test_from_file\n")
    cfg = load_config(env={"INSTANCE_DIR": str(tmp_path / "i"), "STRIPE_SECRET_KEY_FILE": str(tmp_path / "key"),
                           "STRIPE_WEBHOOK_SECRET": "whsec_x"})
    assert cfg["STRIPE_SECRET_KEY"] == "sk_test_from_file" and cfg["STRIPE_API_BASE"] == "https://api.stripe.com"
    assert StripePayments.configured(cfg) and StripePayments.from_config(cfg).api_base == "https://api.stripe.com"
    readme = (ROOT / "README.md").read_text()
    rows = [row for row in markdown_table().splitlines() if "`STRIPE_" in row]
    assert len(rows) == 3 and all(row in readme for row in rows)
