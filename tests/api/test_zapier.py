"""Zapier REST hooks: X-API-Key auth, rate limits, subscribe / unsubscribe, performList, event types."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import AuditLog, EventType, OutboxMessage, Webhook
from app.services.developer import api_keys, webhooks
from app.services.scheduling import event_types
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
HOOK = "https://hooks.zapier.com/hooks/standard/123/abc/"


@pytest.fixture(autouse=True)
def no_delivery(monkeypatch):
    """Bookings in these tests queue webhook rows but send nothing (the hook URLs are not real)."""
    from app.services import outbox
    original = outbox._enqueue
    monkeypatch.setattr(outbox, "_enqueue", lambda message_id, delay=None, **_kw: _events_only(original, message_id))


def _events_only(original, message_id):
    if OutboxMessage.get_by_id(message_id).kind == "event":
        original(message_id)


def in_app(app, fn):
    with app.app_context(), db.connection_context():
        return fn()


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def key(app, host):
    return in_app(app, lambda: api_keys.create_api_key(host, "Zapier"))[1]


@pytest.fixture
def api(client, key):
    class Api:
        def __call__(self, method, path, **kw):
            headers = {"X-API-Key": key, **kw.pop("headers", {})}
            return client.open(f"/api/zapier{path}", method=method, headers=headers, **kw)
    return Api()


def book(app, host, start=SLOT, email="ivan@example.com", event_type_id=None):
    def run():
        et = EventType.get_by_id(event_type_id) if event_type_id else factories.event_type(host)
        return factories.booking(et, start, email=email, now=NOW)
    return in_app(app, run)


def stored_webhooks(app):
    return in_app(app, lambda: list(Webhook.select().order_by(Webhook.created_at)))


# --- authentication and rate limits -------------------------------------------------------------------------
def test_me_answers_the_keys_account_on_a_free_plan(api, host):
    response = api("GET", "/me")
    assert response.status_code == 200
    assert response.get_json() == {"id": host.id, "name": host.name, "email": host.email}
    assert host.plan == "FREE"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "lt_live_" + "x" * 64}, {"X-API-Key": "nonsense"}])
def test_missing_or_wrong_key_answers_401_json(client, headers):
    response = client.get("/api/zapier/me", headers=headers)
    assert response.status_code == 401
    assert "API key" in response.get_json()["error"]


def test_a_deleted_key_stops_working(app, api, host):
    in_app(app, lambda: api_keys.delete_api_key(host, api_keys.list_api_keys(host)[0].id))
    assert api("GET", "/me").status_code == 401


def test_five_failed_authentications_a_minute_per_ip_then_429(client, api):
    bad = {"X-API-Key": "lt_live_" + "y" * 64}
    for _ in range(5):
        assert client.get("/api/zapier/me", headers=bad).status_code == 401
    limited = client.get("/api/zapier/me", headers=bad)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"]
    other_ip = client.get("/api/zapier/me", headers=bad, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other_ip.status_code == 401
    # as on /api/v1, a locked-out address is refused before any key lookup: even a valid key answers 429 there,
    # so guessing cannot tell valid keys from invalid ones; from another address the valid key works
    assert api("GET", "/me").status_code == 429
    assert api("GET", "/me", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200


def test_sixty_requests_a_minute_per_key_then_429(api, app, host):
    for _ in range(60):
        assert api("GET", "/me").status_code == 200
    limited = api("GET", "/me")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    _other, other_key = in_app(app, lambda: api_keys.create_api_key(host, "Second"))
    assert api("GET", "/me", headers={"X-API-Key": other_key}).status_code == 200


# --- subscribe / unsubscribe ------------------------------------------------------------------------------
def test_subscribe_creates_a_zapier_webhook_for_one_event_and_audits_it(app, api, host):
    response = api("POST", "/subscribe", json={"event": "booking.cancelled", "hookUrl": HOOK})
    assert response.status_code == 201
    hook_id = response.get_json()["id"]
    [webhook] = stored_webhooks(app)
    assert (webhook.id, webhook.label, webhook.events, webhook.url, webhook.user_id, webhook.active) == \
        (hook_id, "Zapier", ["booking.cancelled"], HOOK, host.id, True)
    actions = in_app(app, lambda: [a.action for a in AuditLog.select().where(AuditLog.resource == "webhook")])
    assert actions == ["webhook.created"]


@pytest.mark.parametrize("field", ["targetUrl", "hook_url"])
def test_subscribe_accepts_the_other_url_field_names(app, api, field):
    response = api("POST", "/subscribe", json={"event": "contact.created", field: HOOK})
    assert response.status_code == 201
    assert stored_webhooks(app)[0].url == HOOK


def test_subscribe_with_an_event_type_filter_keeps_it_for_booking_events_only(app, api, host):
    et = in_app(app, lambda: EventType.get(EventType.user == host))
    booking_hook = api("POST", "/subscribe", json={"event": "booking.created", "hookUrl": HOOK, "eventTypeId": et.id})
    contact_hook = api("POST", "/subscribe", json={"event": "contact.created", "hookUrl": HOOK, "eventTypeId": et.id})
    assert booking_hook.status_code == contact_hook.status_code == 201
    by_id = {w.id: w for w in stored_webhooks(app)}
    assert by_id[booking_hook.get_json()["id"]].event_type_id == et.id
    assert by_id[contact_hook.get_json()["id"]].event_type_id is None


@pytest.mark.parametrize("body,field", [
    ({"hookUrl": HOOK}, "event"),
    ({"event": "booking.deleted", "hookUrl": HOOK}, "event"),
    ({"event": "booking.created"}, "hookUrl"),
    ({"event": "booking.created", "hookUrl": "not a url"}, "hookUrl"),
    ({"event": "booking.created", "hookUrl": HOOK, "eventTypeId": "cnotmine000000000000000000"}, "eventTypeId"),
])
def test_invalid_subscriptions_answer_400_with_details(app, api, body, field):
    response = api("POST", "/subscribe", json=body)
    assert response.status_code == 400
    data = response.get_json()
    assert data["error"] == "Invalid request data" and field in data["details"]
    assert stored_webhooks(app) == []


def test_another_users_event_type_cannot_be_used_as_a_filter(app, api, make_user):
    other = make_user("otto")
    foreign = in_app(app, lambda: EventType.get(EventType.user == other))
    response = api("POST", "/subscribe", json={"event": "booking.created", "hookUrl": HOOK, "eventTypeId": foreign.id})
    assert response.status_code == 400 and "eventTypeId" in response.get_json()["details"]


def test_free_plan_limit_counts_manual_and_zapier_webhooks_and_answers_403(app, api, host):
    in_app(app, lambda: webhooks.create_webhook(host, "https://example.com/manual", ["booking.created"]))
    assert api("POST", "/subscribe", json={"event": "booking.created", "hookUrl": HOOK}).status_code == 201
    refused = api("POST", "/subscribe", json={"event": "booking.cancelled", "hookUrl": HOOK})
    assert refused.status_code == 403
    assert "allows 2 webhooks" in refused.get_json()["error"]
    assert len(stored_webhooks(app)) == 2


@pytest.mark.parametrize("how", ["delete", "post"])
def test_unsubscribe_deletes_the_subscription(app, api, how):
    hook_id = api("POST", "/subscribe", json={"event": "booking.created", "hookUrl": HOOK}).get_json()["id"]
    if how == "delete":
        response = api("DELETE", f"/subscribe/{hook_id}")
    else:
        response = api("POST", "/unsubscribe", json={"id": hook_id})
    assert response.status_code == 200 and response.get_json()["id"] == hook_id
    assert stored_webhooks(app) == []
    assert api("DELETE", f"/subscribe/{hook_id}").status_code == 404


def test_unsubscribe_cannot_touch_another_users_or_a_manual_webhook(app, api, make_user):
    other = make_user("otto")
    theirs = in_app(app, lambda: webhooks.create_webhook(other, HOOK, ["booking.created"], label="Zapier"))[0]
    assert api("DELETE", f"/subscribe/{theirs.id}").status_code == 404
    assert api("POST", "/unsubscribe", json={"id": theirs.id}).status_code == 404
    host_manual = in_app(app, lambda: webhooks.create_webhook(
        api_keys.ApiKey.select().first().user, "https://example.com/manual", ["booking.created"]))[0]
    assert api("DELETE", f"/subscribe/{host_manual.id}").status_code == 404
    assert len(stored_webhooks(app)) == 2
    assert api("POST", "/unsubscribe", json={}).status_code == 400


def test_subscribe_works_without_a_csrf_token_when_csrf_is_on(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    host = make_user("cara")
    _key, raw = in_app(app, lambda: api_keys.create_api_key(host, "Zapier"))
    response = app.test_client().post("/api/zapier/subscribe", json={"event": "booking.created", "hookUrl": HOOK},
                                      headers={"X-API-Key": raw})
    assert response.status_code == 201


# --- performList and the event-type dropdown ----------------------------------------------------------------
def test_perform_list_gives_a_documented_sample_when_there_is_no_event_yet(api, host):
    response = api("GET", "/triggers/payment.received")
    assert response.status_code == 200
    [sample] = response.get_json()
    assert set(sample) == {"apiVersion", "event", "timestamp", "data"}
    assert sample["event"] == "payment.received" and sample["data"]["amount"] == 5000


def test_perform_list_gives_the_newest_three_real_payloads_newest_first(app, api, host, make_user):
    ids = [book(app, host, start=SLOT + timedelta(hours=i), email=f"i{i}@example.com").id for i in range(4)]
    other = make_user("otto", timezone="America/New_York")
    book(app, other)
    found = api("GET", "/triggers/booking.created").get_json()
    assert [e["data"]["id"] for e in found] == ids[::-1][:3]
    stored = in_app(app, lambda: [json.loads(m.payload) for m in OutboxMessage.select()
                                  .where(OutboxMessage.kind == "event")])
    assert all(e in stored for e in found)                            # exactly what the hooks deliver
    assert all(e["data"]["host"]["id"] == host.id for e in found)


def test_perform_list_honours_the_event_type_filter(app, api, host):
    demo = in_app(app, lambda: event_types.create_event_type(host, event_types.EventTypeInput(name="Demo",
                                                                                              duration=30)))
    book(app, host)
    demo_booking = book(app, host, start=SLOT + timedelta(hours=3), email="d@example.com", event_type_id=demo.id)
    found = api("GET", f"/triggers/booking.created?eventTypeId={demo.id}").get_json()
    assert [e["data"]["id"] for e in found] == [demo_booking.id]


def test_perform_list_of_an_unknown_trigger_is_404(api):
    assert api("GET", "/triggers/booking.deleted").status_code == 404


def test_event_types_lists_the_accounts_event_types_for_the_dropdown(app, api, host, make_user):
    in_app(app, lambda: event_types.create_event_type(host, event_types.EventTypeInput(name="Sales demo",
                                                                                       duration=45)))
    make_user("otto")
    listed = api("GET", "/event-types").get_json()
    mine = in_app(app, lambda: {(et.id, et.name, et.slug) for et in EventType.select().where(EventType.user == host)})
    assert {(e["id"], e["name"], e["slug"]) for e in listed} == mine
    assert all(set(e) == {"id", "name", "slug"} for e in listed)
