"""Paid bookings (issue 16): priced event types (amount in minor units, lower-case currency, accepted providers,
payment window, refund rules), held bookings (``held_until`` while ``PENDING_PAYMENT``), payments, refunds and the
providers' webhook events (each provider event id once)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class Payment(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        provider = peewee.CharField(max_length=20)
        status = peewee.CharField(max_length=20, default="pending")
        amount = peewee.IntegerField()
        currency = peewee.CharField(max_length=3)
        provider_ref = peewee.CharField(max_length=255, null=True)
        checkout_url = peewee.CharField(max_length=2000, null=True)
        transaction_id = peewee.CharField(max_length=255, null=True)
        payment_method = peewee.CharField(max_length=40, null=True)
        amount_refunded = peewee.IntegerField(default=0)
        paid_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "payments"
            indexes = ((("provider", "provider_ref"), True), (("provider", "transaction_id"), False))

    class Refund(Base):
        payment = peewee.ForeignKeyField(Payment, on_delete="CASCADE")
        amount = peewee.IntegerField()
        reason = peewee.CharField(max_length=40)
        reference = peewee.CharField(max_length=180, unique=True)
        provider_refund_id = peewee.CharField(max_length=255, null=True)
        status = peewee.CharField(max_length=20, default="pending")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "refunds"

    class PaymentEvent(Base):
        provider = peewee.CharField(max_length=20)
        event_id = peewee.CharField(max_length=255)
        type = peewee.CharField(max_length=100)
        payload = peewee.TextField()
        received_at = UTCDateTimeField()
        processed_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "payment_events"
            indexes = ((("provider", "event_id"), True),)

    with database.bind_ctx([Booking, Payment, Refund, PaymentEvent]):
        database.create_tables([Payment, Refund, PaymentEvent])
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "price_amount", peewee.IntegerField(null=True)),
        migrator.add_column("event_types", "price_currency", peewee.CharField(max_length=3, null=True)),
        migrator.add_column("event_types", "payment_providers", peewee.TextField(default="[]")),
        migrator.add_column("event_types", "payment_window", peewee.IntegerField(default=15)),
        migrator.add_column("event_types", "refund_on_host_cancel", peewee.BooleanField(default=True)),
        migrator.add_column("event_types", "refund_invitee_hours", peewee.IntegerField(default=24)),
        migrator.add_column("bookings", "held_until", UTCDateTimeField(null=True)),
        migrator.add_index("bookings", ("status", "held_until"), False),
    )
    if isinstance(database, peewee.PostgresqlDatabase):     # "PENDING_PAYMENT" is longer than 12 (SQLite does not care)
        database.execute_sql("ALTER TABLE bookings ALTER COLUMN status TYPE VARCHAR(16)")
