"""What workflow actions do: Send Email, Send SMS, Send Slack Message, Call Webhook (spec page 12), and AI Voice Call
(spec page 10: ``app.services.voice.outbound`` checks and places the call).

A fired run gets one ``WorkflowRunAction`` per action with one outbox row each (``queue_many``), so every action
has its own retries and one failing never stops another, nor any other workflow. Email and SMS rows run on the
default lane; Slack and webhook rows, which wait on endpoints the host chose, on the webhook lane
(``app/queue.py``), so a hanging receiver never holds the workers that send everybody's email.

``WORKFLOW_ACTIONS`` maps each kind to its performer ``fn(job) -> Sent`` (raising ``Skip`` for a run that has
nothing to do, ``TemplateFailed`` or an ``IntegrationError``); ``perform`` records the outcome on the action row,
the run history hosts read: sent (with the remote id: Twilio's message SID), skipped or failed, with the reason in
plain words. Transient failures retry with back-off (the webhook action on the outgoing webhooks' schedule);
permanent ones stop at once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from flask import current_app

from app import queue
from app.db import after_commit, transaction
from app.ids import new_id
from app.integrations import slack_webhooks, twilio_sms
from app.integrations.errors import PermanentError, TransientError
from app.models import (
    Booking,
    OutboxMessage,
    Workflow,
    WorkflowAction,
    WorkflowRun,
    WorkflowRunAction,
)
from app.models.base import utcnow
from app.services import events, opt_outs, outbox
from app.services.booking import payments
from app.services.booking.bookings import add_activity, booking_payload
from app.services.booking.team_bookings import hosts_of_booking
from app.services.developer import webhook_delivery
from app.services.mailer import queue_email
from app.services.plans import limits_for
from app.services.voice import outbound
from app.services.workflows import loading, templating
from app.statements import Param, Statement

log = logging.getLogger(__name__)

SEND_BATCH = 20                                # default-lane rows per queue task (enqueue_rows)
BATCH_TASK = "perform_workflow_actions"        # tasks/workflows.py
KIND_ROWS = {"email": "workflow_action", "sms": "workflow_action", "slack": "workflow_hook",
             "webhook": "workflow_hook", "ai_call": "workflow_action"}
INSERT_CHUNK = 90                              # rows per INSERT (SQLite allows 999 parameters in older builds)
RETRY_DELAYS = (60, 300, 1800, 7200)           # seconds after attempts 1..4 (email, SMS, Slack)
WORKFLOW_EVENTS = {"booking_created": "booking.created", "booking_cancelled": "booking.cancelled",
                   "booking_rescheduled": "booking.rescheduled", "payment_received": "payment.received",
                   "before_meeting": "workflow.before_meeting", "after_meeting": "workflow.after_meeting"}


class Skip(Exception):
    """Nothing to send for this booking (no phone number, an opted-out number ...): recorded as skipped."""


@dataclass
class Job:
    result: WorkflowRunAction | None       # None for a test run
    action: WorkflowAction
    workflow: Workflow
    booking: Booking
    values: dict
    now: datetime
    test: bool = False
    phone: str | None = None               # the test run's number
    attempt: int = 1                       # of its outbox row (claims counted, this one included)


@dataclass
class Sent:
    note: str                              # what happened, for the history and the Test panel
    remote_id: str | None = None


# --- queueing ---------------------------------------------------------------------------------------------------
def queue_actions(run: WorkflowRun, workflow: Workflow, now: datetime) -> None:
    queue_many([(run, workflow)], now)


def queue_many(pairs: list[tuple[WorkflowRun, Workflow]], now: datetime) -> None:
    """One action row and one outbox row per action of each fired run (in the caller's transaction), written with
    multi-row INSERTs; the outbox rows are queued once it commits (``enqueue_rows``)."""
    if not pairs:
        return
    by_workflow: dict[str, list[WorkflowAction]] = {}
    for action in (WorkflowAction.select().where(WorkflowAction.workflow.in_({w.id for _, w in pairs}))
                   .order_by(WorkflowAction.position, WorkflowAction.created_at)):
        by_workflow.setdefault(action.workflow_id, []).append(action)
    results, messages, queued = [], [], []
    written = utcnow()
    for run, workflow in pairs:
        for action in by_workflow.get(workflow.id, []):
            result_id, skipped = new_id(), bool(action.disabled_reason)
            results.append({"id": result_id, "run": run.id, "action": action.id, "kind": action.kind,
                            "status": "skipped" if skipped else "queued",
                            "error": action.disabled_reason if skipped else None, "attempts": 0,
                            "created_at": now, "finished_at": now if skipped else None})
            if not skipped:
                message_id = new_id()
                messages.append({"id": message_id, "kind": KIND_ROWS[action.kind],
                                 "payload": json.dumps({"resultId": result_id}), "user_id": workflow.user_id,
                                 "created_at": written, "attempts": 0, "next_attempt_at": written})
                queued.append((message_id, KIND_ROWS[action.kind], result_id))
    # many rows per INSERT: a batch of 500 runs is a dozen statements, not one per row
    for model, rows in ((WorkflowRunAction, results), (OutboxMessage, messages)):
        for start in range(0, len(rows), INSERT_CHUNK):
            model.insert_many(rows[start:start + INSERT_CHUNK]).execute()
    if queued:
        after_commit(lambda: enqueue_rows(queued))


def enqueue_rows(rows: list[tuple[str, str, str]]) -> None:
    """Queue fired actions' outbox rows (message id, kind, action row id): the default lane's (email, SMS) as tasks
    of ``SEND_BATCH`` rows each (``perform_workflow_actions``: one dequeue and one load for many texts), the
    others one task per row on their lane, as ``outbox.add`` does. Each row is still claimed, retried and marked
    done on its own (``outbox.process``); a batch that cannot be queued is queued row by row."""
    batched = [(message_id, result_id) for message_id, kind, result_id in rows if outbox.lane_of(kind) == "default"]
    for message_id, kind, _ in rows:
        if outbox.lane_of(kind) != "default":
            outbox._enqueue(message_id, kind=kind)
    for start in range(0, len(batched), SEND_BATCH):
        chunk = batched[start:start + SEND_BATCH]
        try:
            queue.enqueue(BATCH_TASK, [list(pair) for pair in chunk])
        except Exception:
            log.warning("could not queue a batch of %d workflow actions; queueing them one by one", len(chunk),
                        exc_info=True)
            for message_id, _ in chunk:
                outbox._enqueue(message_id, kind="workflow_action")


# --- carrying one out --------------------------------------------------------------------------------------------
_FINISH: dict[tuple[bool, bool], Statement] = {}


def _finish_statement(with_remote_id: bool, with_attempts: bool) -> Statement:
    def build():
        fields = {WorkflowRunAction.status: Param("status", WorkflowRunAction.status),
                  WorkflowRunAction.error: Param("error", WorkflowRunAction.error),
                  WorkflowRunAction.finished_at: Param("finished_at", WorkflowRunAction.finished_at)}
        if with_remote_id:
            fields[WorkflowRunAction.remote_id] = Param("remote_id", WorkflowRunAction.remote_id)
        if with_attempts:
            fields[WorkflowRunAction.attempts] = Param("attempts", WorkflowRunAction.attempts)
        return (WorkflowRunAction.update(fields)
                .where((WorkflowRunAction.id == Param("id")) & (WorkflowRunAction.status == "queued")))
    key = (with_remote_id, with_attempts)
    if key not in _FINISH:
        _FINISH[key] = Statement(build)
    return _FINISH[key]


def _finish(result: WorkflowRunAction, status: str, error: str | None = None, *, remote_id: str | None = None,
            attempts: int | None = None) -> bool:
    """Record the outcome once: only a row still queued changes (a second worker finds it done)."""
    values = {"id": result.id, "status": status, "error": error, "finished_at": utcnow()}
    if remote_id is not None:
        values["remote_id"] = remote_id
    if attempts is not None:
        values["attempts"] = attempts
    return _finish_statement(remote_id is not None, attempts is not None).execute(**values) == 1


def _next_retry(job: Job, message: OutboxMessage, now: datetime, retry_after: datetime | None = None
                ) -> datetime | None:
    if job.action.kind == "webhook":
        return webhook_delivery.next_attempt_at(message.created_at, message.attempts, now, retry_after)
    if message.attempts > len(RETRY_DELAYS):
        return None
    when = now + timedelta(seconds=RETRY_DELAYS[message.attempts - 1])
    return max(when, retry_after) if retry_after else when


class Retry(Exception):
    def __init__(self, message: str, retry_after: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def perform(result_id: str, message: OutboxMessage, now: datetime) -> None:
    result, action, workflow, booking = loading.load(result_id)
    if result is None or result.status != "queued":
        return                                   # done by an earlier attempt, or the workflow was deleted
    if action is None or booking is None or workflow is None:
        _finish(result, "skipped", "The action was deleted before it ran.")
        return
    values = loading.variables(booking, only=templating.names_in(*loading.texts_of(action)))
    job = Job(result=result, action=action, workflow=workflow, booking=booking, values=values, now=now,
              attempt=message.attempts)
    try:
        sent = WORKFLOW_ACTIONS[action.kind](job)
    except Skip as exc:
        _finish(result, "skipped", str(exc), attempts=message.attempts)
    except templating.TemplateFailed as exc:
        _finish(result, "failed", str(exc), attempts=message.attempts)
    except (Retry, TransientError) as exc:
        retry_at = _next_retry(job, message, now, getattr(exc, "retry_after", None))
        if retry_at is None:
            _finish(result, "failed", f"Gave up after {message.attempts} attempts: {exc}", attempts=message.attempts)
            return
        (WorkflowRunAction.update(error=f"Attempt {message.attempts} failed ({exc}); trying again at "
                                        f"{events.iso(retry_at)}.", attempts=message.attempts)
         .where(WorkflowRunAction.id == result.id).execute())
        raise outbox.RetryAt(retry_at, str(exc)) from exc
    except PermanentError as exc:
        _finish(result, "failed", str(exc), attempts=message.attempts)
        after = PERMANENT_HOOKS.get(action.kind)
        if after is not None:
            after(job, exc)
    else:
        if sent is not None:       # the email performer records its own outcome with the queued message
            _finish(result, "sent", None, remote_id=sent.remote_id, attempts=message.attempts)


@outbox.handler("workflow_action", pass_message=True)
def _perform_action(payload: dict, message: OutboxMessage, now: datetime) -> None:
    perform(payload["resultId"], message, now)


@outbox.handler("workflow_hook", pass_message=True, lane="webhooks")
def _perform_hook(payload: dict, message: OutboxMessage, now: datetime) -> None:
    perform(payload["resultId"], message, now)


# --- the performers -----------------------------------------------------------------------------------------------
def _email(job: Job) -> Sent | None:
    config = job.action.config
    recipient = config.get("recipient", "invitee")
    host = job.booking.user
    if job.test:
        to, reply_to = [job.workflow.user.email], None
    elif recipient == "host":
        to, reply_to = [user.email for user in hosts_of_booking(job.booking)], job.booking.invitee_email
    elif recipient == "address":
        to, reply_to = [config.get("address")], host.email
    else:
        to, reply_to = [job.booking.invitee_email], host.email
    subject = " ".join(templating.render_text(config.get("subject", ""), job.values).split())[:200]
    text = templating.render_text(config.get("body", ""), job.values)
    html = templating.render_html(config.get("body", ""), job.values)
    if job.test:
        queue_email(to, f"[Test] {subject}", "workflow_email", user_id=host.id, text=text, html=html)
        return Sent(f"Email queued to {to[0]} (a test goes to you)")
    with transaction():
        if _finish(job.result, "sent", None):
            queue_email(to, subject, "workflow_email", user_id=host.id, reply_to=reply_to,
                        booking_id=job.booking.id, text=text, html=html)
            add_activity(job.booking.id, "workflow", f"Workflow “{job.workflow.name}”: email queued to "
                                                     f"{', '.join(to)}")
    return None


def _sms_number(job: Job) -> str:
    if job.test:
        if not job.phone:
            raise Skip("Enter a phone number to send a test text.")
        number = twilio_sms.normalize_phone(job.phone)
        if number is None:
            raise Skip("That test number is not a valid phone number.")
        return number
    if job.action.config.get("recipient") == "host":
        number = twilio_sms.normalize_phone(job.action.config.get("phone"))
        if number is None:
            raise Skip("The host's phone number in this action is not valid.")
        return number
    candidates = [job.booking.invitee_phone]
    questions = (job.booking.event_type.questions or []) if job.booking.event_type_id else []
    answers = job.booking.answers or {}
    candidates += [answers.get(q.get("id")) for q in questions if q.get("type") == "phone"]
    for raw in candidates:
        if isinstance(raw, str) and raw.strip():
            number = twilio_sms.normalize_phone(raw)
            if number is not None:
                return number
            raise Skip(f"The invitee's phone number ({raw.strip()}) is not a valid number.")
    raise Skip("The invitee gave no phone number.")


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def sms_sent_this_month(user_id: str, now: datetime) -> int:
    """The account's texts sent this month, counted (a scan of the month's action rows)."""
    start = _month_start(now)
    return (WorkflowRunAction.select().join(WorkflowRun).join(Workflow)
            .where((Workflow.user == user_id) & (WorkflowRunAction.kind == "sms")
                   & WorkflowRunAction.status.in_(("sent", "delivered")) & (WorkflowRunAction.finished_at >= start))
            .count())


# The monthly cap without a count of the month's texts before every text (a scan that grows with the month: 10,000
# reminders due at once spent most of their time counting): far below the cap, a process keeps its last count for
# SMS_COUNT_FRESH seconds and adds the texts it sent since; within SMS_COUNT_MARGIN of the cap it counts before
# every text, as before. Other processes' texts are seen at the next count, so an account can only pass the cap by
# what other processes sent within SMS_COUNT_FRESH seconds beyond the margin.
SMS_COUNT_MARGIN = 100
SMS_COUNT_FRESH = 15.0
_sms_counts: dict[tuple[str, datetime], tuple[int, float]] = {}      # (account, month) -> (texts, counted at)
_sms_counts_lock = threading.Lock()


def _sms_count(user_id: str, now: datetime, cap: int) -> int:
    key = (user_id, _month_start(now))
    with _sms_counts_lock:
        known = _sms_counts.get(key)
    if known is not None and known[0] + SMS_COUNT_MARGIN < cap and time.monotonic() - known[1] < SMS_COUNT_FRESH:
        return known[0]
    count = sms_sent_this_month(user_id, now)
    with _sms_counts_lock:
        _sms_counts[key] = (count, time.monotonic())
    return count


def _sms_counted(user_id: str, now: datetime) -> None:
    key = (user_id, _month_start(now))
    with _sms_counts_lock:
        known = _sms_counts.get(key)
        if known is not None:
            _sms_counts[key] = (known[0] + 1, known[1])


def _sms(job: Job) -> Sent:
    if not twilio_sms.configured():
        raise Skip("SMS is not configured on this LinkTime instance.")
    if not limits_for(job.workflow.user).sms_actions:
        raise Skip("SMS actions need the Pro plan or higher.")
    number = _sms_number(job)
    if opt_outs.opted_out(number):
        raise Skip(f"{number} replied STOP: LinkTime does not text it until it replies START.")
    cap = int(current_app.config["SMS_MONTHLY_CAP"])
    if not job.test and _sms_count(job.workflow.user_id, job.now, cap) >= cap:
        raise Skip(f"This account reached its monthly limit of {cap} texts; texting resumes next month.")
    body = templating.render_text(job.action.config.get("body", ""), job.values).strip()[:1600]
    if not body:
        raise Skip("The text came out empty.")
    callback = f"{current_app.config['BASE_URL']}/api/webhooks/twilio/status"
    if job.result is not None and (job.attempt > 1 or job.result.attempts):
        # an earlier attempt (its outbox claim counted it) may have reached Twilio before its worker died
        earlier = twilio_sms.sent_since(number, body, job.result.created_at - timedelta(minutes=1))
        if earlier is not None:
            return Sent(f"Text sent to {number}", remote_id=earlier)
    try:
        sid = twilio_sms.send_sms(number, body, status_callback=callback)
    except twilio_sms.TwilioError as exc:
        if exc.code == 21610:
            opt_outs.opt_out(number)
        raise
    if not job.test:
        _sms_counted(job.workflow.user_id, job.now)
    return Sent(f"Text sent to {number}", remote_id=sid)


def _slack(job: Job) -> Sent:
    if not job.action.secret:
        raise Skip("No Slack webhook URL is stored for this action.")
    url = current_app.extensions["linktime_encryptor"].decrypt(job.action.secret)
    text = templating.render_slack(job.action.config.get("body", ""), job.values).strip()[:3000]
    if not text:
        raise Skip("The Slack message came out empty.")
    _holding_endpoint(job, lambda: slack_webhooks.post_message(
        url, {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}))
    return Sent("Posted to Slack")


def _timed_out(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.Timeout, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _holding_endpoint(job: Job, send: Callable[[], webhook_delivery.Outcome | None]) -> webhook_delivery.Outcome:
    """One request to a Slack or Call Webhook action's endpoint, as outgoing webhooks make theirs: one at a time per
    action (another is postponed, not counted as an attempt) and not at all while its circuit breaker is open after
    timeouts in a row, so a hanging receiver holds at most one webhook worker, never everybody's."""
    if job.test:
        return send() or webhook_delivery.Outcome(ok=True, retryable=False)
    action_id = job.action.id
    paused = webhook_delivery.paused_until(job.action, job.now)
    if paused is not None:
        raise Retry(f"not sent: the endpoint timed out {job.action.timeout_streak} times in a row, so LinkTime "
                    f"waits until {events.iso(paused)}", paused)
    claim = webhook_delivery.claim_endpoint(action_id, webhook_delivery.policy_from_config(), model=WorkflowAction)
    if claim.since is None:
        raise outbox.Postpone(claim.retry_at, "the endpoint is busy with another request of this action")
    outbox.keep_alive(lambda: webhook_delivery.renew_endpoint(action_id, claim.since, model=WorkflowAction))
    try:
        try:
            outcome = send() or webhook_delivery.Outcome(ok=True, retryable=False)
        except Exception as exc:
            webhook_delivery.note_outcome(action_id, webhook_delivery.Outcome(
                ok=False, retryable=True, timed_out=_timed_out(exc)), job.now, model=WorkflowAction)
            raise
        webhook_delivery.note_outcome(action_id, outcome, job.now, model=WorkflowAction)
        return outcome
    finally:
        webhook_delivery.release_endpoint(action_id, claim.since, model=WorkflowAction)


def _slack_revoked(job: Job, exc: Exception) -> None:
    """A revoked Slack webhook switches the action off and tells the host (once)."""
    if job.test or not isinstance(exc, slack_webhooks.SlackWebhookRevoked):
        return
    reason = f"Slack answered that the webhook no longer works ({exc})."
    with transaction():
        changed = (WorkflowAction.update(disabled_reason=reason)
                   .where((WorkflowAction.id == job.action.id) & WorkflowAction.disabled_reason.is_null()).execute())
        if changed:
            user = job.workflow.user
            queue_email(user.email, f"Slack action switched off: {job.workflow.name}", "workflow_action_disabled",
                        user_id=user.id, user=user, workflow_name=job.workflow.name, reason=reason,
                        link=f"{current_app.config['BASE_URL']}/dashboard/workflows/{job.workflow.id}")


def envelope_of(job: Job) -> dict:
    """The Call Webhook body: the envelope of outgoing webhooks (spec page 16) with the booking's data and the
    workflow that sent it."""
    trigger = job.workflow.trigger
    data = booking_payload(job.booking, job.booking.user,
                           job.booking.event_type if job.booking.event_type_id else None)
    data["workflow"] = {"id": job.workflow.id, "name": job.workflow.name, "trigger": trigger}
    if trigger == "payment_received" and not job.test:
        payment = payments.payment_of(job.booking)
        if payment is not None:
            data["payment"] = payments.payment_received(payment)
    return {"apiVersion": events.API_VERSION, "event": "workflow.test" if job.test else WORKFLOW_EVENTS[trigger],
            "timestamp": events.iso(job.now), "data": data}


def _webhook(job: Job) -> Sent:
    url = job.action.config.get("url")
    secret = current_app.extensions["linktime_encryptor"].decrypt(job.action.secret)
    envelope = envelope_of(job)
    body = webhook_delivery.body_bytes(envelope)
    message_id = job.result.id if job.result is not None else f"test_{int(time.time())}"
    headers = webhook_delivery.signed_headers(secret, body, event=envelope["event"],
                                              event_timestamp=envelope["timestamp"], message_id=message_id,
                                              sent_at=int(time.time()))
    outcome = _holding_endpoint(job, lambda: webhook_delivery.post(url, body, headers,
                                                                   webhook_delivery.policy_from_config(), job.now))
    if outcome.ok:
        return Sent(f"The endpoint answered HTTP {outcome.status_code}")
    if outcome.retryable and not job.test:
        raise Retry(_plain(outcome), outcome.retry_after)
    raise PermanentError(_plain(outcome))


def _plain(outcome: webhook_delivery.Outcome) -> str:
    if outcome.status_code is not None:
        return f"The endpoint answered HTTP {outcome.status_code}" + (f" ({outcome.error})" if outcome.error else "")
    return f"The endpoint could not be reached: {outcome.error or 'no answer'}"


def _ai_call(job: Job) -> Sent | None:
    """AI Voice Call: the checks and the call are ``voice.outbound``'s; a skip keeps its reason, and ElevenLabs'
    transient refusals retry on the actions' schedule (after its ``Retry-After`` when it gave one)."""
    try:
        if job.test:
            return Sent(outbound.test_call(job.workflow.user, job.booking, job.action.config or {}, phone=job.phone))
        placed = outbound.place_call(job.workflow.user, job.booking, job.action.config or {},
                                     result_id=job.result.id, now=job.now, workflow_name=job.workflow.name)
    except outbound.CallSkipped as exc:
        raise Skip(str(exc)) from exc
    except TransientError as exc:
        later = job.now + timedelta(seconds=exc.retry_after) if exc.retry_after else None
        raise Retry(str(exc), later) from exc
    return Sent(placed.note, remote_id=placed.remote_id) if placed.remote_id else None


WORKFLOW_ACTIONS: dict[str, Callable[[Job], Sent | None]] = {
    "email": _email, "sms": _sms, "slack": _slack, "webhook": _webhook, "ai_call": _ai_call,
}
PERMANENT_HOOKS: dict[str, Callable[[Job, Exception], None]] = {"slack": _slack_revoked}
