"""Video meetings of bookings (Zoom, Webex, Microsoft Teams, Google Meet): the provider's meeting id, its state
and why a link is missing."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class Integration(Base):
        class Meta:
            table_name = "integrations"

    class BookingMeeting(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        provider = peewee.CharField(max_length=20)
        integration = peewee.ForeignKeyField(Integration, null=True, on_delete="SET NULL")
        remote_id = peewee.CharField(max_length=255, null=True)
        status = peewee.CharField(max_length=12)
        error = peewee.TextField(null=True)
        confirmation_sent = peewee.BooleanField()
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "booking_meetings"
            indexes = ((("booking",), True),)

    with database.bind_ctx([Booking, Integration, BookingMeeting]):
        database.create_tables([BookingMeeting])
