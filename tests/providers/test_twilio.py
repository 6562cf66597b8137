"""Twilio SMS through app.integrations.twilio_sms, against the local Twilio fake (tests/fakes/twilio.py)."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from app import net
from app.config import load_config, markdown_table
from app.integrations import twilio_sms
from app.integrations.errors import AuthRevoked, PermanentError, TransientError
from app.integrations.twilio_sms import TwilioError, configured, explain, normalize_phone, send_sms, valid_signature
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    MESSAGING_SERVICE_SID,
    TwilioFake,
    signed_inbound,
)
from tests.fakes.webhooks import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
TO = "+14155550123"


@pytest.fixture
def fake():
    with TwilioFake() as server:
        yield server


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    server._thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


# --- sending ---------------------------------------------------------------------------------------------------
def test_send_posts_the_documented_form_with_basic_auth_to_the_configured_base(fake):
    sid = send_sms(TO, "See you at 3 pm", status_callback="https://cal.example.com/api/webhooks/twilio/status",
                   config=fake.settings())
    assert sid.startswith("SM") and len(sid) == 34
    [call] = fake.requests
    assert call.method == "POST" and call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    scheme, _, value = call.headers["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(value).decode() == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    assert dict(parse_qsl(call.body)) == {"To": TO, "From": FROM_NUMBER, "Body": "See you at 3 pm",
                                          "StatusCallback": "https://cal.example.com/api/webhooks/twilio/status"}
    assert [m["sid"] for m in fake.messages] == [sid] and fake.messages[0]["to"] == TO


def test_a_messaging_service_is_used_instead_of_a_from_number(fake):
    send_sms(TO, "Hi", config=fake.settings(messaging_service=True))
    form = dict(fake.requests[0].form)
    assert form["MessagingServiceSid"] == MESSAGING_SERVICE_SID and "From" not in form
    assert "StatusCallback" not in form


def test_the_message_can_be_read_back_from_the_fake(fake):
    import requests

    sid = send_sms(TO, "Hi", config=fake.settings())
    answer = requests.get(f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
                          auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert answer.status_code == 200 and answer.json()["sid"] == sid and answer.json()["to"] == TO
    missing = requests.get(f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SM{'0' * 32}.json",
                           auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_the_sdk_goes_through_the_guarded_session(fake, monkeypatch):
    used = []
    real = net.session

    def spy(allow_private):
        used.append(allow_private)
        return real(allow_private)

    monkeypatch.setattr(net, "session", spy)
    send_sms(TO, "Hi", config=fake.settings())
    assert used == [True]                                  # a base other than api.twilio.com may be loopback


def test_the_default_base_refuses_private_addresses(monkeypatch, fake):
    monkeypatch.setattr(net, "_getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 443))])
    cfg = fake.settings(TWILIO_API_BASE="https://api.twilio.com")
    with pytest.raises(TwilioError, match="private or local address"):
        send_sms(TO, "Hi", config=cfg)
    assert fake.requests == []


def test_an_unsubscribed_recipient_is_a_permanent_error_in_plain_words(fake):
    fake.unsubscribed.add(TO)
    with pytest.raises(TwilioError) as caught:
        send_sms(TO, "Hi", config=fake.settings())
    assert isinstance(caught.value, PermanentError) and caught.value.code == 21610
    assert "STOP" in str(caught.value) and "START" in str(caught.value)


@pytest.mark.parametrize(("to", "body", "code"), [
    ("4155550123", "Hi", 21211),             # not E.164
    ("+14155550123", "x" * 1601, 21617),     # too long
])
def test_malformed_requests_are_refused_with_twilios_codes(fake, to, body, code):
    with pytest.raises(TwilioError) as caught:
        send_sms(to, body, config=fake.settings())
    assert caught.value.code == code and caught.value.status == 400
    assert fake.messages == []


def test_an_empty_body_is_refused_before_calling_twilio(fake):
    with pytest.raises(TwilioError) as caught:
        send_sms(TO, "  ", config=fake.settings())
    assert caught.value.code == 21602 and fake.requests == []


def test_a_wrong_auth_token_is_permanent(fake):
    with pytest.raises(TwilioError) as caught:
        send_sms(TO, "Hi", config=fake.settings(TWILIO_AUTH_TOKEN="wrong"))
    assert caught.value.status == 401 and caught.value.code == 20003
    assert isinstance(caught.value, twilio_sms.TwilioAuthRejected) and isinstance(caught.value, AuthRevoked)


def test_a_retry_finds_the_text_already_sent_and_a_refused_list_is_classified_as_a_send_is(fake):
    since = datetime.now(UTC) - timedelta(minutes=1)
    sid = send_sms(TO, "Reminder", config=fake.settings())
    assert twilio_sms.sent_since(TO, "Reminder", since, config=fake.settings()) == sid
    assert twilio_sms.sent_since(TO, "Another text", since, config=fake.settings()) is None
    with pytest.raises(twilio_sms.TwilioAuthRejected):         # the SDK wraps a refused page in a plain exception
        twilio_sms.sent_since(TO, "Reminder", since, config=fake.settings(TWILIO_AUTH_TOKEN="wrong"))
    fake.fail(503)
    with pytest.raises(TransientError):
        twilio_sms.sent_since(TO, "Reminder", since, config=fake.settings())


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_transient(fake, status):
    fake.fail(status)
    with pytest.raises(TransientError) as caught:
        send_sms(TO, "Hi", config=fake.settings())
    assert caught.value.status == status
    assert fake.messages == []


def test_a_hanging_twilio_is_a_transient_timeout(fake):
    fake.hang(3)
    with pytest.raises(TransientError, match="did not answer in time"):
        send_sms(TO, "Hi", config=fake.settings(INTEGRATION_HTTP_TIMEOUT=0.5))


def test_an_unreachable_twilio_is_transient(fake):
    cfg = fake.settings()
    fake.stop()
    with pytest.raises(TransientError):
        send_sms(TO, "Hi", config=cfg)


def test_unconfigured_twilio_refuses_to_send(fake):
    with pytest.raises(TwilioError, match="TWILIO_ACCOUNT_SID"):
        send_sms(TO, "Hi", config=fake.settings(TWILIO_FROM_NUMBER="", TWILIO_MESSAGING_SERVICE_SID=""))


# --- status callbacks ------------------------------------------------------------------------------------------
def test_the_fake_sends_signed_status_callbacks_sent_then_delivered(fake, receiver):
    url = receiver.url("/api/webhooks/twilio/status")
    sid = send_sms(TO, "Hi", status_callback=url, config=fake.settings())
    callbacks = fake.wait_callbacks(2)
    assert [c.params["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert all(c.params["MessageSid"] == sid and c.status == 200 for c in callbacks)
    for arrived in receiver.received:
        params = dict(parse_qsl(arrived.body.decode()))
        assert valid_signature(url, params, arrived.headers["X-Twilio-Signature"], fake.settings())
        assert not valid_signature(url, {**params, "MessageStatus": "failed"}, arrived.headers["X-Twilio-Signature"],
                                   fake.settings())


def test_an_undeliverable_number_gets_an_undelivered_callback_with_its_error_code(fake, receiver):
    fake.undeliverable[TO] = 30006
    send_sms(TO, "Hi", status_callback=receiver.url("/status"), config=fake.settings())
    final = fake.wait_callbacks(2)[-1]
    assert final.params["MessageStatus"] == "undelivered" and final.params["ErrorCode"] == "30006"
    assert "landline" in explain(int(final.params["ErrorCode"]))


# --- signatures, numbers, explanations, settings ---------------------------------------------------------------
def test_signatures_are_checked_against_url_and_params():
    cfg = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    url = "https://cal.example.com/api/webhooks/twilio/inbound"
    params = {"From": TO, "Body": "STOP", "MessageSid": "SM" + "1" * 32}
    header = signed_inbound(url, params)["X-Twilio-Signature"]
    assert valid_signature(url, params, header, cfg)
    assert header == twilio_sms.sign(url, params, AUTH_TOKEN)
    assert not valid_signature(url + "?x=1", params, header, cfg)
    assert not valid_signature(url, {**params, "Body": "START"}, header, cfg)
    assert not valid_signature(url, params, signed_inbound(url, params, "another-token")["X-Twilio-Signature"], cfg)
    assert not valid_signature(url, params, None, cfg)
    assert not valid_signature(url, params, "", cfg)
    assert not valid_signature(url, params, header, {"TWILIO_AUTH_TOKEN": ""})


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("(415) 555-0123", "US", "+14155550123"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("030 901820", "DE", "+4930901820"),
    ("+1 415 555 0123", "DE", "+14155550123"),
    ("12", "US", None),
    ("not a number", "US", None),
    ("", "US", None),
    (None, "US", None),
])
def test_phone_numbers_are_normalised_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


def test_error_codes_are_explained_in_plain_words():
    assert "STOP" in explain(21610) and "START" in explain(21610)
    assert "not a valid" in explain(21211)
    assert "not enabled" in explain(21408)
    assert "not a mobile" in explain(21614)
    for code in (30003, 30005, 30006, 30007, 30008):
        assert f"{code}" in explain(code)
    assert explain(12345) == "Twilio error 12345"


def test_configured_needs_sid_token_and_a_sender():
    full = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER}
    assert configured(full)
    assert configured({**full, "TWILIO_FROM_NUMBER": "", "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID})
    assert not configured({**full, "TWILIO_FROM_NUMBER": ""})
    assert not configured({**full, "TWILIO_AUTH_TOKEN": ""})
    assert "TWILIO_ACCOUNT_SID" in twilio_sms.MISSING_SETTINGS_NOTE


def test_settings_are_registered_documented_and_the_token_is_a_file_secret(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("token-from-file\n")
    cfg = load_config(env={"INSTANCE_DIR": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN_FILE": str(token_file)})
    assert cfg["TWILIO_AUTH_TOKEN"] == "token-from-file"
    assert cfg["TWILIO_API_BASE"] == "https://api.twilio.com" and cfg["SMS_MONTHLY_CAP"] == 500
    assert cfg["SLACK_WEBHOOK_BASE"] == "https://hooks.slack.com"
    readme = (ROOT / "README.md").read_text()
    names = ("`TWILIO_", "`SLACK_WEBHOOK_BASE`", "`SMS_MONTHLY_CAP`")
    rows = [row for row in markdown_table().splitlines() if any(name in row for name in names)]
    assert len(rows) == 7 and all(row in readme for row in rows)
