"""Audit entries: append-only records of state changes.

The database itself refuses UPDATE and refuses DELETE of entries younger than 365 days (triggers from
migrations/0006_audit_append_only.py); only the daily cleanup removes older entries."""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow


class AuditLog(BaseModel):
    user_id = peewee.CharField(max_length=32, null=True, index=True)  # the account the entry belongs to
    organization_id = peewee.CharField(max_length=32, null=True)      # and its organization's log, if any
    actor_id = peewee.CharField(max_length=32, null=True)             # who did it (null: system/invitee)
    actor_email = peewee.CharField(max_length=254, null=True)
    action = peewee.CharField(max_length=64)
    category = peewee.CharField(max_length=32)
    resource = peewee.CharField(max_length=64)
    resource_id = peewee.CharField(max_length=64, null=True)
    details = peewee.TextField(default="{}")
    ip_address = peewee.CharField(max_length=64, null=True)
    user_agent = peewee.CharField(max_length=512, null=True)
    plan_at_time = peewee.CharField(max_length=20, null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "audit_logs"
        indexes = ((("user_id", "created_at"), False), (("organization_id", "created_at"), False),
                   (("user_id", "category", "created_at", "action", "resource", "resource_id", "id"), False),
                   (("user_id", "created_at", "category", "action", "resource", "resource_id", "id"), False))
