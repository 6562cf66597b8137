"""Voice agents of an account (spec page 10, "Multi-Agent" and "Agent API"): create (with provisioning), read,
change (synced to ElevenLabs), delete (deactivate; the number goes on its 30-day hold), linked event types,
active hours, the agent's phone number, and the JSON shapes of the API.

Who sees an agent: its creator, and for an organization's agent the OWNER and ADMIN members of the organization;
anyone else gets ``NotFound`` (another's object is a 404). A deleted agent (``deleted_at`` set) is never listed.
Limits: ``voice_agents`` of the plan (Free 1, Pro 2, Business 20) counts the account's own agents, or the
organization's for an organization agent; checked before provisioning and again when the row is stored.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime

import peewee

from app.db import is_postgres, transaction
from app.integrations.twilio_numbers import SUPPORTED_COUNTRIES
from app.models import CallLog, EventType, Membership, Team, User
from app.models.base import utcnow
from app.models.voice import DEFAULT_VOICE_ID, VoiceAgent, VoiceAgentEventType
from app.services import audit, plans
from app.services.account import organizations
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.voice import hours, numbers, prompts, provisioning, settings, usage
from app.services.voice.provisioning import AgentFailed, NotConfigured

__all__ = ["AgentFailed", "NotConfigured", "agents_of", "get_agent", "first_agent", "create_agent", "update_agent",
           "delete_agent", "set_event_types", "set_active_hours", "add_phone", "remove_phone", "agent_json"]

log = logging.getLogger(__name__)

NAME_MAX, GREETING_MAX, CONTEXT_MAX, VOICE_MAX = 100, 500, 5000, 64
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
VOICE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MANAGERS = organizations.MANAGERS
managed_organizations = organizations.managed_organizations   # who may create agents (OWNER or ADMIN)
MAX_LINKED = 200
NOT_FOUND = "Voice agent not found"


# --- reading -----------------------------------------------------------------------------------------------------
def _visible(user: User):
    return VoiceAgent.deleted_at.is_null() & (
        (VoiceAgent.user == user.id) | VoiceAgent.organization.in_(organizations.managed_organization_ids(user)))


def agents_of(user: User) -> list[VoiceAgent]:
    """The agents ``user`` manages (own, and their organizations' as OWNER/ADMIN), oldest first."""
    return list(VoiceAgent.select().where(_visible(user)).order_by(VoiceAgent.created_at, VoiceAgent.id))


def get_agent(user: User, agent_id: str) -> VoiceAgent:
    agent = VoiceAgent.select().where((VoiceAgent.id == str(agent_id)) & _visible(user)).first()
    if agent is None:
        raise NotFound(NOT_FOUND)
    return agent


def first_agent(user: User) -> VoiceAgent | None:
    """The default agent of the legacy ``/api/voice/agent``: the oldest one."""
    return VoiceAgent.select().where(_visible(user)).order_by(VoiceAgent.created_at, VoiceAgent.id).first()


def linked_event_types(agent: VoiceAgent) -> list[EventType]:
    return list(EventType.select().join(VoiceAgentEventType, on=(VoiceAgentEventType.event_type == EventType.id))
                .where(VoiceAgentEventType.agent == agent.id).order_by(EventType.position, EventType.name))


def eligible_event_types(agent: VoiceAgent) -> list[EventType]:
    """What the agent may be limited to: the host's personal event types; for an organization agent its
    members' personal ones and the organization's teams' ones."""
    if agent.organization_id:
        members = Membership.select(Membership.user).where(Membership.organization == agent.organization_id)
        teams = Team.select(Team.id).where(Team.organization == agent.organization_id)
        condition = ((EventType.user.in_(members)) & EventType.personal()) | EventType.team.in_(teams)
    else:
        condition = (EventType.user == agent.user_id) & EventType.personal()
    return list(EventType.select(EventType, User).join(User, on=(EventType.user == User.id)).where(condition)
                .order_by(User.name, EventType.position, EventType.name))


# --- validation --------------------------------------------------------------------------------------------------
def _text(data: dict, key: str, limit: int, errors: dict, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            errors[key] = f"Give 1 to {limit} characters."
        return None
    if not isinstance(value, str):
        errors[key] = "Must be a string."
        return None
    value = value.strip()
    if required and not value:
        errors[key] = f"Give 1 to {limit} characters."
    elif len(value) > limit:
        errors[key] = f"At most {limit} characters."
    return value or None


def clean(data, *, creating: bool) -> dict:
    """The agent fields of a create or PATCH body (JSON names), validated; keys only for what was sent (on
    create: every field, with its default). Raises ValidationFailed with the JSON names as keys."""
    if not isinstance(data, dict):
        raise ValidationFailed({"body": "Send a JSON object."})
    errors: dict[str, str] = {}
    out: dict = {}
    template_key = data.get("template", prompts.DEFAULT_TEMPLATE if creating else None)
    if "template" in data or creating:
        if template_key is None and creating:
            template_key = prompts.DEFAULT_TEMPLATE
        if template_key not in prompts.TEMPLATES:
            errors["template"] = f"Choose one of {', '.join(prompts.TEMPLATES)}."
        else:
            out["template"] = template_key
    template = prompts.TEMPLATES.get(template_key or "") or prompts.TEMPLATES[prompts.DEFAULT_TEMPLATE]
    if "agentName" in data or creating:
        blank = creating and (data.get("agentName") is None or (isinstance(data.get("agentName"), str)
                                                               and not data["agentName"].strip()))
        out["name"] = template.agent_name if blank else _text(data, "agentName", NAME_MAX, errors, required=True)
    if "greeting" in data or creating:
        out["greeting"] = _text(data, "greeting", GREETING_MAX, errors)
    if "businessContext" in data or creating:
        out["business_context"] = _text(data, "businessContext", CONTEXT_MAX, errors)
    if "voiceId" in data or creating:
        voice = data.get("voiceId")
        if voice in (None, "") and creating:
            voice = DEFAULT_VOICE_ID
        if not (isinstance(voice, str) and VOICE.match(voice.strip())):
            errors["voiceId"] = "An ElevenLabs voice id: letters, digits, _ and -, at most 64."
        else:
            out["voice_id"] = voice.strip()
    if "language" in data or creating:
        language = data.get("language")
        if language in (None, "") and creating:
            language = template.language
        if not (isinstance(language, str) and LANGUAGE.match(language.strip())):
            errors["language"] = "A language code such as en, es or pt-BR."
        else:
            out["language"] = language.strip()
    if "isActive" in data and not creating:
        if not isinstance(data["isActive"], bool):
            errors["isActive"] = "Must be true or false."
        else:
            out["is_active"] = data["isActive"]
    if errors:
        raise ValidationFailed(errors)
    return out


def country_of(value) -> str:
    code = str(value or "US").strip().upper()
    if code not in SUPPORTED_COUNTRIES:
        raise ValidationFailed({"countryCode": f"Choose one of {', '.join(SUPPORTED_COUNTRIES)}."})
    return code


# --- limits ------------------------------------------------------------------------------------------------------
def _lock_user(user: User) -> None:
    if is_postgres():
        list(User.select(User.id).where(User.id == user.id).for_update())


def _count(user: User, organization) -> int:
    query = VoiceAgent.select().where(VoiceAgent.deleted_at.is_null())
    if organization is not None:
        return query.where(VoiceAgent.organization == organization.id).count()
    return query.where((VoiceAgent.user == user.id) & VoiceAgent.organization.is_null()).count()


def check_limit(user: User, organization=None) -> None:
    plans.check_count(user, "voice_agents", _count(user, organization), "voice agents")


def wants_number(user: User, phone: bool) -> bool:
    """Step 2 happens: asked for, the plan has phone numbers, and Twilio is configured."""
    return phone and plans.limits_for(user).voice_phone_number and settings.numbers_configured()


# --- creating ----------------------------------------------------------------------------------------------------
def create_agent(user: User, data, *, phone: bool = True, country: str = "US", organization=None,
                 ip: str | None = None) -> VoiceAgent:
    """A new agent, provisioned in three steps (module ``provisioning``). Raises ValidationFailed,
    PlanLimitReached, NotConfigured, AgentFailed or numbers.NumberFailed (after undoing the earlier steps)."""
    fields = clean(data, creating=True)
    country = country_of(country)
    if organization is None and isinstance(data, dict) and data.get("organizationId"):
        organization, _row = organizations.require_member(str(data["organizationId"]), user, *MANAGERS)
    provisioning.require_configured()
    check_limit(user, organization)
    agent = VoiceAgent(user=user, organization=organization, **fields)
    agent.elevenlabs_agent_id = provisioning.create_remote(agent, user)             # step 1
    try:
        with transaction(immediate=True):
            _lock_user(user)
            check_limit(user, organization)             # again: two creations at once never pass the limit
            agent.save(force_insert=True)
    except BaseException:
        provisioning.delete_remote(agent.elevenlabs_agent_id)
        raise
    note = None
    if wants_number(user, phone):
        try:
            _attach_new_number(user, agent, country)                                # steps 2 and 3
        except plans.PlanLimitReached as exc:       # no number left on the plan: the agent works in the browser
            note = str(exc)
        except BaseException:
            provisioning.delete_remote(agent.elevenlabs_agent_id)
            VoiceAgent.delete().where(VoiceAgent.id == agent.id).execute()
            raise
    if note:
        VoiceAgent.update(last_error=note).where(VoiceAgent.id == agent.id).execute()
    agent = VoiceAgent.get_by_id(agent.id)
    audit.record("voice_agent.created", resource="voice_agent", resource_id=agent.id, user=user, actor=user, ip=ip,
                 organization=organization,
                 details={"name": agent.name, "template": agent.template, "language": agent.language,
                          "phoneNumber": _e164(agent)})
    return agent


def _attach_new_number(user: User, agent: VoiceAgent, country: str) -> None:
    """Buy a number (step 2) and bind it (step 3); a failed binding gives the number back."""
    number = numbers.provision_number(user, country, label=agent.name, organization=agent.organization)
    try:
        numbers.bind_to_agent(number, agent)
    except BaseException:
        numbers.discard_purchase(number)
        raise
    VoiceAgent.update(phone_number=number.id, updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()


# --- changing ----------------------------------------------------------------------------------------------------
_REMOTE = {"name": {"name", "prompt", "first_message"}, "template": {"prompt"},
           "business_context": {"prompt"}, "greeting": {"first_message"},
           "language": {"language", "first_message"}, "voice_id": {"voice_id"}}
_JSON_NAMES = {"name": "agentName", "greeting": "greeting", "business_context": "businessContext",
               "voice_id": "voiceId", "language": "language", "template": "template", "is_active": "isActive"}


def update_agent(user: User, agent_id: str, data, *, ip: str | None = None) -> VoiceAgent:
    """PATCH: the fields sent, synced to ElevenLabs before they are stored (a refusal changes nothing and
    raises AgentFailed)."""
    agent = get_agent(user, agent_id)
    fields = clean(data, creating=False)
    changed = {key: value for key, value in fields.items() if getattr(agent, key) != value}
    if changed.get("is_active") and agent.auto_deactivated and usage.usage_for(agent.user).exceeded:
        raise ValidationFailed({"isActive": f"This month's minutes are used up: the agent is off until "
                                            f"{next_period_text()}."})
    if not changed:
        return agent
    remote = set().union(*(_REMOTE.get(key, set()) for key in changed))
    for key, value in changed.items():
        setattr(agent, key, value)
    if remote:
        provisioning.update_remote(agent, agent.user, remote)
    values = {**changed, "updated_at": utcnow()}
    if "is_active" in changed:
        values["auto_deactivated"] = False
    VoiceAgent.update(**values).where(VoiceAgent.id == agent.id).execute()
    _audit_update(user, agent, [_JSON_NAMES[key] for key in changed], ip)
    return VoiceAgent.get_by_id(agent.id)


def _audit_update(user: User, agent: VoiceAgent, changed: list[str], ip: str | None) -> None:
    audit.record("voice_agent.updated", resource="voice_agent", resource_id=agent.id, user=user, actor=user, ip=ip,
                 organization=agent.organization if agent.organization_id else None,
                 details={"name": agent.name, "changed": changed})


def set_event_types(user: User, agent_id: str, ids, *, ip: str | None = None) -> list[EventType]:
    """Link the agent to exactly these event types (empty: all of them, the default)."""
    agent = get_agent(user, agent_id)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationFailed({"eventTypeIds": "Send a list of event type ids."})
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if len(wanted) > MAX_LINKED:
        raise ValidationFailed({"eventTypeIds": f"At most {MAX_LINKED} event types."})
    allowed = {et.id: et for et in eligible_event_types(agent)}
    unknown = [i for i in wanted if i not in allowed]
    if unknown:
        raise ValidationFailed({"eventTypeIds": f"Not one of your event types: {', '.join(unknown[:5])}."})
    with transaction():
        VoiceAgentEventType.delete().where(VoiceAgentEventType.agent == agent.id).execute()
        for event_type_id in wanted:
            VoiceAgentEventType.create(agent=agent.id, event_type=event_type_id)
        VoiceAgent.update(updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()
    _audit_update(user, agent, ["eventTypes"], ip)
    return [allowed[i] for i in wanted]


def set_active_hours(user: User, agent_id: str, body, *, ip: str | None = None) -> VoiceAgent:
    """Store the 7-day schedule (``hours.parse``; its errors as ValidationFailed)."""
    agent = get_agent(user, agent_id)
    try:
        active_hours = hours.parse(body, agent.user.timezone or "UTC")
    except hours.InvalidHours as exc:
        raise ValidationFailed(exc.errors) from exc
    VoiceAgent.update(active_hours=active_hours, updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()
    _audit_update(user, agent, ["activeHours"], ip)
    return VoiceAgent.get_by_id(agent.id)


# --- the phone number --------------------------------------------------------------------------------------------
def add_phone(user: User, agent_id: str, *, country: str = "US", phone_number_id: str | None = None,
              ip: str | None = None) -> VoiceAgent:
    """Give the agent a number: a new one bought in ``country``, or one of the account's own active numbers
    (``phone_number_id``; an organization's agents may share the organization's). Pro and above."""
    agent = get_agent(user, agent_id)
    plans.check_feature(user, "voice_phone_number", "phone numbers for voice agents")
    if agent.phone_number_id:
        raise Conflict("This agent already has a phone number: remove it first.")
    provisioning.require_configured()
    if not settings.numbers_configured():
        raise NotConfigured(settings.missing_for_numbers(), "Phone numbers")
    if phone_number_id:
        number = numbers.get_number(user, phone_number_id)
        if number.status != "active":
            raise ValidationFailed({"phoneNumberId": "This number is on hold or released: choose an active one."})
        numbers.bind_to_agent(number, agent)
        VoiceAgent.update(phone_number=number.id, updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()
    else:
        _attach_new_number(user, agent, country_of(country))
    agent = VoiceAgent.get_by_id(agent.id)
    _audit_update(user, agent, ["phoneNumber"], ip)
    return agent


def _others_on(number_id: str, agent: VoiceAgent) -> list[VoiceAgent]:
    return list(VoiceAgent.select().where((VoiceAgent.phone_number == number_id) & (VoiceAgent.id != agent.id)
                                          & VoiceAgent.deleted_at.is_null()).order_by(VoiceAgent.created_at))


def _let_go_of_number(agent: VoiceAgent) -> None:
    """The agent stops answering on its number: held for 30 days unless another (not deleted) agent uses it,
    which then answers on it at ElevenLabs."""
    number = agent.phone_number
    if number is None:
        return
    others = _others_on(number.id, agent)
    if not others:
        numbers.hold_number(number)
    VoiceAgent.update(phone_number=None, updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()
    if others and others[0].elevenlabs_agent_id:
        try:
            numbers.bind_to_agent(number, others[0])
        except Exception:
            log.warning("number %s could not be moved to voice agent %s at ElevenLabs", number.id, others[0].id,
                        exc_info=True)


def remove_phone(user: User, agent_id: str, *, ip: str | None = None) -> VoiceAgent:
    agent = get_agent(user, agent_id)
    if agent.phone_number_id is None:
        raise NotFound("This agent has no phone number.")
    _let_go_of_number(agent)
    agent = VoiceAgent.get_by_id(agent.id)
    _audit_update(user, agent, ["phoneNumber"], ip)
    return agent


# --- deleting ----------------------------------------------------------------------------------------------------
def delete_agent(user: User, agent_id: str, *, ip: str | None = None) -> VoiceAgent:
    """Deactivate the agent (spec: "DELETE -- Deactivate the agent"): its number on hold (or left to the agents
    sharing it), the ElevenLabs agent deleted, the row kept with ``deleted_at`` and never listed again. A number
    that cannot be put on hold stops the deletion (retry later)."""
    agent = get_agent(user, agent_id)
    _let_go_of_number(agent)
    problem = provisioning.delete_remote(agent.elevenlabs_agent_id)
    now = utcnow()
    VoiceAgent.update(is_active=False, deleted_at=now, updated_at=now,
                      last_error=f"Not deleted at ElevenLabs: {problem}" if problem else agent.last_error
                      ).where(VoiceAgent.id == agent.id).execute()
    audit.record("voice_agent.deleted", resource="voice_agent", resource_id=agent.id, user=user, actor=user, ip=ip,
                 organization=agent.organization if agent.organization_id else None, details={"name": agent.name})
    return VoiceAgent.get_by_id(agent.id)


# --- what pages and the API show ---------------------------------------------------------------------------------
def _e164(agent: VoiceAgent) -> str | None:
    return agent.phone_number.e164 if agent.phone_number_id else None


def next_period(now: datetime | None = None) -> datetime:
    start = usage.period_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def next_period_text(now: datetime | None = None) -> str:
    when = next_period(now)
    return f"{when.day} {when.strftime('%B %Y')}"


def status_of(agent: VoiceAgent) -> str:
    """"Active", "Inactive", or "Off until 1 March 2026" for an agent switched off for minutes."""
    if agent.is_active:
        return "Active"
    if agent.auto_deactivated:
        return f"Off until {next_period_text()}"
    return "Inactive"


def agent_json(agent: VoiceAgent, *, full: bool = False) -> dict:
    """One agent as spec page 10's list shows it; ``full`` (GET one agent) adds linked event types, active hours,
    template, organization and the automatic switch-off."""
    body = {"id": agent.id, "agentName": agent.name, "voiceId": agent.voice_id, "greeting": agent.greeting,
            "businessContext": agent.business_context, "language": agent.language, "phoneNumber": _e164(agent),
            "isActive": agent.is_active, "elevenlabsAgentId": agent.elevenlabs_agent_id,
            "createdAt": audit.iso(agent.created_at)}
    if full:
        linked = linked_event_types(agent)
        body.update({
            "template": agent.template, "organizationId": agent.organization_id,
            "autoDeactivated": agent.auto_deactivated, "phoneNumberId": agent.phone_number_id,
            "eventTypeIds": [et.id for et in linked],
            "eventTypes": [{"id": et.id, "name": et.name, "slug": et.slug} for et in linked],
            "activeHours": agent.active_hours or {"enabled": False},
            "lastError": agent.last_error, "updatedAt": audit.iso(agent.updated_at)})
    return body


def plan_json(user: User) -> dict:
    limits = plans.limits_for(user)
    return {"name": plans.effective_plan(user), "hasPhoneNumber": limits.voice_phone_number,
            "maxMinutes": limits.voice_minutes, "maxAgents": limits.voice_agents}


def usage_report(user: User, now: datetime | None = None) -> dict:
    """``GET /api/voice/usage``: the month's minutes, calls, average length of finished calls, and outcomes."""
    current = usage.usage_for(user, now)
    this_month = (CallLog.user == user.id) & (CallLog.started_at >= usage.period_start(now))
    average = (CallLog.select(peewee.fn.AVG(CallLog.duration_seconds))
               .where(this_month & (CallLog.status != "IN_PROGRESS")).scalar())
    count = peewee.fn.COUNT(CallLog.id)
    outcomes = (CallLog.select(CallLog.outcome, count.alias("n")).where(this_month & CallLog.outcome.is_null(False))
                .group_by(CallLog.outcome).order_by(count.desc(), CallLog.outcome).tuples())
    return {**usage.usage_json(current), "callsThisMonth": current.calls,
            "avgDurationSeconds": round(float(average or 0)),
            "topOutcomes": [{"outcome": outcome, "count": n} for outcome, n in outcomes]}
