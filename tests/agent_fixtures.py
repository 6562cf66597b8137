"""Fixtures of the voice-agent tests: the ElevenLabs and Twilio fakes on loopback, an app pointed at both, and helpers
to read the rows. A test module wraps ``servers()`` and ``voice_settings()`` in its own fixtures.
"""
from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from tests.fakes.elevenlabs import WEBHOOK_SECRET, ElevenLabsFake
from tests.fakes.twilio import TwilioFake

SIGNING_SECRET = "whsec_" + "5197" * 8


@contextmanager
def servers():
    """The ElevenLabs fake (``.eleven``) and the Twilio fake (``.twilio``), running."""
    with ElevenLabsFake() as eleven, TwilioFake() as twilio:
        yield SimpleNamespace(eleven=eleven, twilio=twilio)


@pytest.fixture
def fakes():
    with servers() as both:
        yield both


def voice_settings(fakes, *, twilio: bool = True) -> dict:
    values = {"ELEVENLABS_API_KEY": fakes.eleven.api_key, "ELEVENLABS_API_BASE": fakes.eleven.url,
              "ELEVENLABS_WEBHOOK_SECRET": WEBHOOK_SECRET, "ELEVENLABS_SIGNING_SECRET": SIGNING_SECRET,
              "BASE_URL": "https://cal.example.com", "INTEGRATION_HTTP_TIMEOUT": 5}
    if twilio:
        values.update(fakes.twilio.settings())
    return values


@pytest.fixture
def voice_app(app_factory, fakes):
    """An app whose ElevenLabs and Twilio clients reach the fakes."""
    return app_factory(**voice_settings(fakes))
