"""Messaging agents (issue 22, spec page 11): SMS and WhatsApp assistants that book by text.

``MessagingAgent``: one agent of a user (``organization`` set for an organization's agent) on one channel (``sms``
or ``whatsapp``) answering on one ``PhoneNumber``. ``Conversation``: one thread with one customer phone on one
agent; ``state`` is where the booking dialogue stands (greeting, event_selection, datetime, details,
confirmation, booked, closed) and ``data`` what the customer already said (event type, date, chosen time, name,
email), so nobody repeats themselves; ``expires_at`` ends an idle conversation. ``ConversationMessage``: every
text in and out; ``twilio_sid`` is unique so a webhook Twilio repeats is handled once; ``cost_micros`` is the
model's cost of producing an outbound reply (millionths of a dollar). ``WhatsAppSender``: a number's WhatsApp
Business sender registration at Twilio (status mapped as page 11's table). ``MessagingCircuit``: the model circuit
breaker's shared state (one row per provider). ``MessagingPoolNotice``: the host was told once a month that the
message pool ran out.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.organizations import Organization
from app.models.scheduling import EventType, JSONField
from app.models.voice import PhoneNumber

CHANNELS = ("sms", "whatsapp")
TONES = ("professional", "friendly", "casual", "custom")
CONVERSATION_STATES = ("greeting", "event_selection", "datetime", "details", "confirmation", "booked", "closed")
SENDER_STATUSES = ("pending", "approved", "rejected", "failed", "revoked")


class MessagingAgent(BaseModel):
    user = peewee.ForeignKeyField(User, backref="messaging_agents", on_delete="CASCADE")
    organization = peewee.ForeignKeyField(Organization, null=True, on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    greeting = peewee.TextField(null=True)
    tone = peewee.CharField(max_length=20, default="professional")
    custom_tone = peewee.TextField(null=True)
    language = peewee.CharField(max_length=10, default="en")
    business_context = peewee.TextField(null=True)
    channel = peewee.CharField(max_length=10, default="sms")
    phone_number = peewee.ForeignKeyField(PhoneNumber, null=True, backref="messaging_agents", on_delete="SET NULL")
    is_active = peewee.BooleanField(default=True)
    deleted_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "messaging_agents"
        indexes = ((("user", "channel"), False),)


class MessagingAgentEventType(BaseModel):
    agent = peewee.ForeignKeyField(MessagingAgent, backref="event_type_links", on_delete="CASCADE")
    event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

    class Meta:
        table_name = "messaging_agent_event_types"
        indexes = ((("agent", "event_type"), True),)


class Conversation(BaseModel):
    user = peewee.ForeignKeyField(User, backref="conversations", on_delete="CASCADE")
    agent = peewee.ForeignKeyField(MessagingAgent, null=True, backref="conversations", on_delete="SET NULL")
    channel = peewee.CharField(max_length=10, default="sms")
    contact_phone = peewee.CharField(max_length=20)
    agent_phone = peewee.CharField(max_length=20)
    state = peewee.CharField(max_length=20, default="greeting")
    data = JSONField(default=dict)
    booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
    last_inbound_at = UTCDateTimeField(null=True)         # WhatsApp's 24-hour customer-service window
    last_message_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "conversations"
        indexes = ((("agent_phone", "contact_phone", "channel"), False), (("user", "last_message_at"), False))


class ConversationMessage(BaseModel):
    conversation = peewee.ForeignKeyField(Conversation, backref="messages", on_delete="CASCADE")
    direction = peewee.CharField(max_length=10)                       # inbound | outbound
    content = peewee.TextField(null=True)                             # null once deleted by retention
    twilio_sid = peewee.CharField(max_length=64, null=True, unique=True)
    status = peewee.CharField(max_length=20, default="received")  # received queued sent delivered failed
    error = peewee.TextField(null=True)
    by_agent = peewee.BooleanField(default=False)                     # counts against the monthly pool
    cost_micros = peewee.IntegerField(default=0)
    input_tokens = peewee.IntegerField(default=0)
    output_tokens = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "conversation_messages"
        indexes = ((("conversation", "created_at"), False),)


class WhatsAppSender(BaseModel):
    phone_number = peewee.ForeignKeyField(PhoneNumber, backref="whatsapp_senders", on_delete="CASCADE", unique=True)
    display_name = peewee.CharField(max_length=256)
    sender_sid = peewee.CharField(max_length=64, null=True)
    status = peewee.CharField(max_length=20, default="pending")
    twilio_status = peewee.CharField(max_length=40, null=True)
    error_code = peewee.CharField(max_length=20, null=True)
    error_message = peewee.TextField(null=True)
    notified_status = peewee.CharField(max_length=20, null=True)      # the status the host was last emailed about
    last_checked_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "whatsapp_senders"


class MessagingCircuit(BaseModel):
    failures = peewee.IntegerField(default=0)                         # consecutive model failures
    opened_at = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "messaging_circuits"


class MessagingPoolNotice(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    period = peewee.CharField(max_length=7)                           # YYYY-MM (UTC)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "messaging_pool_notices"
        indexes = ((("user", "period"), True),)
