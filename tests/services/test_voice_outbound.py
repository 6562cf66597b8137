"""The workflows' AI Voice Call action (issue 21, spec page 10) against the local ElevenLabs fake: a call placed
with the account's agent and number to the right person, its CallLog, and every skip (opted-out number, no
minutes, no active agent with a number, no phone on the booking) with its reason in the run history; retries
never call twice; transient refusals retry and permanent ones fail with the reason.

Outbox rows run as they are committed (the queue is immediate in tests).
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from app.models import (
    BookingActivity,
    CallLog,
    OutboxMessage,
    PhoneNumber,
    SmsOptOut,
    VoiceAgent,
    WorkflowAction,
    WorkflowRunAction,
)
from app.services import outbox
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.voice import outbound
from app.services.workflows import definitions, trial
from app.services.workflows.definitions import ActionInput, WorkflowInput
from tests import factories
from tests.outbound_fixtures import call_log, calling_agent, fake_elevenlabs, forget_calls, voice_settings
from tests.payment_fixtures import next_tuesday

INVITEE_PHONE = "+14155550123"
START = next_tuesday(11)


@pytest.fixture(scope="module")
def elevenlabs_fake():
    yield from fake_elevenlabs()


@pytest.fixture
def setup(app_factory, elevenlabs_fake, make_user):
    forget_calls(elevenlabs_fake)
    app = app_factory(**voice_settings(elevenlabs_fake))
    with app.app_context():
        host = make_user("hana", plan="PRO", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        agent = calling_agent(host)
        yield app, host, event_type, agent


def ai_call(**config) -> ActionInput:
    return ActionInput(kind="ai_call", recipient=config.get("to", "invitee"), phone=config.get("phone", ""),
                       call_type=config.get("call_type", "reminder"), body=config.get("message", ""))


def workflow_with(host, action: ActionInput, trigger="booking_created"):
    return definitions.create_workflow(host, WorkflowInput(name="Call them", trigger=trigger, offset_minutes=60,
                                                           actions=[action]))


def book(event_type, start=START, **request):
    request.setdefault("invitee_phone", INVITEE_PHONE)
    return factories.booking(event_type, start, **request)


def calls_to(fake, number):
    with fake.lock:
        return [call for call in fake.calls if call["to_number"] == number]


def result():
    return WorkflowRunAction.get(WorkflowRunAction.kind == "ai_call")


def test_the_action_places_the_call_with_the_agent_and_its_number_and_logs_it(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow = workflow_with(host, ai_call(call_type="reminder"))
    assert definitions.actions_of(workflow)[0].config == {"to": "invitee", "customPhone": None,
                                                          "callType": "reminder", "customMessage": None}
    booking = book(event_type)

    [call] = calls_to(elevenlabs_fake, INVITEE_PHONE)
    number = PhoneNumber.get_by_id(agent.phone_number_id)
    assert call["agent_id"] == agent.elevenlabs_agent_id
    assert call["agent_phone_number_id"] == number.elevenlabs_phone_id
    data = call["conversation_initiation_client_data"]
    variables = data["dynamic_variables"]
    assert variables == {"booking_id": booking.id, "call_type": "reminder", "custom_message": "",
                         "host_name": host.name, "invitee_name": booking.invitee_name, "user_id": host.id,
                         "agent_id": agent.id, "booking_url": "http://localhost/hana",
                         "host_timezone": "Europe/Berlin", "agent_name": "Sales Agent"}
    first = data["conversation_config_override"]["agent"]["first_message"]
    assert "AI assistant" in first and "remind you of your Coaching" in first

    log = CallLog.get()
    assert (log.direction, log.conversation_id, log.call_sid, log.call_type, log.booking_id, log.caller_phone,
            log.agent_id, log.agent_phone, log.status) == (
        "outbound", call["conversation_id"], call["callSid"], "reminder", booking.id, INVITEE_PHONE, agent.id,
        number.e164, "IN_PROGRESS")
    row = result()
    assert (row.status, row.remote_id, row.error) == ("sent", call["conversation_id"], None)
    assert BookingActivity.select().where(BookingActivity.booking == booking.id,
                                          BookingActivity.message.contains("AI reminder call placed")).exists()
    [history] = definitions.history(workflow)
    assert (history.action, history.status) == ("AI Voice Call", "sent")


@pytest.mark.parametrize("call_type, words", [("confirmation", "confirm your Coaching"),
                                              ("follow_up", "following up on your Coaching"),
                                              ("custom", "Please bring your passport.")])
def test_each_call_type_has_its_first_message(setup, elevenlabs_fake, call_type, words):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call(call_type=call_type, message="Please bring your passport."))
    book(event_type, email=f"{call_type}@example.com", invitee_phone="+14155550177")
    call = calls_to(elevenlabs_fake, "+14155550177")[-1]
    data = call["conversation_initiation_client_data"]
    assert words in data["conversation_config_override"]["agent"]["first_message"]
    assert data["dynamic_variables"]["call_type"] == call_type
    assert CallLog.get().call_type == call_type


def test_the_host_or_a_custom_number_is_called_when_chosen(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call(to="custom", phone="+1 415 555 0188", call_type="confirmation"))
    book(event_type, invitee_phone=None)
    assert len(calls_to(elevenlabs_fake, "+14155550188")) == 1
    assert result().status == "sent" and CallLog.get().caller_phone == "+14155550188"


def test_an_opted_out_number_is_skipped_with_the_reason(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow = workflow_with(host, ai_call())
    SmsOptOut.create(phone=INVITEE_PHONE)
    before = len(elevenlabs_fake.calls)
    book(event_type)
    row = result()
    assert row.status == "skipped" and "replied STOP" in row.error and INVITEE_PHONE in row.error
    assert len(elevenlabs_fake.calls) == before and not CallLog.select().exists()
    assert definitions.history(workflow)[0].error == row.error


def test_an_account_without_minutes_left_is_skipped(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    call_log(host, datetime.now(UTC), agent=agent, duration=60 * 60 - 30)       # Pro: 60 minutes, 30 s left
    workflow_with(host, ai_call())
    before = len(elevenlabs_fake.calls)
    book(event_type)
    row = result()
    assert row.status == "skipped" and "minutes are used up" in row.error
    assert len(elevenlabs_fake.calls) == before and CallLog.select().count() == 1


@pytest.mark.parametrize("change", ["inactive", "deleted", "no_number", "number_held", "not_imported"])
def test_no_active_agent_with_a_number_is_skipped(setup, elevenlabs_fake, change):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())                 # saved while the agent could call
    if change == "inactive":
        VoiceAgent.update(is_active=False).where(VoiceAgent.id == agent.id).execute()
    elif change == "deleted":
        VoiceAgent.update(is_active=False, deleted_at=datetime.now(UTC)).where(VoiceAgent.id == agent.id).execute()
    elif change == "no_number":
        VoiceAgent.update(phone_number=None).where(VoiceAgent.id == agent.id).execute()
    elif change == "number_held":
        PhoneNumber.update(status="held").where(PhoneNumber.id == agent.phone_number_id).execute()
    else:
        PhoneNumber.update(elevenlabs_phone_id=None).where(PhoneNumber.id == agent.phone_number_id).execute()
    before = len(elevenlabs_fake.calls)
    book(event_type)
    row = result()
    assert row.status == "skipped"
    assert row.error == "No active voice agent with a phone number: the call was not placed."
    assert len(elevenlabs_fake.calls) == before


@pytest.mark.parametrize("phone, reason", [(None, "The invitee gave no phone number"),
                                           ("+999 123 4567", "is not a valid number")])
def test_a_booking_without_a_phone_is_skipped(setup, elevenlabs_fake, phone, reason):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    before = len(elevenlabs_fake.calls)
    book(event_type, invitee_phone=phone)
    row = result()
    assert row.status == "skipped" and reason in row.error
    assert len(elevenlabs_fake.calls) == before


def _run_again(now=None):
    message = OutboxMessage.get(OutboxMessage.kind == "workflow_action")
    OutboxMessage.update(done_at=None, failed_at=None, next_attempt_at=now or datetime.now(UTC)).where(
        OutboxMessage.id == message.id).execute()
    return outbox.process(message.id, max_attempts=5, retry_delay=60, now=now)


def test_a_retry_after_the_call_was_placed_does_not_call_again(setup, elevenlabs_fake):
    """The worker died after the call was recorded but before the action was marked sent: the retry finds the
    conversation id on the action row and calls nobody."""
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    book(event_type)
    row = result()
    assert row.status == "sent" and len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1
    WorkflowRunAction.update(status="queued", finished_at=None).where(WorkflowRunAction.id == row.id).execute()
    assert _run_again() == "done"
    again = WorkflowRunAction.get_by_id(row.id)
    assert again.status == "sent" and again.remote_id == row.remote_id
    assert len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1 and CallLog.select().count() == 1


def test_a_retry_after_an_unanswered_request_does_not_call_again(setup, elevenlabs_fake):
    """The worker died while ElevenLabs was being asked (the row is still marked pending): the call may have been
    placed, so the retry fails saying so instead of calling a second time."""
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    book(event_type)
    row = result()
    WorkflowRunAction.update(status="queued", finished_at=None, remote_id=outbound.PENDING).where(
        WorkflowRunAction.id == row.id).execute()
    assert _run_again() == "done"
    again = WorkflowRunAction.get_by_id(row.id)
    assert again.status == "failed" and "does not call again" in again.error
    assert len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1


def test_a_transient_refusal_retries_and_then_calls_once(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    elevenlabs_fake.fail(503)
    book(event_type)
    row = result()
    assert row.status == "queued" and row.error.startswith("Attempt 1 failed") and row.remote_id is None
    assert not calls_to(elevenlabs_fake, INVITEE_PHONE)
    assert _run_again(datetime.now(UTC) + timedelta(minutes=2)) == "done"
    assert result().status == "sent" and len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1


def test_a_rate_limit_waits_for_retry_after(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    elevenlabs_fake.fail(429, retry_after="600")
    book(event_type)
    message = OutboxMessage.get(OutboxMessage.kind == "workflow_action")
    waited = (message.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert result().status == "queued" and 500 < waited <= 600


def test_a_permanent_refusal_fails_with_the_reason(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    elevenlabs_fake.fail(400)
    book(event_type)
    row = result()
    assert row.status == "failed" and "ElevenLabs answered 400" in row.error and row.remote_id is None
    assert not calls_to(elevenlabs_fake, INVITEE_PHONE) and not CallLog.select().exists()


def test_the_test_button_checks_but_never_calls(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow = workflow_with(host, ai_call())
    before = len(elevenlabs_fake.calls)
    [checked] = trial.test_workflow(host, workflow.id, phone="+1 415 555 0199")
    assert (checked.action, checked.status) == ("AI Voice Call", "sent")
    assert "Checks passed" in checked.detail and "+14155550199" in checked.detail
    [asked] = trial.test_workflow(host, workflow.id)
    assert asked.status == "skipped" and "Enter a phone number" in asked.detail
    assert len(elevenlabs_fake.calls) == before and not CallLog.select().exists()


# --- who may add the action ------------------------------------------------------------------------------------
def test_the_action_needs_pro_and_a_calling_agent(setup, make_user):
    app, host, event_type, agent = setup
    free = make_user("fred")
    with pytest.raises(PlanLimitReached) as caught:
        workflow_with(free, ai_call())
    assert "Free plan does not include AI voice calls" in str(caught.value)
    [choice] = [c for c in definitions.action_choices(free) if c.kind == "ai_call"]
    assert not choice.available and "Pro plan" in choice.note

    pro = make_user("paula", plan="PRO")
    with pytest.raises(ValidationFailed) as caught:
        workflow_with(pro, ai_call())
    assert caught.value.errors["actions-0-kind"] == outbound.NO_AGENT
    [choice] = [c for c in definitions.action_choices(pro) if c.kind == "ai_call"]
    assert not choice.available and choice.note == outbound.NO_AGENT

    [choice] = [c for c in definitions.action_choices(host) if c.kind == "ai_call"]
    assert choice.available and choice.note is None


def test_a_stored_action_stays_editable_when_the_agent_is_gone(setup):
    app, host, event_type, agent = setup
    workflow = workflow_with(host, ai_call())
    VoiceAgent.update(is_active=False).where(VoiceAgent.id == agent.id).execute()
    data = definitions.input_of(workflow)
    data.name = "Renamed"
    assert definitions.update_workflow(host, workflow.id, data).name == "Renamed"
    data.actions.append(ai_call(call_type="follow_up"))
    with pytest.raises(ValidationFailed) as caught:
        definitions.update_workflow(host, workflow.id, data)
    assert set(caught.value.errors) == {"actions-1-kind"}


def test_the_action_is_validated(setup):
    app, host, event_type, agent = setup
    with pytest.raises(ValidationFailed) as caught:
        definitions.create_workflow(host, WorkflowInput(name="Bad", trigger="booking_created", actions=[
            ai_call(to="custom", phone="12"), ai_call(call_type="shout"), ai_call(call_type="custom"),
            ai_call(to="nobody"), ai_call(message="x" * 501)]))
    assert set(caught.value.errors) == {"actions-0-phone", "actions-1-call_type", "actions-2-body",
                                        "actions-3-recipient", "actions-4-body"}


def test_without_elevenlabs_settings_the_action_is_absent(app_factory, make_user):
    app = app_factory(ELEVENLABS_API_KEY="", ELEVENLABS_WEBHOOK_SECRET="", ELEVENLABS_SIGNING_SECRET="")
    with app.app_context():
        host = make_user("hana", plan="PRO")
        assert "ai_call" not in [c.kind for c in definitions.action_choices(host)]
        with pytest.raises(ValidationFailed) as caught:
            workflow_with(host, ai_call())
        assert "not configured" in caught.value.errors["actions-0-kind"]


def test_a_stored_action_of_an_instance_without_voice_is_skipped(setup, elevenlabs_fake):
    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    app.config["ELEVENLABS_API_KEY"] = ""
    try:
        book(event_type)
    finally:
        app.config["ELEVENLABS_API_KEY"] = elevenlabs_fake.api_key
    row = result()
    assert row.status == "skipped" and "not configured" in row.error
    assert WorkflowAction.select().count() == 1


def test_an_unanswered_request_fails_rather_than_risk_a_second_call(setup, elevenlabs_fake):
    """ElevenLabs took the request but did not answer in time (it placed the call afterwards): LinkTime cannot know,
    so the action fails saying so, and running it again calls nobody."""
    app, host, event_type, agent = setup
    app.config["INTEGRATION_HTTP_TIMEOUT"] = 1
    workflow_with(host, ai_call())
    elevenlabs_fake.hang(3)
    book(event_type)
    row = result()
    assert row.status == "failed" and "may have been placed" in row.error and row.remote_id == outbound.PENDING
    deadline = time.monotonic() + 10
    while not calls_to(elevenlabs_fake, INVITEE_PHONE) and time.monotonic() < deadline:   # wait: the late call lands
        time.sleep(0.05)
    assert len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1
    WorkflowRunAction.update(status="queued", finished_at=None).where(WorkflowRunAction.id == row.id).execute()
    assert _run_again() == "done"
    assert result().status == "failed" and len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1


def test_an_unreachable_elevenlabs_is_retried(setup, elevenlabs_fake):
    """Nothing listens at the address: the request never left, so the action is retried like other actions."""
    from tests.conftest import free_port

    app, host, event_type, agent = setup
    workflow_with(host, ai_call())
    app.config["ELEVENLABS_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    try:
        book(event_type)
    finally:
        app.config["ELEVENLABS_API_BASE"] = elevenlabs_fake.url
    row = result()
    assert row.status == "queued" and row.error.startswith("Attempt 1 failed") and row.remote_id is None
    assert _run_again(datetime.now(UTC) + timedelta(minutes=2)) == "done"
    assert result().status == "sent" and len(calls_to(elevenlabs_fake, INVITEE_PHONE)) == 1
