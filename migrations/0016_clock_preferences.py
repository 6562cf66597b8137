"""Which clock people read: ``users.hour12`` (the host's choice in Settings → Profile, for the dashboard and the
host's emails; 24 h until chosen) and ``bookings.invitee_hour12`` (the clock the invitee's booking page showed,
for the invitee's emails; NULL where unknown, e.g. bookings made through the API, which then read 24 h)."""
import peewee


def upgrade(database: peewee.Database) -> None:
    postgres = isinstance(database, peewee.PostgresqlDatabase)
    kind, false = ("BOOLEAN", "FALSE") if postgres else ("INTEGER", "0")     # as Peewee's BooleanField
    database.execute_sql(f'ALTER TABLE "users" ADD COLUMN "hour12" {kind} NOT NULL DEFAULT {false}')
    database.execute_sql(f'ALTER TABLE "bookings" ADD COLUMN "invitee_hour12" {kind}')
