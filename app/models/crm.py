"""Bookings in the host's CRMs (issue 19): one ``BookingCrmSync`` per (booking, CRM connection).

It keeps what LinkTime made there (``remote_ids``: the HubSpot contact and meeting, the Salesforce Contact and Event,
the Attio person and notes), so a retry never makes a second record; the booking's changes still to carry over, in
order (``changes``); and the outcome the booking page shows (``status`` pending | synced | failed, ``last_error`` in
plain words). ``busy_since`` / ``busy_until`` hold the row for the one worker syncing it (renewed while it runs).
"""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.integrations import Integration
from app.models.scheduling import JSONField

SYNC_STATUSES = ("pending", "synced", "failed")


class BookingCrmSync(BaseModel):
    booking = peewee.ForeignKeyField(Booking, backref="crm_syncs", on_delete="CASCADE")
    integration = peewee.ForeignKeyField(Integration, backref="crm_syncs", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    status = peewee.CharField(max_length=12, default="pending")
    remote_ids = JSONField(default=dict)
    changes = JSONField(default=list)           # the booking's changes not yet carried over, oldest first
    last_error = peewee.TextField(null=True)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    busy_since = UTCDateTimeField(null=True)
    busy_until = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "booking_crm_syncs"
        indexes = ((("booking", "integration"), True),)
