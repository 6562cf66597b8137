"""No-shows (issue 23, point 5): the host marks a booking's invitee as not having come, after the meeting's start.
``bookings.no_show`` (false unless marked) and ``bookings.no_show_at`` (when it was marked; null when not)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("bookings", "no_show", peewee.BooleanField(default=False)),
        migrator.add_column("bookings", "no_show_at", UTCDateTimeField(null=True)),
    )
