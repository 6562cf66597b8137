"""Voice agents (issue 21, spec page 10) and the phone numbers they and the messaging agents answer on.

``PhoneNumber``: a Twilio number bought for a user (or for an organization, ``organization`` set, shared by its
agents). ``status`` is ``active``, ``held`` (released by the host: for 30 days callers hear that the line moved,
``hold_until``) or ``released`` (given back to Twilio by the daily task). ``elevenlabs_phone_id`` is the number's
id at ElevenLabs once imported there.

``VoiceAgent``: an ElevenLabs conversational agent of a user (``organization`` set for an organization's agent,
which books any member's event types). ``active_hours``: ``{"enabled", "timezone", "afterHoursBehavior",
"afterHoursMessage", "schedule": [{"day", "start", "end"}]}``. ``auto_deactivated`` marks an agent switched off
because the month's minutes ran out: the period reset switches it on again; an agent the host deleted is
``is_active`` False with ``deleted_at`` set and is never listed again.

``CallLog``: one call, inbound (personalization webhook), outbound (workflow action) or web (widget), keyed by
ElevenLabs' ``conversation_id``; the post-call webhook fills duration, transcript, cost and outcome.
``VoiceToolBooking`` makes ``create_booking`` idempotent: one booking per conversation and request.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.organizations import Organization
from app.models.scheduling import EventType, JSONField

NUMBER_STATUSES = ("active", "held", "released")
CALL_DIRECTIONS = ("inbound", "outbound", "web")
CALL_STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED", "NO_ANSWER")
CALL_OUTCOMES = ("booking_created", "info_provided", "no_action")
AFTER_HOURS = ("voicemail", "message", "booking_url")
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"     # Rachel
DEFAULT_AGENT_NAME = "Scheduling Assistant"


class PhoneNumber(BaseModel):
    user = peewee.ForeignKeyField(User, backref="phone_numbers", on_delete="CASCADE")
    organization = peewee.ForeignKeyField(Organization, null=True, on_delete="CASCADE")
    e164 = peewee.CharField(max_length=20)
    country = peewee.CharField(max_length=2)
    number_type = peewee.CharField(max_length=10, default="local")      # local | toll_free
    twilio_sid = peewee.CharField(max_length=40, unique=True)
    elevenlabs_phone_id = peewee.CharField(max_length=64, null=True)
    label = peewee.CharField(max_length=100, default="")
    status = peewee.CharField(max_length=10, default="active")
    hold_until = UTCDateTimeField(null=True)
    released_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "phone_numbers"
        indexes = ((("user", "status"), False), (("e164", "status"), False))


class VoiceAgent(BaseModel):
    user = peewee.ForeignKeyField(User, backref="voice_agents", on_delete="CASCADE")
    organization = peewee.ForeignKeyField(Organization, null=True, on_delete="CASCADE")
    name = peewee.CharField(max_length=100, default=DEFAULT_AGENT_NAME)
    greeting = peewee.TextField(null=True)
    business_context = peewee.TextField(null=True)
    voice_id = peewee.CharField(max_length=64, default=DEFAULT_VOICE_ID)
    language = peewee.CharField(max_length=10, default="en")
    template = peewee.CharField(max_length=30, default="scheduling")
    active_hours = JSONField(default=dict)
    phone_number = peewee.ForeignKeyField(PhoneNumber, null=True, backref="voice_agents", on_delete="SET NULL")
    elevenlabs_agent_id = peewee.CharField(max_length=64, null=True, unique=True)
    is_active = peewee.BooleanField(default=True)
    auto_deactivated = peewee.BooleanField(default=False)
    last_error = peewee.TextField(null=True)
    deleted_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "voice_agents"
        indexes = ((("user", "created_at"), False),)


class VoiceAgentEventType(BaseModel):
    agent = peewee.ForeignKeyField(VoiceAgent, backref="event_type_links", on_delete="CASCADE")
    event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

    class Meta:
        table_name = "voice_agent_event_types"
        indexes = ((("agent", "event_type"), True),)


class CallLog(BaseModel):
    user = peewee.ForeignKeyField(User, backref="call_logs", on_delete="CASCADE")
    agent = peewee.ForeignKeyField(VoiceAgent, null=True, backref="calls", on_delete="SET NULL")
    agent_name = peewee.CharField(max_length=100, default="")
    direction = peewee.CharField(max_length=10, default="inbound")
    conversation_id = peewee.CharField(max_length=100, null=True, unique=True)
    call_sid = peewee.CharField(max_length=64, null=True)
    caller_phone = peewee.CharField(max_length=20, null=True)          # the other party: caller or callee
    agent_phone = peewee.CharField(max_length=20, null=True)
    status = peewee.CharField(max_length=12, default="IN_PROGRESS")
    outcome = peewee.CharField(max_length=20, null=True)
    duration_seconds = peewee.IntegerField(default=0)
    cost_cents = peewee.IntegerField(default=0)
    transcript = peewee.TextField(null=True)
    transcript_deleted_at = UTCDateTimeField(null=True)
    booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
    over_limit = peewee.BooleanField(default=False)                   # answered with the "unavailable" override
    call_type = peewee.CharField(max_length=20, null=True)             # outbound: reminder | confirmation | ...
    started_at = UTCDateTimeField(default=utcnow)
    ended_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "call_logs"
        indexes = ((("user", "started_at"), False),)


class VoiceToolBooking(BaseModel):
    agent = peewee.ForeignKeyField(VoiceAgent, on_delete="CASCADE")
    conversation_id = peewee.CharField(max_length=100)
    request_key = peewee.CharField(max_length=64)                      # sha256 of the booking request
    booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "voice_tool_bookings"
        indexes = ((("agent", "conversation_id", "request_key"), True),)


class VoicePeriodNotice(BaseModel):
    """One row per user and month in which their agents were switched off for minutes (and told once)."""
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    period = peewee.CharField(max_length=7)                           # YYYY-MM (UTC)
    deactivated_at = UTCDateTimeField(default=utcnow)
    reactivated_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "voice_period_notices"
        indexes = ((("user", "period"), True),)
