"""users.pages_version: a counter raised with every change to a host's public pages, so cached copies of
those pages (app/web/page_cache.py) are never served after a change, in any process."""
import peewee


def upgrade(database: peewee.Database) -> None:
    kind = "BIGINT" if isinstance(database, peewee.PostgresqlDatabase) else "INTEGER"
    database.execute_sql(f'ALTER TABLE "users" ADD COLUMN "pages_version" {kind} NOT NULL DEFAULT 0')
