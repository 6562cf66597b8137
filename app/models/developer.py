"""Developer platform: API keys, webhooks and their delivery attempts."""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.scheduling import EventType, JSONField


class ApiKey(BaseModel):
    """Only the SHA-256 of the key is stored; ``prefix`` is shown in the list (e.g. ``lt_live_abcd``)."""
    user = peewee.ForeignKeyField(User, backref="api_keys", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    key_hash = peewee.CharField(max_length=64, unique=True)
    prefix = peewee.CharField(max_length=16)
    created_at = UTCDateTimeField(default=utcnow)
    last_used_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class Webhook(BaseModel):
    user = peewee.ForeignKeyField(User, backref="webhooks", on_delete="CASCADE")
    url = peewee.CharField(max_length=2000)
    events = JSONField(default=list)                 # subset of services.events.EVENT_NAMES
    event_type = peewee.ForeignKeyField(EventType, null=True, on_delete="CASCADE")  # optional filter
    active = peewee.BooleanField(default=True)
    secret = peewee.TextField()                      # encrypted with the app's Encryptor
    label = peewee.CharField(max_length=40, null=True)   # "Zapier" for REST-hook subscriptions
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    # The endpoint's share of the webhook queue (app/services/developer/webhook_delivery.py): a delivery in flight holds
    # it until busy_until; timeouts in a row open the circuit breaker until paused_until.
    busy_since = UTCDateTimeField(null=True)
    busy_until = UTCDateTimeField(null=True)
    timeout_streak = peewee.IntegerField(default=0)
    paused_until = UTCDateTimeField(null=True)

    class Meta:
        table_name = "webhooks"


class WebhookDelivery(BaseModel):
    """One attempt to deliver one event to one webhook."""
    webhook = peewee.ForeignKeyField(Webhook, backref="deliveries", on_delete="CASCADE")
    event_id = peewee.CharField(max_length=32, index=True)   # the stable id receivers deduplicate on
    event = peewee.CharField(max_length=40)
    attempt = peewee.IntegerField()
    status_code = peewee.IntegerField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    response_excerpt = peewee.TextField(null=True)
    error = peewee.TextField(null=True)
    next_retry_at = UTCDateTimeField(null=True)
    success = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "webhook_deliveries"
        indexes = ((("webhook", "created_at"), False),)
