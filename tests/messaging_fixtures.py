"""Fixtures of the messaging-agent tests (issue 22): the Anthropic and Twilio fakes on loopback, an app pointed at
both, a PRO host in New York with a phone number and an SMS agent, and conversations. Test modules load them with
``pytest_plugins = ["tests.messaging_fixtures"]`` and reach the helpers through the ``messaging`` fixture (a module
pytest loads as a plugin is imported once, by pytest: do not import this one); call them inside
``in_messaging_app``.

``NOW`` is a Monday noon UTC: the host's Tuesday 10:00 AM New York is ``SLOT`` (free in the default schedule)."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tests.fakes.anthropic import AnthropicFake
from tests.fakes.twilio import TwilioFake

BASE = "https://cal.example.com"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)         # Monday 08:00 New York
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)        # Tuesday 10:00 New York
AGENT_NUMBER = "+12125550100"
CUSTOMER = "+14155551234"


def messaging_settings(anthropic: AnthropicFake | None, twilio: TwilioFake | None, **extra) -> dict:
    cfg: dict = {"BASE_URL": BASE, "INTEGRATION_HTTP_TIMEOUT": 5, "MESSAGING_AGENT_ENABLED": True}
    if anthropic is not None:
        cfg.update(anthropic.settings())
    if twilio is not None:
        cfg.update(twilio.settings())
    return {**cfg, **extra}


@pytest.fixture
def messaging_fakes():
    """``.anthropic`` and ``.twilio``, running."""
    with AnthropicFake() as anthropic, TwilioFake() as twilio:
        yield SimpleNamespace(anthropic=anthropic, twilio=twilio)


@pytest.fixture
def messaging_app(app_factory, messaging_fakes):
    return app_factory(**messaging_settings(messaging_fakes.anthropic, messaging_fakes.twilio))


@pytest.fixture
def in_messaging_app(messaging_app):
    """``messaging_app``'s context with a database connection, for calling services directly."""
    from app.db import db

    with messaging_app.app_context(), db.connection_context():
        yield messaging_app


def make_host(username: str = "emmanuel", **kwargs):
    from tests import factories

    kwargs.setdefault("timezone", "America/New_York")
    kwargs.setdefault("name", "Emmanuel Vidal")
    kwargs.setdefault("plan", "PRO")
    return factories.user(username, **kwargs)


def make_agent(owner, *, e164: str = AGENT_NUMBER, channel: str = "sms", **fields):
    """A MessagingAgent of ``owner`` answering on a new PhoneNumber ``e164``."""
    from app.models.messaging import MessagingAgent
    from app.models.voice import PhoneNumber

    number = PhoneNumber.create(user=owner, e164=e164, country="US", twilio_sid="PN" + secrets.token_hex(16))
    fields.setdefault("name", "Sarah")
    return MessagingAgent.create(user=owner, phone_number=number, channel=channel, **fields)


def make_conversation(agent, *, contact: str = CUSTOMER, **fields):
    from app.models.messaging import Conversation

    return Conversation.create(user=agent.user_id, agent=agent, channel=agent.channel, contact_phone=contact,
                               agent_phone=agent.phone_number.e164, **fields)


def store(conversation, direction: str, text: str, **fields):
    """A stored message, as the inbound helper stores them."""
    from app.models.messaging import ConversationMessage

    return ConversationMessage.create(conversation=conversation, direction=direction, content=text,
                                      by_agent=direction == "outbound", **fields)


@pytest.fixture
def messaging_host(in_messaging_app):
    return make_host()


@pytest.fixture
def messaging_agent(messaging_host):
    return make_agent(messaging_host)


@pytest.fixture
def conversation(messaging_agent):
    return make_conversation(messaging_agent)


@pytest.fixture
def messaging():
    """The helpers and constants: ``NOW``, ``SLOT``, ``CUSTOMER``, ``AGENT_NUMBER``, ``BASE``, ``settings(anthropic,
    twilio, **extra)``, ``make_host(username, **kw)``, ``make_agent(owner, e164=, channel=, **fields)``,
    ``make_conversation(agent, contact=, **fields)``, ``store(conversation, direction, text, **fields)``."""
    return SimpleNamespace(NOW=NOW, SLOT=SLOT, CUSTOMER=CUSTOMER, AGENT_NUMBER=AGENT_NUMBER, BASE=BASE,
                           settings=messaging_settings, make_host=make_host, make_agent=make_agent,
                           make_conversation=make_conversation, store=store)
