"""Additional guests (issue 23 point 1): ``event_types.max_guests`` (how many guest emails an invitee may add;
default 10, 0: none), ``bookings.guest_count`` and the ``booking_guests`` table (one row per guest of a booking,
with its no-show mark; cascades with the booking; one row per booking and email)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "max_guests", peewee.IntegerField(default=10)),
        migrator.add_column("bookings", "guest_count", peewee.IntegerField(default=0)),
    )

    class Booking(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            table_name = "bookings"

    class BookingGuest(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        email = peewee.CharField(max_length=254)
        position = peewee.IntegerField(default=0)
        no_show = peewee.BooleanField(default=False)
        no_show_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "booking_guests"
            legacy_table_names = False
            indexes = ((("booking", "email"), True),)

    with database.bind_ctx([Booking, BookingGuest]):
        database.create_tables([BookingGuest])
