"""Booking limits (issue 23 point 3): per event type, bookings per week, month and year and booked minutes per day
and week (besides max_per_day); and the same limits across all of a host's event types (host_booking_limits)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField

LIMIT_COLUMNS = ("max_per_week", "max_per_month", "max_per_year", "max_minutes_per_day", "max_minutes_per_week")


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(*(migrator.add_column("event_types", name, peewee.IntegerField(null=True)) for name in LIMIT_COLUMNS))

    class User(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            table_name = "users"

    class HostBookingLimits(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)
        user = peewee.ForeignKeyField(User, unique=True, backref="+", on_delete="CASCADE")
        max_per_day = peewee.IntegerField(null=True)
        max_per_week = peewee.IntegerField(null=True)
        max_per_month = peewee.IntegerField(null=True)
        max_per_year = peewee.IntegerField(null=True)
        max_minutes_per_day = peewee.IntegerField(null=True)
        max_minutes_per_week = peewee.IntegerField(null=True)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "host_booking_limits"
            legacy_table_names = False

    with database.bind_ctx([User, HostBookingLimits]):
        database.create_tables([HostBookingLimits])
