"""Single-use links and one-off meetings (issue 23, point 7): ``/d/<token>`` books one of the host's event types
exactly once, then no more.

``kind``: ``single_use`` (any time the event type offers) or ``one_off`` (only the proposed times, the
``OneTimeLinkTime`` rows, with the meeting's own name, length and location). ``token`` is 32 random bytes
(url-safe), unique: the link is found by it and never listed publicly. ``used_at``/``booking``: set in the
booking's transaction when it is booked; a cancelled booking does not make the link usable again.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.scheduling import EventType

KINDS = ("single_use", "one_off")


class OneTimeLink(BaseModel):
    user = peewee.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    event_type = peewee.ForeignKeyField(EventType, backref="+", on_delete="CASCADE")
    kind = peewee.CharField(max_length=12, default="single_use")
    token = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=100, null=True)              # one-off: the meeting's name
    duration = peewee.IntegerField(null=True)                      # one-off: minutes
    location_type = peewee.CharField(max_length=20, null=True)     # one-off: null = the event type's
    location_detail = peewee.CharField(max_length=500, null=True)
    expires_at = UTCDateTimeField(null=True)
    used_at = UTCDateTimeField(null=True)
    booking = peewee.ForeignKeyField(Booking, null=True, backref="+", on_delete="SET NULL")
    revoked_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "one_time_links"


class OneTimeLinkTime(BaseModel):
    """A proposed start of a one-off meeting."""
    link = peewee.ForeignKeyField(OneTimeLink, backref="times", on_delete="CASCADE")
    start_at = UTCDateTimeField()

    class Meta:
        table_name = "one_time_link_times"
        indexes = ((("link", "start_at"), True),)
