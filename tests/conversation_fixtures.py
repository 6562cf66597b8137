"""Messaging conversations stored directly, as if customers had texted an agent (issue 22's conversations tests)."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from app.models import Conversation, ConversationMessage, MessagingAgent

_sids = itertools.count(1)


def messaging_agent(user, name: str = "Sarah", channel: str = "sms", **fields) -> MessagingAgent:
    return MessagingAgent.create(user=user, name=name, channel=channel, **fields)


def message(conversation: Conversation, direction: str, content: str | None, at: datetime,
            **fields) -> ConversationMessage:
    return ConversationMessage.create(conversation=conversation, direction=direction, content=content, created_at=at,
                                      twilio_sid=f"SM{next(_sids):032d}", by_agent=direction == "outbound",
                                      status="received" if direction == "inbound" else "sent", **fields)


def conversation(user, last_at: datetime, *, agent: MessagingAgent | None = None, channel: str = "sms",
                 contact_phone: str = "+14155551234", agent_phone: str = "+14155550100", state: str = "greeting",
                 booking=None, data: dict | None = None, messages: int | list = 2, **fields) -> Conversation:
    """A conversation whose last message is at ``last_at``. ``messages``: a count (alternating customer and agent
    texts "Message 1" ... one minute apart, the last at ``last_at``) or a list of (direction, content, at)."""
    row = Conversation.create(user=user, agent=agent, channel=channel, contact_phone=contact_phone,
                              agent_phone=agent_phone, state=state, booking=booking, data=data or {},
                              last_message_at=last_at, last_inbound_at=last_at, created_at=last_at, **fields)
    if isinstance(messages, int):
        count = messages
        messages = [("inbound" if n % 2 == 0 else "outbound", f"Message {n + 1}",
                     last_at - timedelta(minutes=count - 1 - n)) for n in range(count)]
        if count:
            Conversation.update(created_at=messages[0][2]).where(Conversation.id == row.id).execute()
    for direction, content, at in messages:
        message(row, direction, content, at)
    return Conversation.get_by_id(row.id)
