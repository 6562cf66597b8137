"""Contacts, bookings, booking history and reminders."""
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

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class Contact(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(max_length=200)
        email = peewee.CharField(max_length=254)
        phone = peewee.CharField(max_length=40, null=True)
        company = peewee.CharField(max_length=200, null=True)
        notes = peewee.TextField(null=True)
        source = peewee.CharField(max_length=20)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "contacts"
            indexes = ((("user", "email"), True),)

    class Booking(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, null=True, on_delete="SET NULL")
        contact = peewee.ForeignKeyField(Contact, null=True, on_delete="SET NULL")
        uid = peewee.CharField(max_length=64, unique=True)
        status = peewee.CharField(max_length=12)
        start_at = UTCDateTimeField()
        end_at = UTCDateTimeField()
        buffer_before = peewee.IntegerField()
        buffer_after = peewee.IntegerField()
        event_name = peewee.CharField(max_length=100)
        invitee_name = peewee.CharField(max_length=200)
        invitee_email = peewee.CharField(max_length=254)
        invitee_timezone = peewee.CharField(max_length=64)
        invitee_phone = peewee.CharField(max_length=40, null=True)
        notes = peewee.TextField(null=True)
        answers = peewee.TextField()
        location_type = peewee.CharField(max_length=20)
        location = peewee.CharField(max_length=500)
        meeting_link = peewee.CharField(max_length=500, null=True)
        recurring_group_id = peewee.CharField(max_length=32, null=True, index=True)
        sequence = peewee.IntegerField()
        previous_start_at = UTCDateTimeField(null=True)
        previous_end_at = UTCDateTimeField(null=True)
        cancel_reason = peewee.TextField(null=True)
        cancelled_at = UTCDateTimeField(null=True)
        cancelled_by = peewee.CharField(max_length=10, null=True)
        idempotency_key = peewee.CharField(max_length=200, null=True)
        source = peewee.CharField(max_length=20)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "bookings"
            indexes = ((("user", "status", "start_at"), False), (("user", "idempotency_key"), True))

    class BookingActivity(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        kind = peewee.CharField(max_length=40)
        message = peewee.TextField()
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "booking_activities"

    class Reminder(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        send_at = UTCDateTimeField(index=True)
        offset_minutes = peewee.IntegerField()
        sent_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "reminders"

    models = [Contact, Booking, BookingActivity, Reminder]
    with database.bind_ctx([User, EventType, *models]):
        database.create_tables(models)
