"""Server-side sessions: the cookie holds a random token, the row (keyed by the token's SHA-256) holds the
session's data and whose it is, so signing out, a password change or reset and disabling an account end it."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "users"

    class WebSession(Base):
        token_hash = peewee.CharField(max_length=64, unique=True)
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        data = peewee.TextField()
        created_at = UTCDateTimeField()
        last_seen_at = UTCDateTimeField(index=True)
        ip = peewee.CharField(max_length=45, null=True)
        user_agent = peewee.CharField(max_length=255, null=True)

        class Meta:
            table_name = "web_sessions"

    with database.bind_ctx([User, WebSession]):
        database.create_tables([WebSession])
