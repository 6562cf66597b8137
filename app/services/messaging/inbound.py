"""Inbound texts to a messaging agent (issue 22, spec page 11) and the queued reply to each.

``receive(form)`` runs in the webhook (``POST /api/webhooks/twilio/inbound``, after the signature and the
STOP/HELP/START keywords): it finds the active ``MessagingAgent`` on the ``To`` number (an active ``PhoneNumber``)
and channel (``whatsapp:+E164`` addresses: WhatsApp, else SMS), finds or starts the ``Conversation`` (same agent
number, customer number, channel and host; one idle longer than ``idle_expiry()`` ends and a new one starts),
stores the inbound ``ConversationMessage`` (``twilio_sid`` = ``MessageSid``, unique: a webhook Twilio repeats is
stored and answered once, even when both copies race) and, after the commit, queues the ``reply_to_message`` task.
The webhook answers empty TwiML at once, so a slow model never meets Twilio's 15-second limit.

``reply(message_id)`` is that task: the fixed answer with the host's booking URL while the kill switch is on
(setting ``MESSAGING_AGENT_ENABLED`` false, or the operator's runtime kill state) or the month's message pool is
used up (the host is emailed once a month); otherwise ``engine.respond(conversation_id, text)`` and each text it
answers sent from the agent's number (``replies``); the first row carries the model's cost and tokens. The texts are
stored before they are sent, so a retried task (transient Twilio failures) sends only what is still pending and
never asks the model twice. Inbound statuses: ``received`` -> ``answered``; ``ignored`` (no active agent any
more, or the customer opted out); ``rate_limited``.

Rate limits (counted per inbound message that reaches an agent; over a limit the message is stored as
``rate_limited``, never answered by the agent, and the customer gets one polite note per hour in the TwiML answer):

- per customer phone: ``PHONE_PER_MINUTE`` 10 per minute and ``PHONE_PER_DAY`` 100 per day;
- per user (the agents' owner, all agents and customers together): ``USER_PER_HOUR`` 300 per hour.

Counters live in ``app.ratelimit``'s storage (per process in memory, shared through Redis with
``RATELIMIT_STORAGE_URL``).

Kill switch: ``killed()`` / ``kill()`` / ``resume()`` keep the runtime state in the ``MessagingCircuit`` row with id
``"kill-switch"`` (``opened_at`` set = killed), so every process sees it; ``answering()`` combines it with the
setting.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from app import ratelimit
from app.db import after_commit, is_postgres, transaction
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent, MessagingCircuit
from app.models.voice import PhoneNumber
from app.phones import normalize_phone
from app.services import opt_outs
from app.services.messaging import replies, settings
from app.services.messaging.pool import pool_for

log = logging.getLogger(__name__)

ENGINE_MODULE = "app.services.messaging.engine"
REPLY_TASK = "reply_to_message"
WHATSAPP_PREFIX = "whatsapp:"
KILL_SWITCH_ID = "kill-switch"

PHONE_PER_MINUTE = "10/minute"
PHONE_PER_DAY = "100/day"
USER_PER_HOUR = "300/hour"
NOTE_EVERY_SECONDS = 3600
RATE_LIMITED_NOTE = ("You're sending messages faster than we can answer. Please wait a few minutes and try "
                     "again.")


# --- the engine (imported by the reply task only, never on the webhook: see idle_expiry) ----------------------
def _engine():
    return importlib.import_module(ENGINE_MODULE)


def idle_expiry() -> timedelta:
    """How long a conversation may stay idle before the next message starts a new one (``settings.IDLE_EXPIRY``:
    the webhook must not import the engine, whose Anthropic SDK takes seconds to import)."""
    return settings.IDLE_EXPIRY


# --- the kill switch -------------------------------------------------------------------------------------------
def kill_state() -> MessagingCircuit | None:
    return MessagingCircuit.get_or_none(MessagingCircuit.id == KILL_SWITCH_ID)


def killed() -> bool:
    row = kill_state()
    return row is not None and row.opened_at is not None


def kill(now: datetime | None = None) -> MessagingCircuit:
    """Stop every messaging agent (customers get the booking URL) until ``resume``; killing twice keeps the first
    time."""
    now = now or utcnow()
    with transaction():
        MessagingCircuit.insert(id=KILL_SWITCH_ID, failures=0, opened_at=None, updated_at=now) \
            .on_conflict_ignore().execute()
        MessagingCircuit.update(opened_at=now, updated_at=now).where(
            (MessagingCircuit.id == KILL_SWITCH_ID) & MessagingCircuit.opened_at.is_null()).execute()
    return kill_state()


def resume(now: datetime | None = None) -> MessagingCircuit | None:
    now = now or utcnow()
    with transaction():
        MessagingCircuit.update(opened_at=None, updated_at=now).where(MessagingCircuit.id == KILL_SWITCH_ID).execute()
    return kill_state()


def answering() -> bool:
    """The agents answer (else the booking URL): the setting is on and the operator has not killed them."""
    return settings.enabled() and not killed()


# --- addresses and routing -------------------------------------------------------------------------------------
def split_address(raw: str | None) -> tuple[str, str | None]:
    """``(channel, E.164 or None)`` of a Twilio ``From``/``To``: ``whatsapp:+E164`` is WhatsApp."""
    value = (raw or "").strip()
    channel = "sms"
    if value.lower().startswith(WHATSAPP_PREFIX):
        channel, value = "whatsapp", value[len(WHATSAPP_PREFIX):]
    return channel, normalize_phone(value)


def agent_for(number: str, channel: str) -> MessagingAgent | None:
    """The active agent answering ``number`` (an active number) on ``channel``."""
    return (MessagingAgent.select().join(PhoneNumber, on=(MessagingAgent.phone_number == PhoneNumber.id))
            .where((PhoneNumber.e164 == number) & (PhoneNumber.status == "active")
                   & (MessagingAgent.channel == channel) & (MessagingAgent.is_active == True)  # noqa: E712
                   & MessagingAgent.deleted_at.is_null())
            .order_by(MessagingAgent.created_at).first())


def _live_conversation(agent: MessagingAgent, contact: str, agent_phone: str, channel: str,
                       now: datetime) -> Conversation | None:
    idle_since = now - idle_expiry()
    return (Conversation.select().where(
        (Conversation.agent_phone == agent_phone) & (Conversation.contact_phone == contact)
        & (Conversation.channel == channel) & (Conversation.user == agent.user_id) & (Conversation.state != "closed")
        & ((Conversation.expires_at > now) | (Conversation.expires_at.is_null()
                                               & (Conversation.last_message_at > idle_since))))
        .order_by(Conversation.last_message_at.desc()).first())


def find_or_start(agent: MessagingAgent, contact: str, agent_phone: str, channel: str,
                  now: datetime | None = None) -> Conversation:
    """The customer's live conversation with this agent number on this channel, or a new one (in a transaction)."""
    now = now or utcnow()
    expires = now + idle_expiry()
    if is_postgres():   # two texts of one customer at once must not start two conversations (SQLite: serialised)
        list(MessagingAgent.select(MessagingAgent.id).where(MessagingAgent.id == agent.id).for_update())
    conversation = _live_conversation(agent, contact, agent_phone, channel, now)
    if conversation is None:
        return Conversation.create(user=agent.user_id, agent=agent.id, channel=channel, contact_phone=contact,
                                   agent_phone=agent_phone, state="greeting", data={}, last_inbound_at=now,
                                   last_message_at=now, expires_at=expires, created_at=now)
    fields: dict[str, Any] = {"last_inbound_at": now, "last_message_at": now, "expires_at": expires}
    if conversation.agent_id != agent.id:
        fields["agent"] = agent.id
    Conversation.update(**fields).where(Conversation.id == conversation.id).execute()
    return Conversation.get_by_id(conversation.id)


# --- rate limits -----------------------------------------------------------------------------------------------
def _limits(contact: str, user_id: str) -> list[tuple[str, str, str]]:
    return [("messaging-phone-minute", contact, PHONE_PER_MINUTE), ("messaging-phone-day", contact, PHONE_PER_DAY),
            ("messaging-user-hour", user_id, USER_PER_HOUR)]


def over_limit(contact: str, user_id: str) -> str | None:
    """The name of the limit ``contact`` / ``user_id`` reached (the message is not counted), else None (counted)."""
    limits = _limits(contact, user_id)
    for name, key, rate in limits:
        if ratelimit.exceeded(name, key, rate):
            return name
    for name, key, rate in limits:
        ratelimit.count(name, key, rate)
    return None


def _first_note(contact: str) -> bool:
    """True once per ``NOTE_EVERY_SECONDS`` per customer: whether to answer the polite note."""
    try:
        return ratelimit.limiter().storage.incr(f"messaging-limit-note/{contact}", NOTE_EVERY_SECONDS) == 1
    except Exception:                        # a storage without incr: no note rather than an error
        log.exception("the rate-limit note counter failed")
        return False


# --- the webhook's part ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    """What ``receive`` did: ``handled`` False means no agent answers this number (the old behaviour applies)."""
    handled: bool
    message_id: str | None = None
    duplicate: bool = False
    note: str | None = None                 # a TwiML answer (the rate-limit note), else None: empty TwiML


def known(sid: str | None) -> bool:
    """A message with this Twilio SID is stored already (Twilio repeated its webhook)."""
    return bool(sid) and ConversationMessage.select().where(ConversationMessage.twilio_sid == sid).exists()


def _enqueue_reply(message_id: str) -> None:
    from app import queue
    try:
        queue.enqueue(REPLY_TASK, message_id)
    except Exception:
        log.exception("could not queue the reply to message %s", message_id)


def receive(form: dict[str, str], *, now: datetime | None = None) -> Received:
    """Store an inbound text (Twilio's webhook form) for the agent on its ``To`` number and queue the reply."""
    channel, agent_phone = split_address(form.get("To"))
    from_channel, contact = split_address(form.get("From"))
    if agent_phone is None or contact is None:
        return Received(handled=False)
    channel = "whatsapp" if "whatsapp" in (channel, from_channel) else "sms"
    agent = agent_for(agent_phone, channel)
    if agent is None:
        return Received(handled=False)
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip() or None
    if known(sid):
        return Received(handled=True, duplicate=True)
    now = now or utcnow()
    limited = over_limit(contact, agent.user_id)
    opted_out = opt_outs.opted_out(contact)
    status = "rate_limited" if limited else "ignored" if opted_out else "received"
    try:
        with transaction():
            conversation = find_or_start(agent, contact, agent_phone, channel, now)
            message = ConversationMessage.create(conversation=conversation.id, direction="inbound",
                                                 content=(form.get("Body") or "")[:10000], twilio_sid=sid,
                                                 status=status, created_at=now)
            note = None
            if limited and not opted_out and _first_note(contact):
                note = RATE_LIMITED_NOTE
                ConversationMessage.create(conversation=conversation.id, direction="outbound", content=note,
                                           status="sent", by_agent=False, created_at=now)
            if status == "received":
                after_commit(lambda: _enqueue_reply(message.id))
    except peewee.IntegrityError:
        if known(sid):
            return Received(handled=True, duplicate=True)      # the same MessageSid won a race
        raise
    if limited:
        log.info("messaging: %s is over the %s limit; message %s stored, not answered", contact, limited,
                 message.id)
    return Received(handled=True, message_id=message.id, note=note)


# --- delivery status of the agents' texts ------------------------------------------------------------------------
FINAL_STATUSES = ("delivered", "failed")


def record_status(sid: str, status: str, error_code: int | None) -> int:
    """Apply a status callback (``delivered``, ``failed``/``undelivered``) to the outbound message ``sid``; a
    delivered or failed row is never moved back; unknown SIDs and other statuses change nothing."""
    from app.integrations.twilio_sms import explain

    status = (status or "").strip().lower()
    if not sid or status not in ("delivered", "failed", "undelivered"):
        return 0
    delivered = status == "delivered"
    return (ConversationMessage.update(status="delivered" if delivered else "failed",
                                       error=None if delivered else explain(error_code))
            .where((ConversationMessage.twilio_sid == sid) & (ConversationMessage.direction == "outbound")
                   & ConversationMessage.status.not_in(FINAL_STATUSES)).execute())


# --- the queued reply ------------------------------------------------------------------------------------------
def _texts_of(answer: Any) -> tuple[list[str], int, int, int]:
    """The texts, cost and tokens of ``engine.respond``'s answer (a ``Reply`` or a plain list of texts)."""
    texts = getattr(answer, "texts", answer)
    if isinstance(texts, str):
        texts = [texts]
    pieces = [piece for text in (texts or []) if isinstance(text, str) for piece in replies.split_text(text)]
    return (pieces, int(getattr(answer, "cost_micros", 0) or 0), int(getattr(answer, "input_tokens", 0) or 0),
            int(getattr(answer, "output_tokens", 0) or 0))


def _produce(message: ConversationMessage, conversation: Conversation, now: datetime) -> None:
    """Decide the answer to ``message`` and store it (queued); the inbound row becomes ``answered``."""
    agent = conversation.agent
    if agent is None or not agent.is_active or agent.deleted_at is not None \
            or opt_outs.opted_out(conversation.contact_phone):
        with transaction():
            ConversationMessage.update(status="ignored").where(
                (ConversationMessage.id == message.id) & (ConversationMessage.status == "received")).execute()
        return
    by_agent, cost = True, (0, 0, 0)
    if not answering():
        texts, by_agent = [replies.fallback_text(agent)], False
    else:
        pool = pool_for(agent.user, now)
        if pool.exhausted:
            texts, by_agent = [replies.fallback_text(agent)], False
            replies.notify_pool_exhausted(agent.user, pool, now=now)
        else:
            try:
                engine = _engine()
            except ImportError:
                log.error("messaging: %s is missing; answering with the booking URL", ENGINE_MODULE)
                texts, by_agent = [replies.fallback_text(agent)], False
            else:
                texts, *cost = _texts_of(engine.respond(conversation.id, message.content or ""))
    with transaction():
        claimed = ConversationMessage.update(status="answered").where(
            (ConversationMessage.id == message.id) & (ConversationMessage.status == "received")).execute()
        if not claimed:                     # another run answered it meanwhile
            return
        for index, text in enumerate(texts):
            first = index == 0
            replies.queue_text(conversation, text, by_agent=by_agent, cost_micros=cost[0] if first else 0,
                               input_tokens=cost[1] if first else 0, output_tokens=cost[2] if first else 0)


def reply(message_id: str, *, now: datetime | None = None) -> None:
    """Answer inbound message ``message_id`` (the ``reply_to_message`` task); safe to run again: what was already
    decided is not decided again, what was sent is not sent again. Raises ``TransientError`` to be retried."""
    message = ConversationMessage.get_or_none(ConversationMessage.id == message_id)
    if message is None or message.direction != "inbound":
        return
    conversation = Conversation.get_by_id(message.conversation_id)
    if message.status == "received":
        _produce(message, conversation, now or utcnow())
    replies.deliver_pending(conversation)
