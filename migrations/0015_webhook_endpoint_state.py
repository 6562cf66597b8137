"""webhooks.busy_since / busy_until / timeout_streak / paused_until: one delivery at a time per endpoint, and the
circuit breaker that pauses an endpoint after timeouts in a row (app/services/developer/webhook_delivery.py)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_column("webhooks", "busy_since", UTCDateTimeField(null=True)),
            migrator.add_column("webhooks", "busy_until", UTCDateTimeField(null=True)),
            migrator.add_column("webhooks", "timeout_streak", peewee.IntegerField(default=0)),
            migrator.add_column("webhooks", "paused_until", UTCDateTimeField(null=True)))
