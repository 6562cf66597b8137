"""users.checklist_dismissed_at: when the host hid the dashboard's first-run checklist ("Hide this list"), so it
stays hidden on every device and after signing in again."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_column("users", "checklist_dismissed_at", UTCDateTimeField(null=True)))
