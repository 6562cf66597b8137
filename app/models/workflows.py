"""Workflows (issue 17, spec page 12): a trigger, the event types it applies to, up to five ordered actions.

A ``WorkflowRun`` is one firing of a workflow for one booking: immediate triggers write it already fired, timed
ones (Before / After Meeting) write it ``scheduled`` with its ``due_at`` and the periodic task fires it. Its
``due_key`` makes a firing unique per workflow and booking (the change's event id, or the meeting's start for a
timed run), so a repeated fan-out or a second consumer never fires twice. Firing writes one
``WorkflowRunAction`` per action with the outbox row that carries it out; that row keeps the result (status, an
error in plain words, the remote object's id: a Twilio message SID) and is the run history the host reads.
``SmsOptOut`` lists the numbers that texted STOP: they are never texted until they text START.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.scheduling import EventType, JSONField

TRIGGERS = ("booking_created", "booking_cancelled", "booking_rescheduled", "payment_received",
            "before_meeting", "after_meeting")
TIMED_TRIGGERS = ("before_meeting", "after_meeting")
ACTION_KINDS = ("email", "sms", "slack", "webhook", "ai_call")     # ai_call: an AI voice call (issue 21)
RUN_STATUSES = ("scheduled", "fired")
ACTION_STATUSES = ("queued", "sent", "delivered", "skipped", "failed")


class Workflow(BaseModel):
    user = peewee.ForeignKeyField(User, backref="workflows", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    trigger = peewee.CharField(max_length=30)
    offset_minutes = peewee.IntegerField(default=0)             # Before / After Meeting only
    all_event_types = peewee.BooleanField(default=True)
    enabled = peewee.BooleanField(default=False)
    enabled_at = UTCDateTimeField(null=True)                    # the most recently enabled pause first on downgrade
    paused_note = peewee.TextField(null=True)                   # why LinkTime paused it (plan limit)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "workflows"
        indexes = ((("user", "created_at"), False),)


class WorkflowEventType(BaseModel):
    workflow = peewee.ForeignKeyField(Workflow, backref="event_type_links", on_delete="CASCADE")
    event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

    class Meta:
        table_name = "workflow_event_types"
        indexes = ((("workflow", "event_type"), True),)


class WorkflowAction(BaseModel):
    workflow = peewee.ForeignKeyField(Workflow, backref="actions", on_delete="CASCADE")
    position = peewee.IntegerField(default=0)
    kind = peewee.CharField(max_length=20)                      # email | sms | slack | webhook | ai_call
    config = JSONField(default=dict)                            # recipient, address, subject, body ...
    secret = peewee.TextField(null=True)                        # encrypted: a Slack webhook URL, a signing secret
    disabled_reason = peewee.TextField(null=True)               # a revoked Slack webhook stops the action
    # Slack and Call Webhook: one request at a time per action (busy_*), paused after timeouts in a row, as
    # outgoing webhooks are (``webhook_delivery.claim_endpoint``): a hanging receiver holds one webhook worker
    busy_since = UTCDateTimeField(null=True)
    busy_until = UTCDateTimeField(null=True)
    timeout_streak = peewee.IntegerField(default=0)
    paused_until = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "workflow_actions"
        indexes = ((("workflow", "position"), False),)


class WorkflowRun(BaseModel):
    workflow = peewee.ForeignKeyField(Workflow, backref="runs", on_delete="CASCADE")
    booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
    due_key = peewee.CharField(max_length=80)
    due_at = UTCDateTimeField()
    status = peewee.CharField(max_length=16, default="scheduled")
    fired_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "workflow_runs"
        indexes = ((("workflow", "booking", "due_key"), True), (("status", "due_at"), False),
                   (("booking",), False))


class WorkflowRunAction(BaseModel):
    run = peewee.ForeignKeyField(WorkflowRun, backref="actions", on_delete="CASCADE")
    action = peewee.ForeignKeyField(WorkflowAction, null=True, on_delete="SET NULL")
    kind = peewee.CharField(max_length=20)
    status = peewee.CharField(max_length=16, default="queued")
    error = peewee.TextField(null=True)
    remote_id = peewee.CharField(max_length=255, null=True)     # Twilio message SID
    attempts = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "workflow_run_actions"
        indexes = ((("run", "action"), True), (("remote_id",), False))


class SmsOptOut(BaseModel):
    phone = peewee.CharField(max_length=20, unique=True)        # E.164
    opted_out_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "sms_opt_outs"
