"""Redirect after booking (issue 23 point 9): per event type, an https URL the invitee is sent to once booked, and
whether the booking's details ride along as query parameters."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "redirect_url", peewee.CharField(max_length=2000, null=True)),
        migrator.add_column("event_types", "redirect_with_details", peewee.BooleanField(default=False)),
    )
