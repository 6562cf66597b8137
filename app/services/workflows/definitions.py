"""Workflows as hosts define them (spec page 12): validation, plan limits, create / edit / duplicate / delete,
enable, the six templates, and the run history.

Every change is audited (``workflow.created`` / ``updated`` / ``deleted``) and tells the run engine
(``app.services.workflows.runs``) what to schedule again: enabling a timed workflow schedules its runs for the
upcoming bookings, editing its offset moves the pending ones, disabling or deleting it drops them.

Limits live in the plan table: active workflows (Free 3, Pro 10, Business and above unlimited), actions per
workflow (5), SMS actions (Pro and above). ``pause_over_limit`` keeps a downgraded account's workflows but pauses
the most recently enabled ones above its new limit and says so on each.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app

from app.db import is_postgres, transaction
from app.integrations import slack_webhooks, twilio_sms
from app.integrations.errors import IntegrationError
from app.models import EventType, User, Workflow, WorkflowAction, WorkflowEventType, WorkflowRun, WorkflowRunAction
from app.models.base import utcnow
from app.models.workflows import ACTION_KINDS, TIMED_TRIGGERS, TRIGGERS
from app.services import audit
from app.services.developer import webhook_delivery
from app.services.developer.webhooks import validate_url
from app.services.errors import NotFound, ValidationFailed
from app.services.mailer import queue_email
from app.services.plans import (
    PLAN_CHANGED,
    PLAN_LABELS,
    PlanLimitReached,
    check_count,
    check_feature,
    effective_plan,
    limits_for,
)
from app.services.voice import outbound as voice_outbound
from app.services.voice import settings as voice_settings
from app.services.workflows import runs, templating

TRIGGER_LABELS = {"booking_created": "Booking Created", "booking_cancelled": "Booking Cancelled",
                  "booking_rescheduled": "Booking Rescheduled", "payment_received": "Payment Received",
                  "before_meeting": "Before Meeting", "after_meeting": "After Meeting"}
ACTION_LABELS = {"email": "Send Email", "sms": "Send SMS", "slack": "Send Slack Message", "webhook": "Call Webhook",
                 "ai_call": "AI Voice Call"}
OFFSET_PRESETS = ((15, "15 minutes"), (60, "1 hour"), (1440, "1 day"))
OFFSET_UNITS = {"minutes": 1, "hours": 60, "days": 1440}
MAX_OFFSET = 30 * 1440
EMAIL_RECIPIENTS = {"invitee": "The invitee", "host": "The host (every host of a team booking)",
                    "address": "Another address"}
SMS_RECIPIENTS = {"invitee": "The invitee's phone", "host": "The host's phone"}
CALL_TARGETS = voice_outbound.TARGETS          # AI Voice Call: who is called
CALL_TYPES = voice_outbound.CALL_TYPES
MAX_SMS = 1600


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ActionInput:
    kind: str
    id: str | None = None              # the stored action this row edits (keeps its secret)
    recipient: str = "invitee"
    address: str = ""
    phone: str = ""
    subject: str = ""
    body: str = ""
    url: str = ""                      # the webhook's URL, or a Slack incoming-webhook URL (secret)
    call_type: str = "reminder"        # AI Voice Call (``recipient`` is its ``to``, ``phone`` its number, ``body``
                                       # its custom message)


@dataclass
class WorkflowInput:
    name: str = ""
    trigger: str = "booking_created"
    offset_minutes: int | None = 60
    all_event_types: bool = True
    event_type_ids: list[str] = field(default_factory=list)
    actions: list[ActionInput] = field(default_factory=list)
    enabled: bool = True


def _int(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def parse_form(form: Mapping) -> WorkflowInput:
    """The editor's fields: ``offset`` is a preset's minutes or ``custom`` (``offset_custom`` in
    ``offset_unit``); actions are ``actions-<n>-<field>`` rows in order."""
    data = WorkflowInput(name=(form.get("name") or "").strip(), trigger=(form.get("trigger") or "").strip(),
                         all_event_types=form.get("event_types", "all") != "chosen",
                         enabled=form.get("enabled") in ("1", "on", "true", "yes"))
    getlist = getattr(form, "getlist", lambda key: [form[key]] if key in form else [])
    data.event_type_ids = [value for value in getlist("event_type_ids") if value]
    offset = (form.get("offset") or "").strip()
    if offset == "custom":
        amount, unit = _int(form.get("offset_custom")), OFFSET_UNITS.get(form.get("offset_unit") or "minutes")
        data.offset_minutes = amount * unit if amount is not None and unit else None
    else:
        data.offset_minutes = _int(offset)
    rows = sorted({_int(key.split("-")[1]) for key in form if re.match(r"^actions-\d+-kind$", key)})
    for index in rows:
        prefix = f"actions-{index}-"
        data.actions.append(ActionInput(
            kind=(form.get(prefix + "kind") or "").strip(), id=(form.get(prefix + "id") or "").strip() or None,
            recipient=(form.get(prefix + "recipient") or "invitee").strip(),
            address=(form.get(prefix + "address") or "").strip(), phone=(form.get(prefix + "phone") or "").strip(),
            subject=(form.get(prefix + "subject") or "").strip(), body=(form.get(prefix + "body") or ""),
            url=(form.get(prefix + "url") or "").strip(),
            call_type=(form.get(prefix + "call_type") or "reminder").strip()))
    return data


def input_of(workflow: Workflow) -> WorkflowInput:
    """A stored workflow as the editor's input (secrets left out)."""
    return WorkflowInput(
        name=workflow.name, trigger=workflow.trigger, offset_minutes=workflow.offset_minutes,
        all_event_types=workflow.all_event_types, enabled=workflow.enabled,
        event_type_ids=[link.event_type_id for link in workflow.event_type_links],
        actions=[_action_input(a) for a in actions_of(workflow)])


def _action_input(a: WorkflowAction) -> ActionInput:
    if a.kind == "ai_call":          # the spec's AI_CALL config: to, customPhone, callType, customMessage
        return ActionInput(kind=a.kind, id=a.id, recipient=a.config.get("to") or "invitee",
                           phone=a.config.get("customPhone") or "", body=a.config.get("customMessage") or "",
                           call_type=a.config.get("callType") or "reminder")
    return ActionInput(kind=a.kind, id=a.id, recipient=a.config.get("recipient", "invitee"),
                       address=a.config.get("address", ""), phone=a.config.get("phone", ""),
                       subject=a.config.get("subject", ""), body=a.config.get("body", ""), url=a.config.get("url", ""))


# --- what a host may use ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionChoice:
    kind: str
    label: str
    available: bool
    note: str | None = None            # why it is not offered (plan, missing settings)


def action_choices(user: User) -> list[ActionChoice]:
    """The action kinds of the editor. SMS without Twilio settings is absent (one line says why); on a plan
    without SMS it is shown with the upgrade note. AI Voice Call is absent without the ElevenLabs settings, and
    shown with its note on a plan below Pro or without an active voice agent that has a phone number."""
    choices = []
    for kind in ACTION_KINDS:
        if kind == "ai_call":
            if not voice_settings.configured():
                continue
            reason = voice_outbound.availability(user)
            choices.append(ActionChoice(kind, ACTION_LABELS[kind], reason is None, reason))
            continue
        if kind == "sms":
            if not twilio_sms.configured():
                continue
            if not limits_for(user).sms_actions:
                choices.append(ActionChoice(kind, ACTION_LABELS[kind], False,
                                            f"SMS actions need the Pro plan or higher (you are on "
                                            f"{PLAN_LABELS[effective_plan(user)]})."))
                continue
        choices.append(ActionChoice(kind, ACTION_LABELS[kind], True))
    return choices


def sms_note() -> str | None:
    """The one line the editor shows when SMS is absent because Twilio is not configured."""
    return None if twilio_sms.configured() else f"Send SMS is not available: {twilio_sms.MISSING_SETTINGS_NOTE}"


# --- validation -------------------------------------------------------------------------------------------
def _event_types(user: User, ids: list[str]) -> list[EventType]:
    found = list(EventType.select().where((EventType.id.in_(ids)) & (EventType.user == user))) if ids else []
    if len(found) != len(set(ids)):
        raise ValidationFailed({"event_types": "Choose among your own event types."})
    return found


def _check_template(errors: dict, key: str, source: str, *, required: str | None = None,
                    max_length: int | None = None) -> None:
    if not source.strip():
        if required:
            errors[key] = required
        return
    if max_length is not None and len(source) > max_length:
        errors[key] = f"Keep this under {max_length:,} characters."
        return
    problem = templating.check(source)
    if problem:
        errors[key] = problem


def _validate_action(user: User, index: int, action: ActionInput, stored: WorkflowAction | None,
                     errors: dict) -> None:
    key = f"actions-{index}-"
    if action.kind not in ACTION_KINDS:
        errors[key + "kind"] = "Choose what this action does."
        return
    if action.kind == "email":
        if action.recipient not in EMAIL_RECIPIENTS:
            errors[key + "recipient"] = "Choose who gets the email."
        elif action.recipient == "address" and not _EMAIL.match(action.address):
            errors[key + "address"] = "Enter the email address to send to."
        if "\n" in action.subject or "\r" in action.subject:
            errors[key + "subject"] = "Keep the subject on one line."
        else:
            _check_template(errors, key + "subject", action.subject, required="Enter a subject.", max_length=200)
        _check_template(errors, key + "body", action.body, required="Write the email.")
    elif action.kind == "sms":
        if not twilio_sms.configured():
            errors[key + "kind"] = sms_note() or "SMS is not available."
            return
        check_feature(user, "sms_actions", "SMS actions")
        if action.recipient not in SMS_RECIPIENTS:
            errors[key + "recipient"] = "Choose who gets the text."
        elif action.recipient == "host":
            phone = twilio_sms.normalize_phone(action.phone)
            if phone is None:
                errors[key + "phone"] = "Enter your mobile number with its country code, e.g. +1 415 555 0100."
            else:
                action.phone = phone
        _check_template(errors, key + "body", action.body, required="Write the text message.", max_length=MAX_SMS)
    elif action.kind == "slack":
        if action.url:
            try:
                action.url = slack_webhooks.check_url(action.url)
            except ValueError as exc:
                errors[key + "url"] = str(exc)
        elif stored is None or stored.kind != "slack" or not stored.secret:
            errors[key + "url"] = "Paste the Slack incoming-webhook URL."
        _check_template(errors, key + "body", action.body, required="Write the Slack message.", max_length=3000)
    elif action.kind == "webhook":
        try:
            action.url = validate_url(action.url)
        except ValidationFailed as exc:
            errors[key + "url"] = exc.errors.get("url", "Enter a valid URL.")
    elif action.kind == "ai_call":
        _validate_call(user, key, action, stored, errors)


def _validate_call(user: User, key: str, action: ActionInput, stored: WorkflowAction | None, errors: dict) -> None:
    """An AI Voice Call: the plan (PlanLimitReached), and for a new one an agent that can call (a stored one is
    kept, and skipped with its reason while no agent can call)."""
    if not voice_settings.configured():
        errors[key + "kind"] = "AI voice calls are not configured on this LinkTime server."
        return
    check_feature(user, "voice_phone_number", "AI voice calls")
    if (stored is None or stored.kind != "ai_call") and voice_outbound.calling_agent(user) is None:
        errors[key + "kind"] = voice_outbound.NO_AGENT
    if action.recipient not in CALL_TARGETS:
        errors[key + "recipient"] = "Choose who is called."
    elif action.recipient in ("host", "custom"):
        phone = twilio_sms.normalize_phone(action.phone)
        if phone is None:
            errors[key + "phone"] = "Enter the number to call with its country code, e.g. +1 415 555 0100."
        else:
            action.phone = phone
    if action.call_type not in CALL_TYPES:
        errors[key + "call_type"] = "Choose the kind of call."
    if len(action.body) > voice_outbound.MAX_MESSAGE:
        errors[key + "body"] = f"Keep the message under {voice_outbound.MAX_MESSAGE} characters."
    elif action.call_type == "custom" and not action.body.strip():
        errors[key + "body"] = "Write what the agent should say."


def validate(user: User, data: WorkflowInput, stored_actions: dict[str, WorkflowAction] | None = None
             ) -> list[EventType]:
    """Check ``data`` (cleaning it in place); raises ValidationFailed with every problem, or PlanLimitReached."""
    stored_actions = stored_actions or {}
    errors: dict[str, str] = {}
    if not data.name:
        errors["name"] = "Give the workflow a name."
    elif len(data.name) > 100:
        errors["name"] = "Keep the name under 100 characters."
    if data.trigger not in TRIGGERS:
        errors["trigger"] = "Choose what starts the workflow."
    elif data.trigger in TIMED_TRIGGERS:
        low = 1 if data.trigger == "before_meeting" else 0
        if data.offset_minutes is None or not low <= data.offset_minutes <= MAX_OFFSET:
            errors["offset"] = f"Choose how long {'before' if low else 'after'} the meeting, up to 30 days."
    else:
        data.offset_minutes = 0
    limit = limits_for(user).workflow_actions
    if len(data.actions) > limit:
        raise PlanLimitReached(f"Your {PLAN_LABELS[effective_plan(user)]} plan allows {limit} actions per "
                               "workflow. Delete one or ask your administrator for a higher plan.")
    if not data.actions:
        errors["actions"] = "Add at least one action."
    for index, action in enumerate(data.actions):
        _validate_action(user, index, action, stored_actions.get(action.id or ""), errors)
    event_types: list[EventType] = []
    if not data.all_event_types:
        if not data.event_type_ids:
            errors["event_types"] = "Choose at least one event type, or apply it to all."
        else:
            try:
                event_types = _event_types(user, data.event_type_ids)
            except ValidationFailed as exc:
                errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return event_types


def _check_slack(data: WorkflowInput, stored_actions: dict[str, WorkflowAction]) -> None:
    """A new or changed Slack URL must take a test message before it is saved (LinkTime checks it works)."""
    errors = {}
    for index, action in enumerate(data.actions):
        stored = stored_actions.get(action.id or "")
        if action.kind != "slack" or not action.url:
            continue
        if stored is not None and stored.secret and _decrypt(stored.secret) == action.url:
            continue
        try:
            slack_webhooks.post_message(action.url, {"text": "LinkTime is connected: this workflow will post "
                                                             "here."})
        except IntegrationError as exc:
            errors[f"actions-{index}-url"] = f"Slack did not accept a test message: {exc}"
    if errors:
        raise ValidationFailed(errors)


def _encrypt(value: str) -> str:
    return current_app.extensions["linktime_encryptor"].encrypt(value)


def _decrypt(value: str) -> str:
    return current_app.extensions["linktime_encryptor"].decrypt(value)


def _lock_user(user: User) -> None:
    if is_postgres():
        list(User.select(User.id).where(User.id == user.id).for_update())


def _check_active(user: User, exclude_id: str | None = None) -> None:
    query = Workflow.select().where((Workflow.user == user) & Workflow.enabled)
    if exclude_id:
        query = query.where(Workflow.id != exclude_id)
    check_count(user, "active_workflows", query.count(), "active workflows")


# --- reading ----------------------------------------------------------------------------------------------
def get_workflow(user: User, workflow_id: str) -> Workflow:
    workflow = Workflow.get_or_none((Workflow.id == workflow_id) & (Workflow.user == user))
    if workflow is None:
        raise NotFound("Workflow not found")
    return workflow


def list_workflows(user: User) -> list[Workflow]:
    return list(Workflow.select().where(Workflow.user == user).order_by(Workflow.created_at))


def actions_of(workflow: Workflow) -> list[WorkflowAction]:
    return list(WorkflowAction.select().where(WorkflowAction.workflow == workflow)
                .order_by(WorkflowAction.position, WorkflowAction.created_at))


def webhook_secret(action: WorkflowAction) -> str | None:
    """A Call Webhook action's signing secret (``whsec_...``), for the host to verify signatures."""
    return _decrypt(action.secret) if action.kind == "webhook" and action.secret else None


def slack_hint(action: WorkflowAction) -> str | None:
    """The end of a Slack action's stored URL, so the host recognises it without seeing it."""
    if action.kind != "slack" or not action.secret:
        return None
    return "…" + _decrypt(action.secret)[-6:]


@dataclass(frozen=True)
class HistoryRow:
    at: object
    booking_id: str
    invitee: str
    action: str
    status: str
    error: str | None


def history(workflow: Workflow, limit: int = 50) -> list[HistoryRow]:
    """The workflow's latest action results, newest first (time, booking, action, status, error)."""
    from app.models import Booking

    rows = (WorkflowRunAction.select(WorkflowRunAction, WorkflowRun, Booking)
            .join(WorkflowRun).join(Booking)
            .where(WorkflowRun.workflow == workflow)
            .order_by(WorkflowRunAction.created_at.desc()).limit(limit))
    return [HistoryRow(at=row.finished_at or row.created_at, booking_id=row.run.booking_id,
                       invitee=row.run.booking.invitee_name, action=ACTION_LABELS.get(row.kind, row.kind),
                       status=row.status, error=row.error) for row in rows]


def scheduled_count(workflow: Workflow) -> int:
    return WorkflowRun.select().where((WorkflowRun.workflow == workflow) & (WorkflowRun.status == "scheduled")).count()


# --- writing ----------------------------------------------------------------------------------------------
def _store_actions(workflow: Workflow, actions: list[ActionInput], stored: dict[str, WorkflowAction]) -> None:
    keep = set()
    now = utcnow()
    for position, action in enumerate(actions):
        config = {"recipient": action.recipient, "body": action.body}
        if action.kind == "email":
            config.update(subject=action.subject, address=action.address if action.recipient == "address" else "")
        elif action.kind == "sms":
            config.update(phone=action.phone if action.recipient == "host" else "")
        elif action.kind == "webhook":
            config = {"url": action.url}
        elif action.kind == "slack":
            config = {"body": action.body}
        elif action.kind == "ai_call":
            config = {"to": action.recipient,
                      "customPhone": action.phone if action.recipient in ("host", "custom") else None,
                      "callType": action.call_type, "customMessage": action.body.strip() or None}
        row = stored.get(action.id or "")
        if row is not None and row.kind == action.kind:
            secret = row.secret
            if action.kind == "slack" and action.url:
                secret = _encrypt(action.url)
            (WorkflowAction.update(position=position, config=config, secret=secret, updated_at=now,
                                   disabled_reason=None if secret != row.secret else row.disabled_reason)
             .where(WorkflowAction.id == row.id).execute())
            keep.add(row.id)
            continue
        secret = None
        if action.kind == "slack":
            secret = _encrypt(action.url)
        elif action.kind == "webhook":
            secret = _encrypt(webhook_delivery.generate_secret())
        keep.add(WorkflowAction.create(workflow=workflow, position=position, kind=action.kind, config=config,
                                       secret=secret).id)
    gone = [action_id for action_id in stored if action_id not in keep]
    if gone:
        WorkflowAction.delete().where(WorkflowAction.id.in_(gone)).execute()


def _store_event_types(workflow: Workflow, event_types: list[EventType]) -> None:
    WorkflowEventType.delete().where(WorkflowEventType.workflow == workflow).execute()
    for event_type in event_types:
        WorkflowEventType.create(workflow=workflow, event_type=event_type)


def _details(workflow: Workflow, data: WorkflowInput) -> dict:
    return {"name": workflow.name, "trigger": TRIGGER_LABELS[workflow.trigger], "enabled": workflow.enabled,
            "actions": [ACTION_LABELS[action.kind] for action in data.actions]}


def create_workflow(user: User, data: WorkflowInput, *, ip: str | None = None) -> Workflow:
    """Validate and store a new workflow (enabled when ``data.enabled``); raises ValidationFailed or
    PlanLimitReached."""
    event_types = validate(user, data)
    _check_slack(data, {})
    with transaction(immediate=True):
        _lock_user(user)
        if data.enabled:
            _check_active(user)
        now = utcnow()
        workflow = Workflow.create(user=user, name=data.name, trigger=data.trigger,
                                   offset_minutes=data.offset_minutes or 0, all_event_types=data.all_event_types,
                                   enabled=data.enabled, enabled_at=now if data.enabled else None)
        _store_event_types(workflow, event_types)
        _store_actions(workflow, data.actions, {})
        audit.record("workflow.created", resource="workflow", resource_id=workflow.id, user=user, actor=user, ip=ip,
                     details=_details(workflow, data))
        if workflow.enabled:
            runs.schedule_upcoming(workflow, now=now)
    return workflow


def update_workflow(user: User, workflow_id: str, data: WorkflowInput, *, ip: str | None = None) -> Workflow:
    workflow = get_workflow(user, workflow_id)
    stored = {action.id: action for action in actions_of(workflow)}
    event_types = validate(user, data, stored)
    _check_slack(data, stored)
    with transaction(immediate=True):
        _lock_user(user)
        workflow = get_workflow(user, workflow_id)
        before = (workflow.trigger, workflow.offset_minutes, workflow.all_event_types, workflow.enabled,
                  sorted(link.event_type_id for link in workflow.event_type_links))
        if data.enabled and not workflow.enabled:
            _check_active(user, exclude_id=workflow.id)
        now = utcnow()
        changed = [name for name, old, new in (("name", workflow.name, data.name),
                                               ("trigger", workflow.trigger, data.trigger),
                                               ("offset", workflow.offset_minutes, data.offset_minutes or 0),
                                               ("enabled", workflow.enabled, data.enabled)) if old != new]
        enabled_at = workflow.enabled_at if workflow.enabled and data.enabled else (now if data.enabled else None)
        (Workflow.update(name=data.name, trigger=data.trigger, offset_minutes=data.offset_minutes or 0,
                         all_event_types=data.all_event_types, enabled=data.enabled, enabled_at=enabled_at,
                         paused_note=None if data.enabled else workflow.paused_note, updated_at=now)
         .where(Workflow.id == workflow.id).execute())
        _store_event_types(workflow, event_types)
        _store_actions(workflow, data.actions, stored)
        workflow = Workflow.get_by_id(workflow.id)
        after = (workflow.trigger, workflow.offset_minutes, workflow.all_event_types, workflow.enabled,
                 sorted(link.event_type_id for link in workflow.event_type_links))
        if before != after:
            runs.reschedule(workflow, now=now)
        audit.record("workflow.updated", resource="workflow", resource_id=workflow.id, user=user, actor=user, ip=ip,
                     details={**_details(workflow, data), "changed": changed})
    return workflow


def set_enabled(user: User, workflow_id: str, enabled: bool, *, ip: str | None = None) -> Workflow:
    with transaction(immediate=True):
        _lock_user(user)
        workflow = get_workflow(user, workflow_id)
        if workflow.enabled == enabled:
            return workflow
        if enabled:
            _check_active(user, exclude_id=workflow.id)
        now = utcnow()
        (Workflow.update(enabled=enabled, enabled_at=now if enabled else None, paused_note=None, updated_at=now)
         .where(Workflow.id == workflow.id).execute())
        workflow = Workflow.get_by_id(workflow.id)
        runs.reschedule(workflow, now=now)
        audit.record("workflow.updated", resource="workflow", resource_id=workflow.id, user=user, actor=user, ip=ip,
                     details={"name": workflow.name, "enabled": enabled, "changed": ["enabled"]})
    return workflow


def duplicate_workflow(user: User, workflow_id: str, *, ip: str | None = None) -> Workflow:
    """A copy named "<name> (copy)", disabled (so it never exceeds the active limit nor fires twice)."""
    source = get_workflow(user, workflow_id)
    with transaction(immediate=True):
        copy = Workflow.create(user=user, name=f"{source.name} (copy)"[:100], trigger=source.trigger,
                               offset_minutes=source.offset_minutes, all_event_types=source.all_event_types,
                               enabled=False)
        for link in source.event_type_links:
            WorkflowEventType.create(workflow=copy, event_type=link.event_type_id)
        for action in actions_of(source):
            secret = action.secret
            if action.kind == "webhook":   # each webhook action signs with its own secret
                secret = _encrypt(webhook_delivery.generate_secret())
            WorkflowAction.create(workflow=copy, position=action.position, kind=action.kind, config=action.config,
                                  secret=secret)
        audit.record("workflow.created", resource="workflow", resource_id=copy.id, user=user, actor=user, ip=ip,
                     details={"name": copy.name, "trigger": TRIGGER_LABELS[copy.trigger], "enabled": False,
                              "duplicateOf": source.id})
    return copy


def delete_workflow(user: User, workflow_id: str, *, ip: str | None = None) -> None:
    workflow = get_workflow(user, workflow_id)
    with transaction():
        name, trigger = workflow.name, workflow.trigger
        workflow.delete_instance()     # its actions, runs and results go with it (ON DELETE CASCADE)
        audit.record("workflow.deleted", resource="workflow", resource_id=workflow_id, user=user, actor=user, ip=ip,
                     details={"name": name, "trigger": TRIGGER_LABELS[trigger]})


def pause_over_limit(user: User) -> list[Workflow]:
    """After a downgrade: pause the most recently enabled workflows above the plan's active limit, noting why on
    each (the host sees it on the Workflows page). Returns the paused ones."""
    limit = limits_for(user).active_workflows
    if limit is None:
        return []
    with transaction(immediate=True):
        active = list(Workflow.select().where((Workflow.user == user) & Workflow.enabled)
                      .order_by(Workflow.enabled_at.asc(nulls="first"), Workflow.created_at))
        paused = active[limit:]
        note = (f"Paused: your {PLAN_LABELS[effective_plan(user)]} plan allows {limit} active workflows. "
                "Disable another workflow to enable this one again, or ask for a higher plan.")
        now = utcnow()
        for workflow in paused:
            Workflow.update(enabled=False, paused_note=note, updated_at=now).where(Workflow.id == workflow.id).execute()
            workflow.enabled, workflow.paused_note = False, note
            runs.reschedule(workflow, now=now)
        if paused:
            subject = f"{len(paused)} workflow{'s' if len(paused) > 1 else ''} paused"
            queue_email(user.email, subject, "workflows_paused",
                        user_id=user.id, user=user, names=[workflow.name for workflow in paused], note=note,
                        link=f"{current_app.config['BASE_URL']}/dashboard/workflows")
    return paused


PLAN_CHANGED.append(pause_over_limit)
