"""Conversations as hosts read them: Dashboard → Conversations and ``GET /api/v1/conversations`` (spec page 23),
and the deletion of old messages.

A host sees the ``Conversation`` rows of their account (``Conversation.user``), the latest message first; another
account's conversation is a ``NotFound``. ``ConversationFilter`` narrows the list by the customer's phone (E.164:
``parse_phone`` normalises what people type), channel, agent, state of the booking dialogue and a half-open range
of last-message instants. ``conversation_json`` is the API's representation, exactly as page 23 shows it:
``{"id", "contactPhone", "channel", "messages": [{"content", "direction", "timestamp"}]}`` with the most recent
``MAX_API_MESSAGES`` (50) messages in time order (``recent_messages`` loads them for a whole page at once).

Retention: messages are kept ``MESSAGING_RETENTION_DAYS`` days (default 90) from when they were sent or received.
The daily task ``delete_old_messages`` empties older ones (``content`` set to NULL, as the model's docstring
says) rather than deleting the rows: the thread keeps its shape, the dashboard shows "deleted after N days" in
their place, and the pool's counts of outbound messages (``by_agent``) and their costs stay right. The
conversation itself, its state and the booking it led to stay too. The API lists only messages that still have
their content: a deleted message has nothing left to show.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from peewee import JOIN, fn

from app.models import Booking, Conversation, ConversationMessage, MessagingAgent, User
from app.models.base import utcnow
from app.models.messaging import CHANNELS, CONVERSATION_STATES
from app.phones import normalize_phone
from app.services.errors import NotFound
from app.services.events import iso

MAX_API_MESSAGES = 50
DELETE_BATCH = 500
WHATSAPP_PREFIX = "whatsapp:"
CHANNEL_LABELS = {"sms": "SMS", "whatsapp": "WhatsApp"}
STATE_LABELS = {"greeting": "Greeting", "event_selection": "Choosing a meeting type", "datetime": "Choosing a time",
                "details": "Collecting details", "confirmation": "Confirming", "booked": "Booked",
                "closed": "Closed"}
DIRECTION_LABELS = {"inbound": "Customer", "outbound": "Agent"}
DATA_LABELS = {"event_type_id": "Meeting type id", "event_type": "Meeting type", "event_type_name": "Meeting type",
               "event_type_slug": "Meeting type", "date": "Date", "start": "Time", "start_time": "Time",
               "startTime": "Time", "slot": "Time", "time": "Time", "timezone": "Time zone", "name": "Name",
               "invitee_name": "Name", "email": "Email", "invitee_email": "Email", "notes": "Notes"}


@dataclass(frozen=True)
class ConversationFilter:
    phone: str | None = None                  # the customer's number, E.164
    channel: str | None = None                # one of CHANNELS
    agent_id: str | None = None
    state: str | None = None                  # one of CONVERSATION_STATES
    start: datetime | None = None             # last message at or after
    end: datetime | None = None               # last message before


def retention_days() -> int:
    return int(current_app.config["MESSAGING_RETENTION_DAYS"])


def parse_phone(raw: str | None, default_region: str = "US") -> str | None:
    """What someone typed as a phone number, in E.164; None when it is not a valid number. A ``+`` sent unencoded
    in a query string arrives as a space (``?phone=+447911123456``): a number that starts with one is read as
    international. ``whatsapp:`` prefixes are dropped."""
    if not isinstance(raw, str):
        return None
    text = raw[len(WHATSAPP_PREFIX):] if raw.lower().startswith(WHATSAPP_PREFIX) else raw
    if text[:1] == " " and text.strip()[:1].isdigit():
        text = "+" + text.strip()
    return normalize_phone(text, default_region)


def _where(user: User, filters: ConversationFilter):
    condition = Conversation.user == user.id
    if filters.phone:
        condition &= Conversation.contact_phone == filters.phone
    if filters.channel in CHANNELS:
        condition &= Conversation.channel == filters.channel
    if filters.agent_id:
        condition &= Conversation.agent == filters.agent_id
    if filters.state in CONVERSATION_STATES:
        condition &= Conversation.state == filters.state
    if filters.start is not None:
        condition &= Conversation.last_message_at >= filters.start
    if filters.end is not None:
        condition &= Conversation.last_message_at < filters.end
    return condition


def list_conversations(user: User, filters: ConversationFilter | None = None, *, page: int = 1, limit: int = 20
                       ) -> tuple[int, list[Conversation]]:
    """The number of the user's conversations matching ``filters`` and one page of them, the latest message
    first (each with its agent and booking loaded, both may be None)."""
    condition = _where(user, filters or ConversationFilter())
    total = Conversation.select().where(condition).count()
    rows = list(Conversation.select(Conversation, MessagingAgent, Booking)
                .join(MessagingAgent, JOIN.LEFT_OUTER, on=(Conversation.agent == MessagingAgent.id))
                .switch(Conversation).join(Booking, JOIN.LEFT_OUTER, on=(Conversation.booking == Booking.id))
                .where(condition).order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                .limit(limit).offset((max(page, 1) - 1) * limit))
    return total, rows


def get_conversation(user: User, conversation_id: str) -> Conversation:
    conversation = (Conversation.select(Conversation, MessagingAgent, Booking)
                    .join(MessagingAgent, JOIN.LEFT_OUTER, on=(Conversation.agent == MessagingAgent.id))
                    .switch(Conversation).join(Booking, JOIN.LEFT_OUTER, on=(Conversation.booking == Booking.id))
                    .where((Conversation.id == conversation_id) & (Conversation.user == user.id)).first())
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


def messages_of(conversation: Conversation) -> list[ConversationMessage]:
    """Every message of the conversation in time order (deleted ones too: their ``content`` is None)."""
    return list(ConversationMessage.select().where(ConversationMessage.conversation == conversation.id)
                .order_by(ConversationMessage.created_at, ConversationMessage.id))


def recent_messages(conversations: list[Conversation], limit: int = MAX_API_MESSAGES, *,
                    with_deleted: bool = False) -> dict[str, list[ConversationMessage]]:
    """For each conversation id, its most recent ``limit`` messages in time order, in one query for the whole
    page (a window function numbers each conversation's messages from the newest). Deleted messages are left
    out unless ``with_deleted``."""
    ids = [c.id for c in conversations]
    found: dict[str, list[ConversationMessage]] = {cid: [] for cid in ids}
    if not ids:
        return found
    condition = ConversationMessage.conversation.in_(ids)
    if not with_deleted:
        condition &= ConversationMessage.content.is_null(False)
    rank = fn.ROW_NUMBER().over(partition_by=[ConversationMessage.conversation],
                                order_by=[ConversationMessage.created_at.desc(), ConversationMessage.id.desc()])
    ranked = (ConversationMessage.select(ConversationMessage.id.alias("mid"), rank.alias("rn"))
              .where(condition).alias("ranked"))
    rows = (ConversationMessage.select()
            .join(ranked, on=(ConversationMessage.id == ranked.c.mid))
            .where(ranked.c.rn <= limit)
            .order_by(ConversationMessage.conversation, ConversationMessage.created_at, ConversationMessage.id))
    for message in rows:
        found[message.conversation_id].append(message)
    return found


def message_counts(conversations: list[Conversation]) -> dict[str, int]:
    """How many messages each conversation has (deleted ones included)."""
    ids = [c.id for c in conversations]
    counts = {cid: 0 for cid in ids}
    if ids:
        query = (ConversationMessage.select(ConversationMessage.conversation, fn.COUNT(ConversationMessage.id))
                 .where(ConversationMessage.conversation.in_(ids)).group_by(ConversationMessage.conversation)
                 .tuples())
        counts.update({cid: int(n) for cid, n in query})
    return counts


def agents_of(user: User) -> list[MessagingAgent]:
    """The account's messaging agents for the filter (a deleted one still names its conversations)."""
    return list(MessagingAgent.select().where(MessagingAgent.user == user.id)
                .order_by(MessagingAgent.created_at, MessagingAgent.id))


def agent_of(conversation: Conversation) -> MessagingAgent | None:
    return conversation.agent if conversation.agent_id else None


def booking_of(conversation: Conversation) -> Booking | None:
    return conversation.booking if conversation.booking_id else None


def contact_phone(conversation: Conversation) -> str:
    """The customer's number (E.164; stored without WhatsApp's ``whatsapp:`` prefix, which the 20-character
    column could not hold)."""
    return conversation.contact_phone or ""


def dialogue_facts(conversation: Conversation) -> list[tuple[str, str]]:
    """What the customer already said (``Conversation.data``) as (label, text) pairs for the dashboard: known
    keys get a label, others their own name; empty values and nested structures that say nothing are left out."""
    facts = []
    for key, value in sorted((conversation.data or {}).items()):
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        facts.append((DATA_LABELS.get(key, key.replace("_", " ").capitalize()), text))
    return facts


def message_json(message: ConversationMessage) -> dict:
    return {"content": message.content, "direction": message.direction, "timestamp": iso(message.created_at)}


def conversation_json(conversation: Conversation, messages: list[ConversationMessage]) -> dict:
    """Page 23's shape; ``messages``: the conversation's recent ones in time order (``recent_messages``)."""
    return {"id": conversation.id, "contactPhone": contact_phone(conversation), "channel": conversation.channel,
            "messages": [message_json(m) for m in messages if m.content is not None][-MAX_API_MESSAGES:]}


def delete_old_messages(now: datetime | None = None) -> int:
    """Empty the content of messages older than the retention period; how many were deleted. The rows stay
    (``content`` NULL), and so do their conversations and bookings."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days())
    deleted = 0
    while True:
        ids = [row.id for row in ConversationMessage.select(ConversationMessage.id)
               .where(ConversationMessage.content.is_null(False) & (ConversationMessage.created_at < cutoff))
               .limit(DELETE_BATCH)]
        if not ids:
            return deleted
        deleted += (ConversationMessage.update(content=None)
                    .where(ConversationMessage.id.in_(ids)).execute())
