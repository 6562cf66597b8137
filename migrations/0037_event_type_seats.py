"""Seats (issue 23 point 6): per event type, how many invitees may book the same slot (null: one) and whether the
booking page says how many seats are left; on a booking, whether it is one seat of such a slot."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "seats", peewee.IntegerField(null=True)),
        migrator.add_column("event_types", "seats_show_remaining", peewee.BooleanField(default=False)),
        migrator.add_column("bookings", "seated", peewee.BooleanField(default=False)),
    )
