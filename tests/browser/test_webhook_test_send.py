"""Settings → Webhooks in Chromium: "Send test" is queued, the panel polls with htmx and shows the answer once a
worker has made the request; the delivery history reloads with it. No full page load happens on the way.

The queue is switched off (``ManualQueue``): the test itself runs the queued row, after checking that the page
shows it waiting, so the polling is what brings the result to the page.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from app.db import db
from app.services.developer import webhooks
from tests.conftest import PASSWORD
from tests.fakes.webhooks import ManualQueue, WebhookReceiver

pytestmark = pytest.mark.browser

MARK = "window.__webhookTestMarker"


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


def test_send_test_shows_sending_then_the_answer_by_polling(page, live_server, host, monkeypatch):
    app = live_server.app
    queue = ManualQueue(monkeypatch)
    with WebhookReceiver() as receiver:
        receiver.script(202, body=b"hello from the receiver")
        with app.app_context(), db.connection_context():
            webhook, _ = webhooks.create_webhook(host, receiver.url(), ["booking.created"])

        page.goto("/login")
        page.fill("input[name=email]", host.email)
        page.fill("input[name=password]", PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(re.compile(r".*/dashboard$"))
        page.goto(f"/settings/webhooks/{webhook.id}")
        page.evaluate(f"() => {{ {MARK} = 'same document'; }}")

        page.select_option("#f-test-event", "contact.created")
        page.get_by_role("button", name="Send test").click()
        result = page.locator("#test-result")
        expect(result).to_contain_text("Sending")
        expect(result).to_contain_text("contact.created")
        assert receiver.received == []

        with app.app_context(), db.connection_context():
            [row] = queue.pending("webhook_test")
            assert queue.process(row.id, datetime.now(UTC)) == "done"
        expect(result).to_contain_text("Delivered", timeout=15_000)          # the next poll brings it
        expect(result).to_contain_text("HTTP 202")
        expect(page.locator("#test-panel pre.excerpt")).to_have_text("hello from the receiver")
        expect(page.locator("#delivery-history")).to_contain_text("contact.created")   # reloaded at once
        assert page.evaluate(f"() => {MARK}") == "same document"
        [request] = receiver.received
        assert request.headers["X-LinkTime-Event"] == "contact.created"
        assert page.locator("#test-result[hx-get]").count() == 0             # polling has stopped
