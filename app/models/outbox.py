"""The transactional outbox: side effects written in the same transaction as the state change."""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow


class OutboxMessage(BaseModel):
    kind = peewee.CharField(max_length=40)          # 'email', later 'webhook', 'calendar', ...
    payload = peewee.TextField()                    # JSON
    user_id = peewee.CharField(max_length=32, null=True, index=True)
    created_at = UTCDateTimeField(default=utcnow)
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    next_attempt_at = UTCDateTimeField(default=utcnow)
    done_at = UTCDateTimeField(null=True)
    failed_at = UTCDateTimeField(null=True)         # gave up after the last retry
    leased_until = UTCDateTimeField(null=True)      # a worker holds the row until then (renewed while it runs)

    class Meta:
        table_name = "outbox"
        indexes = ((("done_at", "failed_at", "next_attempt_at"), False),)
