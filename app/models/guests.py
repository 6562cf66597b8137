"""Additional guests of a booking (issue 23, point 1): the email addresses the invitee invited along.

One row per guest of one booking (a recurring series: each occurrence has its own rows), in the order given;
``no_show``/``no_show_at`` as on ``bookings`` (the host marks a guest who did not come). ``bookings.guest_count``
keeps their number on the booking, so the booking's payloads read the rows only when there are some.
"""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking


class BookingGuest(BaseModel):
    booking = peewee.ForeignKeyField(Booking, backref="guests", on_delete="CASCADE")
    email = peewee.CharField(max_length=254)           # lower-case
    position = peewee.IntegerField(default=0)          # the order the invitee gave them in
    no_show = peewee.BooleanField(default=False)
    no_show_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "booking_guests"
        indexes = ((("booking", "email"), True),)
