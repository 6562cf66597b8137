"""Close scheduling links (issue 19, spec page 26): what LinkTime published into a Close connection, per event type.

One row per (Close connection, event type): Close's id of the link (for reference: the link is named by LinkTime's
``source_id``, the event type's id, which the row keeps too), a fingerprint of what was last published (name, url,
description, duration) so a repeated job changes nothing, the status (``pending`` while a job is queued,
``published``, ``deleted`` when the event type is secret or a draft, ``failed``) and the last error in plain words.
Both foreign keys cascade: a deleted event type's job carries the ``source_id`` in its outbox payload, so the link is
still deleted at Close after the row is gone.
"""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.integrations import Integration
from app.models.scheduling import EventType

STATUSES = ("pending", "published", "deleted", "failed")


class CloseLink(BaseModel):
    integration = peewee.ForeignKeyField(Integration, backref="close_links", on_delete="CASCADE")
    event_type = peewee.ForeignKeyField(EventType, backref="+", on_delete="CASCADE")
    source_id = peewee.CharField(max_length=200)                # what Close knows the link by (the event type id)
    remote_id = peewee.CharField(max_length=200, null=True)     # Close's id of the link, answered on publishing
    fingerprint = peewee.CharField(max_length=64, null=True)    # sha256 of what was last published
    status = peewee.CharField(max_length=12, default="pending")
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "close_links"
        indexes = ((("integration", "event_type"), True),)
