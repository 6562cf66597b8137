"""Accounts, audit entries and the outbox.

Migrations define frozen copies of the models as they were when the migration was written, so later
changes to app/models never change what an old migration does.
"""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        email = peewee.CharField(max_length=254, unique=True)
        username = peewee.CharField(max_length=30, unique=True)
        name = peewee.CharField(max_length=100)
        password_hash = peewee.CharField(max_length=255, null=True)
        timezone = peewee.CharField(max_length=64)
        brand_color = peewee.CharField(max_length=7)
        plan = peewee.CharField(max_length=20)
        is_admin = peewee.BooleanField()
        is_disabled = peewee.BooleanField()
        session_key = peewee.CharField(max_length=32)
        created_at = UTCDateTimeField()
        last_login_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "users"

    class UserLogo(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE", unique=True)
        content_type = peewee.CharField(max_length=40)
        data = peewee.BlobField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "user_logos"

    class OAuthIdentity(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        provider = peewee.CharField(max_length=20)
        subject = peewee.CharField(max_length=255)
        email = peewee.CharField(max_length=254)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "oauth_identities"
            indexes = ((("provider", "subject"), True),)

    class AuditLog(Base):
        user_id = peewee.CharField(max_length=32, null=True, index=True)
        actor_id = peewee.CharField(max_length=32, null=True)
        actor_email = peewee.CharField(max_length=254, null=True)
        action = peewee.CharField(max_length=64)
        category = peewee.CharField(max_length=32)
        resource = peewee.CharField(max_length=64)
        resource_id = peewee.CharField(max_length=64, null=True)
        details = peewee.TextField()
        ip_address = peewee.CharField(max_length=64, null=True)
        user_agent = peewee.CharField(max_length=512, null=True)
        plan_at_time = peewee.CharField(max_length=20, null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "audit_logs"
            indexes = ((("user_id", "created_at"), False),)

    class OutboxMessage(Base):
        kind = peewee.CharField(max_length=40)
        payload = peewee.TextField()
        user_id = peewee.CharField(max_length=32, null=True, index=True)
        created_at = UTCDateTimeField()
        attempts = peewee.IntegerField()
        last_error = peewee.TextField(null=True)
        next_attempt_at = UTCDateTimeField()
        done_at = UTCDateTimeField(null=True)
        failed_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "outbox"
            indexes = ((("done_at", "failed_at", "next_attempt_at"), False),)

    models = [User, UserLogo, OAuthIdentity, AuditLog, OutboxMessage]
    with database.bind_ctx(models):
        database.create_tables(models)
