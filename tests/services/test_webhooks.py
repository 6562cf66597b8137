"""Webhooks service: secrets, validation, plan limits, audit, fan-out to matching webhooks, retry schedule, guard."""
from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from app import net
from app.config import load_config
from app.models import AuditLog, EventType, OutboxMessage, Webhook
from app.services import events
from app.services.developer import webhook_delivery as delivery
from app.services.developer import webhooks
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.scheduling import event_types
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
URL = "https://hooks.example.com/linktime"


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def book(event_type, start=SLOT, email="ivan@example.com"):
    return factories.booking(event_type, start, email=email, now=NOW)


def webhook_rows():
    return [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "webhook")
            .order_by(OutboxMessage.created_at)]


# --- secrets ---------------------------------------------------------------------------------------------
def test_secret_is_whsec_base64_of_32_bytes_shown_once_and_stored_encrypted(app, host):
    from standardwebhooks import Webhook as StandardWebhook

    webhook, secret = webhooks.create_webhook(host, URL, ["booking.created"])
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_"):])) == 32
    stored = Webhook.get_by_id(webhook.id).secret
    assert secret not in stored and "whsec_" not in stored
    assert app.extensions["linktime_encryptor"].decrypt(stored) == secret
    assert delivery.standard_key(secret) == StandardWebhook(secret)._whsecret   # the library's key derivation
    assert webhooks.create_webhook(host, URL, ["booking.created"])[1] != secret


def test_standard_signature_is_what_the_standardwebhooks_library_computes(app):
    from standardwebhooks import Webhook as StandardWebhook

    secret = delivery.generate_secret()
    body = delivery.body_bytes({"event": "booking.created", "data": {"name": "Zoë"}})
    headers = delivery.signed_headers(secret, body, event="booking.created", event_timestamp="t", message_id="evt1",
                                      sent_at=1760000000)
    expected = StandardWebhook(secret).sign("evt1", datetime.fromtimestamp(1760000000, UTC), body.decode())
    assert headers["webhook-signature"] == expected
    assert headers["webhook-id"] == "evt1" and headers["webhook-timestamp"] == "1760000000"


# --- validation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url,events_,field", [
    ("", ["booking.created"], "url"),
    ("ftp://example.com/x", ["booking.created"], "url"),
    ("https://", ["booking.created"], "url"),
    ("https://exa mple.com/", ["booking.created"], "url"),
    ("https://example.com/" + "x" * 2000, ["booking.created"], "url"),
    (URL, [], "events"),
    (URL, ["booking.deleted"], "events"),
])
def test_invalid_input_is_refused_with_a_field_error_and_nothing_is_stored(host, url, events_, field):
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_webhook(host, url, events_)
    assert field in info.value.errors
    assert Webhook.select().count() == 0


def test_event_type_filter_must_be_one_of_the_users_event_types(host, make_user):
    other = make_user("otto")
    foreign = EventType.get(EventType.user == other)
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_webhook(host, URL, ["booking.created"], event_type_id=foreign.id)
    assert "event_type" in info.value.errors
    own = EventType.get(EventType.user == host)
    webhook, _ = webhooks.create_webhook(host, URL, ["booking.created"], event_type_id=own.id)
    assert webhook.event_type_id == own.id


def test_events_are_stored_once_each_in_canonical_order(host):
    webhook, _ = webhooks.create_webhook(host, URL, ["contact.created", "booking.created", "contact.created"])
    assert Webhook.get_by_id(webhook.id).events == ["booking.created", "contact.created"]


def test_production_policy_refuses_plain_http_private_addresses_and_unknown_hosts(monkeypatch):
    policy = delivery.Policy(allow_private=False, timeout=30)

    def fake_dns(host, port, *args):
        answers = {"hooks.example.com": ["93.184.215.14"], "localhost": ["127.0.0.1"],
                   "internal.example.com": ["93.184.215.14", "10.0.0.7"]}
        if host not in answers:
            raise socket.gaierror("Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]

    monkeypatch.setattr(net, "_getaddrinfo", fake_dns)
    assert webhooks.validate_url(URL, policy) == URL
    for url, words in [("http://hooks.example.com/x", "https://"), ("https://localhost:8443/x", "private"),
                       ("https://internal.example.com/x", "private"), ("https://10.1.2.3/x", "private"),
                       ("https://nowhere.invalid/x", "could not find")]:
        with pytest.raises(ValidationFailed) as info:
            webhooks.validate_url(url, policy)
        assert words in info.value.errors["url"], url


def test_development_policy_accepts_loopback_http():
    policy = delivery.Policy(allow_private=True, timeout=30)
    assert webhooks.validate_url("http://127.0.0.1:9000/hook", policy) == "http://127.0.0.1:9000/hook"


@pytest.mark.parametrize("address,allowed", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("255.255.255.255", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False), ("2002:7f00:1::", False), ("93.184.215.14", True), ("8.8.8.8", True),
    ("2606:4700:4700::1111", True),
])
def test_only_global_unicast_addresses_are_allowed(address, allowed):
    assert net.address_allowed(address) is allowed


def test_allow_private_defaults_on_in_development_and_off_in_production(tmp_path):
    secrets_env = {"SECRET_KEY": "k" * 40, "ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
                   "BASE_URL": "https://cal.example.com", "INSTANCE_DIR": str(tmp_path)}
    assert load_config(env={"INSTANCE_DIR": str(tmp_path)})["WEBHOOK_ALLOW_PRIVATE"] is True
    assert load_config(env={**secrets_env, "LINKTIME_ENV": "production"})["WEBHOOK_ALLOW_PRIVATE"] is False
    assert load_config(env={**secrets_env, "LINKTIME_ENV": "production",
                            "WEBHOOK_ALLOW_PRIVATE": "1"})["WEBHOOK_ALLOW_PRIVATE"] is True
    assert load_config(env={"INSTANCE_DIR": str(tmp_path),
                            "WEBHOOK_ALLOW_PRIVATE": "0"})["WEBHOOK_ALLOW_PRIVATE"] is False
    assert load_config(env={"INSTANCE_DIR": str(tmp_path)})["WEBHOOK_TIMEOUT"] == 30


# --- plan limits and audit -------------------------------------------------------------------------------
def test_free_plan_allows_two_webhooks_counting_zapier_ones(host):
    webhooks.create_webhook(host, URL, ["booking.created"])
    webhooks.create_webhook(host, URL, ["booking.created"], label="Zapier")
    with pytest.raises(PlanLimitReached) as info:
        webhooks.create_webhook(host, URL, ["booking.cancelled"])
    assert "2 webhooks" in str(info.value)
    assert Webhook.select().count() == 2


def test_pro_plan_has_no_webhook_limit(make_user, db_conn):
    pro = make_user("paula", plan="PRO")
    for _ in range(5):
        webhooks.create_webhook(pro, URL, ["booking.created"])
    assert Webhook.select().where(Webhook.user == pro).count() == 5


def test_create_update_delete_are_audited_in_the_integrations_category_without_the_secret_path(host):
    webhook, secret = webhooks.create_webhook(host, URL + "/s3cr3t-path", ["booking.created"], ip="203.0.113.9")
    webhooks.update_webhook(host, webhook.id, url=URL, event_names=["booking.created", "contact.created"],
                            active=False)
    webhooks.delete_webhook(host, webhook.id)
    entries = list(AuditLog.select().where(AuditLog.resource == "webhook").order_by(AuditLog.created_at))
    assert [e.action for e in entries] == ["webhook.created", "webhook.updated", "webhook.deleted"]
    assert {e.category for e in entries} == {"integrations"}
    assert all(e.user_id == host.id for e in entries)
    assert all("s3cr3t" not in e.details and secret not in e.details for e in entries)
    assert json.loads(entries[1].details)["changed"] == ["url", "events", "active"]


def test_update_changes_fields_and_another_users_webhook_is_not_found(host, make_user):
    webhook, _ = webhooks.create_webhook(host, URL, ["booking.created"])
    updated = webhooks.update_webhook(host, webhook.id, url=URL + "/v2", event_names=["contact.created"],
                                      active=False)
    fresh = Webhook.get_by_id(webhook.id)
    assert (fresh.url, fresh.events, fresh.active) == (URL + "/v2", ["contact.created"], False) == \
        (updated.url, updated.events, updated.active)
    other = make_user("otto")
    with pytest.raises(NotFound):
        webhooks.get_webhook(other, webhook.id)
    with pytest.raises(NotFound):
        webhooks.update_webhook(other, webhook.id, url=URL, event_names=["booking.created"])
    with pytest.raises(NotFound):
        webhooks.delete_webhook(other, webhook.id)
    assert Webhook.select().count() == 1


# --- fan-out ---------------------------------------------------------------------------------------------
def test_an_event_writes_one_webhook_row_per_matching_active_webhook(make_user, db_conn, queue):
    host = make_user("pat", plan="PRO")
    event_type = EventType.get(EventType.user == host)
    matching, _ = webhooks.create_webhook(host, URL + "/a", ["booking.created", "contact.created"])
    webhooks.create_webhook(host, URL + "/b", ["booking.cancelled"])
    paused, _ = webhooks.create_webhook(host, URL + "/paused", ["booking.created"], active=False)
    other = make_user("otto")
    webhooks.create_webhook(other, URL + "/other", ["booking.created"])
    booking = book(event_type)
    queue.run_due(datetime.now(UTC), kinds=("event",))
    rows = webhook_rows()
    assert sorted((r["webhookId"], r["envelope"]["event"]) for r in rows) == sorted(
        [(matching.id, "booking.created"), (matching.id, "contact.created")])
    created = next(r for r in rows if r["envelope"]["event"] == "booking.created")
    event_row = OutboxMessage.get_by_id(created["eventId"])
    assert event_row.kind == "event" and json.loads(event_row.payload) == created["envelope"]
    assert created["envelope"]["data"]["id"] == booking.id
    assert OutboxMessage.get(OutboxMessage.kind == "webhook").user_id == host.id
    assert paused.id not in {r["webhookId"] for r in rows}


def test_event_type_filter_applies_to_booking_events_only(host, event_type, queue):
    other_type = event_types.create_event_type(host, event_types.EventTypeInput(name="Sales demo", duration=30))
    webhook, _ = webhooks.create_webhook(host, URL, ["booking.created", "contact.created"],
                                         event_type_id=other_type.id)
    book(event_type)                      # another event type: only the new contact passes the filter
    queue.run_due(datetime.now(UTC), kinds=("event",))
    assert [r["envelope"]["event"] for r in webhook_rows()] == ["contact.created"]
    booking = book(EventType.get_by_id(other_type.id), start=SLOT + timedelta(hours=2))
    queue.run_due(datetime.now(UTC), kinds=("event",))
    booked = [r for r in webhook_rows() if r["envelope"]["event"] == "booking.created"]
    assert [r["envelope"]["data"]["id"] for r in booked] == [booking.id]
    assert webhook.id == booked[0]["webhookId"]


def test_fan_out_reads_the_account_from_the_event_row_for_every_event_kind(host, queue):
    webhook, _ = webhooks.create_webhook(host, URL, ["payment.received"])
    from app.db import transaction
    with transaction():
        event_id = events.emit("payment.received", {"bookingId": "b1", "amount": 5000, "currency": "usd",
                                                    "paymentMethod": "card", "transactionId": "pi_1"},
                               user_id=host.id)
    queue.run_due(datetime.now(UTC), kinds=("event",))
    [row] = webhook_rows()
    assert (row["webhookId"], row["eventId"], row["envelope"]["data"]["amount"]) == (webhook.id, event_id, 5000)


# --- schedule ---------------------------------------------------------------------------------------------
def test_retry_schedule_is_0_10_60_1h_4h_24h_after_the_event_and_ends_after_the_sixth():
    first = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    offsets = []
    for attempt in range(1, 6):
        when = delivery.next_attempt_at(first, attempt, first, None)
        offsets.append((when - first).total_seconds())
    assert offsets == [10, 60, 3600, 14400, 86400]
    assert delivery.next_attempt_at(first, 6, first, None) is None


def test_retry_after_later_than_the_next_attempt_moves_it_and_an_earlier_one_does_not():
    first = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    at = first + timedelta(seconds=10)       # attempt 2 happens; attempt 3 is due at +60 s
    assert delivery.next_attempt_at(first, 2, at, at + timedelta(seconds=120)) == at + timedelta(seconds=120)
    assert delivery.next_attempt_at(first, 2, at, at + timedelta(seconds=5)) == first + timedelta(seconds=60)
    assert delivery.next_attempt_at(first, 2, at, at + timedelta(days=30)) == at + timedelta(hours=24)   # capped
    late = first + timedelta(seconds=300)    # the worker was down: an overdue attempt runs now
    assert delivery.next_attempt_at(first, 2, late, None) == late


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert delivery.parse_retry_after("120", now) == now + timedelta(seconds=120)
    assert delivery.parse_retry_after("Sun, 01 Mar 2026 10:00:00 GMT", now) == now + timedelta(hours=1)
    assert delivery.parse_retry_after("soon", now) is None and delivery.parse_retry_after(None, now) is None


# --- samples and Zapier's performList ---------------------------------------------------------------------
@pytest.mark.parametrize("event", events.EVENT_NAMES)
def test_sample_payloads_carry_the_envelope_and_the_events_fields(host, event):
    sample = webhooks.sample_envelope(event, host)
    assert set(sample) == {"apiVersion", "event", "timestamp", "data"}
    assert sample["apiVersion"] == events.API_VERSION and sample["event"] == event
    data = sample["data"]
    if event.startswith("booking."):
        assert data["host"] == {"id": host.id, "name": host.name, "email": host.email}
        assert data["status"] == {"booking.cancelled": "CANCELLED", "booking.requested": "PENDING"}.get(event,
                                                                                                    "CONFIRMED")
    if event == "booking.rescheduled":
        assert {"previousStartTime", "previousEndTime"} <= set(data)
    if event == "payment.received":
        assert (data["amount"], data["currency"]) == (5000, "usd")
    if event == "contact.created":
        assert data["source"] in ("booking", "manual", "payment")


def test_recent_envelopes_are_the_accounts_newest_of_that_event_up_to_three(host, event_type, make_user, queue):
    other = make_user("otto")
    other_type = EventType.get(EventType.user == other)
    ids = [book(event_type, start=SLOT + timedelta(hours=i), email=f"i{i}@example.com").id for i in range(4)]
    book(other_type)
    found = webhooks.recent_envelopes(host, "booking.created")
    assert [e["data"]["id"] for e in found] == ids[::-1][:3]
    assert all(set(e) == {"apiVersion", "event", "timestamp", "data"} for e in found)
    assert webhooks.recent_envelopes(host, "booking.cancelled") == []
    assert len(webhooks.recent_envelopes(host, "contact.created")) == 3
