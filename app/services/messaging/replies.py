"""Texts a messaging agent sends (issue 22, spec page 11): from the agent's number, on the conversation's channel.

``send_text(conversation, text)`` stores the outbound ``ConversationMessage`` (``queued``) and sends it through
Twilio's Messages API (``twilio_sms.send_sms(..., from_=<the agent's number>)``); on WhatsApp both addresses carry
the ``whatsapp:`` prefix. A row goes ``queued`` -> ``sending`` -> ``sent`` (with Twilio's ``SM...`` SID; Twilio's
status callback then makes it ``delivered`` or ``failed``), or ``failed`` with the reason in plain words when Twilio
refuses it for good (``PermanentError``: an invalid number, a region not enabled, ...). A transient failure
(timeout, 429, 5xx) puts the row back to ``queued`` and raises the ``TransientError``: the reply task is retried
and ``deliver_pending`` sends what is still queued, in order. A row found in ``sending`` (a worker died after
handing it to Twilio) is first looked up at Twilio (``sent_since``), so it is not sent twice.

Opt-outs (the ``SmsOptOut`` table, shared by SMS and WhatsApp) are checked before every text: a customer who sent
STOP gets nothing (the row is ``failed``, saying so).

``fallback_text(agent)``: the fixed answer with the host's booking URL, sent instead of the agent while the kill
switch is on or the month's message pool is used up (``notify_pool_exhausted`` tells the host, once a month).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import peewee
from flask import current_app

from app.db import transaction
from app.integrations import twilio_sms
from app.integrations.errors import PermanentError, TransientError
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent, MessagingPoolNotice
from app.services import opt_outs
from app.services.messaging.pool import Pool, period_key, pool_for
from app.services.voice.usage import period_start

log = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
PENDING = ("queued", "sending")
OPTED_OUT_ERROR = "The customer replied STOP and has unsubscribed; they must text START to receive messages again."


def booking_url(user) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/{user.username}"


def host_name(agent: MessagingAgent) -> str:
    if agent.organization_id:
        return agent.organization.name
    return agent.user.name or agent.user.username


def fallback_text(agent: MessagingAgent) -> str:
    """What customers get instead of the agent (kill switch, exhausted pool): the host's booking page."""
    return (f"Thanks for your message! {host_name(agent)}'s assistant can't reply right now. "
            f"You can book a time here: {booking_url(agent.user)}")


def status_callback_url() -> str:
    """Where Twilio reports the delivery of an agent's text (``POST /api/webhooks/twilio/status``, signed)."""
    return current_app.config["BASE_URL"].rstrip("/") + "/api/webhooks/twilio/status"


def addresses(conversation: Conversation) -> tuple[str, str]:
    """``(to, from)`` for a text of ``conversation``: the customer and the agent's number, prefixed on WhatsApp."""
    if conversation.channel == "whatsapp":
        return WHATSAPP_PREFIX + conversation.contact_phone, WHATSAPP_PREFIX + conversation.agent_phone
    return conversation.contact_phone, conversation.agent_phone


def split_text(text: str, limit: int = twilio_sms.MAX_BODY) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at a line break or space where possible."""
    text = (text or "").strip()
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


def queue_text(conversation: Conversation, text: str, *, by_agent: bool = True, cost_micros: int = 0,
               input_tokens: int = 0, output_tokens: int = 0) -> ConversationMessage:
    """Store an outbound text of ``conversation`` as ``queued`` (``deliver`` sends it)."""
    now = utcnow()
    with transaction():
        message = ConversationMessage.create(
            conversation=conversation.id, direction="outbound", content=text, status="queued", by_agent=by_agent,
            cost_micros=int(cost_micros or 0), input_tokens=int(input_tokens or 0),
            output_tokens=int(output_tokens or 0), created_at=now)
        Conversation.update(last_message_at=now).where(Conversation.id == conversation.id).execute()
    return message


def _mark(message: ConversationMessage, **fields) -> None:
    for name, value in fields.items():
        setattr(message, name, value)
    with transaction():
        ConversationMessage.update(**fields).where(ConversationMessage.id == message.id).execute()


def deliver(message: ConversationMessage, conversation: Conversation | None = None) -> ConversationMessage:
    """Send one stored outbound text (``queued`` or ``sending``); raises ``TransientError`` to be retried."""
    conversation = conversation or Conversation.get_by_id(message.conversation_id)
    if message.status not in PENDING:
        return message
    if opt_outs.opted_out(conversation.contact_phone):
        _mark(message, status="failed", error=OPTED_OUT_ERROR)
        return message
    to, sender = addresses(conversation)
    if message.status == "sending":         # an earlier attempt may have reached Twilio before its worker died
        sid = twilio_sms.sent_since(to, message.content, message.created_at - timedelta(minutes=1))
        if sid:
            _mark(message, status="sent", twilio_sid=sid, error=None)
            return message
    _mark(message, status="sending")
    try:
        sid = twilio_sms.send_sms(to, message.content, from_=sender, status_callback=status_callback_url())
    except TransientError:
        _mark(message, status="queued")
        raise
    except PermanentError as exc:
        log.warning("conversation %s: Twilio refused a reply: %s", conversation.id, exc)
        _mark(message, status="failed", error=str(exc)[:500])
        return message
    try:
        _mark(message, status="sent", twilio_sid=sid, error=None)
    except peewee.IntegrityError:           # the SID is already stored (a concurrent run found it at Twilio)
        log.warning("conversation %s: message %s was recorded twice", conversation.id, sid)
    return message


def deliver_pending(conversation: Conversation) -> int:
    """Send the conversation's outbound texts still pending, oldest first; how many were handled."""
    rows = list(ConversationMessage.select().where(
        (ConversationMessage.conversation == conversation.id) & (ConversationMessage.direction == "outbound")
        & ConversationMessage.status.in_(PENDING)).order_by(ConversationMessage.created_at))
    for row in rows:
        deliver(row, conversation)
    return len(rows)


def send_text(conversation: Conversation, text: str, *, by_agent: bool = True, cost_micros: int = 0,
              input_tokens: int = 0, output_tokens: int = 0) -> ConversationMessage:
    """Store and send ``text`` from the agent's number to the conversation's customer (channel prefixes applied);
    answers the stored row (``sent`` with ``twilio_sid``, or ``failed`` with ``error``). A transient Twilio failure
    raises ``TransientError`` and leaves the row ``queued`` for ``deliver_pending``."""
    message = queue_text(conversation, text, by_agent=by_agent, cost_micros=cost_micros, input_tokens=input_tokens,
                         output_tokens=output_tokens)
    return deliver(message, conversation)


# --- the monthly pool ran out: tell the host once a month -----------------------------------------------------
def _resets_on(now: datetime) -> str:
    following = (period_start(now) + timedelta(days=32)).replace(day=1)
    return f"{following:%B} {following.day}, {following.year}"


def notify_pool_exhausted(user, pool: Pool | None = None, *, now: datetime | None = None) -> bool:
    """Email the host that this month's message pool is used up, the first time this month (a
    ``MessagingPoolNotice`` row per user and month; several workers never email twice). True when emailed."""
    from app.services.mailer import queue_email

    now = now or utcnow()
    period = period_key(now)
    if MessagingPoolNotice.select().where((MessagingPoolNotice.user == user.id)
                                          & (MessagingPoolNotice.period == period)).exists():
        return False
    pool = pool or pool_for(user, now)
    with transaction():
        try:
            with transaction():              # a savepoint: a concurrent reply may insert the same notice
                MessagingPoolNotice.create(user=user.id, period=period, created_at=now)
        except peewee.IntegrityError:
            return False
        base = current_app.config["BASE_URL"].rstrip("/")
        queue_email(user.email, "Your messaging agents have used this month's messages", "messaging_pool_exhausted",
                    user_id=user.id, user=user, used=pool.used, limit=pool.limit, resets_on=_resets_on(now),
                    booking_url=booking_url(user), link=base + "/dashboard/messaging-agents")
    return True
