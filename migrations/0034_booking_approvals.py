"""Requires confirmation (issue 23 point 2): an event type's bookings wait for the host's confirmation
(``event_types.requires_confirmation``), optionally only when made less than ``confirmation_threshold_hours`` before
their start (null: always); ``bookings.approval`` keeps where such a request stands (pending, confirmed, declined,
expired; null for a booking that needed none)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "requires_confirmation", peewee.BooleanField(default=False)),
        migrator.add_column("event_types", "confirmation_threshold_hours", peewee.IntegerField(null=True)),
        migrator.add_column("bookings", "approval", peewee.CharField(max_length=10, null=True)),
    )
