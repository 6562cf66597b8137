"""API keys, webhooks and webhook delivery attempts."""
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

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class ApiKey(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        key_hash = peewee.CharField(max_length=64, unique=True)
        prefix = peewee.CharField(max_length=16)
        created_at = UTCDateTimeField()
        last_used_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "api_keys"

    class Webhook(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        url = peewee.CharField(max_length=2000)
        events = peewee.TextField()
        event_type = peewee.ForeignKeyField(EventType, null=True, on_delete="CASCADE")
        active = peewee.BooleanField()
        secret = peewee.TextField()
        label = peewee.CharField(max_length=40, null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "webhooks"

    class WebhookDelivery(Base):
        webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE")
        event_id = peewee.CharField(max_length=32, index=True)
        event = peewee.CharField(max_length=40)
        attempt = peewee.IntegerField()
        status_code = peewee.IntegerField(null=True)
        duration_ms = peewee.IntegerField(null=True)
        response_excerpt = peewee.TextField(null=True)
        error = peewee.TextField(null=True)
        next_retry_at = UTCDateTimeField(null=True)
        success = peewee.BooleanField()
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "webhook_deliveries"
            indexes = ((("webhook", "created_at"), False),)

    models = [ApiKey, Webhook, WebhookDelivery]
    with database.bind_ctx([User, EventType, *models]):
        database.create_tables(models)
