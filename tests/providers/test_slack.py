"""Slack incoming webhooks through app.integrations.slack_webhooks, against the local Slack fake."""
from __future__ import annotations

import json

import pytest
from flask import Flask

from app import net
from app.integrations.errors import AuthRevoked, PermanentError, TransientError
from app.integrations.slack_webhooks import SlackWebhookRevoked, check_url, post_message
from tests.fakes.slack import SlackFake

REAL = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnop12345678"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New booking*: Ivan, Tue 3 pm"}}]


@pytest.fixture
def fake():
    with SlackFake() as server:
        yield server


@pytest.fixture
def hook(fake):
    return fake.new_webhook()


def test_a_message_is_posted_as_json_and_received(fake, hook):
    post_message(hook, {"text": "New booking", "blocks": BLOCKS}, allow_private=True, timeout=5)
    assert fake.messages(hook) == [{"text": "New booking", "blocks": BLOCKS}]
    [(path, headers, body)] = fake.requests
    assert headers["Content-Type"].startswith("application/json") and json.loads(body)["blocks"] == BLOCKS


def test_the_fake_base_allows_loopback_inside_the_app(fake, hook, monkeypatch):
    used = []
    real = net.session
    monkeypatch.setattr(net, "session", lambda allow: used.append(allow) or real(allow))
    app = Flask(__name__)
    app.config.update(fake.settings())
    with app.app_context():
        post_message(hook, {"text": "hi"})
    assert used == [True] and fake.messages(hook) == [{"text": "hi"}]


def test_outside_the_fake_base_private_addresses_are_refused(fake, hook):
    with pytest.raises(PermanentError, match="private or local address"):
        post_message(hook, {"text": "hi"}, timeout=5)             # no app: only Slack itself is allowed
    assert fake.requests == []


@pytest.mark.parametrize(("break_it", "status", "code"), [
    ("revoke", 404, "no_service"),
    ("archive", 410, "channel_is_archived"),
    ("remove_channel", 404, "channel_not_found"),
])
def test_a_revoked_webhook_says_so(fake, hook, break_it, status, code):
    getattr(fake, break_it)(hook)
    with pytest.raises(SlackWebhookRevoked) as caught:
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=5)
    assert isinstance(caught.value, AuthRevoked)
    assert caught.value.status == status and caught.value.code == code
    assert fake.messages(hook) == []


@pytest.mark.parametrize("body", ["action_prohibited", "invalid_token"])
def test_forbidden_answers_are_revocations(fake, hook, body):
    fake.fail(hook, 403, body)
    with pytest.raises(SlackWebhookRevoked) as caught:
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=5)
    assert caught.value.code == body


def test_a_url_slack_never_issued_is_no_service(fake):
    with pytest.raises(SlackWebhookRevoked, match="no_service"):
        post_message(fake.url + "/services/T1/B1/notarealsecret", {"text": "hi"}, allow_private=True, timeout=5)


@pytest.mark.parametrize(("payload", "code"), [({}, "no_text"), ({"text": ""}, "no_text"),
                                              ({"blocks": "nope"}, "invalid_blocks")])
def test_bad_payloads_are_permanent_with_slacks_text(fake, hook, payload, code):
    with pytest.raises(PermanentError) as caught:
        post_message(hook, payload, allow_private=True, timeout=5)
    assert not isinstance(caught.value, AuthRevoked)
    assert caught.value.status == 400 and code in str(caught.value)


def test_the_fake_refuses_a_body_that_is_not_json(fake, hook):
    import requests

    answer = requests.post(hook, data={"text": "hi"}, timeout=5)
    assert answer.status_code == 400 and answer.text == "invalid_payload"


def test_rate_limits_are_transient_with_retry_after(fake, hook):
    fake.rate_limit(hook, retry_after=17)
    with pytest.raises(TransientError) as caught:
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=5)
    assert caught.value.status == 429 and caught.value.retry_after == 17
    post_message(hook, {"text": "hi"}, allow_private=True, timeout=5)       # the next one goes through
    assert fake.messages(hook) == [{"text": "hi"}]


def test_server_errors_are_transient(fake, hook):
    fake.fail(hook, 503, "service_unavailable")
    with pytest.raises(TransientError) as caught:
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=5)
    assert caught.value.status == 503


def test_a_hanging_slack_is_a_transient_timeout(fake, hook):
    fake.hang(hook, 3)
    with pytest.raises(TransientError, match="did not answer in time"):
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=0.5)


def test_an_unreachable_slack_is_transient(fake, hook):
    fake.stop()
    with pytest.raises(TransientError):
        post_message(hook, {"text": "hi"}, allow_private=True, timeout=2)


# --- URL checks ------------------------------------------------------------------------------------------------
def test_a_real_slack_webhook_url_is_accepted():
    assert check_url(f"  {REAL} ", {}) == REAL
    assert check_url(REAL, {"SLACK_WEBHOOK_BASE": "https://hooks.slack.com"}) == REAL


@pytest.mark.parametrize("url", [
    "", "not a url",
    REAL.replace("https://", "http://"),
    REAL.replace("hooks.slack.com", "hooks.slack.com.evil.example"),
    REAL.replace("hooks.slack.com", "evil.example"),
    "https://hooks.slack.com/services/T0123ABCD/B0456EFGH",
    "https://hooks.slack.com/workflows/T0123ABCD/A0456EFGH/123/abcdefghijklmnop",
    REAL + "?x=1",
    REAL.replace("https://", "https://user:pw@"),
    "https://hooks.slack.com/services/x0123ABCD/B0456EFGH/abcdefghijklmnop12345678",
])
def test_other_urls_are_refused_in_plain_words(url):
    with pytest.raises(ValueError) as caught:
        check_url(url, {})
    assert "Slack" in str(caught.value)


def test_the_configured_base_lets_a_local_fake_stand_in(fake, hook):
    assert check_url(hook, fake.settings()) == hook
    with pytest.raises(ValueError):
        check_url(hook, {})
    with pytest.raises(ValueError):
        check_url(REAL, fake.settings())
