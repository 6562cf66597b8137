"""CRM sync (issue 19): one ``booking_crm_syncs`` row per booking and CRM connection, with the remote ids made there,
the changes still to carry over, and the status the booking page shows."""
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

    class BookingCrmSync(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        integration = peewee.ForeignKeyField(Integration, on_delete="CASCADE")
        provider = peewee.CharField(max_length=20)
        status = peewee.CharField(max_length=12, default="pending")
        remote_ids = peewee.TextField(default="{}")
        changes = peewee.TextField(default="[]")
        last_error = peewee.TextField(null=True)
        attempts = peewee.IntegerField(default=0)
        next_attempt_at = UTCDateTimeField(null=True)
        busy_since = UTCDateTimeField(null=True)
        busy_until = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "booking_crm_syncs"
            indexes = ((("booking", "integration"), True),)

    models = [Booking, Integration, BookingCrmSync]
    with database.bind_ctx(models):
        database.create_tables(models[2:])
