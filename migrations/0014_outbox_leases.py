"""outbox.leased_until: the end of the lease of the worker running the row, renewed while its handler runs, so
the sweep takes the row of a killed worker again as soon as the lease ran out."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_column("outbox", "leased_until", UTCDateTimeField(null=True)))
