"""Connected third-party accounts: calendars now (CalDAV, ICS feeds), OAuth providers later.

One ``Integration`` per connected account. Its secrets (a CalDAV app password, an ICS feed URL that carries a
private token, later OAuth tokens) live only in ``credentials``, a JSON object encrypted with the app's
AES-256-GCM ``Encryptor``; disconnecting deletes the row and with it the secrets.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking

PROVIDERS = ("caldav", "ics", "google", "microsoft")     # later: zoom, webex
CATEGORY_CALENDAR = "calendar"


class Integration(BaseModel):
    user = peewee.ForeignKeyField(User, backref="integrations", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    category = peewee.CharField(max_length=20, default=CATEGORY_CALENDAR)
    label = peewee.CharField(max_length=200)                 # what the page shows: account or feed name
    account_email = peewee.CharField(max_length=254, null=True)
    server_url = peewee.CharField(max_length=2000, null=True)  # non-secret part shown to the user
    credentials = peewee.TextField(null=True)                # encrypted JSON; never plain text
    status = peewee.CharField(max_length=20, default="connected")   # connected | error | revoked (OAuth)
    last_error = peewee.TextField(null=True)
    last_error_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "integrations"
        indexes = ((("user", "provider"), False),)


class IntegrationCalendar(BaseModel):
    """One calendar of a connection: checked for conflicts, and/or the one that receives new bookings."""
    integration = peewee.ForeignKeyField(Integration, backref="calendars", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")   # denormalised: one query per booking page
    remote_id = peewee.CharField(max_length=2000)             # CalDAV collection URL; Google/Graph calendar id; "feed"
    name = peewee.CharField(max_length=200)
    color = peewee.CharField(max_length=16, null=True)
    writable = peewee.BooleanField(default=False)
    check_conflicts = peewee.BooleanField(default=True)
    is_destination = peewee.BooleanField(default=False)       # at most one per user (services enforce it)
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "integration_calendars"
        indexes = ((("user", "check_conflicts"), False),)


class CalendarBusyCache(BaseModel):
    """Busy intervals of one calendar for one fixed window (``window_start`` .. + the chunk length)."""
    calendar = peewee.ForeignKeyField(IntegrationCalendar, backref="busy_cache", on_delete="CASCADE")
    window_start = UTCDateTimeField()
    intervals = peewee.TextField(default="[]")     # JSON [[start epoch, end epoch], ...] sorted
    fetched_at = UTCDateTimeField(null=True)       # null: never read successfully
    error = peewee.TextField(null=True)            # the last read failed (data, if any, is older)
    error_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "calendar_busy_cache"
        indexes = ((("calendar", "window_start"), True),)


class BookingCalendarEvent(BaseModel):
    """The event a booking created in a host's destination calendar, so reschedule and cancel find it. A team
    booking has one per attending host (each in that host's own connection): unique per (booking, connection),
    the connection's ``user`` being the host (migration 0020)."""
    booking = peewee.ForeignKeyField(Booking, backref="calendar_events", on_delete="CASCADE")
    integration = peewee.ForeignKeyField(Integration, backref="booking_events", on_delete="CASCADE")
    calendar_remote_id = peewee.CharField(max_length=2000)
    href = peewee.CharField(max_length=2000)
    uid = peewee.CharField(max_length=255)
    etag = peewee.CharField(max_length=255, null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "booking_calendar_events"
        indexes = ((("booking", "integration"), True),)


class BookingMeeting(BaseModel):
    """The video meeting created for a booking (Zoom, Webex, Microsoft Teams; Google Meet lives in the Google
    Calendar event), so reschedule and cancel find it and the host sees why a link is missing."""
    booking = peewee.ForeignKeyField(Booking, backref="meetings", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)                 # the event type's location: zoom, webex, teams, ...
    integration = peewee.ForeignKeyField(Integration, null=True, on_delete="SET NULL")
    remote_id = peewee.CharField(max_length=255, null=True)    # the provider's meeting id
    status = peewee.CharField(max_length=12, default="pending")   # pending | created | failed | deleted
    error = peewee.TextField(null=True)                        # why the link is missing (shown on the booking)
    confirmation_sent = peewee.BooleanField(default=False)     # the confirmation emails went out (held for the link)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "booking_meetings"
        indexes = ((("booking",), True),)
