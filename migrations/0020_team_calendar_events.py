"""A team booking's calendar event is written to every attending host's destination calendar (issue 15): a
booking has one ``booking_calendar_events`` row per connection, unique per (booking, connection). The unique
index on the booking alone that 0008 asked for was never made (its name was taken by the foreign key's own
index), so rows written twice by a race are removed first, keeping one per (booking, connection)."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def upgrade(database: peewee.Database) -> None:
    database.execute_sql(
        "DELETE FROM booking_calendar_events WHERE id IN (SELECT later.id FROM booking_calendar_events AS first "
        "JOIN booking_calendar_events AS later ON later.booking_id = first.booking_id "
        "AND later.integration_id = first.integration_id AND later.id > first.id)")
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_index("booking_calendar_events", ("booking_id", "integration_id"), True))
