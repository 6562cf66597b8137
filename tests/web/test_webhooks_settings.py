"""Settings → Webhooks: list, create with the secret shown once, edit, delete with confirmation, send a test,
delivery history polled by htmx, redeliver; another user's webhook is a 404."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.db import db
from app.models import EventType, Webhook, WebhookDelivery
from app.services.booking import bookings
from app.services.developer import webhooks
from tests.conftest import login
from tests.fakes.webhooks import verify_both

HTMX = {"HX-Request": "true"}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def in_app(app, fn):
    with app.app_context(), db.connection_context():
        return fn()


def text(response):
    return response.get_data(as_text=True)


def make_webhook(app, user, url, events=("booking.created",), **kw):
    return in_app(app, lambda: webhooks.create_webhook(user, url, list(events), **kw))


def stored(app, webhook_id):
    return in_app(app, lambda: Webhook.get_or_none(Webhook.id == webhook_id))


def test_pages_need_a_signed_in_user(client):
    response = client.get("/settings/webhooks")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_settings_tabs_link_to_webhooks_and_mark_the_page(signed_in):
    page = text(signed_in.get("/settings/webhooks"))
    assert re.search(r'<a href="/settings/webhooks" aria-current="page">Webhooks</a>', page)
    assert 'href="/settings/webhooks"' in text(signed_in.get("/settings/profile"))


def test_creating_a_webhook_shows_the_secret_once(app, signed_in, host):
    response = signed_in.post("/settings/webhooks/new", data={
        "url": "https://hooks.example.com/lt", "events": ["booking.created", "contact.created"], "active": "on"})
    assert response.status_code == 201
    secret = re.search(r'id="secret-value">(whsec_[A-Za-z0-9+/=]+)<', text(response)).group(1)
    [webhook] = in_app(app, lambda: list(Webhook.select()))
    assert (webhook.url, webhook.events, webhook.active, webhook.user_id) == (
        "https://hooks.example.com/lt", ["booking.created", "contact.created"], True, host.id)
    assert app.extensions["linktime_encryptor"].decrypt(webhook.secret) == secret
    for path in ("/settings/webhooks", f"/settings/webhooks/{webhook.id}", f"/settings/webhooks/{webhook.id}/edit"):
        page = text(signed_in.get(path))
        assert secret not in page and "https://hooks.example.com/lt" in page


def test_an_invalid_url_or_no_event_is_shown_inline_and_nothing_is_stored(app, signed_in):
    response = signed_in.post("/settings/webhooks/new", data={"url": "ftp://files.example.com", "active": "on"})
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-url"' in page and "http:// or https://" in page
    assert 'id="e-events"' in page and "at least one event" in page
    assert 'value="ftp://files.example.com"' in page
    assert in_app(app, lambda: Webhook.select().count()) == 0


def test_the_plan_limit_is_explained_on_the_form(app, signed_in, host):
    make_webhook(app, host, "https://a.example.com/")
    make_webhook(app, host, "https://b.example.com/", label="Zapier")
    response = signed_in.post("/settings/webhooks/new", data={"url": "https://c.example.com/",
                                                              "events": ["booking.created"]})
    assert response.status_code == 403
    assert "Free plan allows 2 webhooks" in text(response)
    assert in_app(app, lambda: Webhook.select().count()) == 2


def test_the_list_shows_each_webhook_with_its_label_and_filter(app, signed_in, host):
    et = in_app(app, lambda: EventType.get(EventType.user == host))
    make_webhook(app, host, "https://a.example.com/", events=("booking.cancelled",), event_type_id=et.id)
    make_webhook(app, host, "https://hooks.zapier.com/x", label="Zapier")
    page = text(signed_in.get("/settings/webhooks"))
    assert "https://a.example.com/" in page and "booking.cancelled" in page and f"Only “{et.name}”" in page
    assert ">Zapier<" in page and "removed when you turn a Zap off" in page


def test_edit_changes_url_events_filter_and_active(app, signed_in, host):
    webhook, _ = make_webhook(app, host, "https://a.example.com/")
    et = in_app(app, lambda: EventType.get(EventType.user == host))
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/edit", data={
        "url": "https://b.example.com/new", "events": ["booking.rescheduled"], "event_type_id": et.id})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/settings/webhooks/{webhook.id}")
    fresh = stored(app, webhook.id)
    assert (fresh.url, fresh.events, fresh.event_type_id, fresh.active) == (
        "https://b.example.com/new", ["booking.rescheduled"], et.id, False)
    bad = signed_in.post(f"/settings/webhooks/{webhook.id}/edit", data={"url": "", "events": ["booking.created"]})
    assert bad.status_code == 422 and 'id="e-url"' in text(bad)


def test_delete_asks_for_confirmation_first(app, signed_in, host):
    webhook, _ = make_webhook(app, host, "https://a.example.com/")
    confirm = signed_in.get(f"/settings/webhooks/{webhook.id}/delete")
    assert confirm.status_code == 200 and "Delete this webhook?" in text(confirm)
    assert stored(app, webhook.id) is not None
    done = signed_in.post(f"/settings/webhooks/{webhook.id}/delete")
    assert done.status_code == 302 and done.headers["Location"].endswith("/settings/webhooks")
    assert stored(app, webhook.id) is None


@pytest.mark.parametrize("method,path", [
    ("GET", ""), ("GET", "/edit"), ("POST", "/edit"), ("GET", "/delete"), ("POST", "/delete"), ("POST", "/test"),
    ("GET", "/deliveries"), ("POST", "/deliveries/x/redeliver"),
])
def test_another_users_webhook_is_not_found(app, signed_in, make_user, method, path):
    other = make_user("otto")
    theirs, _ = make_webhook(app, other, "https://otto.example.com/")
    response = signed_in.open(f"/settings/webhooks/{theirs.id}{path}", method=method,
                              data={"url": "https://evil.example.com/", "events": ["booking.created"],
                                    "event": "booking.created"})
    assert response.status_code == 404
    fresh = stored(app, theirs.id)
    assert fresh is not None and fresh.url == "https://otto.example.com/"


def test_send_test_posts_a_signed_sample_and_shows_the_answer(app, signed_in, host, receiver):
    webhook, secret = make_webhook(app, host, receiver.url())
    receiver.script(202, body=b"accepted by the receiver")
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/test", data={"event": "booking.rescheduled"},
                              headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert page.lstrip().startswith('<section class="card" id="test-panel"')      # only the block for htmx
    assert "Delivered" in page and "HTTP 202" in page and "accepted by the receiver" in page
    assert response.headers["HX-Trigger"] == "webhook-tested"                    # the history reloads at once
    [request] = receiver.received
    payload = verify_both(request, secret)
    assert payload["event"] == "booking.rescheduled" and "previousStartTime" in payload["data"]
    [row] = in_app(app, lambda: list(WebhookDelivery.select()))
    assert (row.event, row.status_code, row.success) == ("booking.rescheduled", 202, True)
    assert row.event_id.startswith("test_")


def test_send_test_without_htmx_renders_the_whole_page_with_a_failure(app, signed_in, host, receiver):
    webhook, _ = make_webhook(app, host, receiver.url())
    receiver.script(500, body=b"boom")
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/test", data={"event": "contact.created"})
    page = text(response)
    assert response.status_code == 200 and "<html" in page
    assert "Failed" in page and "HTTP 500" in page and "boom" in page


def test_send_test_is_queued_and_the_panel_polls_until_the_answer(app, signed_in, host, receiver, monkeypatch):
    from tests.fakes.webhooks import ManualQueue

    queue = ManualQueue(monkeypatch)                      # no worker runs: the request must not wait for one
    webhook, secret = make_webhook(app, host, receiver.url())
    receiver.script(201, body=b"made it")
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/test", data={"event": "booking.created"},
                              headers=HTMX)
    page = text(response)
    assert response.status_code == 202 and "HX-Trigger" not in response.headers
    assert page.lstrip().startswith('<section class="card" id="test-panel"') and "Sending" in page
    poll = re.search(rf'hx-get="(/settings/webhooks/{webhook.id}/tests/[^"]+)" hx-trigger="every 1s"', page)
    assert poll, page
    assert receiver.received == []                        # nothing was sent from the request
    still = signed_in.get(poll.group(1), headers=HTMX)
    assert still.status_code == 200 and "Sending" in text(still) and "every 1s" in text(still)

    [row] = in_app(app, lambda: queue.pending("webhook_test"))
    assert in_app(app, lambda: queue.process(row.id, datetime.now(UTC))) == "done"
    answered = signed_in.get(poll.group(1), headers=HTMX)
    body = text(answered)
    assert answered.status_code == 200 and answered.headers["HX-Trigger"] == "webhook-tested"
    assert "Delivered" in body and "HTTP 201" in body and "made it" in body and "every 1s" not in body
    [request] = receiver.received
    assert verify_both(request, secret)["event"] == "booking.created"


def test_send_test_is_rate_limited_per_account(app_factory, make_user, receiver, monkeypatch):
    from app.models import OutboxMessage
    from tests.fakes.webhooks import ManualQueue

    ManualQueue(monkeypatch)
    app = app_factory(RATELIMIT_WEBHOOK_TEST="2/minute")
    hana, otto = make_user("hana"), make_user("otto")
    hooks = {}
    clients = {}
    for user in (hana, otto):
        hooks[user.username], _ = make_webhook(app, user, receiver.url())
        clients[user.username] = app.test_client()
        login(clients[user.username], user)
    url = f"/settings/webhooks/{hooks['hana'].id}/test"
    sent = [clients["hana"].post(url, data={"event": "booking.created"}, headers=HTMX) for _ in range(3)]
    assert [r.status_code for r in sent] == [202, 202, 429]
    refused = text(sent[2])
    assert refused.lstrip().startswith('<section class="card" id="test-panel"')
    assert "Too many test sends" in refused and 1 <= int(sent[2].headers["Retry-After"]) <= 60
    assert in_app(app, lambda: OutboxMessage.select().where(OutboxMessage.kind == "webhook_test").count()) == 2
    other = clients["otto"].post(f"/settings/webhooks/{hooks['otto'].id}/test", data={"event": "booking.created"},
                                 headers=HTMX)
    assert other.status_code == 202                       # another account has its own allowance


def test_the_result_of_a_test_is_only_shown_to_its_account_and_webhook(app, make_user, receiver, monkeypatch):
    from tests.fakes.webhooks import ManualQueue

    ManualQueue(monkeypatch)
    hana, otto = make_user("hana"), make_user("otto")
    mine, _ = make_webhook(app, hana, receiver.url("/a"))
    second, _ = make_webhook(app, hana, receiver.url("/b"))
    theirs, _ = make_webhook(app, otto, receiver.url("/c"))
    client = app.test_client()
    login(client, hana)
    page = text(client.post(f"/settings/webhooks/{mine.id}/test", data={"event": "contact.created"}, headers=HTMX))
    test_id = re.search(r"/tests/([^\"]+)\"", page).group(1)
    assert client.get(f"/settings/webhooks/{mine.id}/tests/{test_id}").status_code == 200
    assert client.get(f"/settings/webhooks/{second.id}/tests/{test_id}").status_code == 404
    assert client.get(f"/settings/webhooks/{mine.id}/tests/nope").status_code == 404
    other = app.test_client()
    login(other, otto)
    assert other.get(f"/settings/webhooks/{theirs.id}/tests/{test_id}").status_code == 404
    assert other.get(f"/settings/webhooks/{mine.id}/tests/{test_id}").status_code == 404


def test_send_test_with_an_unknown_event_is_an_inline_error(app, signed_in, host, receiver):
    webhook, _ = make_webhook(app, host, receiver.url())
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/test", data={"event": "nope"}, headers=HTMX)
    assert response.status_code == 422 and "Choose one of the listed events." in text(response)
    assert receiver.received == []


def test_history_lists_every_attempt_and_polls_every_five_seconds(app, signed_in, host, receiver):
    webhook, _ = make_webhook(app, host, receiver.url())
    receiver.script(503, body=b"try later")
    et = in_app(app, lambda: EventType.get(EventType.user == host))
    in_app(app, lambda: bookings.create_booking(et, bookings.BookingRequest(
        start=SLOT, invitee_name="Ivan", invitee_email="ivan@example.com", invitee_timezone="UTC"), now=NOW))
    page = text(signed_in.get(f"/settings/webhooks/{webhook.id}"))
    block = re.search(r'<div id="delivery-history"[^>]*>', page).group(0)
    assert 'hx-trigger="every 5s' in block and f'hx-get="/settings/webhooks/{webhook.id}/deliveries"' in block
    assert "booking.created" in page and "503" in page and "try later" in page and "Redeliver" in page
    [row] = in_app(app, lambda: list(WebhookDelivery.select()))
    assert row.next_retry_at is not None
    fragment = signed_in.get(f"/settings/webhooks/{webhook.id}/deliveries", headers=HTMX)
    body = text(fragment)
    assert fragment.status_code == 200 and body.lstrip().startswith('<div id="delivery-history"')
    assert "<html" not in body and " ms<" in body
    for header in ("Time", "Event", "Attempt", "Status", "Duration", "Response", "Next retry"):
        assert f">{header}</th>" in body


def test_redeliver_queues_the_event_again_and_it_arrives(app, signed_in, host, receiver):
    webhook, secret = make_webhook(app, host, receiver.url())
    receiver.script(400)
    et = in_app(app, lambda: EventType.get(EventType.user == host))
    in_app(app, lambda: bookings.create_booking(et, bookings.BookingRequest(
        start=SLOT, invitee_name="Ivan", invitee_email="ivan@example.com", invitee_timezone="UTC"), now=NOW))
    [failed] = in_app(app, lambda: list(WebhookDelivery.select()))
    response = signed_in.post(f"/settings/webhooks/{webhook.id}/deliveries/{failed.id}/redeliver")
    assert response.status_code == 302
    assert len(receiver.received) == 2 and receiver.received[0].body == receiver.received[1].body
    verify_both(receiver.received[1], secret)
    rows = in_app(app, lambda: list(WebhookDelivery.select().order_by(WebhookDelivery.created_at)))
    assert [(r.attempt, r.status_code) for r in rows] == [(1, 400), (1, 200)]
    page = text(signed_in.get(response.headers["Location"]))
    assert "queued for delivery again" in page


def test_pages_carry_no_inline_script(app, signed_in, host):
    webhook, _ = make_webhook(app, host, "https://a.example.com/")
    for path in ("", "/new", f"/{webhook.id}", f"/{webhook.id}/edit", f"/{webhook.id}/delete"):
        page = text(signed_in.get(f"/settings/webhooks{path}"))
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert not re.search(r"\son[a-z]+=", page), path
