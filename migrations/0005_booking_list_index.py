"""Index for listing a host's bookings newest first (GET /api/v1/bookings): the page's ids come from the
index in order instead of sorting every booking of the host on each request."""
import peewee


def upgrade(database: peewee.Database) -> None:
    database.execute_sql('CREATE INDEX IF NOT EXISTS "bookings_user_id_start_at_id" '
                         'ON "bookings" ("user_id", "start_at", "id")')
