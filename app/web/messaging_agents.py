"""Dashboard → Messaging Agents (spec page 11): the SMS and WhatsApp agents with their channel, number and on/off
switch, the month's shared message pool, a form to create one, and each agent's page: every setting, the event
types it may offer, delete.

Without the settings the page says which ones the operator must set, and offers nothing else; on the Free plan it
says which plans have messaging agents. Every form works as a plain post; an htmx request gets back only its own
section, with inline errors.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app.models.messaging import CHANNELS, TONES
from app.services import plans
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.messaging import agents, pool, settings
from app.services.plans import PlanLimitReached
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("messaging_agents", __name__, url_prefix="/dashboard/messaging-agents")

FAILURES = (ValidationFailed, PlanLimitReached, Forbidden, NotFound)
FIELDS = ("name", "greeting", "tone", "customTone", "language", "businessContext", "channel", "phoneNumberId")
SENDER_LABELS = {None: "WhatsApp not enabled", "pending": "WhatsApp pending", "approved": "WhatsApp approved",
                 "rejected": "WhatsApp rejected", "failed": "WhatsApp failed", "revoked": "WhatsApp revoked"}


@bp.context_processor
def _helpers():
    return {"CHANNELS": CHANNELS, "CHANNEL_LABELS": agents.CHANNEL_LABELS, "TONES": TONES,
            "TONE_LABELS": agents.TONE_LABELS, "problem_of": agents.problem_of}


def _errors(exc: Exception) -> dict:
    return exc.errors if isinstance(exc, ValidationFailed) else {"form": str(exc)}


def _redirect(endpoint: str, **values):
    target = url_for(endpoint, **values)
    if is_htmx():      # a whole page load, which shows the flash
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
    else:
        response = redirect(target)
    response.vary.add("HX-Request")
    return response


def _number_choices() -> list[tuple[str, str]]:
    """(id, label) of the numbers an agent may use: "+14155550100 · Main office · WhatsApp approved"."""
    out = []
    for number in agents.usable_numbers(g.user):
        parts = [number.e164] + ([number.label] if number.label else [])
        parts.append(SENDER_LABELS.get(agents.sender_status(number.id), "WhatsApp"))
        out.append((number.id, " · ".join(parts)))
    return out


def _form_data(form, *, creating: bool) -> tuple[dict, dict]:
    """The service's body from the form's fields, and the fields as typed (to show them again)."""
    values = {key: form.get(key, "") for key in FIELDS}
    values["isActive"] = form.get("isActive") == "1"
    data = {key: value for key, value in values.items() if key != "organizationId"}
    if creating:
        values["organizationId"] = form.get("organizationId", "")
        data["organizationId"] = values["organizationId"] or None
    return data, values


# ---------------------------------------------------------------- the list

def _index(errors=None, values=None, status=200, block=None, notice=None):
    missing = settings.missing()
    context = {"missing": missing, "errors": errors or {}, "notice": notice,
               "values": values or {"channel": "sms", "tone": "professional", "language": "en", "isActive": True}}
    if not missing:
        limits = plans.limits_for(g.user)
        context.update(agents=agents.agents_of(g.user), pool=pool.pool_for(g.user), plan=agents.plan_json(g.user),
                       free=limits.messaging_agents_per_channel == 0, counts=agents.counts(g.user),
                       numbers=_number_choices(), organizations=agents.managed_organizations(g.user))
    return render("messaging_agents/index.html", block=block, status=status, **context)


def _row(agent, error=None, status=200):
    return render("messaging_agents/index.html", block="row", agent=agent, row_error=error, status=status)


@bp.get("")
@login_required
def index():
    return _index()


@bp.post("")
@login_required
def create():
    data, values = _form_data(request.form, creating=True)
    if settings.missing():
        return _index()
    try:
        agent = agents.create_agent(g.user, data)
    except FAILURES as exc:
        return _index(errors=_errors(exc), values=values, status=422, block="create")
    flash(f"Created “{agent.name}”" + (f": it answers {agents.CHANNEL_LABELS[agent.channel]} texts on "
                                       f"{agent.phone_number.e164}." if agent.is_active else ", switched off."),
          "success")
    return _redirect("messaging_agents.detail", agent_id=agent.id)


@bp.post("/<agent_id>/active")
@login_required
def switch(agent_id: str):
    """Switch an agent on or off from the list (its row comes back, with the reason when it cannot)."""
    agent = agents.get_agent(g.user, agent_id)
    on = request.form.get("isActive", "0" if agent.is_active else "1") == "1"
    try:
        agent = agents.update_agent(g.user, agent.id, {"isActive": on})
    except FAILURES as exc:
        message = " ".join(_errors(exc).values())
        if is_htmx():
            return _row(agent, error=message, status=422)
        flash(message, "error")
        return _redirect("messaging_agents.index")
    if is_htmx():
        return _row(agent)
    flash(f"“{agent.name}” is {'on' if agent.is_active else 'off'}.", "success")
    return _redirect("messaging_agents.index")


# ---------------------------------------------------------------- one agent

def _settings_values(agent) -> dict:
    return {"name": agent.name, "greeting": agent.greeting or "", "tone": agent.tone,
            "customTone": agent.custom_tone or "", "language": agent.language,
            "businessContext": agent.business_context or "", "channel": agent.channel,
            "phoneNumberId": agent.phone_number_id or "", "isActive": agent.is_active}


def _detail(agent, *, block=None, status=200, errors=None, section=None, notice=None, values=None, linked_ids=None):
    linked = linked_ids if linked_ids is not None else [et.id for et in agents.linked_event_types(agent)]
    choices = _number_choices()
    if agent.phone_number_id and agent.phone_number_id not in {i for i, _ in choices}:
        choices.append((agent.phone_number_id, f"{agent.phone_number.e164} · {agent.phone_number.status}"))
    context = {"agent": agent, "errors": errors or {}, "section": section, "notice": notice,
               "values": values or _settings_values(agent), "linked": set(linked),
               "event_types": agents.eligible_event_types(agent), "numbers": choices,
               "missing": settings.missing()}
    return render("messaging_agents/detail.html", block=block, status=status, **context)


def _section_saved(agent, block: str, section: str, message: str):
    if is_htmx():
        return _detail(agent, block=block, section=section, notice=message)
    flash(message, "success")
    return _redirect("messaging_agents.detail", agent_id=agent.id)


@bp.route("/<agent_id>", methods=["GET", "POST"])
@login_required
def detail(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    if request.method == "GET":
        return _detail(agent)
    data, values = _form_data(request.form, creating=False)
    try:
        agent = agents.update_agent(g.user, agent.id, data)
    except FAILURES as exc:
        return _detail(agent, block="settings_form", status=422, errors=_errors(exc), section="settings",
                       values=values)
    return _section_saved(agent, "settings_form", "settings", "Settings saved.")


@bp.post("/<agent_id>/event-types")
@login_required
def event_types(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    ids = request.form.getlist("event_type_ids")
    try:
        linked = agents.set_event_types(g.user, agent.id, ids)
    except FAILURES as exc:
        return _detail(agent, block="event_types_form", status=422, errors=_errors(exc), section="event_types",
                       linked_ids=ids)
    message = ("Linked " + ", ".join(et.name for et in linked) + ".") if linked else \
        "The agent offers all your active, non-secret event types."
    return _section_saved(agent, "event_types_form", "event_types", message)


@bp.route("/<agent_id>/delete", methods=["GET", "POST"])
@login_required
def delete(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    if request.method == "GET":        # the confirmation, for a browser without JavaScript
        return render("messaging_agents/delete.html", agent=agent)
    agents.delete_agent(g.user, agent.id)
    message = f"Deleted “{agent.name}”: it no longer answers texts. Its conversations stay."
    if is_htmx() and request.headers.get("HX-Target") == "agent-list":
        return _index(block="agent_list", notice=message)
    flash(message, "success")
    return _redirect("messaging_agents.index")
