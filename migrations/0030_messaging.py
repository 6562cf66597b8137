"""Messaging agents (issue 22): agents, their linked event types, conversations and messages, WhatsApp senders,
the model circuit breaker and the message-pool notices."""
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
        class Meta:
            table_name = "phone_numbers"

    class MessagingAgent(Base):
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
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "messaging_agents"
            indexes = ((("user", "channel"), False),)

    class MessagingAgentEventType(Base):
        agent = peewee.ForeignKeyField(MessagingAgent, backref="event_type_links", on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

        class Meta:
            table_name = "messaging_agent_event_types"
            indexes = ((("agent", "event_type"), True),)

    class Conversation(Base):
        user = peewee.ForeignKeyField(User, backref="conversations", on_delete="CASCADE")
        agent = peewee.ForeignKeyField(MessagingAgent, null=True, backref="conversations", on_delete="SET NULL")
        channel = peewee.CharField(max_length=10, default="sms")
        contact_phone = peewee.CharField(max_length=20)
        agent_phone = peewee.CharField(max_length=20)
        state = peewee.CharField(max_length=20, default="greeting")
        data = peewee.TextField()
        booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
        last_inbound_at = UTCDateTimeField(null=True)         # WhatsApp's 24-hour customer-service window
        last_message_at = UTCDateTimeField()
        expires_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "conversations"
            indexes = ((("agent_phone", "contact_phone", "channel"), False), (("user", "last_message_at"), False))

    class ConversationMessage(Base):
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
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "conversation_messages"
            indexes = ((("conversation", "created_at"), False),)

    class WhatsAppSender(Base):
        phone_number = peewee.ForeignKeyField(PhoneNumber, backref="whatsapp_senders", on_delete="CASCADE", unique=True)
        display_name = peewee.CharField(max_length=256)
        sender_sid = peewee.CharField(max_length=64, null=True)
        status = peewee.CharField(max_length=20, default="pending")
        twilio_status = peewee.CharField(max_length=40, null=True)
        error_code = peewee.CharField(max_length=20, null=True)
        error_message = peewee.TextField(null=True)
        notified_status = peewee.CharField(max_length=20, null=True)      # the status the host was last emailed about
        last_checked_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "whatsapp_senders"

    class MessagingCircuit(Base):
        failures = peewee.IntegerField(default=0)                         # consecutive model failures
        opened_at = UTCDateTimeField(null=True)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "messaging_circuits"

    class MessagingPoolNotice(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        period = peewee.CharField(max_length=7)                           # YYYY-MM (UTC)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "messaging_pool_notices"
            indexes = ((("user", "period"), True),)

    models = [User, Organization, EventType, Booking, PhoneNumber, MessagingAgent, MessagingAgentEventType,
              Conversation, ConversationMessage, WhatsAppSender, MessagingCircuit, MessagingPoolNotice]
    with database.bind_ctx(models):
        database.create_tables(models[5:])
