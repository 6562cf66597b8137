"""Fixtures of the phone-number tests (issue 21): the Twilio and ElevenLabs fakes on loopback, an app pointed at both,
and voice agents that exist at the ElevenLabs fake. Test modules load them with
``pytest_plugins = ["tests.number_fixtures"]`` and reach the helpers through fixtures (``make_agent``,
``number_settings``), not imports: a module pytest loads as a plugin is imported once, by pytest."""
from __future__ import annotations

import pytest

from tests.fakes.elevenlabs import WEBHOOK_SECRET, ElevenLabsFake
from tests.fakes.twilio import TwilioFake

BASE = "https://cal.example.com"
HELD_LINE = BASE + "/api/voice/held-line"
SMS_URL = BASE + "/api/webhooks/twilio/inbound"


def number_settings(twilio: TwilioFake | None = None, elevenlabs: ElevenLabsFake | None = None, **extra) -> dict:
    """App settings pointing Twilio and ElevenLabs at the fakes (None: that provider is not configured)."""
    cfg: dict = {"BASE_URL": BASE}
    if twilio is not None:
        cfg.update(twilio.settings())
    else:
        cfg.update(TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="", TWILIO_FROM_NUMBER="")
    if elevenlabs is not None:
        cfg.update(ELEVENLABS_API_KEY=elevenlabs.api_key, ELEVENLABS_API_BASE=elevenlabs.url,
                   ELEVENLABS_WEBHOOK_SECRET="voice-secret-" + "x" * 20, ELEVENLABS_SIGNING_SECRET=WEBHOOK_SECRET)
    return {**cfg, **extra}


@pytest.fixture
def twilio_fake():
    with TwilioFake() as server:
        yield server


@pytest.fixture
def elevenlabs_fake():
    with ElevenLabsFake() as server:
        yield server


@pytest.fixture
def numbers_app(app_factory, twilio_fake, elevenlabs_fake):
    """The app with Twilio and ElevenLabs both pointed at their fakes."""
    return app_factory(**number_settings(twilio_fake, elevenlabs_fake))


@pytest.fixture
def in_app(numbers_app):
    """``numbers_app``'s context and a database connection, for calling services directly."""
    from app.db import db

    with numbers_app.app_context(), db.connection_context():
        yield numbers_app


def _make_agent(user, *, organization=None, name: str = "Scheduling Assistant"):
    """A VoiceAgent row whose ElevenLabs agent exists at the fake (inside an app context)."""
    from app.models.voice import VoiceAgent
    from app.services.voice import settings

    agent_id = settings.client().create_agent(name=name, prompt="You book meetings.",
                                              first_message="Hi! I'm an AI scheduling assistant.")
    return VoiceAgent.create(user=user, organization=organization, name=name, elevenlabs_agent_id=agent_id)


@pytest.fixture(name="make_agent")
def make_agent_fixture():
    """``make_agent(user, organization=None, name=...)``: a VoiceAgent whose ElevenLabs agent is at the fake."""
    return _make_agent


@pytest.fixture(name="number_settings")
def number_settings_fixture():
    """``number_settings(twilio=None, elevenlabs=None, **extra)``: settings for ``app_factory``."""
    return number_settings
