"""Whether this instance can run messaging agents: the Anthropic key and Twilio's account (numbers and texts).
Without them the pages say what the operator must set and nothing is offered; ``MESSAGING_AGENT_ENABLED`` false
(the kill switch) keeps agents configured but answers customers with the booking URL."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

REQUIRED = ("ANTHROPIC_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
# A conversation idle this long ends; the next text starts a new one. Here, not in the engine, so the inbound
# webhook never imports the engine (and the Anthropic SDK, seconds of imports) while Twilio waits.
IDLE_EXPIRY = timedelta(hours=24)


def _settings(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if config is not None:
        return config
    from flask import current_app
    return current_app.config


def missing(config: Mapping[str, Any] | None = None) -> list[str]:
    cfg = _settings(config)
    return [name for name in REQUIRED if not cfg.get(name)]


def configured(config: Mapping[str, Any] | None = None) -> bool:
    return not missing(config)


def enabled(config: Mapping[str, Any] | None = None) -> bool:
    """The global switch (setting) is on; the operator's runtime kill switch is checked by ``kill_switch``."""
    return bool(_settings(config).get("MESSAGING_AGENT_ENABLED", True))
