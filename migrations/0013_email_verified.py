"""users.email_verified_at: when the owner proved the email address. Accounts created before have not, except
those whose address a Google/Microsoft sign-in identity carries (sign-in links only provider-verified
addresses) and the instance's administrators (the first account and the CLI's, which count as verified); the
others see a banner asking to confirm it."""
import peewee


def upgrade(database: peewee.Database) -> None:
    kind = "TIMESTAMP" if isinstance(database, peewee.PostgresqlDatabase) else "DATETIME"
    database.execute_sql(f'ALTER TABLE "users" ADD COLUMN "email_verified_at" {kind}')
    database.execute_sql(
        'UPDATE "users" SET "email_verified_at" = "created_at" WHERE EXISTS (SELECT 1 FROM "oauth_identities" i '
        'WHERE i."user_id" = "users"."id" AND i."email" = "users"."email")')
    placeholder = database.param
    database.execute_sql(
        f'UPDATE "users" SET "email_verified_at" = "created_at" WHERE "is_admin" = {placeholder} '
        'AND "email_verified_at" IS NULL', (True,))
