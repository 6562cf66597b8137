"""Workflows (issue 17): definitions, plan limits, the runs each trigger writes, and timed runs as the clock moves.

The clock is moved by passing ``now`` to ``runs.fire_due`` and the outbox; nothing sleeps. Outbox rows are run by
hand (``ManualQueue``) so each test sees exactly which side effects a change queued.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Booking, OutboxMessage, Workflow, WorkflowRun, WorkflowRunAction
from app.services.booking import bookings
from app.services.errors import ValidationFailed
from app.services.mailer import unseal
from app.services.plans import PlanLimitReached
from app.services.workflows import definitions, runs, trial
from app.services.workflows.definitions import ActionInput, WorkflowInput
from tests import factories
from tests.fakes.webhooks import ManualQueue, WebhookReceiver

START = factories.weekday_at(2)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("wendy", plan="PRO")


@pytest.fixture
def queue(monkeypatch):
    return ManualQueue(monkeypatch)


@pytest.fixture
def et(host):
    return factories.event_type(host)


def email_action(**fields) -> ActionInput:
    return ActionInput(kind="email", recipient=fields.pop("recipient", "invitee"),
                       subject=fields.pop("subject", "Hi {{ invitee_name }}"),
                       body=fields.pop("body", "See you {{ start_time }} for {{ event_name }}."), **fields)


def make_workflow(host, trigger="booking_created", offset=60, actions_=None, **fields) -> Workflow:
    data = WorkflowInput(name=fields.pop("name", f"WF {trigger}"), trigger=trigger, offset_minutes=offset,
                         actions=actions_ or [email_action()], **fields)
    return definitions.create_workflow(host, data)


def run_events(queue, now=None):
    """Run the fan-outs (events and lifecycle rows) that are pending."""
    queue.run_due(now or datetime.now(UTC), kinds=("event", "lifecycle"))


def emails():
    return [unseal(json.loads(m.payload)) for m in OutboxMessage.select().where(OutboxMessage.kind == "email")
            .order_by(OutboxMessage.created_at)]


def run_actions(queue, now=None):
    return queue.run_due(now or datetime.now(UTC), kinds=("workflow_action", "workflow_hook"))


def book(et, start=START, **request):
    return factories.booking(et, start, **request)


# --- definitions --------------------------------------------------------------------------------------------------
def test_create_validates_every_field_and_keeps_nothing_on_error(host, et):
    data = WorkflowInput(name="", trigger="before_meeting", offset_minutes=0, all_event_types=False,
                         actions=[ActionInput(kind="email", recipient="address", address="not-an-email", subject="",
                                              body="{{ oops "), ActionInput(kind="fax")])
    with pytest.raises(ValidationFailed) as caught:
        definitions.create_workflow(host, data)
    assert set(caught.value.errors) >= {"name", "offset", "event_types", "actions-0-address", "actions-0-subject",
                                        "actions-0-body", "actions-1-kind"}
    assert "template error" in caught.value.errors["actions-0-body"]
    assert Workflow.select().count() == 0


def test_create_edit_duplicate_delete_are_audited(host, et):
    workflow = make_workflow(host, name="Thanks")
    data = definitions.input_of(workflow)
    data.name = "Thanks again"
    definitions.update_workflow(host, workflow.id, data)
    copy = definitions.duplicate_workflow(host, workflow.id)
    assert copy.name == "Thanks again (copy)" and not copy.enabled
    assert [a.kind for a in definitions.actions_of(copy)] == ["email"]
    definitions.delete_workflow(host, workflow.id)
    actions_ = [row.action for row in AuditLog.select().where(AuditLog.resource == "workflow")
                .order_by(AuditLog.created_at)]
    assert actions_ == ["workflow.created", "workflow.updated", "workflow.created", "workflow.deleted"]
    assert Workflow.get_or_none(Workflow.id == workflow.id) is None


def test_another_users_workflow_is_not_found(host, make_user):
    from app.services.errors import NotFound

    workflow = make_workflow(host)
    other = make_user("olga")
    with pytest.raises(NotFound):
        definitions.get_workflow(other, workflow.id)
    with pytest.raises(NotFound):
        definitions.delete_workflow(other, workflow.id)


def test_free_plan_allows_three_active_workflows_and_five_actions(make_user, db_conn):
    free = make_user("fred")
    for index in range(3):
        make_workflow(free, name=f"W{index}")
    with pytest.raises(PlanLimitReached) as caught:
        make_workflow(free, name="Fourth")
    assert "Free plan allows 3 active workflows" in str(caught.value)
    fourth = make_workflow(free, name="Fourth, off", enabled=False)     # a disabled one is fine
    with pytest.raises(PlanLimitReached):
        definitions.set_enabled(free, fourth.id, True)
    with pytest.raises(PlanLimitReached) as caught:
        make_workflow(free, name="Six", enabled=False, actions_=[email_action() for _ in range(6)])
    assert "5 actions per workflow" in str(caught.value)


def test_a_downgrade_pauses_the_most_recently_enabled_workflows(host):
    from app.services.account.accounts import set_plan

    made = [make_workflow(host, name=f"W{index}") for index in range(5)]
    set_plan(host, "FREE")
    states = {w.name: (w.enabled, w.paused_note) for w in Workflow.select()}
    assert [states[w.name][0] for w in made] == [True, True, True, False, False]
    assert "Free plan allows 3 active workflows" in states["W4"][1]


# --- templates and the sandbox ------------------------------------------------------------------------------------
def test_host_text_cannot_reach_python_objects():
    assert definitions.templating.check("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert definitions.templating.render_text("{{ ''.__class__ }}{{ config }}{{ invitee_name }}",
                                              {"invitee_name": "Ann"}) == "Ann"


def test_invitee_text_arrives_escaped_in_the_html_email(host, et, queue):
    make_workflow(host, actions_=[email_action(body="Hello {{ invitee_name }}, you wrote: {{ answers_text }}")])
    book(et, name="<script>alert(1)</script>")
    run_events(queue)
    run_actions(queue)
    sent = [m for m in emails() if m["subject"].startswith("Hi ")]
    assert len(sent) == 1
    assert "<script>" not in sent[0]["html"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in sent[0]["html"]
    assert "<script>alert(1)</script>" in sent[0]["text"]      # plain text is plain


def test_each_template_makes_a_valid_workflow(host, et, monkeypatch):
    from app.services.workflows import templates

    monkeypatch.setattr(definitions, "_check_slack", lambda data, stored: None)
    for key, template in templates.TEMPLATES.items():
        data = templates.template_input(key)
        assert data.name == template.name
        if "sms" in template.kinds:
            continue                       # needs Twilio settings: tests/services/test_workflow_actions.py
        if "slack" in template.kinds:
            data.actions[0].url = "https://hooks.slack.com/services/T000/B000/abcdefabcdef"
        data.enabled = False
        workflow = definitions.create_workflow(host, data)
        assert workflow.trigger == template.trigger


# --- immediate triggers -----------------------------------------------------------------------------------------------
def test_booking_created_fires_once_for_matching_event_types_only(host, et, queue):
    other = factories.new_event_type(host, name="Other", slug="other", duration=30)
    make_workflow(host, name="Only 30-min", all_event_types=False, event_type_ids=[et.id])
    make_workflow(host, name="Only other", all_event_types=False, event_type_ids=[other.id])
    booking = book(et)
    run_events(queue)
    run_events(queue)                                    # a repeated fan-out fires nothing more
    fired = list(WorkflowRun.select())
    assert [(r.workflow.name, r.booking_id, r.status) for r in fired] == [("Only 30-min", booking.id, "fired")]
    run_actions(queue)
    result = WorkflowRunAction.get()
    assert result.status == "sent"
    mail = [m for m in emails() if m["to"] == ["ivan@example.com"] and m["subject"].startswith("Hi ")]
    assert len(mail) == 1 and et.name in mail[0]["text"]


def test_cancel_and_reschedule_fire_their_workflows(host, et, queue):
    make_workflow(host, "booking_cancelled", name="Cancelled",
                  actions_=[email_action(subject="Cancelled: {{ cancel_reason }}")])
    make_workflow(host, "booking_rescheduled", name="Moved", actions_=[email_action(subject="Moved")])
    booking = book(et)
    run_events(queue)
    bookings.reschedule_booking(booking, START + timedelta(hours=1), reason=None, by="host")
    run_events(queue)
    bookings.cancel_booking(Booking.get_by_id(booking.id), reason="Sick", by="host")
    run_events(queue)
    assert sorted(r.workflow.name for r in WorkflowRun.select()) == ["Cancelled", "Moved"]
    run_actions(queue)
    subjects = {m["subject"] for m in emails()}
    assert {"Cancelled: Sick", "Moved"} <= subjects


# --- timed runs ------------------------------------------------------------------------------------------------------
def test_before_meeting_run_fires_once_when_due(host, et, queue):
    make_workflow(host, "before_meeting", 60, name="Reminder")
    booking = book(et)
    run_events(queue)
    run = WorkflowRun.get()
    assert run.status == "scheduled" and run.due_at == booking.start_at - timedelta(hours=1)
    assert runs.fire_due(now=run.due_at - timedelta(minutes=1)) == 0
    assert runs.fire_due(now=run.due_at + timedelta(seconds=30)) == 1
    assert runs.fire_due(now=run.due_at + timedelta(minutes=2)) == 0       # never twice
    assert WorkflowRun.get().status == "fired"
    assert [r.kind for r in WorkflowRunAction.select()] == ["email"]


def test_after_meeting_run_is_due_after_the_end(host, et, queue):
    make_workflow(host, "after_meeting", 60, name="Survey")
    booking = book(et)
    run_events(queue)
    assert WorkflowRun.get().due_at == booking.end_at + timedelta(hours=1)


def test_a_booking_inside_the_before_offset_fires_at_once(host, et, queue):
    make_workflow(host, "before_meeting", 7 * 1440, name="A week before")
    book(et)
    before = datetime.now(UTC)
    run_events(queue)
    run = WorkflowRun.get()
    assert before - timedelta(seconds=5) <= run.due_at <= datetime.now(UTC)
    assert runs.fire_due() == 1


def test_reschedule_moves_and_cancel_removes_pending_runs(host, et, queue):
    make_workflow(host, "before_meeting", 60, name="Reminder")
    booking = book(et)
    run_events(queue)
    later = factories.weekday_at(3)
    bookings.reschedule_booking(booking, later, reason=None, by="host")
    run_events(queue)
    assert [(r.status, r.due_at) for r in WorkflowRun.select()] == [("scheduled", later - timedelta(hours=1))]
    bookings.cancel_booking(Booking.get_by_id(booking.id), reason=None, by="host")
    run_events(queue)
    assert WorkflowRun.select().count() == 0
    assert runs.fire_due(now=later) == 0


def test_editing_the_offset_moves_pending_runs_and_never_refires(host, et, queue):
    workflow = make_workflow(host, "before_meeting", 60, name="Reminder")
    second = START + timedelta(hours=2)
    first, other = book(et), book(et, second, email="zoe@example.com", name="Zoe")
    run_events(queue)
    assert runs.fire_due(now=first.start_at - timedelta(minutes=30)) == 1     # the first one's run fired
    data = definitions.input_of(workflow)
    data.offset_minutes = 15
    definitions.update_workflow(host, workflow.id, data)
    pending = list(WorkflowRun.select().where(WorkflowRun.status == "scheduled"))
    assert [(r.booking_id, r.due_at) for r in pending] == [(other.id, other.start_at - timedelta(minutes=15))]
    assert runs.fire_due(now=first.start_at - timedelta(minutes=10)) == 0     # first not fired again
    assert WorkflowRun.select().where(WorkflowRun.booking == first.id).count() == 1


def test_enabling_schedules_upcoming_bookings_and_disabling_drops_them(host, et, queue):
    booking = book(et)
    run_events(queue)
    workflow = make_workflow(host, "before_meeting", 60, name="Reminder", enabled=False)
    assert WorkflowRun.select().count() == 0
    definitions.set_enabled(host, workflow.id, True)
    assert [(r.booking_id, r.status) for r in WorkflowRun.select()] == [(booking.id, "scheduled")]
    definitions.set_enabled(host, workflow.id, False)
    assert WorkflowRun.select().count() == 0


def test_recurring_occurrences_get_a_run_each(host, et):
    group = "series1"
    rows = [factories.booking_row(et, START + timedelta(days=7 * week), recurring_group_id=group) for week in range(3)]
    make_workflow(host, "before_meeting", 60, name="Reminder")
    assert sorted(r.booking_id for r in WorkflowRun.select()) == sorted(row.id for row in rows)


def test_firing_many_runs_in_batches_queues_each_action_once(host, et):
    workflow = make_workflow(host, "before_meeting", 60, name="Reminder", enabled=False)
    rows = [factories.booking_row(et, START + timedelta(minutes=minute)) for minute in range(600)]
    definitions.set_enabled(host, workflow.id, True)
    assert WorkflowRun.select().count() == len(rows)
    assert runs.fire_due(now=START + timedelta(days=1), batch=250) == len(rows)
    assert WorkflowRunAction.select().count() == len(rows)
    assert OutboxMessage.select().where(OutboxMessage.kind == "workflow_action").count() == len(rows)


# --- actions: isolation, retries, history -----------------------------------------------------------------------------
def test_a_failing_action_does_not_stop_the_others(host, et, queue, app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with WebhookReceiver() as receiver:
        receiver.script(500)
        make_workflow(host, actions_=[ActionInput(kind="webhook", url=receiver.url()), email_action()])
        book(et)
        run_events(queue)
        now = datetime.now(UTC)
        run_actions(queue, now)
        by_kind = {r.kind: r for r in WorkflowRunAction.select()}
        assert by_kind["email"].status == "sent"
        assert by_kind["webhook"].status == "queued" and "HTTP 500" in by_kind["webhook"].error
        receiver.script(200)
        run_actions(queue, now + timedelta(seconds=11))                  # the webhooks' schedule: 10 s
        assert WorkflowRunAction.get(WorkflowRunAction.kind == "webhook").status == "sent"
        assert len(receiver.wait_for(2)) == 2


def test_a_permanent_webhook_failure_stops_and_is_explained(host, et, queue, app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with WebhookReceiver() as receiver:
        receiver.script(410)
        workflow = make_workflow(host, actions_=[ActionInput(kind="webhook", url=receiver.url())])
        book(et)
        run_events(queue)
        run_actions(queue)
        result = WorkflowRunAction.get()
        assert result.status == "failed" and "HTTP 410" in result.error
        history = definitions.history(workflow)
        assert [(h.action, h.status) for h in history] == [("Call Webhook", "failed")]


def test_the_webhook_action_signs_the_envelope(host, et, queue, app):
    from tests.fakes.webhooks import verify_both

    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with WebhookReceiver() as receiver:
        workflow = make_workflow(host, actions_=[ActionInput(kind="webhook", url=receiver.url())])
        booking = book(et)
        run_events(queue)
        run_actions(queue)
        received = receiver.wait_for(1)[0]
        secret = definitions.webhook_secret(definitions.actions_of(workflow)[0])
        body = verify_both(received, secret)
        assert body["event"] == "booking.created" and body["data"]["id"] == booking.id
        assert body["data"]["workflow"]["id"] == workflow.id


def test_test_button_sends_to_the_host_and_says_what_happened(host, et, queue):
    workflow = make_workflow(host, actions_=[email_action(recipient="invitee")])
    results = trial.test_workflow(host, workflow.id)
    assert [(r.action, r.status) for r in results] == [("Send Email", "sent")]
    assert emails()[-1]["to"] == [host.email] and emails()[-1]["subject"].startswith("[Test] ")


def test_several_consumers_never_fire_one_run_twice(host, et, app, queue):
    import threading

    from app.db import db

    workflow = make_workflow(host, "before_meeting", 60, name="Reminder", enabled=False)
    rows = [factories.booking_row(et, START + timedelta(minutes=minute)) for minute in range(240)]
    definitions.set_enabled(host, workflow.id, True)
    start, fired, failures = threading.Barrier(4), [], []

    def consumer():
        try:
            with app.app_context(), db.connection_context():
                start.wait()
                fired.append(runs.fire_due(now=START + timedelta(days=1), batch=25))
        except Exception as exc:   # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and sum(fired) == len(rows)
    assert WorkflowRunAction.select().count() == len(rows)
    assert WorkflowRun.select().where(WorkflowRun.status == "scheduled").count() == 0


def test_a_hanging_receiver_is_paused_after_timeouts_in_a_row(host, et, queue, app):
    """As outgoing webhooks: each timeout holds one webhook worker once; from the third in a row the action's
    endpoint is paused and due attempts are not sent (the other accounts' actions keep the workers)."""
    from app.models import WorkflowAction
    from tests.fakes.webhooks import HangingReceiver

    app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_TIMEOUT=0.5, WEBHOOK_CONNECT_TIMEOUT=0.5)
    with HangingReceiver() as hanging:
        make_workflow(host, actions_=[ActionInput(kind="webhook", url=hanging.url())])
        for n in range(4):
            book(et, START + timedelta(hours=n), email=f"guest{n}@example.com")
        run_events(queue)
        run_actions(queue)
        assert hanging.accepted == 3
        action = WorkflowAction.get()
        assert action.timeout_streak == 3 and action.paused_until is not None and action.busy_until is None
        errors = sorted(r.error or "" for r in WorkflowRunAction.select())
        assert sum("timed out 3 times in a row" in error for error in errors) == 1
        assert all(r.status == "queued" for r in WorkflowRunAction.select())     # retried later, not lost


def test_a_second_request_to_a_busy_action_endpoint_waits_its_turn(host, et, queue, app):
    from app.models import WorkflowAction

    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with WebhookReceiver() as receiver:
        make_workflow(host, actions_=[ActionInput(kind="webhook", url=receiver.url())])
        book(et)
        run_events(queue)
        now = datetime.now(UTC)
        WorkflowAction.update(busy_since=now - timedelta(seconds=5), busy_until=now + timedelta(seconds=25)).execute()
        assert run_actions(queue, now) == ["postponed"]
        message = OutboxMessage.get(OutboxMessage.kind == "workflow_hook")
        assert message.attempts == 0 and WorkflowRunAction.get().status == "queued" and not receiver.received
        WorkflowAction.update(busy_since=None, busy_until=None).execute()
        assert run_actions(queue, message.next_attempt_at + timedelta(seconds=1)) == ["done"]
        assert WorkflowRunAction.get().status == "sent" and len(receiver.wait_for(1)) == 1
