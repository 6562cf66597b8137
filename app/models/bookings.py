"""Bookings, the host's contacts, booking history and reminders."""
from __future__ import annotations

import peewee

from app.ids import new_token
from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.scheduling import EventType, JSONField

# statuses whose time is taken: confirmed bookings, paid ones held while the invitee pays (issue 16) and requests
# waiting for the host's confirmation (issue 23)
TAKEN_STATUSES = ("CONFIRMED", "PENDING_PAYMENT", "PENDING")


class Contact(BaseModel):
    user = peewee.ForeignKeyField(User, backref="contacts", on_delete="CASCADE")
    name = peewee.CharField(max_length=200)
    email = peewee.CharField(max_length=254)
    phone = peewee.CharField(max_length=40, null=True)
    company = peewee.CharField(max_length=200, null=True)
    notes = peewee.TextField(null=True)
    source = peewee.CharField(max_length=20, default="manual")   # booking | manual | api
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "contacts"
        indexes = ((("user", "email"), True),)


class Booking(BaseModel):
    user = peewee.ForeignKeyField(User, backref="bookings", on_delete="CASCADE")      # the host
    event_type = peewee.ForeignKeyField(EventType, null=True, on_delete="SET NULL")
    contact = peewee.ForeignKeyField(Contact, null=True, on_delete="SET NULL")
    uid = peewee.CharField(max_length=64, unique=True, default=new_token)            # for invitee links
    # CONFIRMED | CANCELLED | PENDING_PAYMENT (held while the invitee pays, until held_until) | PENDING (a request
    # waiting for the host's confirmation)
    status = peewee.CharField(max_length=16, default="CONFIRMED")
    held_until = UTCDateTimeField(null=True)
    start_at = UTCDateTimeField()
    end_at = UTCDateTimeField()
    # Busy time this booking blocks: its own event type's buffers, kept with the booking.
    buffer_before = peewee.IntegerField(default=0)
    buffer_after = peewee.IntegerField(default=0)
    event_name = peewee.CharField(max_length=100)
    invitee_name = peewee.CharField(max_length=200)
    invitee_email = peewee.CharField(max_length=254)
    invitee_timezone = peewee.CharField(max_length=64)
    invitee_hour12 = peewee.BooleanField(null=True)  # the clock the booking page showed; None: not known (24 h)
    invitee_phone = peewee.CharField(max_length=40, null=True)
    notes = peewee.TextField(null=True)
    answers = JSONField(default=dict)
    location_type = peewee.CharField(max_length=20, default="none")
    location = peewee.CharField(max_length=500, default="")
    meeting_link = peewee.CharField(max_length=500, null=True)
    recurring_group_id = peewee.CharField(max_length=32, null=True, index=True)
    sequence = peewee.IntegerField(default=0)                                        # iCalendar SEQUENCE
    previous_start_at = UTCDateTimeField(null=True)
    previous_end_at = UTCDateTimeField(null=True)
    cancel_reason = peewee.TextField(null=True)
    cancelled_at = UTCDateTimeField(null=True)
    cancelled_by = peewee.CharField(max_length=10, null=True)                        # host | invitee
    idempotency_key = peewee.CharField(max_length=200, null=True)
    source = peewee.CharField(max_length=20, default="page")
    assignment_reason = peewee.TextField(null=True)     # round-robin team bookings: why this host was chosen
    routing_response_id = peewee.CharField(max_length=32, null=True)   # the routing form answers it followed (0024)
    no_show = peewee.BooleanField(default=False)        # the host marked the invitee as not having come (0031)
    no_show_at = UTCDateTimeField(null=True)            # when they marked it (null when not marked)
    # a booking that needed the host's confirmation (0034): pending | confirmed | declined | expired; null: it did not
    approval = peewee.CharField(max_length=10, null=True)
    guest_count = peewee.IntegerField(default=0)        # rows in booking_guests (issue 23; 0033)
    seated = peewee.BooleanField(default=False)         # one seat of a seated event type's slot (0037)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "bookings"
        indexes = (
            (("user", "status", "start_at"), False),
            (("user", "idempotency_key"), True),
            (("user", "start_at", "id"), False),   # API booking list, newest first (migration 0005)
            # analytics: bookings made in a period, counted per event type and source without reading rows
            (("user", "created_at", "source", "event_type", "recurring_group_id", "status"), False),  # 0010
            (("status", "held_until"), False),      # held bookings whose payment window ran out (0022)
        )

    @property
    def is_cancelled(self) -> bool:
        return self.status == "CANCELLED"


class BookingHost(BaseModel):
    """Every host attending a team booking (the booking's ``user`` among them): their busy time includes it."""
    booking = peewee.ForeignKeyField(Booking, backref="hosts", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    is_fixed = peewee.BooleanField(default=False)

    class Meta:
        table_name = "booking_hosts"
        indexes = ((("booking", "user"), True), (("user", "booking"), False))


class BookingActivity(BaseModel):
    """The history shown on a booking: created, rescheduled, cancelled, emails, deliveries."""
    booking = peewee.ForeignKeyField(Booking, backref="activities", on_delete="CASCADE")
    kind = peewee.CharField(max_length=40)
    message = peewee.TextField()
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "booking_activities"


class Reminder(BaseModel):
    booking = peewee.ForeignKeyField(Booking, backref="reminders", on_delete="CASCADE")
    send_at = UTCDateTimeField(index=True)
    offset_minutes = peewee.IntegerField()
    sent_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "reminders"
