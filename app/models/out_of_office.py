"""Out-of-office entries (issue 23, point 8): days a host cannot be booked, in the host's time zone.

One row per range: the first and last day away (inclusive), the zone those dates are read in (the host's profile
zone when the entry was made), a reason, an optional note for invitees, whether the booking page names the reason,
and, for a host on a team, a teammate the booking page sends invitees to instead. Entries of one host never overlap
(the service refuses it). Deleting the teammate's account leaves the entry without a redirect.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow

REASONS = {"vacation": "Vacation", "travel": "Travel", "sick": "Sick leave", "holiday": "Public holiday",
           "other": "Other"}


class OutOfOffice(BaseModel):
    user = peewee.ForeignKeyField(User, backref="out_of_office", on_delete="CASCADE")
    start_date = peewee.DateField()
    end_date = peewee.DateField()                               # the last day away (inclusive)
    timezone = peewee.CharField(max_length=64)
    reason = peewee.CharField(max_length=20, default="vacation")
    note = peewee.TextField(null=True)                          # shown to invitees on the booking page
    show_reason = peewee.BooleanField(default=True)
    redirect_to = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "out_of_office"
        indexes = ((("user", "end_date"), False),)

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, "Other")
