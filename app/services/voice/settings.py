"""Whether this instance can run voice agents, and the ElevenLabs client built from its settings.

Voice agents need ``ELEVENLABS_API_KEY``, ``ELEVENLABS_WEBHOOK_SECRET`` and ``ELEVENLABS_SIGNING_SECRET``; phone
numbers also need Twilio's account SID and auth token. Without them the pages say what the operator must set
and nothing is offered.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.integrations import twilio_numbers
from app.integrations.elevenlabs import ElevenLabsClient, config_from_settings

REQUIRED = ("ELEVENLABS_API_KEY", "ELEVENLABS_WEBHOOK_SECRET", "ELEVENLABS_SIGNING_SECRET")
TWILIO_REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")


def _settings(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if config is not None:
        return config
    from flask import current_app
    return current_app.config


def missing(config: Mapping[str, Any] | None = None) -> list[str]:
    """The voice settings that are not set (empty when voice agents can work)."""
    cfg = _settings(config)
    return [name for name in REQUIRED if not cfg.get(name)]


def configured(config: Mapping[str, Any] | None = None) -> bool:
    return not missing(config)


def numbers_configured(config: Mapping[str, Any] | None = None) -> bool:
    """Twilio can sell numbers (account SID and auth token set)."""
    return twilio_numbers.configured(_settings(config))


def missing_for_numbers(config: Mapping[str, Any] | None = None) -> list[str]:
    cfg = _settings(config)
    return [name for name in TWILIO_REQUIRED if not cfg.get(name)]


def client(config: Mapping[str, Any] | None = None) -> ElevenLabsClient:
    return ElevenLabsClient(config_from_settings(_settings(config)))


def base_url(config: Mapping[str, Any] | None = None) -> str:
    return str(_settings(config)["BASE_URL"]).rstrip("/")
