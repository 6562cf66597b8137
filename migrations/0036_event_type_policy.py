"""Cancellation and reschedule policy (issue 23 point 4): per event type, until when the invitee may cancel and
reschedule online (any time, until N hours before the start, never) and whether a cancellation needs a reason."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "invitee_cancel", peewee.CharField(max_length=8, default="anytime")),
        migrator.add_column("event_types", "invitee_cancel_hours", peewee.IntegerField(default=24)),
        migrator.add_column("event_types", "invitee_reschedule", peewee.CharField(max_length=8, default="anytime")),
        migrator.add_column("event_types", "invitee_reschedule_hours", peewee.IntegerField(default=24)),
        migrator.add_column("event_types", "require_cancel_reason", peewee.BooleanField(default=False)),
    )
