"""Helpers of the voice call tests (issue 21): the settings that point the app at the ElevenLabs fake, the four tool
definitions an agent is created with (as the contract fixes them: ``{BASE_URL}/api/voice/tools/<name>?agent_id=``,
secret in ``X-Voice-Secret``, ``conversation_id`` and ``user_id`` from dynamic variables), and agents and numbers
stored directly. Plain functions (no fixtures): call them inside an app context with a database connection."""
from __future__ import annotations

import secrets
from typing import Any

from tests.fakes.elevenlabs import WEBHOOK_SECRET as SIGNING_SECRET

TOOL_SECRET = "vsec_" + "7001" * 8
TOOLS = (
    ("event-types", "list_event_types", "List the meeting types the caller can book.", {}, ()),
    ("available-slots", "get_available_slots", "Free start times of a meeting type on one date.",
     {"event_type_slug": {"type": "string", "description": "slug from list_event_types"},
      "date": {"type": "string", "description": "YYYY-MM-DD"},
      "timezone": {"type": "string", "description": "the caller's IANA time zone"}}, ("event_type_slug", "date")),
    ("create-booking", "create_booking", "Book a meeting the caller chose.",
     {"event_type_slug": {"type": "string", "description": "slug"},
      "invitee_name": {"type": "string", "description": "name"},
      "invitee_email": {"type": "string", "description": "email"},
      "start_time": {"type": "string", "description": "start_time from get_available_slots"},
      "timezone": {"type": "string", "description": "zone"},
      "notes": {"type": "string", "description": "notes"},
      "invitee_phone": {"type": "string", "description": "phone"}},
     ("event_type_slug", "invitee_name", "invitee_email", "start_time")),
    ("booking-details", "get_booking_details", "Details of an existing booking.",
     {"booking_id": {"type": "string", "description": "the booking id"}}, ("booking_id",)),
)
DYNAMIC = {"user_id": {"type": "string", "description": "the account", "dynamic_variable": "user_id"},
           "conversation_id": {"type": "string", "description": "the conversation",
                               "dynamic_variable": "system__conversation_id"}}


def voice_settings(fake=None, **overrides) -> dict[str, Any]:
    """Config overrides: voice agents configured (against ``fake`` when given)."""
    settings = {"ELEVENLABS_API_KEY": fake.api_key if fake else "sk_test", "ELEVENLABS_WEBHOOK_SECRET": TOOL_SECRET,
                "ELEVENLABS_SIGNING_SECRET": SIGNING_SECRET}
    if fake is not None:
        settings["ELEVENLABS_API_BASE"] = fake.url
    settings.update(overrides)
    return settings


def tool_definitions(base_url: str, agent_id: str) -> list[dict[str, Any]]:
    from app.integrations.elevenlabs import ToolSpec, webhook_tool

    tools = []
    for path, name, description, params, required in TOOLS:
        spec = ToolSpec(name=name, description=description,
                        url=f"{base_url.rstrip('/')}/api/voice/tools/{path}?agent_id={agent_id}",
                        parameters={**params, **DYNAMIC}, required=required)
        tools.append(webhook_tool(spec, TOOL_SECRET))
    return tools


def phone_number(owner, e164: str = "+12125550100", **fields):
    from app.models.voice import PhoneNumber

    return PhoneNumber.create(user=owner, e164=e164, country="US", twilio_sid="PN" + secrets.token_hex(16), **fields)


def agent(owner, *, number=None, fake=None, base_url: str = "http://localhost:5000", **fields):
    """A voice agent row (bound to ``number``); with ``fake``, also created at the ElevenLabs fake with its four
    tools pointing at ``base_url``."""
    from app.models.voice import VoiceAgent
    from app.services.voice import prompts, settings

    made = VoiceAgent.create(user=owner, phone_number=number, **fields)
    if fake is not None:
        client = settings.client()
        made.elevenlabs_agent_id = client.create_agent(
            name=made.name, prompt=prompts.system_prompt(made), first_message=prompts.greeting_for(made, owner),
            tools=tool_definitions(base_url, made.id))
        made.save()
    return made


def tool_headers(secret: str = TOOL_SECRET) -> dict[str, str]:
    return {"X-Voice-Secret": secret}
