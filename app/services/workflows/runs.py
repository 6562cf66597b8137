"""When workflows fire: a consumer of the booking lifecycle and of ``payment.received``, and durable timed runs.

Immediate triggers (Booking Created / Cancelled / Rescheduled, Payment Received) fire in the fan-out of the change
that caused them: one ``WorkflowRun`` keyed by the event's id, its action rows and their outbox rows, all in the
fan-out's transaction, so a repeated fan-out finds the run and does nothing.

Timed triggers (Before / After Meeting) are ``scheduled`` runs with a ``due_at``, keyed by the meeting's start (so an
edited offset never fires a run twice for the same meeting, and a meeting moved to another time gets its own run):
- a confirmed booking schedules one per matching timed workflow; made inside a Before offset, it is due at once
  when the meeting has not started yet (and never once it has);
- a reschedule moves the pending ones, a cancellation deletes them;
- enabling a workflow, or editing its trigger, offset or event types, schedules again for the upcoming bookings
  (``reschedule``); disabling or deleting it drops what is pending;
- recurring series: every occurrence is its own booking, with its own runs.

``fire_due`` (the periodic task, every minute) claims due runs in batches and, in the claiming transaction, turns
each into its action rows and outbox rows, then marks it fired: after ``kill -9`` a run is either still scheduled
or fired with its actions queued, never both, never lost. PostgreSQL consumers claim with ``FOR UPDATE SKIP
LOCKED`` so several processes share the work without ever taking the same run; SQLite takes the write lock at
BEGIN (``transaction(immediate=True)``).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.db import is_postgres, transaction
from app.ids import new_id
from app.models import Booking, Workflow, WorkflowAction, WorkflowEventType, WorkflowRun
from app.models.base import utcnow
from app.models.workflows import TIMED_TRIGGERS
from app.services import events
from app.services.booking import lifecycle

log = logging.getLogger(__name__)

CHANGE_TRIGGERS = {"booking.created": "booking_created", "booking.cancelled": "booking_cancelled",
                   "booking.rescheduled": "booking_rescheduled"}
BATCH = 500


# --- which workflows apply ----------------------------------------------------------------------------------
def _applies(workflow_ids_query, booking: Booking):
    """Of the workflows selected, those that apply to ``booking``'s event type."""
    linked = (WorkflowEventType.select(WorkflowEventType.workflow)
              .where(WorkflowEventType.event_type == booking.event_type_id))
    return workflow_ids_query.where(Workflow.all_event_types | Workflow.id.in_(linked))


def workflows_for(booking: Booking, triggers: tuple[str, ...]) -> list[Workflow]:
    """The enabled workflows of ``booking``'s account whose trigger is one of ``triggers`` and that apply to its
    event type."""
    query = Workflow.select().where((Workflow.user == booking.user_id) & Workflow.enabled
                                    & Workflow.trigger.in_(triggers))
    return list(_applies(query, booking).order_by(Workflow.created_at))


# --- firing ---------------------------------------------------------------------------------------------------
def _insert_run(workflow: Workflow, booking: Booking, due_key: str, due_at: datetime, status: str,
                now: datetime) -> WorkflowRun | None:
    """A new run, or None when this workflow already has one for this booking and key."""
    run_id = new_id()
    WorkflowRun.insert(id=run_id, workflow=workflow.id, booking=booking.id, due_key=due_key[:80], due_at=due_at,
                       status=status, created_at=now, fired_at=now if status == "fired" else None
                       ).on_conflict_ignore().execute()
    return WorkflowRun.get_or_none(WorkflowRun.id == run_id)


def fire_now(workflow: Workflow, booking: Booking, due_key: str, now: datetime) -> WorkflowRun | None:
    """Fire ``workflow`` for ``booking`` at once (in the caller's transaction), once per ``due_key``."""
    from app.services.workflows import actions

    run = _insert_run(workflow, booking, due_key, now, "fired", now)
    if run is not None:
        actions.queue_actions(run, workflow, now)
    return run


@events.subscribe(lifecycle.READY)
def _on_ready(message_id: str, ready: dict) -> None:
    booking = lifecycle.booking_of(ready)
    if booking is None:
        return
    trigger = CHANGE_TRIGGERS.get(ready["change"])
    now = utcnow()
    key = f"{trigger}:{ready.get('eventId') or message_id}"
    if trigger == "booking_created" and booking.status != "CONFIRMED":
        trigger = None          # cancelled before its fan-out: Booking Cancelled says it all
    if trigger is not None:
        for workflow in workflows_for(booking, (trigger,)):
            fire_now(workflow, booking, key, now)
    if ready["change"] == "booking.cancelled" or booking.status != "CONFIRMED":
        drop_pending(booking)
    elif ready["change"] == "booking.created":
        schedule_booking(booking, now=now)
    elif ready["change"] == "booking.rescheduled":
        move_pending(booking, now=now)


@events.subscribe("payment.received")
def _on_payment(event_id: str, envelope: dict) -> None:
    booking = Booking.get_or_none(Booking.id == (envelope.get("data") or {}).get("bookingId"))
    if booking is None:
        return
    now = utcnow()
    for workflow in workflows_for(booking, ("payment_received",)):
        fire_now(workflow, booking, f"payment_received:{event_id}", now)


# --- timed runs -------------------------------------------------------------------------------------------------
def due_at(workflow: Workflow, booking: Booking, now: datetime) -> datetime | None:
    """When ``workflow``'s timed run for ``booking`` is due, or None when it should not run at all."""
    offset = timedelta(minutes=workflow.offset_minutes)
    if workflow.trigger == "before_meeting":
        if booking.start_at <= now:
            return None                       # the meeting has started: a reminder is no use now
        return max(booking.start_at - offset, now)
    due = booking.end_at + offset
    return due if due >= now - timedelta(minutes=5) else None


def _timed_key(workflow: Workflow, booking: Booking) -> str:
    return f"{workflow.trigger}:{events.iso(booking.start_at)}"


def _schedule(workflow: Workflow, booking: Booking, now: datetime) -> None:
    when = due_at(workflow, booking, now)
    if when is not None:
        _insert_run(workflow, booking, _timed_key(workflow, booking), when, "scheduled", now)


def schedule_booking(booking: Booking, *, now: datetime | None = None) -> None:
    """Schedule the timed runs of a confirmed booking (idempotent)."""
    now = now or utcnow()
    for workflow in workflows_for(booking, TIMED_TRIGGERS):
        _schedule(workflow, booking, now)


def _pending(booking: Booking):
    return WorkflowRun.select().where((WorkflowRun.booking == booking.id) & (WorkflowRun.status == "scheduled"))


def drop_pending(booking: Booking) -> int:
    return WorkflowRun.delete().where((WorkflowRun.booking == booking.id)
                                      & (WorkflowRun.status == "scheduled")).execute()


def move_pending(booking: Booking, *, now: datetime | None = None) -> None:
    """The booking moved: its pending runs follow it (dropped and scheduled again for the new time)."""
    now = now or utcnow()
    drop_pending(booking)
    schedule_booking(booking, now=now)


def _upcoming_bookings(workflow: Workflow, now: datetime):
    """The account's confirmed bookings a timed run of ``workflow`` could still be due for."""
    horizon = now - timedelta(minutes=workflow.offset_minutes + 5) if workflow.trigger == "after_meeting" else now
    moment = Booking.end_at if workflow.trigger == "after_meeting" else Booking.start_at
    query = Booking.select().where((Booking.status == "CONFIRMED") & (Booking.user == workflow.user_id)
                                   & (moment > horizon))
    if not workflow.all_event_types:
        linked = (WorkflowEventType.select(WorkflowEventType.event_type)
                  .where(WorkflowEventType.workflow == workflow.id))
        query = query.where(Booking.event_type.in_(linked))
    return query.order_by(Booking.start_at)


def schedule_upcoming(workflow: Workflow, *, now: datetime | None = None) -> int:
    """Schedule an enabled timed workflow's runs for the account's upcoming bookings."""
    now = now or utcnow()
    if not workflow.enabled or workflow.trigger not in TIMED_TRIGGERS:
        return 0
    count = 0
    for booking in _upcoming_bookings(workflow, now).iterator():
        _schedule(workflow, booking, now)
        count += 1
    return count


def reschedule(workflow: Workflow, *, now: datetime | None = None) -> None:
    """The workflow changed (enabled, disabled, trigger, offset, event types): its pending runs are dropped and,
    while it is enabled and timed, scheduled again from its new definition. Runs already fired stay fired (their
    keys keep an edited offset from firing twice for one meeting)."""
    now = now or utcnow()
    WorkflowRun.delete().where((WorkflowRun.workflow == workflow.id) & (WorkflowRun.status == "scheduled")).execute()
    schedule_upcoming(workflow, now=now)


# --- the periodic task ---------------------------------------------------------------------------------------
def _claim_batch(now: datetime, batch: int) -> list[WorkflowRun]:
    query = (WorkflowRun.select().where((WorkflowRun.status == "scheduled") & (WorkflowRun.due_at <= now))
             .order_by(WorkflowRun.due_at).limit(batch))
    if is_postgres():
        query = query.for_update(skip_locked=True)
    return list(query)


def fire_due(now: datetime | None = None, *, batch: int = BATCH, max_batches: int = 1000) -> int:
    """Fire every scheduled run that is due (the periodic task calls this every minute); returns how many."""
    from app.services.workflows import actions

    now = now or utcnow()
    fired = 0
    for _ in range(max_batches):
        with transaction(immediate=True):
            runs = _claim_batch(now, batch)
            if not runs:
                break
            workflows = {w.id: w for w in Workflow.select().where(Workflow.id.in_({r.workflow_id for r in runs}))}
            bookings = {b.id: b for b in Booking.select(Booking.id, Booking.status, Booking.start_at)
                        .where(Booking.id.in_({r.booking_id for r in runs}))}
            stale, ready = [], []
            for run in runs:
                workflow, booking = workflows.get(run.workflow_id), bookings.get(run.booking_id)
                if workflow is None or booking is None or not workflow.enabled or booking.status != "CONFIRMED":
                    stale.append(run.id)
                else:
                    ready.append((run, workflow))
            if stale:
                WorkflowRun.delete().where(WorkflowRun.id.in_(stale)).execute()
            if ready:
                (WorkflowRun.update(status="fired", fired_at=now)
                 .where(WorkflowRun.id.in_([run.id for run, _ in ready])).execute())
                actions.queue_many([(run, workflow) for run, workflow in ready], now)
            fired += len(ready)
        if len(runs) < batch:
            break
    return fired


def actions_in_order(workflow: Workflow) -> list[WorkflowAction]:
    return list(WorkflowAction.select().where(WorkflowAction.workflow == workflow.id)
                .order_by(WorkflowAction.position, WorkflowAction.created_at))
