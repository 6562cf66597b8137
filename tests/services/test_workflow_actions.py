"""Workflow actions end to end (issue 17): every trigger with every action, against a real SMTP server (aiosmtpd),
the local Twilio and Slack fakes and a webhook receiver; SMS rules (STOP, plan, cap, Twilio's errors) and a revoked
Slack webhook.

Outbox rows run as they are committed (the queue is immediate in tests); the clock of timed runs is moved by
passing ``now`` to ``runs.fire_due``.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.models import Booking, EventType, SmsOptOut, WorkflowAction, WorkflowRunAction
from app.services import opt_outs
from app.services.booking import bookings, payments
from app.services.plans import PlanLimitReached
from app.services.workflows import definitions, runs
from app.services.workflows.definitions import ActionInput, WorkflowInput
from tests import factories
from tests.fakes.slack import SlackFake
from tests.fakes.twilio import TwilioFake
from tests.fakes.webhooks import WebhookReceiver, verify_both
from tests.payment_fixtures import next_tuesday

INVITEE_PHONE = "+14155550123"
START = next_tuesday(11)


@pytest.fixture(scope="module")
def twilio_fake():
    with TwilioFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def slack_fake():
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def setup(app_factory, twilio_fake, slack_fake, smtp_server, stripe_fake, make_user):
    twilio_fake.unsubscribed.clear()
    twilio_fake.undeliverable.clear()
    app = app_factory(**{**twilio_fake.settings(), **slack_fake.settings(), **stripe_fake.settings()},
                      SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port, WEBHOOK_ALLOW_PRIVATE=True,
                      BASE_URL="http://localhost")
    with app.app_context():
        host = make_user("hana", plan="PRO", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        yield app, host, event_type


def every_action(slack_url: str, hook_url: str, marker: str) -> list[ActionInput]:
    return [
        ActionInput(kind="email", recipient="invitee", subject=f"{marker}: {{{{ event_name }}}}",
                    body="Hello {{ invitee_name }}, {{ start_time }}"),
        ActionInput(kind="sms", recipient="invitee", body=f"{marker}: {{{{ event_name }}}} at {{{{ start_time }}}}"),
        ActionInput(kind="slack", url=slack_url,
                    body=f"{marker}: *{{{{ invitee_name }}}}* booked {{{{ event_name }}}}"),
        ActionInput(kind="webhook", url=hook_url),
    ]


def texts_to(fake, number):
    return [m["body"] for m in fake.messages if m["to"] == number]


def mails_with(smtp_server, subject_start, count=1):
    def mine():
        return [m for m in smtp_server.messages if str(m["Subject"]).startswith(subject_start)]
    with smtp_server.event:
        smtp_server.event.wait_for(lambda: len(mine()) >= count, timeout=10)
    return mine()


def book(event_type, start=START, **request):
    request.setdefault("invitee_phone", INVITEE_PHONE)
    return factories.booking(event_type, start, **request)


def paid_booking(app, stripe_fake, event_type):
    EventType.update(price_amount=5000, price_currency="usd", payment_providers=["stripe"]) \
        .where(EventType.id == event_type.id).execute()
    held = bookings.create_booking(EventType.get_by_id(event_type.id), factories.booking_request(
        START, invitee_phone=INVITEE_PHONE)).booking
    payment = payments.start_checkout(held, "stripe", success_url="http://localhost/paid",
                                      cancel_url="http://localhost/back")
    body = json.dumps(stripe_fake.complete(payment.provider_ref)).encode()
    answer = app.test_client().post("/api/webhooks/stripe", data=body, content_type="application/json",
                                    headers={"Stripe-Signature": stripe_fake.sign(body)})
    assert answer.status_code == 200
    return Booking.get_by_id(held.id)


def happen(trigger, app, stripe_fake, event_type) -> Booking:
    """Make ``trigger`` happen to a new booking; returns the booking."""
    if trigger == "payment_received":
        return paid_booking(app, stripe_fake, event_type)
    booking = book(event_type)
    if trigger == "booking_cancelled":
        bookings.cancel_booking(booking, reason="Ill", by="host")
    elif trigger == "booking_rescheduled":
        bookings.reschedule_booking(booking, START + timedelta(hours=2), reason=None, by="host")
    elif trigger == "before_meeting":
        assert runs.fire_due(now=booking.start_at - timedelta(minutes=59)) == 1
    elif trigger == "after_meeting":
        assert runs.fire_due(now=booking.end_at + timedelta(minutes=61)) == 1
    return Booking.get_by_id(booking.id)


EVENTS = {"booking_created": "booking.created", "booking_cancelled": "booking.cancelled",
          "booking_rescheduled": "booking.rescheduled", "payment_received": "payment.received",
          "before_meeting": "workflow.before_meeting", "after_meeting": "workflow.after_meeting"}


@pytest.mark.parametrize("trigger", list(EVENTS))
def test_every_trigger_runs_every_action(setup, trigger, twilio_fake, slack_fake, smtp_server, stripe_fake, receiver):
    app, host, event_type = setup
    slack_url = slack_fake.new_webhook()
    marker = f"WF-{trigger}"
    workflow = definitions.create_workflow(host, WorkflowInput(
        name=trigger, trigger=trigger, offset_minutes=60, actions=every_action(slack_url, receiver.url(), marker)))
    assert [m["text"] for m in slack_fake.messages(slack_url)][0].startswith("LinkTime is connected")

    booking = happen(trigger, app, stripe_fake, event_type)

    [mail] = mails_with(smtp_server, marker)
    assert mail["To"] == "ivan@example.com" and str(mail["Subject"]) == f"{marker}: Coaching"
    assert [text.split(" at ")[0] for text in texts_to(twilio_fake, INVITEE_PHONE) if text.startswith(marker)] \
        == [f"{marker}: Coaching"]
    posted = [m for m in slack_fake.messages(slack_url) if m["text"].startswith(marker)]
    assert len(posted) == 1 and posted[0]["blocks"][0]["text"]["type"] == "mrkdwn"
    [hook] = receiver.wait_for(1)
    secret = definitions.webhook_secret(definitions.actions_of(workflow)[0 + 3])
    body = verify_both(hook, secret)
    assert body["event"] == EVENTS[trigger] and body["data"]["id"] == booking.id
    results = {r.kind: r for r in WorkflowRunAction.select()}
    assert {kind: r.status for kind, r in results.items()} == {"email": "sent", "sms": "sent", "slack": "sent",
                                                               "webhook": "sent"}
    assert results["sms"].remote_id.startswith("SM")


def test_twilio_status_callbacks_mark_the_text_delivered(app_factory, twilio_fake, make_user):
    from tests.live import serve_live

    app = app_factory(**twilio_fake.settings())
    with serve_live(app, own_base_url=True), app.app_context():
        host = make_user("hana", plan="PRO", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        definitions.create_workflow(host, WorkflowInput(
            name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked {{ event_name }}")]))
        book(event_type)
        [message] = [m for m in twilio_fake.messages if m["body"] == "Booked Coaching"]
        assert message["status_callback"] == f"{app.config['BASE_URL']}/api/webhooks/twilio/status"
        twilio_fake.wait_callbacks(len(twilio_fake.callbacks) + 0)
        result = WorkflowRunAction.get(WorkflowRunAction.kind == "sms")
        for _ in range(200):           # the callback is a request to the live server: wait for its effect
            result = WorkflowRunAction.get_by_id(result.id)
            if result.status == "delivered":
                break
            with twilio_fake._cond:
                twilio_fake._cond.wait(0.05)
        assert result.status == "delivered" and result.remote_id == message["sid"]


def test_an_opted_out_number_is_never_texted(setup, twilio_fake):
    app, host, event_type = setup
    definitions.create_workflow(host, WorkflowInput(
        name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked {{ event_name }}")]))
    opt_outs.opt_out(INVITEE_PHONE)
    before = len(twilio_fake.messages)
    book(event_type)
    result = WorkflowRunAction.get()
    assert result.status == "skipped" and "replied STOP" in result.error
    assert len(twilio_fake.messages) == before
    opt_outs.opt_in(INVITEE_PHONE)
    assert not SmsOptOut.select().exists()


def test_missing_or_invalid_numbers_are_skipped_not_failed(setup, twilio_fake):
    app, host, event_type = setup
    definitions.create_workflow(host, WorkflowInput(
        name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked")]))
    book(event_type, invitee_phone=None)
    book(event_type, START + timedelta(hours=3), invitee_phone="+999 123 4567", email="zoe@example.com")
    errors = sorted(r.error for r in WorkflowRunAction.select())
    assert [r.status for r in WorkflowRunAction.select()] == ["skipped", "skipped"]
    assert errors[0].startswith("The invitee gave no phone number") or errors[1].startswith(
        "The invitee gave no phone number")
    assert any("is not a valid number" in error for error in errors)


def test_twilio_unsubscribed_error_is_explained_and_recorded(setup, twilio_fake):
    app, host, event_type = setup
    twilio_fake.unsubscribed.add(INVITEE_PHONE)
    definitions.create_workflow(host, WorkflowInput(
        name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked")]))
    book(event_type)
    result = WorkflowRunAction.get()
    assert result.status == "failed" and "STOP" in result.error
    assert opt_outs.opted_out(INVITEE_PHONE)


def test_the_monthly_sms_cap_skips_texts_beyond_it(setup, twilio_fake):
    app, host, event_type = setup
    app.config["SMS_MONTHLY_CAP"] = 1
    definitions.create_workflow(host, WorkflowInput(
        name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked")]))
    book(event_type)
    book(event_type, START + timedelta(hours=3), email="zoe@example.com")
    statuses = [r.status for r in WorkflowRunAction.select().order_by(WorkflowRunAction.created_at)]
    assert statuses == ["sent", "skipped"]
    assert "monthly limit of 1 texts" in WorkflowRunAction.get(WorkflowRunAction.status == "skipped").error


def test_sms_actions_need_pro(setup, make_user):
    free = make_user("fred")
    with pytest.raises(PlanLimitReached) as caught:
        definitions.create_workflow(free, WorkflowInput(
            name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Booked")]))
    assert "Free plan does not include SMS actions" in str(caught.value)
    assert [c.available for c in definitions.action_choices(free) if c.kind == "sms"] == [False]


def test_sms_is_absent_without_twilio_settings(app_factory, make_user):
    app = app_factory(TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
    with app.app_context():
        host = make_user("hana", plan="PRO")
        assert "sms" not in [c.kind for c in definitions.action_choices(host)]
        assert "TWILIO_ACCOUNT_SID" in definitions.sms_note()


def test_a_revoked_slack_webhook_disables_the_action_and_tells_the_host(setup, slack_fake, smtp_server):
    app, host, event_type = setup
    slack_url = slack_fake.new_webhook()
    workflow = definitions.create_workflow(host, WorkflowInput(
        name="Team", trigger="booking_created",
        actions=[ActionInput(kind="slack", url=slack_url, body="New: {{ invitee_name }}"),
                 ActionInput(kind="email", recipient="host", subject="Also emailed", body="Hi")]))
    slack_fake.revoke(slack_url)
    book(event_type)
    results = {r.kind: r for r in WorkflowRunAction.select()}
    assert results["slack"].status == "failed" and results["email"].status == "sent"
    action = WorkflowAction.get(WorkflowAction.kind == "slack")
    assert action.disabled_reason and "no longer works" in action.disabled_reason
    [mail] = mails_with(smtp_server, "Slack action switched off")
    assert mail["To"] == host.email and workflow.name in str(mail["Subject"])
    book(event_type, START + timedelta(hours=3), email="zoe@example.com")   # the next run skips it
    assert WorkflowRunAction.select().where((WorkflowRunAction.kind == "slack")
                                            & (WorkflowRunAction.status == "skipped")).count() == 1


def test_a_slack_url_that_refuses_the_test_message_is_not_saved(setup, slack_fake):
    from app.services.errors import ValidationFailed

    app, host, event_type = setup
    slack_url = slack_fake.new_webhook()
    slack_fake.revoke(slack_url)
    with pytest.raises(ValidationFailed) as caught:
        definitions.create_workflow(host, WorkflowInput(
            name="Team", trigger="booking_created", actions=[ActionInput(kind="slack", url=slack_url, body="x")]))
    assert "Slack did not accept a test message" in caught.value.errors["actions-0-url"]


def test_the_test_button_runs_each_action(setup, twilio_fake, slack_fake, receiver):
    from app.services.workflows import trial

    app, host, event_type = setup
    slack_url = slack_fake.new_webhook()
    workflow = definitions.create_workflow(host, WorkflowInput(
        name="All", trigger="booking_created", actions=every_action(slack_url, receiver.url(), "T")))
    results = trial.test_workflow(host, workflow.id, phone="+1 415 555 0199")
    assert [(r.action, r.status) for r in results] == [("Send Email", "sent"), ("Send SMS", "sent"),
                                                       ("Send Slack Message", "sent"), ("Call Webhook", "sent")]
    assert texts_to(twilio_fake, "+14155550199")
    assert verify_both(receiver.wait_for(1)[0], definitions.webhook_secret(
        definitions.actions_of(workflow)[3]))["event"] == "workflow.test"
    assert not WorkflowRunAction.select().exists()          # a test leaves no history


def test_a_retry_after_a_text_reached_twilio_does_not_send_it_again(setup, twilio_fake):
    """The worker died after Twilio took the text but before the SID was recorded: the retry finds it."""
    from datetime import UTC, datetime

    from app.models import OutboxMessage
    from app.services import outbox

    app, host, event_type = setup
    definitions.create_workflow(host, WorkflowInput(
        name="Text", trigger="booking_created", actions=[ActionInput(kind="sms", body="Retry check {{ event_name }}")]))
    book(event_type)
    result = WorkflowRunAction.get()
    sent = [m for m in twilio_fake.messages if m["body"] == "Retry check Coaching"]
    assert result.status == "sent" and len(sent) == 1
    # as if the first attempt died before recording: the row is queued again and its outbox row due again
    WorkflowRunAction.update(status="queued", remote_id=None, finished_at=None).where(
        WorkflowRunAction.id == result.id).execute()
    message = OutboxMessage.get(OutboxMessage.kind == "workflow_action")
    OutboxMessage.update(done_at=None, next_attempt_at=datetime.now(UTC)).where(
        OutboxMessage.id == message.id).execute()
    assert outbox.process(message.id, max_attempts=5, retry_delay=60) == "done"
    again = WorkflowRunAction.get_by_id(result.id)
    assert again.status == "sent" and again.remote_id == sent[0]["sid"]
    assert len([m for m in twilio_fake.messages if m["body"] == "Retry check Coaching"]) == 1
