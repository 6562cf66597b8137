"""Dashboard → Voice Agents (spec page 10, "Setup Guide"): the agents with their status, number and the month's
minutes, the four templates to start from (with the country of the number when the plan has one and Twilio is
configured), and each agent's settings page: name, greeting, voice, language, business context, linked event
types, active hours, phone number, delete.

Without the ElevenLabs settings the page says which ones the operator must set, and offers nothing else. Every
form works as a plain post; an htmx request gets back only its own section, with inline errors.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app.integrations.errors import IntegrationError
from app.integrations.twilio_numbers import SUPPORTED_COUNTRIES
from app.models.voice import AFTER_HOURS
from app.services import plans
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.voice import agents, hours, numbers, prompts, settings, usage
from app.services.voice.agents import AgentFailed, NotConfigured
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("voice_agents", __name__, url_prefix="/dashboard/voice-agents")

FAILURES = (ValidationFailed, PlanLimitReached, AgentFailed, numbers.NumberFailed, NotConfigured, Conflict,
            Forbidden, NotFound, IntegrationError)
AFTER_HOURS_LABELS = {"voicemail": "Play a voicemail greeting", "message": "Say a message of mine",
                      "booking_url": "Say my booking page address (and text it when possible)"}


def flag(country: str) -> str:
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in country)


@bp.context_processor
def _helpers():
    return {"DAYS": hours.DAYS, "AFTER_HOURS": AFTER_HOURS, "AFTER_HOURS_LABELS": AFTER_HOURS_LABELS,
            "COUNTRIES": [(code, name, dial, flag(code)) for code, (name, dial) in SUPPORTED_COUNTRIES.items()],
            "status_of": agents.status_of, "next_period_text": agents.next_period_text}


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


def _offers_numbers() -> bool:
    return plans.limits_for(g.user).voice_phone_number and settings.numbers_configured()


# ---------------------------------------------------------------- the list

def _index(errors=None, values=None, status=200, block=None):
    missing = settings.missing()
    context = {"missing": missing, "errors": errors or {}, "values": values or {"template": "scheduling",
                                                                              "country": "US"}}
    if not missing:
        current = usage.usage_for(g.user)
        context.update(agents=agents.agents_of(g.user), templates=list(prompts.TEMPLATES.values()),
                       usage=current, plan=agents.plan_json(g.user), offers_numbers=_offers_numbers(),
                       organizations=agents.managed_organizations(g.user))
    return render("voice_agents/index.html", block=block, status=status, **context)


@bp.get("")
@login_required
def index():
    return _index()


@bp.post("")
@login_required
def create():
    values = {"template": request.form.get("template", "scheduling"), "country": request.form.get("country", "US"),
              "agentName": request.form.get("agentName", ""), "organizationId": request.form.get("organizationId", "")}
    data = {"template": values["template"], "agentName": values["agentName"] or None,
            "organizationId": values["organizationId"] or None}
    try:
        agent = agents.create_agent(g.user, data, phone=_offers_numbers(), country=values["country"],
                                    ip=g.client_ip)
    except FAILURES as exc:
        return _index(errors=_errors(exc), values=values, status=422, block="create")
    message = f"“{agent.name}” is live."
    if agent.phone_number_id:
        message += f" Callers reach it on {agent.phone_number.e164}."
    if agent.last_error:
        message += f" No phone number: {agent.last_error}"
    flash(message, "success")
    return _redirect("voice_agents.detail", agent_id=agent.id)


# ---------------------------------------------------------------- one agent

def _hours_values(agent) -> dict:
    stored = agent.active_hours or {}
    days = {d["day"]: d for d in stored.get("schedule") or ()}
    return {"enabled": bool(stored.get("enabled")), "timezone": stored.get("timezone") or g.user.timezone,
            "afterHoursBehavior": stored.get("afterHoursBehavior") or "voicemail",
            "afterHoursMessage": stored.get("afterHoursMessage") or "",
            "days": {day: {"open": day in days, "start": days.get(day, {}).get("start", "09:00"),
                           "end": days.get(day, {}).get("end", "17:00")} for day in hours.DAYS}}


def _settings_values(agent) -> dict:
    return {"agentName": agent.name, "greeting": agent.greeting or "", "voiceId": agent.voice_id,
            "language": agent.language, "businessContext": agent.business_context or ""}


def _detail(agent, *, block=None, status=200, errors=None, section=None, notice=None, settings_values=None,
            hours_values=None, linked_ids=None):
    linked = linked_ids if linked_ids is not None else [et.id for et in agents.linked_event_types(agent)]
    context = {"agent": agent, "errors": errors or {}, "section": section, "notice": notice,
               "values": settings_values or _settings_values(agent), "hours": hours_values or _hours_values(agent),
               "linked": set(linked), "event_types": agents.eligible_event_types(agent),
               "greeting_preview": prompts.greeting_for(agent, agent.organization or agent.user),
               "offers_numbers": _offers_numbers(), "has_phone_plan": plans.limits_for(g.user).voice_phone_number,
               "missing": settings.missing()}
    return render("voice_agents/detail.html", block=block, status=status, **context)


@bp.route("/<agent_id>", methods=["GET", "POST"])
@login_required
def detail(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    if request.method == "GET":
        return _detail(agent)
    form = request.form
    values = {key: form.get(key, "") for key in ("agentName", "greeting", "voiceId", "language", "businessContext")}
    try:
        agent = agents.update_agent(g.user, agent.id, values, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="settings_form", status=422, errors=_errors(exc), section="settings",
                       settings_values=values)
    return _section_saved(agent, "settings_form", "settings", "Settings saved and sent to ElevenLabs.")


def _section_saved(agent, block: str, section: str, message: str):
    if is_htmx():
        return _detail(agent, block=block, section=section, notice=message)
    flash(message, "success")
    return _redirect("voice_agents.detail", agent_id=agent.id)


@bp.post("/<agent_id>/active")
@login_required
def switch(agent_id: str):
    """Switch the agent on or off by hand (an agent off for minutes comes back on with the next month)."""
    agent = agents.get_agent(g.user, agent_id)
    on = request.form.get("isActive") == "1"
    try:
        agent = agents.update_agent(g.user, agent.id, {"isActive": on}, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="switch", status=422, errors=_errors(exc), section="switch")
    return _section_saved(agent, "switch", "switch", "The agent answers again." if on else
                          "The agent is off: it answers no calls until you switch it on.")


@bp.post("/<agent_id>/event-types")
@login_required
def event_types(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    ids = request.form.getlist("event_type_ids")
    try:
        linked = agents.set_event_types(g.user, agent.id, ids, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="event_types_form", status=422, errors=_errors(exc), section="event_types",
                       linked_ids=ids)
    message = ("Linked " + ", ".join(et.name for et in linked) + ".") if linked else \
        "The agent offers all your event types."
    return _section_saved(agent, "event_types_form", "event_types", message)


def _hours_body(form) -> tuple[dict, dict]:
    """The PATCH …/active-hours body from the editor's fields, and the fields as typed (to show them again)."""
    days, schedule = {}, []
    for day in hours.DAYS:
        item = {"open": form.get(f"{day}_open") == "1", "start": form.get(f"{day}_start", "").strip(),
                "end": form.get(f"{day}_end", "").strip()}
        days[day] = item
        if item["open"]:
            schedule.append({"day": day, "start": item["start"], "end": item["end"]})
    typed = {"enabled": form.get("enabled") == "1", "timezone": form.get("timezone", ""),
             "afterHoursBehavior": form.get("afterHoursBehavior", "voicemail"),
             "afterHoursMessage": form.get("afterHoursMessage", ""), "days": days}
    body = {"enabled": typed["enabled"], "timezone": typed["timezone"],
            "afterHoursBehavior": typed["afterHoursBehavior"],
            "afterHoursMessage": typed["afterHoursMessage"] or None, "schedule": schedule}
    return body, typed


def _day_errors(errors: dict, body: dict) -> dict:
    """``schedule[2]`` → the day it names, so the editor shows the message on its row."""
    out = {}
    for key, message in errors.items():
        if key.startswith("schedule[") and key.endswith("]") and key[9:-1].isdigit():
            index = int(key[9:-1])
            if index < len(body["schedule"]):
                out[body["schedule"][index]["day"]] = message
                continue
        out[key] = message
    return out


@bp.post("/<agent_id>/hours")
@login_required
def active_hours(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    body, typed = _hours_body(request.form)
    try:
        agent = agents.set_active_hours(g.user, agent.id, body, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="hours_form", status=422, errors=_day_errors(_errors(exc), body),
                       section="hours", hours_values=typed)
    message = "Active hours saved." if body["enabled"] else "Active hours off: the agent answers around the clock."
    return _section_saved(agent, "hours_form", "hours", message)


@bp.post("/<agent_id>/phone")
@login_required
def add_phone(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    try:
        agent = agents.add_phone(g.user, agent.id, country=request.form.get("country", "US"), ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="phone_panel", status=422, errors=_errors(exc), section="phone")
    return _section_saved(agent, "phone_panel", "phone", f"Callers now reach the agent on {agent.phone_number.e164}.")


@bp.post("/<agent_id>/phone/remove")
@login_required
def remove_phone(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    try:
        agent = agents.remove_phone(g.user, agent.id, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="phone_panel", status=422, errors=_errors(exc), section="phone")
    return _section_saved(agent, "phone_panel", "phone",
                          "The number is on hold for 30 days: callers hear that the line moved.")


@bp.route("/<agent_id>/delete", methods=["GET", "POST"])
@login_required
def delete(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)
    if request.method == "GET":        # the confirmation, for a browser without JavaScript
        return render("voice_agents/delete.html", agent=agent)
    try:
        agents.delete_agent(g.user, agent.id, ip=g.client_ip)
    except FAILURES as exc:
        return _detail(agent, block="danger_zone", status=422, errors=_errors(exc), section="delete")
    flash(f"Deleted “{agent.name}”." + (" Its number is on hold for 30 days." if agent.phone_number_id else ""),
          "success")
    return _redirect("voice_agents.index")
