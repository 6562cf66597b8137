"""Voice agents and phone numbers (issue 21): numbers, agents, their linked event types, call logs, the
idempotency of the booking tool and the notices of minutes running out."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "users"

    class Organization(Base):
        class Meta:
            table_name = "organizations"

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class PhoneNumber(Base):
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
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "phone_numbers"
            indexes = ((("user", "status"), False), (("e164", "status"), False))

    class VoiceAgent(Base):
        user = peewee.ForeignKeyField(User, backref="voice_agents", on_delete="CASCADE")
        organization = peewee.ForeignKeyField(Organization, null=True, on_delete="CASCADE")
        name = peewee.CharField(max_length=100, default="Scheduling Assistant")
        greeting = peewee.TextField(null=True)
        business_context = peewee.TextField(null=True)
        voice_id = peewee.CharField(max_length=64, default="21m00Tcm4TlvDq8ikWAM")
        language = peewee.CharField(max_length=10, default="en")
        template = peewee.CharField(max_length=30, default="scheduling")
        active_hours = peewee.TextField()
        phone_number = peewee.ForeignKeyField(PhoneNumber, null=True, backref="voice_agents", on_delete="SET NULL")
        elevenlabs_agent_id = peewee.CharField(max_length=64, null=True, unique=True)
        is_active = peewee.BooleanField(default=True)
        auto_deactivated = peewee.BooleanField(default=False)
        last_error = peewee.TextField(null=True)
        deleted_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "voice_agents"
            indexes = ((("user", "created_at"), False),)

    class VoiceAgentEventType(Base):
        agent = peewee.ForeignKeyField(VoiceAgent, backref="event_type_links", on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

        class Meta:
            table_name = "voice_agent_event_types"
            indexes = ((("agent", "event_type"), True),)

    class CallLog(Base):
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
        started_at = UTCDateTimeField()
        ended_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "call_logs"
            indexes = ((("user", "started_at"), False),)

    class VoiceToolBooking(Base):
        agent = peewee.ForeignKeyField(VoiceAgent, on_delete="CASCADE")
        conversation_id = peewee.CharField(max_length=100)
        request_key = peewee.CharField(max_length=64)                      # sha256 of the booking request
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "voice_tool_bookings"
            indexes = ((("agent", "conversation_id", "request_key"), True),)

    class VoicePeriodNotice(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        period = peewee.CharField(max_length=7)                           # YYYY-MM (UTC)
        deactivated_at = UTCDateTimeField()
        reactivated_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "voice_period_notices"
            indexes = ((("user", "period"), True),)

    models = [User, Organization, EventType, Booking, PhoneNumber, VoiceAgent, VoiceAgentEventType, CallLog,
              VoiceToolBooking, VoicePeriodNotice]
    with database.bind_ctx(models):
        database.create_tables(models[4:])
