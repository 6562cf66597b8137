"""Audit entries are append-only (spec 21): the database refuses UPDATE on ``audit_logs`` and refuses DELETE of
any entry younger than 365 days, so only the daily cleanup of older entries can remove rows. An index serves
the audit log page's category filter, another covers its text search."""
import peewee

SQLITE = [
    'DROP TRIGGER IF EXISTS "audit_logs_no_update"',
    ('CREATE TRIGGER "audit_logs_no_update" BEFORE UPDATE ON "audit_logs" '
     "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: entries cannot be changed'); END"),
    'DROP TRIGGER IF EXISTS "audit_logs_no_delete"',
    ('CREATE TRIGGER "audit_logs_no_delete" BEFORE DELETE ON "audit_logs" '
     "WHEN OLD.created_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-365 days') "
     "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: only entries older than 365 days can be removed'); "
     "END"),
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION audit_logs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'audit_logs is append-only: entries cannot be changed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.created_at >= (now() AT TIME ZONE 'UTC') - interval '365 days' THEN
    RAISE EXCEPTION 'audit_logs is append-only: only entries older than 365 days can be removed'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END $$""",
    'DROP TRIGGER IF EXISTS "audit_logs_append_only" ON "audit_logs"',
    ('CREATE TRIGGER "audit_logs_append_only" BEFORE UPDATE OR DELETE ON "audit_logs" '
     "FOR EACH ROW EXECUTE FUNCTION audit_logs_guard()"),
]


def upgrade(database: peewee.Database) -> None:
    statements = POSTGRES if isinstance(database, peewee.PostgresqlDatabase) else SQLITE
    for sql in statements:
        database.execute_sql(sql)
    # the category filter, covering the text search within a category
    database.execute_sql('CREATE INDEX IF NOT EXISTS "audit_logs_category_search" ON "audit_logs" '
                         '("user_id", "category", "created_at", "action", "resource", "resource_id", "id")')
    # covers the text search (action, resource, resource id) so it reads the index, not the rows
    database.execute_sql('CREATE INDEX IF NOT EXISTS "audit_logs_search" ON "audit_logs" '
                         '("user_id", "created_at", "category", "action", "resource", "resource_id", "id")')
