"""Dashboard → Workflows (spec page 12): the list with its enabled switches and the six templates, the editor
(trigger, offset, event types, up to five ordered actions), a workflow's run history and its Test panel.

Every control works as a plain form post (the editor re-renders itself to add, remove or move an action row);
an htmx request gets only the part that changed: a list row, the action rows, the form or the test results.
"""
from __future__ import annotations

import re

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app.models import EventType
from app.models.workflows import TIMED_TRIGGERS
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.workflows import definitions as service
from app.services.workflows.templates import TEMPLATES, template_input
from app.services.workflows.templating import VARIABLES
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("workflows", __name__, url_prefix="/dashboard/workflows")

MAX_ROWS = 5                      # the editor offers no more rows (the service says the plan's limit)
_ROW_KEY = re.compile(r"^actions-(\d{1,3})-kind$")
_ROW_OP = re.compile(r"^(remove|up|down):(\d{1,3})$")


def offset_label(minutes: int | None) -> str:
    """15 → "15 minutes", 60 → "1 hour", 2880 → "2 days"."""
    if not minutes:
        return "at once"
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{minutes} minutes"


def trigger_text(trigger: str, offset_minutes: int | None) -> str:
    """"Before Meeting · 1 hour", or the trigger's label alone."""
    label = service.TRIGGER_LABELS.get(trigger, trigger)
    return f"{label} · {offset_label(offset_minutes)}" if trigger in TIMED_TRIGGERS else label


@bp.context_processor
def _helpers():
    return {"TRIGGER_LABELS": service.TRIGGER_LABELS, "ACTION_LABELS": service.ACTION_LABELS,
            "OFFSET_PRESETS": service.OFFSET_PRESETS, "OFFSET_UNITS": service.OFFSET_UNITS,
            "EMAIL_RECIPIENTS": service.EMAIL_RECIPIENTS, "SMS_RECIPIENTS": service.SMS_RECIPIENTS,
            "TIMED_TRIGGERS": TIMED_TRIGGERS, "VARIABLES": VARIABLES, "MAX_ROWS": MAX_ROWS,
            "trigger_text": trigger_text, "offset_label": offset_label}


def _redirect(endpoint: str, **values):
    response = redirect(url_for(endpoint, **values))
    response.vary.add("HX-Request")
    return response


def _event_types():
    return list(EventType.select().where((EventType.user == g.user) & EventType.personal())
                .order_by(EventType.position, EventType.name))


# ---------------------------------------------------------------- the list

def _summary(workflow) -> dict:
    names = [link.event_type.name for link in workflow.event_type_links]
    return {"wf": workflow, "trigger": trigger_text(workflow.trigger, workflow.offset_minutes),
            "actions": [service.ACTION_LABELS.get(a.kind, a.kind) for a in service.actions_of(workflow)],
            "event_types": "All event types" if workflow.all_event_types else ", ".join(names) or "No event type"}


def _list(notice=None, status=200):
    rows = [_summary(workflow) for workflow in service.list_workflows(g.user)]
    return render("workflows/index.html", block="workflow_list", rows=rows, templates=TEMPLATES.values(),
                  notice=notice, status=status)


def _row(workflow, error=None, status=200):
    return render("workflows/index.html", block="row", row=_summary(workflow), row_error=error, status=status)


@bp.get("")
@login_required
def index():
    return _list()


@bp.post("/<workflow_id>/toggle")
@login_required
def toggle(workflow_id: str):
    workflow = service.get_workflow(g.user, workflow_id)
    enabled = request.form.get("enabled", "0" if workflow.enabled else "1") == "1"
    try:
        workflow = service.set_enabled(g.user, workflow.id, enabled, ip=g.client_ip)
    except PlanLimitReached as exc:
        if is_htmx():
            return _row(workflow, error=str(exc))
        flash(str(exc), "error")
        return _redirect("workflows.index")
    if is_htmx():
        return _row(workflow)
    flash(f"“{workflow.name}” is {'on' if workflow.enabled else 'off'}.", "success")
    return _redirect("workflows.index")


@bp.post("/<workflow_id>/duplicate")
@login_required
def duplicate(workflow_id: str):
    copy = service.duplicate_workflow(g.user, workflow_id, ip=g.client_ip)
    message = f"Created “{copy.name}”, switched off: check it, then switch it on."
    if is_htmx():
        return _list(notice=message)
    flash(message, "success")
    return _redirect("workflows.index")


@bp.route("/<workflow_id>/delete", methods=["GET", "POST"])
@login_required
def delete(workflow_id: str):
    workflow = service.get_workflow(g.user, workflow_id)
    if request.method == "GET":        # the confirmation, for a browser without JavaScript
        return render("workflows/delete.html", wf=workflow)
    service.delete_workflow(g.user, workflow.id, ip=g.client_ip)
    message = f"Deleted “{workflow.name}”."
    if is_htmx():
        return _list(notice=message)
    flash(message, "success")
    return _redirect("workflows.index")


# ---------------------------------------------------------------- the editor

def _offset_fields(data: service.WorkflowInput) -> dict:
    """The offset inputs for a stored or template input: a preset's minutes, or custom amount and unit."""
    minutes = data.offset_minutes or 60
    if minutes in [preset for preset, _ in service.OFFSET_PRESETS]:
        return {"offset": str(minutes), "offset_custom": "", "offset_unit": "minutes"}
    for unit in ("days", "hours"):
        if minutes % service.OFFSET_UNITS[unit] == 0:
            return {"offset": "custom", "offset_custom": str(minutes // service.OFFSET_UNITS[unit]),
                    "offset_unit": unit}
    return {"offset": "custom", "offset_custom": str(minutes), "offset_unit": "minutes"}


def _typed_offset() -> dict:
    """The offset inputs as typed (kept when the amount is not a number)."""
    return {"offset": request.form.get("offset", "60"), "offset_custom": request.form.get("offset_custom", ""),
            "offset_unit": request.form.get("offset_unit", "minutes")}


def _apply_row_op(data: service.WorkflowInput) -> str | None:
    """Add, remove or move an action row of the form (nothing is saved); returns the id of the control to
    focus, or None when the post is a save."""
    if "add_action" in request.form:
        if len(data.actions) < MAX_ROWS:
            data.actions.append(service.ActionInput(kind=request.form.get("new_kind", "email")))
            return f"a-{len(data.actions) - 1}-first"
        return "new-kind"
    match = _ROW_OP.match(request.form.get("op", ""))
    if not match:
        return None
    kind, index = match.group(1), int(match.group(2))
    rows = data.actions
    if index >= len(rows):
        return "new-kind"
    if kind == "remove":
        rows.pop(index)
        return "new-kind"
    other = index - 1 if kind == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
        return f"a-{other}-{kind}"
    return f"a-{index}-{kind}"


def _stored_extras(workflow) -> tuple[dict, dict]:
    """The Slack hints and webhook signing secrets of a stored workflow's actions, by action id."""
    if workflow is None:
        return {}, {}
    actions = service.actions_of(workflow)
    hints = {a.id: service.slack_hint(a) for a in actions if a.kind == "slack"}
    secrets = {a.id: service.webhook_secret(a) for a in actions if a.kind == "webhook"}
    return hints, secrets


def _editor(workflow, data, offset, *, errors=None, block="workflow_form", status=200, focus=None,
            test_results=None, phone=""):
    hints, secrets = _stored_extras(workflow)
    context = {"workflow": workflow, "data": data, "offset": offset, "errors": errors or {}, "focus": focus,
               "event_types": _event_types(), "choices": service.action_choices(g.user),
               "sms_note": service.sms_note(), "slack_hints": hints, "webhook_secrets": secrets,
               "test_results": test_results, "phone": phone}
    if workflow is not None:
        context.update(history=service.history(workflow), scheduled=service.scheduled_count(workflow))
    return render("workflows/form.html", block=block, status=status, **context)


def _save_errors(exc: Exception) -> dict:
    return exc.errors if isinstance(exc, ValidationFailed) else {"plan": str(exc)}


def _saved(workflow, message: str):
    flash(message, "success")
    target = url_for("workflows.detail", workflow_id=workflow.id)
    if is_htmx():       # a whole page load, which shows the flash
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        response.vary.add("HX-Request")
        return response
    return _redirect("workflows.detail", workflow_id=workflow.id)


@bp.get("/new")
@login_required
def new():
    data = template_input(request.args.get("template", "")) or service.WorkflowInput()
    if not data.actions:
        data.actions.append(service.ActionInput(kind="email"))
    return _editor(None, data, _offset_fields(data))


@bp.post("")
@login_required
def create():
    data = service.parse_form(request.form)
    focus = _apply_row_op(data)
    if focus is not None:
        return _editor(None, data, _typed_offset(), focus=focus)
    try:
        workflow = service.create_workflow(g.user, data, ip=g.client_ip)
    except (ValidationFailed, PlanLimitReached) as exc:
        return _editor(None, data, _typed_offset(), errors=_save_errors(exc), status=422)
    return _saved(workflow, f"Created “{workflow.name}”.")


@bp.route("/<workflow_id>", methods=["GET", "POST"])
@login_required
def detail(workflow_id: str):
    workflow = service.get_workflow(g.user, workflow_id)
    if request.method == "GET":
        data = service.input_of(workflow)
        return _editor(workflow, data, _offset_fields(data))
    data = service.parse_form(request.form)
    focus = _apply_row_op(data)
    if focus is not None:
        return _editor(workflow, data, _typed_offset(), focus=focus)
    try:
        workflow = service.update_workflow(g.user, workflow.id, data, ip=g.client_ip)
    except (ValidationFailed, PlanLimitReached) as exc:
        return _editor(workflow, data, _typed_offset(), errors=_save_errors(exc), status=422)
    return _saved(workflow, "Changes saved.")


@bp.post("/actions")
@login_required
def action_rows():
    """The action rows of the form being edited, a row added, removed or moved (htmx; nothing is saved).
    ``workflow_id`` in the form keeps a stored workflow's Slack hints and signing secrets on its rows."""
    if not is_htmx():      # without JavaScript these buttons post to the form itself
        return _redirect("workflows.index")
    workflow_id = request.form.get("workflow_id", "")
    workflow = service.get_workflow(g.user, workflow_id) if workflow_id else None
    data = service.parse_form(request.form)
    focus = _apply_row_op(data)
    return _editor(workflow, data, _typed_offset(), block="actions", focus=focus)


@bp.post("/<workflow_id>/test")
@login_required
def test(workflow_id: str):
    """Run the workflow's actions now against a sample booking and show each result (email goes to the host)."""
    from app.services.workflows.trial import test_workflow

    workflow = service.get_workflow(g.user, workflow_id)
    phone = request.form.get("phone", "").strip()
    results = test_workflow(g.user, workflow.id, phone=phone or None)
    data = service.input_of(workflow)
    return _editor(workflow, data, _offset_fields(data), block="test_panel", test_results=results, phone=phone)
