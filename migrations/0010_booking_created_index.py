"""Index for the analytics dashboard: a host's bookings made in a period, counted per event type and source
(and series), read from the index alone."""
import peewee


def upgrade(database: peewee.Database) -> None:
    database.execute_sql('CREATE INDEX IF NOT EXISTS "bookings_user_id_created_at_source" ON "bookings" '
                         '("user_id", "created_at", "source", "event_type_id", "recurring_group_id", "status")')
