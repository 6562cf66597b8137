"""Fixtures of the voice-agent tests: the ElevenLabs and Twilio fakes on loopback, an app pointed at both, and helpers
to read the rows. A test module imports this module before the voice services (``import tests.agent_fixtures as
voice_fixtures`` sorts first) and wraps ``servers()`` and ``voice_settings()`` in its own fixtures.

``app.services.voice.numbers`` (phone numbers, written by another part of issue 21) may not be in this tree yet:
then ``install_stand_in`` puts a small private stand-in in its place for these tests, following the module's contract
(VOICE_CONTRACT.md) against the same fakes. Once the real module exists it is used and the stand-in is not.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.fakes.elevenlabs import WEBHOOK_SECRET, ElevenLabsFake
from tests.fakes.twilio import TwilioFake

SIGNING_SECRET = "whsec_" + "5197" * 8
NUMBERS_MODULE = "app.services.voice.numbers"
REAL_NUMBERS = importlib.util.find_spec(NUMBERS_MODULE) is not None


def _stand_in() -> types.ModuleType:
    """The contract of ``numbers`` in the few lines these tests need (provision, bind, discard, hold, get)."""
    module = types.ModuleType(NUMBERS_MODULE)
    module.__doc__ = "Test stand-in of app.services.voice.numbers (tests/agent_fixtures.py)."

    class NumberFailed(Exception):
        pass

    def _failed(exc):
        return NumberFailed(f"Failed to provision phone number: {exc}")

    def provision_number(user, country, *, label="", organization=None):
        from app.integrations import twilio_numbers
        from app.integrations.errors import IntegrationError
        from app.models.voice import PhoneNumber
        from app.services import plans
        from app.services.voice import settings

        active = PhoneNumber.select().where((PhoneNumber.user == user.id) & (PhoneNumber.status == "active")).count()
        plans.check_count(user, "messaging_numbers", active, "phone numbers")
        try:
            owned = twilio_numbers.provision(country, friendly_name=label or None,
                                             sms_url=settings.base_url() + "/api/webhooks/twilio/inbound")
        except IntegrationError as exc:
            raise _failed(exc) from exc
        kind = "toll_free" if owned.phone_number.startswith(("+1800", "+97180", "+44800")) else "local"
        return PhoneNumber.create(user=user.id, organization=getattr(organization, "id", None),
                                  e164=owned.phone_number, country=country, number_type=kind,
                                  twilio_sid=owned.sid, label=label or "")

    def bind_to_agent(number, agent):
        from flask import current_app

        from app.integrations.errors import IntegrationError
        from app.models.voice import PhoneNumber, VoiceAgent
        from app.services.voice import settings

        client = settings.client()
        try:
            if not number.elevenlabs_phone_id:
                number.elevenlabs_phone_id = client.import_twilio_number(
                    phone_number=number.e164, label=number.label or number.e164,
                    account_sid=current_app.config["TWILIO_ACCOUNT_SID"],
                    auth_token=current_app.config["TWILIO_AUTH_TOKEN"])
                PhoneNumber.update(elevenlabs_phone_id=number.elevenlabs_phone_id).where(
                    PhoneNumber.id == number.id).execute()
            client.assign_phone_number(number.elevenlabs_phone_id, agent.elevenlabs_agent_id)
        except IntegrationError as exc:
            raise _failed(exc) from exc
        agent.phone_number = number
        VoiceAgent.update(phone_number=number.id).where(VoiceAgent.id == agent.id).execute()

    def discard_purchase(number):
        from app.integrations import twilio_numbers
        from app.services.voice import settings

        if number.elevenlabs_phone_id:
            try:
                settings.client().delete_phone_number(number.elevenlabs_phone_id)
            except Exception:
                pass
        try:
            twilio_numbers.release(number.twilio_sid)
        except Exception:
            pass
        number.delete_instance()

    def hold_number(number):
        from app.integrations import twilio_numbers
        from app.models.base import utcnow
        from app.models.voice import PhoneNumber, VoiceAgent
        from app.services.voice import settings

        number = PhoneNumber.get_by_id(number.id)
        if number.status != "active":
            return
        if number.elevenlabs_phone_id:
            settings.client().delete_phone_number(number.elevenlabs_phone_id)
        twilio_numbers.update(number.twilio_sid, voice_url=settings.base_url() + "/api/voice/held-line")
        PhoneNumber.update(status="held", hold_until=utcnow() + timedelta(days=30), elevenlabs_phone_id=None).where(
            PhoneNumber.id == number.id).execute()
        VoiceAgent.update(phone_number=None).where(VoiceAgent.phone_number == number.id).execute()

    def get_number(user, number_id):
        from app.models.voice import PhoneNumber
        from app.services.errors import NotFound

        number = PhoneNumber.get_or_none((PhoneNumber.id == number_id) & (PhoneNumber.user == user.id))
        if number is None:
            raise NotFound("Phone number not found")
        return number

    for fn in (provision_number, bind_to_agent, discard_purchase, hold_number, get_number):
        setattr(module, fn.__name__, fn)
    module.NumberFailed = NumberFailed
    return module


def install_stand_in() -> None:
    """Without the real numbers module, its stand-in in ``sys.modules`` for this test process (installed when this
    module is imported, before any test module imports the voice services that import ``numbers``)."""
    if REAL_NUMBERS or NUMBERS_MODULE in sys.modules:
        return
    import app.services.voice as voice

    module = _stand_in()
    sys.modules[NUMBERS_MODULE] = module
    voice.numbers = module


install_stand_in()


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
