"""Shared by the outbound-call and call-log tests: the ElevenLabs fake, the settings that point LinkTime at it, an
account's calling agent (an agent and an imported number, made through the real client against the fake) and
call log rows.

A test module declares its own module-scoped fixture over ``fake_elevenlabs()`` (``yield from``)."""
from __future__ import annotations

import itertools
import secrets
from datetime import datetime

from app.models import CallLog, PhoneNumber, VoiceAgent
from app.services.voice import settings
from tests.fakes.elevenlabs import WEBHOOK_SECRET, ElevenLabsFake

SIGNING_SECRET = "sign_" + "5eed" * 8
TWILIO_ACCOUNT = "AC" + "ab" * 16
_numbers = itertools.count(100)


def fake_elevenlabs():
    """The fake's server for a module-scoped fixture: ``yield from fake_elevenlabs()``."""
    with ElevenLabsFake() as fake:
        yield fake


def forget_calls(fake: ElevenLabsFake) -> None:
    """A module shares one fake: each test starts with no outbound calls recorded."""
    with fake.lock:
        fake.calls.clear()


def voice_settings(fake: ElevenLabsFake, **overrides) -> dict:
    """The LinkTime settings that enable voice agents against ``fake``."""
    return {"ELEVENLABS_API_KEY": fake.api_key, "ELEVENLABS_API_BASE": fake.url,
            "ELEVENLABS_WEBHOOK_SECRET": WEBHOOK_SECRET, "ELEVENLABS_SIGNING_SECRET": SIGNING_SECRET,
            "INTEGRATION_HTTP_TIMEOUT": 5, "BASE_URL": "http://localhost", **overrides}


def agent_number() -> str:
    """A fresh US number for an agent (the fake refuses to import one number twice)."""
    return f"+1415555{next(_numbers) % 10000:04d}"


def calling_agent(user, *, name: str = "Sales Agent", phone: bool = True, active: bool = True,
                  number_status: str = "active", imported: bool = True) -> VoiceAgent:
    """An agent of ``user`` created at ElevenLabs (the fake) with, when ``phone``, a number imported there and bound
    to it, as provisioning leaves them (inside an app context)."""
    client = settings.client()
    remote_agent = client.create_agent(name=name, prompt="You are an AI assistant who books meetings.",
                                       first_message="Hi! I'm an AI assistant.")
    number = None
    if phone:
        e164 = agent_number()
        phone_id = None
        if imported:
            phone_id = client.import_twilio_number(phone_number=e164, label=name, account_sid=TWILIO_ACCOUNT,
                                                   auth_token="token")
            client.assign_phone_number(phone_id, remote_agent)
        number = PhoneNumber.create(user=user, e164=e164, country="US", twilio_sid="PN" + secrets.token_hex(16),
                                    elevenlabs_phone_id=phone_id, label=name, status=number_status)
    return VoiceAgent.create(user=user, name=name, elevenlabs_agent_id=remote_agent, phone_number=number,
                             is_active=active)


def call_log(user, started_at: datetime, *, agent: VoiceAgent | None = None, status: str = "COMPLETED",
             direction: str = "inbound", duration: int = 142, outcome: str | None = "info_provided",
             transcript: str | None = "Agent: Hi! I'm an AI assistant.\nCaller: I'd like to book.",
             caller_phone: str | None = "+14155551234", booking=None, **fields) -> CallLog:
    return CallLog.create(user=user, agent=agent, agent_name=agent.name if agent else "", direction=direction,
                          conversation_id="conv_" + secrets.token_hex(8), caller_phone=caller_phone, status=status,
                          outcome=outcome, duration_seconds=duration, transcript=transcript, booking=booking,
                          started_at=started_at, ended_at=started_at, **fields)
