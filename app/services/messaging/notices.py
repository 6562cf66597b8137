"""WhatsApp notices of bookings made in a WhatsApp conversation (spec page 11: template notifications for booking
confirmations and reminders, SMS when the templates are pending or rejected).

* **Confirmation**: a booking the agent made that was not confirmed at once (``booking_tools`` keeps its id in
  ``Conversation.data["unconfirmed_bookings"]``: it waits for the host's approval, or a payment) gets its
  confirmation when ``booking.created`` is ready for it (``lifecycle.READY``), i.e. when it is confirmed. A booking
  confirmed at once gets none here: the agent's reply in the conversation confirmed it.
* **Reminder**: the booking reminders (``notifications.send_due_reminders``) tell ``REMINDER_HOOKS`` which bookings
  they reminded by email; a booking a WhatsApp conversation led to gets its reminder here too. A booking made by SMS
  gets its reminder by email only.

Both are queued the same way (``queue_notice``): the text is stored as the conversation's outbound
``ConversationMessage`` with one ``whatsapp_notice`` outbox row, in one transaction. How it goes is chosen then
(``whatsapp.route``): a free-form WhatsApp message inside the 24-hour customer-service window, the approved template
(ContentSid + ContentVariables ``{"1": name, "2": event, "3": when}``) outside it, an SMS from the same number when
no template or sender is approved. The outbox handler (``deliver``) sends it once: the row goes ``notice_queued``
-> ``notice_sending`` -> ``sent`` with Twilio's SID (not ``queued``: the replies' ``deliver_pending`` would send
it); a row already ``sent`` is not sent again, a row found ``notice_sending`` (the worker died after Twilio took it)
is first looked up at Twilio. A transient failure puts it back to ``notice_queued`` and the outbox retries; a
refusal or an opt-out (STOP) makes it ``failed`` with the reason.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import peewee

from app.db import transaction
from app.integrations import twilio_senders, twilio_sms
from app.integrations.errors import PermanentError, TransientError
from app.models import Booking
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage
from app.services import events, opt_outs, outbox
from app.services.booking import lifecycle, notifications
from app.services.messaging import whatsapp
from app.services.messaging.booking_tools import UNCONFIRMED
from app.services.messaging.replies import OPTED_OUT_ERROR, status_callback_url
from app.services.voice.tools import spoken_date, spoken_time, zone_abbreviation

log = logging.getLogger(__name__)
KIND = "whatsapp_notice"
QUEUED, SENDING = "notice_queued", "notice_sending"     # not "queued": replies.deliver_pending sends those
PENDING = (QUEUED, SENDING)


def conversation_of(booking_id: str) -> Conversation | None:
    """The WhatsApp conversation that led to the booking (the latest, should there be several)."""
    return (Conversation.select().where((Conversation.booking == booking_id) & (Conversation.channel == "whatsapp"))
            .order_by(Conversation.created_at.desc()).first())


def variables_of(booking: Booking) -> dict[str, str]:
    """The template's variables: the invitee's first name, the event and when (on the invitee's clock)."""
    local = booking.start_at.astimezone(ZoneInfo(booking.invitee_timezone or "UTC"))
    when = f"{spoken_date(local, year=False)} at {spoken_time(local)} {zone_abbreviation(local)}"
    name = booking.invitee_name.split()[0] if (booking.invitee_name or "").split() else "there"
    return {"name": name, "event": booking.event_name, "when": when}


def queue_notice(booking: Booking, conversation: Conversation, kind: str,
                 now: datetime | None = None) -> ConversationMessage | None:
    """Store the ``kind`` notice of ``booking`` as a queued message of ``conversation`` and its outbox row (call it
    in a transaction, or it opens one). None when the agent's number is gone (nothing can be sent)."""
    agent = conversation.agent
    number = agent.phone_number if agent is not None and agent.phone_number_id else None
    if number is None or number.status != "active":
        log.info("booking %s: no %s on WhatsApp, the agent's number is gone", booking.id, kind)
        return None
    values = variables_of(booking)
    channel, content = whatsapp.route(conversation, number, kind, now)
    with transaction():
        message = ConversationMessage.create(conversation=conversation.id, direction="outbound",
                                             content=whatsapp.TEXTS[kind].format(**values), status=QUEUED,
                                             created_at=now or utcnow())
        outbox.add(KIND, {"messageId": message.id, "kind": kind, "channel": channel, "contentSid": content,
                          "from": number.e164, "variables": {str(i + 1): values[name] for i, name
                                                             in enumerate(whatsapp.VARIABLES)}},
                   user_id=booking.user_id)
        Conversation.update(last_message_at=message.created_at).where(Conversation.id == conversation.id).execute()
    return message


@events.subscribe(lifecycle.READY)
def _on_ready(_event_id: str, payload: dict) -> None:
    """A booking is confirmed now: a booking the agent made unconfirmed gets its confirmation on WhatsApp."""
    if payload.get("change") != "booking.created":
        return
    booking = lifecycle.booking_of(payload)
    if booking is None or booking.status != "CONFIRMED" or booking.source != "whatsapp":
        return              # (a WhatsApp agent's bookings have the source "whatsapp": no query for the others)
    conversation = conversation_of(booking.id)
    if conversation is None or booking.id not in ((conversation.data or {}).get(UNCONFIRMED) or []):
        return              # not a WhatsApp booking, or confirmed at once (the agent's reply said so)
    queue_notice(booking, conversation, "confirmation")


def queue_reminder(booking_id: str) -> None:
    """A reminder hook: queue the WhatsApp reminder of a booking a WhatsApp conversation led to."""
    conversation = conversation_of(booking_id)
    booking = Booking.get_or_none(Booking.id == booking_id)
    if conversation is not None and booking is not None and booking.status == "CONFIRMED":
        queue_notice(booking, conversation, "reminder")


# --- sending ----------------------------------------------------------------------------------------------------
def _mark(message: ConversationMessage, **fields) -> None:
    for name, value in fields.items():
        setattr(message, name, value)
    ConversationMessage.update(**fields).where(ConversationMessage.id == message.id).execute()


@outbox.handler(KIND)
def deliver(payload: dict) -> ConversationMessage | None:
    """Send one queued notice (see the module docstring); raises ``TransientError`` to be retried."""
    message = ConversationMessage.get_or_none(ConversationMessage.id == payload["messageId"])
    if message is None or message.status not in PENDING:
        return message                          # sent already (its SID is stored), failed, or deleted
    conversation = Conversation.get_by_id(message.conversation_id)
    if opt_outs.opted_out(conversation.contact_phone):
        _mark(message, status="failed", error=OPTED_OUT_ERROR)
        return message
    whatsapp_channel = payload["channel"] == "whatsapp"
    prefix = "whatsapp:" if whatsapp_channel else ""
    to, sender = prefix + conversation.contact_phone, prefix + payload["from"]
    content = payload.get("contentSid")
    if message.status == SENDING:               # an earlier attempt may have reached Twilio before its worker died
        sid = twilio_sms.sent_since(to, None if content else message.content,
                                    message.created_at - timedelta(minutes=1), from_=sender)
        if sid:
            _mark(message, status="sent", twilio_sid=sid, error=None)
            return message
    _mark(message, status=SENDING)
    try:
        if whatsapp_channel:
            sid = twilio_senders.send_message(sender, to, body=None if content else message.content,
                                              content_sid=content, content_variables=payload.get("variables"),
                                              status_callback=status_callback_url())
        else:
            sid = twilio_sms.send_sms(to, message.content, from_=sender, status_callback=status_callback_url())
    except TransientError:
        _mark(message, status=QUEUED)
        raise
    except PermanentError as exc:
        log.warning("conversation %s: Twilio refused a %s notice: %s", conversation.id, payload.get("kind"), exc)
        if getattr(exc, "code", None) == 21610:
            opt_outs.opt_out(conversation.contact_phone)
        _mark(message, status="failed", error=str(exc)[:500])
        return message
    try:
        _mark(message, status="sent", twilio_sid=sid, error=None)
    except peewee.IntegrityError:               # the SID is stored already (a concurrent run found it at Twilio)
        log.warning("conversation %s: message %s was recorded twice", conversation.id, sid)
    return message


if queue_reminder not in notifications.REMINDER_HOOKS:
    notifications.REMINDER_HOOKS.append(queue_reminder)
