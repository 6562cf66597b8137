"""Messaging agents of an account (spec page 11, "Agent API"): SMS and WhatsApp assistants that answer texts on one
of the account's phone numbers. Create, read, change, delete (soft: ``deleted_at`` set, switched off, never listed
again; its conversations stay), linked event types, and the JSON shapes of ``/api/agents/messaging``.

Fields (JSON names): ``name`` (1-100 characters), ``greeting`` (at most 500; empty: the engine greets with a default
that says it is an AI assistant), ``tone`` (professional, friendly, casual or custom; ``customTone``, at most 500,
is required with custom and dropped otherwise), ``language`` (a code such as en or pt-BR; default en),
``businessContext`` (at most 5000), ``channel`` (sms or whatsapp; default sms), ``phoneNumberId`` (an active number
the caller may use: their own or one of their organizations'), ``isActive`` (default true), ``eventTypeIds`` (the
agent's own event types it may offer, or for an organization agent its members'; none: all active non-secret ones)
and, on create, ``organizationId`` for an organization's agent (its OWNERs and ADMINs manage it).

Who sees an agent: its creator, and for an organization's agent the OWNER and ADMIN members; anyone else gets
``NotFound`` (another's object is a 404).

Rules checked on every create and change, inside one transaction (the rows of the account and the number locked on
PostgreSQL; SQLite's write lock serialises):

* agents per channel (``plans.messaging_agents_per_channel``: Free 0, Pro 2, Business 10, Organization 50) count the
  account's own agents on that channel, or the organization's for an organization agent (its plan);
* an agent needs a number (an account without one is told to provision one on Dashboard → Phone Numbers), and the
  number must be active (not on its 30-day hold);
* a WhatsApp agent can be active only on a number whose WhatsApp sender is approved;
* one active agent per number and channel: two would race for the same texts.

Spec page 21 names no audit action for messaging agents, so none is recorded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.db import is_postgres, transaction
from app.models import EventType, Membership, Organization, User
from app.models.base import utcnow
from app.models.messaging import CHANNELS, TONES, MessagingAgent, MessagingAgentEventType, WhatsAppSender
from app.models.voice import PhoneNumber
from app.services import plans
from app.services.account import organizations
from app.services.errors import NotFound, ValidationFailed
from app.services.events import iso
from app.services.voice import numbers

__all__ = ["agents_of", "get_agent", "create_agent", "update_agent", "delete_agent", "set_event_types",
           "agent_json", "linked_event_types", "eligible_event_types", "usable_numbers", "sender_status",
           "plan_json", "managed_organizations"]

NAME_MAX, GREETING_MAX, TONE_MAX, CONTEXT_MAX = 100, 500, 500, 5000
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
MAX_LINKED = 200
NOT_FOUND = "Messaging agent not found"
CHANNEL_LABELS = {"sms": "SMS", "whatsapp": "WhatsApp"}
TONE_LABELS = {"professional": "Professional", "friendly": "Friendly", "casual": "Casual", "custom": "Custom"}
MANAGERS = organizations.MANAGERS
managed_organizations = organizations.managed_organizations   # who may create agents (OWNER or ADMIN)
NO_NUMBERS = ("You have no phone number yet: provision one on Dashboard → Phone Numbers, then give it to the "
              "agent.")
NOT_RESPONDING_HINT = ("page 11's troubleshooting, “Agent not responding”: 3. WhatsApp sender is approved (if using "
                       "WhatsApp channel)")


# --- reading -----------------------------------------------------------------------------------------------------
def _visible(user: User):
    return MessagingAgent.deleted_at.is_null() & (
        (MessagingAgent.user == user.id)
        | MessagingAgent.organization.in_(organizations.managed_organization_ids(user)))


def agents_of(user: User) -> list[MessagingAgent]:
    """The agents ``user`` manages (own, and their organizations' as OWNER/ADMIN), oldest first."""
    return list(MessagingAgent.select().where(_visible(user))
                .order_by(MessagingAgent.created_at, MessagingAgent.id))


def get_agent(user: User, agent_id: str) -> MessagingAgent:
    agent = MessagingAgent.select().where((MessagingAgent.id == str(agent_id)) & _visible(user)).first()
    if agent is None:
        raise NotFound(NOT_FOUND)
    return agent


def linked_event_types(agent: MessagingAgent) -> list[EventType]:
    return list(EventType.select().join(MessagingAgentEventType,
                                        on=(MessagingAgentEventType.event_type == EventType.id))
                .where(MessagingAgentEventType.agent == agent.id).order_by(EventType.position, EventType.name))


def _eligible_condition(user_id: str, organization_id: str | None):
    if organization_id:
        members = Membership.select(Membership.user).where(Membership.organization == organization_id)
        return EventType.user.in_(members) & EventType.personal()
    return (EventType.user == user_id) & EventType.personal()


def _eligible(user_id: str, organization_id: str | None) -> list[EventType]:
    return list(EventType.select(EventType, User).join(User, on=(EventType.user == User.id))
                .where(_eligible_condition(user_id, organization_id))
                .order_by(User.name, EventType.position, EventType.name))


def eligible_event_types(agent: MessagingAgent) -> list[EventType]:
    """What the agent may be limited to: the host's personal event types; for an organization agent its members'
    (the booking tools book personal event types only)."""
    return _eligible(agent.user_id, agent.organization_id)


def usable_numbers(user: User) -> list[PhoneNumber]:
    """The active numbers ``user`` may give an agent: their own and their organizations', newest first."""
    return [number for number in numbers.numbers_of(user) if number.status == "active"]


def sender_status(number_id: str | None) -> str | None:
    """The WhatsApp sender status of a number (pending, approved, rejected, failed, revoked), None without one."""
    if not number_id:
        return None
    sender = WhatsAppSender.get_or_none(WhatsAppSender.phone_number == number_id)
    return sender.status if sender else None


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


def _choice(data: dict, key: str, choices: tuple, default: str | None, errors: dict) -> str | None:
    value = data.get(key)
    if value in (None, "") and default is not None:
        return default
    if not isinstance(value, str) or value.strip().lower() not in choices:
        errors[key] = f"Choose one of {', '.join(choices)}."
        return None
    return value.strip().lower()


def _ids(value, errors: dict) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        errors["eventTypeIds"] = "Send a list of event type ids."
        return None
    wanted = list(dict.fromkeys(i.strip() for i in value if i.strip()))
    if len(wanted) > MAX_LINKED:
        errors["eventTypeIds"] = f"At most {MAX_LINKED} event types."
        return None
    return wanted


def clean(data, *, creating: bool) -> dict:
    """The agent fields of a create or PUT body (JSON names), validated; keys only for what was sent (on create:
    every field, with its default). ``phone_number`` holds the id as sent, ``event_type_ids`` the list; both are
    checked against the account by the caller. Raises ValidationFailed with the JSON names as keys."""
    if not isinstance(data, dict):
        raise ValidationFailed({"body": "Send a JSON object."})
    errors: dict[str, str] = {}
    out: dict = {}
    if "name" in data or creating:
        out["name"] = _text(data, "name", NAME_MAX, errors, required=True)
    if "greeting" in data or creating:
        out["greeting"] = _text(data, "greeting", GREETING_MAX, errors)
    if "tone" in data or creating:
        out["tone"] = _choice(data, "tone", TONES, "professional" if creating else None, errors)
    if "customTone" in data or creating:
        out["custom_tone"] = _text(data, "customTone", TONE_MAX, errors)
    if "language" in data or creating:
        language = data.get("language")
        if language in (None, "") and creating:
            language = "en"
        if not (isinstance(language, str) and LANGUAGE.match(language.strip())):
            errors["language"] = "A language code such as en, es or pt-BR."
        else:
            out["language"] = language.strip()
    if "businessContext" in data or creating:
        out["business_context"] = _text(data, "businessContext", CONTEXT_MAX, errors)
    if "channel" in data or creating:
        out["channel"] = _choice(data, "channel", CHANNELS, "sms" if creating else None, errors)
    if "phoneNumberId" in data or creating:
        value = data.get("phoneNumberId")
        if value is not None and not isinstance(value, str):
            errors["phoneNumberId"] = "Must be a string."
        else:
            out["phone_number"] = (value or "").strip() or None
    if "isActive" in data or creating:
        value = data.get("isActive", True)
        if not isinstance(value, bool):
            errors["isActive"] = "Must be true or false."
        else:
            out["is_active"] = value
    if "eventTypeIds" in data:
        out["event_type_ids"] = _ids(data["eventTypeIds"], errors)
    if "organizationId" in data and creating:
        value = data.get("organizationId")
        if value is not None and not isinstance(value, str):
            errors["organizationId"] = "Must be a string."
    if errors:
        raise ValidationFailed(errors)
    return out


# --- the rules ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _PlanOf:
    """An organization as ``plans`` reads an account: its own plan, nothing above it."""
    plan: str
    id: None = None


def _plan_holder(user: User, organization_id: str | None):
    if organization_id is None:
        return user
    return _PlanOf(Organization.get_by_id(organization_id).plan)


def _count(user_id: str, organization_id: str | None, channel: str, exclude: str | None) -> int:
    query = MessagingAgent.select().where(MessagingAgent.deleted_at.is_null() & (MessagingAgent.channel == channel))
    if exclude:
        query = query.where(MessagingAgent.id != exclude)
    if organization_id is not None:
        return query.where(MessagingAgent.organization == organization_id).count()
    return query.where((MessagingAgent.user == user_id) & MessagingAgent.organization.is_null()).count()


def check_limit(user: User, channel: str, organization_id: str | None = None, *, exclude: str | None = None) -> None:
    """PlanLimitReached when the account (or the organization) may not have one more agent on ``channel``."""
    plans.check_count(_plan_holder(user, organization_id), "messaging_agents_per_channel",
                      _count(user.id, organization_id, channel, exclude),
                      f"{CHANNEL_LABELS[channel]} messaging agents")


def _number_for(user: User, number_id: str | None) -> PhoneNumber:
    """The active number ``user`` may give an agent, or ValidationFailed ({"phoneNumberId"})."""
    if not number_id:
        raise ValidationFailed({"phoneNumberId": "Choose the agent's phone number." if usable_numbers(user)
                                else NO_NUMBERS})
    try:
        number = numbers.get_number(user, number_id)
    except NotFound:
        raise ValidationFailed({"phoneNumberId": "Not one of your phone numbers." if usable_numbers(user)
                                else NO_NUMBERS}) from None
    if number.status != "active":
        raise ValidationFailed({"phoneNumberId": f"{number.e164} is on hold or released: choose an active number."})
    return number


def _check_whatsapp(number: PhoneNumber) -> None:
    status = sender_status(number.id)
    if status == "approved":
        return
    state = f"its WhatsApp sender is {status}" if status else "WhatsApp is not enabled on it"
    raise ValidationFailed({"isActive": (
        f"A WhatsApp agent can be active only on a number whose WhatsApp sender is approved: {number.e164} is not "
        f"({state}). Enable WhatsApp on Dashboard → Phone Numbers and wait for Meta's approval, or save the agent "
        f"switched off (see {NOT_RESPONDING_HINT}).")})


def _check_number_free(number: PhoneNumber, channel: str, exclude: str | None) -> None:
    query = MessagingAgent.select().where(
        (MessagingAgent.phone_number == number.id) & (MessagingAgent.channel == channel) & MessagingAgent.is_active
        & MessagingAgent.deleted_at.is_null())
    if exclude:
        query = query.where(MessagingAgent.id != exclude)
    other = query.first()
    if other is not None:
        raise ValidationFailed({"phoneNumberId": (
            f"“{other.name}” already answers {CHANNEL_LABELS[channel]} texts on {number.e164}: one active agent per "
            "number and channel (two would race for the same texts). Switch it off first, or save this one "
            "switched off.")})


def _lock(user: User, organization_id: str | None, number: PhoneNumber | None) -> None:
    if is_postgres():                   # SQLite: the transaction already holds the write lock
        if organization_id is not None:
            list(Organization.select(Organization.id).where(Organization.id == organization_id).for_update())
        else:
            list(User.select(User.id).where(User.id == user.id).for_update())
        if number is not None:
            list(PhoneNumber.select(PhoneNumber.id).where(PhoneNumber.id == number.id).for_update())


def _check(user: User, *, organization_id: str | None, channel: str, number: PhoneNumber | None, active: bool,
           agent_id: str | None, limit: bool) -> None:
    """Every rule of the module's docstring (``limit``: the channel's count, for a new agent or a new channel)."""
    if limit:
        check_limit(user, channel, organization_id, exclude=agent_id)
    if number is not None and active:
        if channel == "whatsapp":
            _check_whatsapp(number)
        _check_number_free(number, channel, agent_id)


def _eligible_ids(user_id: str, organization_id: str | None, wanted: list[str]) -> list[str]:
    allowed = {et.id for et in _eligible(user_id, organization_id)}
    unknown = [i for i in wanted if i not in allowed]
    if unknown:
        raise ValidationFailed({"eventTypeIds": f"Not one of your event types: {', '.join(unknown[:5])}."})
    return wanted


def _link(agent_id: str, ids: list[str]) -> None:
    MessagingAgentEventType.delete().where(MessagingAgentEventType.agent == agent_id).execute()
    for event_type_id in ids:
        MessagingAgentEventType.create(agent=agent_id, event_type=event_type_id)


# --- creating ----------------------------------------------------------------------------------------------------
def create_agent(user: User, data, *, organization=None) -> MessagingAgent:
    """A new agent. Raises ValidationFailed (JSON names), PlanLimitReached, or NotFound / Forbidden for an
    ``organizationId`` the caller does not manage."""
    fields = clean(data, creating=True)
    org_id = data.get("organizationId") if organization is None else getattr(organization, "id", organization)
    if org_id:
        organization, _row = organizations.require_member(str(org_id), user, *MANAGERS)
        org_id = organization.id
    else:
        org_id = None
    check_limit(user, fields["channel"], org_id)          # the plan first: a Free account hears about its plan
    number = _number_for(user, fields.pop("phone_number"))
    if fields["tone"] != "custom":
        fields["custom_tone"] = None
    elif not fields["custom_tone"]:
        raise ValidationFailed({"customTone": "Describe the custom tone (at most 500 characters)."})
    ids = fields.pop("event_type_ids", None)
    ids = _eligible_ids(user.id, org_id, ids) if ids else []
    with transaction(immediate=True):
        _lock(user, org_id, number)
        _check(user, organization_id=org_id, channel=fields["channel"], number=number, active=fields["is_active"],
               agent_id=None, limit=True)               # again, locked: two creations at once never both pass
        agent = MessagingAgent.create(user=user, organization=org_id, phone_number=number.id, **fields)
        _link(agent.id, ids)
    return MessagingAgent.get_by_id(agent.id)


# --- changing ----------------------------------------------------------------------------------------------------
def update_agent(user: User, agent_id: str, data) -> MessagingAgent:
    """PUT: the fields sent (any subset); the rules checked on the result. Raises ValidationFailed,
    PlanLimitReached or NotFound."""
    agent = get_agent(user, agent_id)
    fields = clean(data, creating=False)
    ids = fields.pop("event_type_ids", None)
    channel = fields.get("channel", agent.channel)
    active = fields.get("is_active", agent.is_active)
    number_id = fields.pop("phone_number") if "phone_number" in fields else agent.phone_number_id
    if number_id != agent.phone_number_id or (number_id is None and active):
        number = _number_for(user, number_id)
    else:
        number = agent.phone_number if number_id else None
    if active and number is not None and number.status != "active":
        raise ValidationFailed({"phoneNumberId": f"{number.e164} is on hold or released: choose an active number."})
    tone = fields.get("tone", agent.tone)
    custom_tone = fields["custom_tone"] if "custom_tone" in fields else agent.custom_tone
    if tone != "custom":
        custom_tone = None
    elif not custom_tone:
        raise ValidationFailed({"customTone": "Describe the custom tone (at most 500 characters)."})
    fields["custom_tone"] = custom_tone
    linked = _eligible_ids(agent.user_id, agent.organization_id, ids) if ids else ids
    with transaction(immediate=True):
        _lock(user, agent.organization_id, number)
        _check(user, organization_id=agent.organization_id, channel=channel, number=number, active=active,
               agent_id=agent.id, limit=channel != agent.channel)
        values = {**fields, "phone_number": number.id if number else None, "updated_at": utcnow()}
        MessagingAgent.update(**values).where(MessagingAgent.id == agent.id).execute()
        if linked is not None:
            _link(agent.id, linked)
    return MessagingAgent.get_by_id(agent.id)


def set_event_types(user: User, agent_id: str, ids) -> list[EventType]:
    """Link the agent to exactly these event types (empty: all active non-secret ones, the default)."""
    agent = get_agent(user, agent_id)
    errors: dict[str, str] = {}
    wanted = _ids(ids, errors)
    if errors:
        raise ValidationFailed(errors)
    _eligible_ids(agent.user_id, agent.organization_id, wanted)
    with transaction():
        _link(agent.id, wanted)
        MessagingAgent.update(updated_at=utcnow()).where(MessagingAgent.id == agent.id).execute()
    return linked_event_types(agent)


# --- deleting ----------------------------------------------------------------------------------------------------
def delete_agent(user: User, agent_id: str) -> MessagingAgent:
    """Switch the agent off for good: ``deleted_at`` set, never listed again; its conversations stay."""
    agent = get_agent(user, agent_id)
    now = utcnow()
    MessagingAgent.update(is_active=False, deleted_at=now, updated_at=now).where(
        MessagingAgent.id == agent.id).execute()
    return MessagingAgent.get_by_id(agent.id)


# --- what pages and the API show ---------------------------------------------------------------------------------
def problem_of(agent: MessagingAgent) -> str | None:
    """Why an active agent would not answer (page 11's "Agent not responding"), None when nothing is wrong."""
    if not agent.is_active:
        return None
    number = agent.phone_number if agent.phone_number_id else None
    if number is None:
        return "No phone number: give the agent one."
    if number.status != "active":
        return f"{number.e164} is on hold: give the agent an active number."
    if agent.channel == "whatsapp" and sender_status(number.id) != "approved":
        return "The number's WhatsApp sender is not approved: the agent does not answer on WhatsApp."
    return None


def agent_json(agent: MessagingAgent, *, full: bool = True) -> dict:
    """One agent in the API's shape (camelCase, the request's field names)."""
    number = agent.phone_number if agent.phone_number_id else None
    body = {"id": agent.id, "name": agent.name, "greeting": agent.greeting, "tone": agent.tone,
            "customTone": agent.custom_tone, "language": agent.language, "businessContext": agent.business_context,
            "channel": agent.channel, "phoneNumberId": agent.phone_number_id,
            "phoneNumber": number.e164 if number else None, "isActive": agent.is_active,
            "organizationId": agent.organization_id, "createdAt": iso(agent.created_at),
            "updatedAt": iso(agent.updated_at)}
    if agent.channel == "whatsapp":
        body["whatsappStatus"] = sender_status(agent.phone_number_id)
    if full:
        linked = linked_event_types(agent)
        body["eventTypeIds"] = [et.id for et in linked]
        body["eventTypes"] = [{"id": et.id, "name": et.name, "slug": et.slug} for et in linked]
    return body


def plan_json(user: User) -> dict:
    limits = plans.limits_for(user)
    return {"name": plans.effective_plan(user), "maxAgentsPerChannel": limits.messaging_agents_per_channel,
            "monthlyMessages": limits.monthly_messages}


def counts(user: User) -> dict[str, int]:
    """The account's own (personal) agents per channel, for the page's "1 of 2" line."""
    return {channel: _count(user.id, None, channel, None) for channel in CHANNELS}
