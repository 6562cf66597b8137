"""The ElevenLabs side of a voice agent (spec page 10, "Setup Guide" and "Provisioning rollback").

Creating an agent is three steps, each undone when a later one fails:

1. the ElevenLabs conversational agent: prompt, first message, voice, language and the four webhook tools
   (``list_event_types``, ``get_available_slots``, ``create_booking``, ``get_booking_details``) whose requests carry
   ``ELEVENLABS_WEBHOOK_SECRET`` in ``X-Voice-Secret`` and name the agent in ``?agent_id=``;
2. a Twilio number (``numbers.provision_number``), on plans with a phone number when Twilio is configured;
3. the number imported into ElevenLabs and bound to the agent (``numbers.bind_to_agent``).

Undoing: ``numbers.discard_purchase`` (ElevenLabs import removed, Twilio number released, row deleted), then the
ElevenLabs agent deleted. The host sees "Failed to create AI agent: <ElevenLabs' reason>" or numbers' "Failed to
provision phone number: <Twilio's reason>". This module holds the provider calls; ``agents`` the rules and rows.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from app.integrations.elevenlabs import ToolSpec, webhook_tool
from app.integrations.errors import IntegrationError
from app.integrations.errors import NotFound as RemoteNotFound
from app.services.voice import prompts, settings

log = logging.getLogger(__name__)

_WHAT = re.compile(r"^Could not [^:]{1,60}: ")


class AgentFailed(Exception):
    """ElevenLabs refused (or could not be reached): ``str(e)`` is "Failed to create AI agent: <reason>" (or
    "Failed to update AI agent: ..." for a change that could not be synced)."""


class NotConfigured(Exception):
    """The server lacks settings the action needs; ``missing`` names them (the operator must set them)."""

    def __init__(self, missing: list[str], what: str = "Voice agents") -> None:
        super().__init__(f"{what} are not configured on this server: the operator must set {', '.join(missing)}.")
        self.missing = missing


def reason(exc: Exception) -> str:
    """The provider's reason without the client's "Could not create the agent: " lead."""
    return _WHAT.sub("", str(exc)).strip() or type(exc).__name__


def require_configured() -> None:
    missing = settings.missing()
    if missing:
        raise NotConfigured(missing)


# --- the tools ---------------------------------------------------------------------------------------------------
def _dynamic(name: str, description: str) -> dict:
    """A body property ElevenLabs fills from a dynamic variable (never the model)."""
    return {"type": "string", "description": description, "dynamic_variable": name}


def _context() -> dict:
    return {"conversation_id": _dynamic("system__conversation_id", "The conversation's id."),
            "user_id": _dynamic("user_id", "The host's account id.")}


def _string(description: str) -> dict:
    return {"type": "string", "description": description}


def tool_specs(agent_id: str, base_url: str) -> list[ToolSpec]:
    """The four tools with the parameters of spec page 10, each pointed at ``/api/voice/tools/<name>``."""
    def url(path: str) -> str:
        return f"{base_url}/api/voice/tools/{path}?agent_id={agent_id}"

    slug = _string("The slug of the meeting type, as list_event_types gives it (e.g. 30-min).")
    zone = _string("The caller's IANA time zone, e.g. America/New_York.")
    return [
        ToolSpec("list_event_types", "List the meeting types the caller can book, with their length.",
                 url("event-types"), _context()),
        ToolSpec("get_available_slots", "Find the free start times of a meeting type on one date.",
                 url("available-slots"),
                 {**_context(), "event_type_slug": slug,
                  "date": _string("The date to check, YYYY-MM-DD."), "timezone": zone},
                 required=("event_type_slug", "date")),
        ToolSpec("create_booking", "Book the meeting once the caller chose a time and gave name and email.",
                 url("create-booking"),
                 {**_context(), "event_type_slug": slug,
                  "invitee_name": _string("The caller's full name."),
                  "invitee_email": _string("The caller's email address, spelled back to them."),
                  "start_time": _string("The chosen start, exactly as get_available_slots gave it (ISO 8601)."),
                  "timezone": zone,
                  "notes": _string("What the caller wants to talk about (optional)."),
                  "invitee_phone": _string("The caller's phone number in E.164, when known (optional).")},
                 required=("event_type_slug", "invitee_name", "invitee_email", "start_time")),
        ToolSpec("get_booking_details", "Read an existing booking's details (reminder and follow-up calls).",
                 url("booking-details"),
                 {**_context(), "booking_id": _string("The booking's id ({{booking_id}}).")},
                 required=("booking_id",)),
    ]


def tools_for(agent_id: str) -> list[dict]:
    from flask import current_app

    secret = current_app.config.get("ELEVENLABS_WEBHOOK_SECRET") or ""
    return [webhook_tool(spec, secret) for spec in tool_specs(agent_id, settings.base_url())]


# --- the remote agent ------------------------------------------------------------------------------------------
def speaker(agent, host):
    """Whom the agent speaks for: the organization for an organization's agent, else the host."""
    return agent.organization if agent.organization_id else host


def remote_fields(agent, host, fields: Iterable[str] | None = None) -> dict:
    """The ElevenLabs body parts for ``fields`` (all when None): name, prompt (+ tools), first message, language,
    voice. The prompt depends on the name, the template and the business context; the generated greeting on the
    name and the language."""
    wanted = set(fields) if fields is not None else {"name", "prompt", "first_message", "language", "voice_id"}
    changes: dict = {}
    if "name" in wanted:
        changes["name"] = agent.name
    if "prompt" in wanted:
        changes["prompt"] = prompts.system_prompt(agent)
        changes["tools"] = tools_for(agent.id)
    if "first_message" in wanted:
        changes["first_message"] = prompts.greeting_for(agent, speaker(agent, host))
    if "language" in wanted:
        changes["language"] = agent.language
    if "voice_id" in wanted:
        changes["voice_id"] = agent.voice_id
    return changes


def create_remote(agent, host) -> str:
    """Step 1: the ElevenLabs agent; its id. Raises AgentFailed."""
    require_configured()
    try:
        return settings.client().create_agent(**remote_fields(agent, host))
    except (IntegrationError, ValueError) as exc:
        raise AgentFailed(f"Failed to create AI agent: {reason(exc)}") from exc


def update_remote(agent, host, fields: Iterable[str]) -> None:
    """Sync the given parts to ElevenLabs. Raises AgentFailed ("Failed to update AI agent: ...")."""
    fields = set(fields)
    if not fields or not agent.elevenlabs_agent_id:
        return
    require_configured()
    try:
        settings.client().update_agent(agent.elevenlabs_agent_id, **remote_fields(agent, host, fields))
    except (IntegrationError, ValueError) as exc:
        raise AgentFailed(f"Failed to update AI agent: {reason(exc)}") from exc


def delete_remote(agent_id: str | None) -> str | None:
    """Delete the ElevenLabs agent; never raises. None when gone (or already gone), else the reason it is not."""
    if not agent_id:
        return None
    try:
        settings.client().delete_agent(agent_id)
    except RemoteNotFound:
        return None
    except Exception as exc:                      # rollback and deletion carry on; the reason is kept and logged
        log.warning("voice agent %s could not be deleted at ElevenLabs: %s", agent_id, exc)
        return reason(exc)
    return None
