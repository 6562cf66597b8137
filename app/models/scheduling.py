"""What a host offers: availability schedules and event types."""
from __future__ import annotations

import json

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.organizations import Team


class JSONField(peewee.TextField):
    """JSON kept as text (portable between SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class Schedule(BaseModel):
    """Named weekly hours plus date overrides, in one time zone.

    ``weekly``: {"0": [["09:00", "17:00"]], ... "6": []} with 0 = Monday.
    ``overrides``: {"2026-12-24": [["09:00", "12:00"]], "2026-12-25": []} ([] = unavailable that date).
    """
    user = peewee.ForeignKeyField(User, backref="schedules", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    timezone = peewee.CharField(max_length=64)
    is_default = peewee.BooleanField(default=False)
    weekly = JSONField(default=dict)
    overrides = JSONField(default=dict)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "schedules"


SCHEDULING_TYPES = {"collective": "Collective", "round_robin": "Round robin"}


class EventType(BaseModel):
    # personal event types: the host; team event types: who created it (the hosts are EventTypeHost rows)
    user = peewee.ForeignKeyField(User, backref="event_types", on_delete="CASCADE")
    team = peewee.ForeignKeyField(Team, null=True, backref="event_types", on_delete="CASCADE")
    scheduling_type = peewee.CharField(max_length=12, null=True)   # team event types: collective | round_robin
    schedule = peewee.ForeignKeyField(Schedule, null=True, on_delete="SET NULL")  # null: the default schedule
    name = peewee.CharField(max_length=100)
    slug = peewee.CharField(max_length=100)
    description = peewee.TextField(default="")
    duration = peewee.IntegerField(default=30)                 # minutes
    extra_durations = JSONField(default=list)                  # other lengths the invitee may choose
    location_type = peewee.CharField(max_length=20, default="none")
    location_detail = peewee.CharField(max_length=500, default="")
    buffer_before = peewee.IntegerField(default=0)
    buffer_after = peewee.IntegerField(default=0)
    minimum_notice = peewee.IntegerField(default=0)            # minutes
    window_type = peewee.CharField(max_length=10, default="rolling")   # rolling | range
    window_days = peewee.IntegerField(default=60)
    window_start = peewee.DateField(null=True)
    window_end = peewee.DateField(null=True)
    slot_interval = peewee.IntegerField(null=True)             # minutes; null = duration
    max_per_day = peewee.IntegerField(null=True)
    status = peewee.CharField(max_length=10, default="active")  # active | draft
    is_secret = peewee.BooleanField(default=False)
    color = peewee.CharField(max_length=7, default="#2563eb")
    questions = JSONField(default=list)
    recurrence = JSONField(null=True)                          # {"frequency", "interval", "maxOccurrences"}
    reminders = JSONField(default=lambda: [1440])              # minutes before the start
    position = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    # paid bookings (issue 16): no price = free
    price_amount = peewee.IntegerField(null=True)                # minor units of price_currency
    price_currency = peewee.CharField(max_length=3, null=True)   # lower-case ISO 4217
    payment_providers = JSONField(default=list)                  # ["stripe", "paypal"]: what the invitee may use
    payment_window = peewee.IntegerField(default=15)             # minutes a held booking waits for its payment
    refund_on_host_cancel = peewee.BooleanField(default=True)
    refund_invitee_hours = peewee.IntegerField(default=24)       # an invitee cancelling earlier than this is refunded
    # redirect after booking (issue 23): an https URL the invitee goes to once booked (null: the confirmation page)
    redirect_url = peewee.CharField(max_length=2000, null=True)
    redirect_with_details = peewee.BooleanField(default=False)   # the booking's details as query parameters
    # cancellation and reschedule policy (issue 23): what the invitee may do online, "anytime" | "until" | "never";
    # "until" stops N hours before the start (host actions are not limited)
    invitee_cancel = peewee.CharField(max_length=8, default="anytime")
    invitee_cancel_hours = peewee.IntegerField(default=24)
    invitee_reschedule = peewee.CharField(max_length=8, default="anytime")
    invitee_reschedule_hours = peewee.IntegerField(default=24)
    require_cancel_reason = peewee.BooleanField(default=False)   # the invitee must say why they cancel
    # requires confirmation (issue 23): bookings wait (PENDING) for the host's yes; with a threshold, only those made
    # less than that many hours before their start (null: always)
    requires_confirmation = peewee.BooleanField(default=False)
    confirmation_threshold_hours = peewee.IntegerField(null=True)
    max_guests = peewee.IntegerField(default=10)                 # guest emails an invitee may add (0: none; 0033)
    # seats (issue 23): invitees who may book the same slot, each their own booking (null: one, a normal meeting)
    seats = peewee.IntegerField(null=True)
    seats_show_remaining = peewee.BooleanField(default=False)    # the booking page says "4 seats left"
    # booking limits (issue 23) besides max_per_day, in the schedule's zone (weeks from Monday); null: no limit
    max_per_week = peewee.IntegerField(null=True)
    max_per_month = peewee.IntegerField(null=True)
    max_per_year = peewee.IntegerField(null=True)
    max_minutes_per_day = peewee.IntegerField(null=True)
    max_minutes_per_week = peewee.IntegerField(null=True)

    class Meta:
        table_name = "event_types"
        # unique (user, slug) where team is null and (team, slug) where it is not: partial indexes (migration 0019)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_paid(self) -> bool:
        return bool(self.price_amount) and bool(self.price_currency)

    @property
    def is_team(self) -> bool:
        return self.team_id is not None

    @classmethod
    def personal(cls):
        """The condition selecting personal event types (not a team's)."""
        return cls.team.is_null()


class EventTypeHost(BaseModel):
    """A host of a team event type: a member of its team; ``is_fixed`` members attend every round-robin booking,
    ``weight`` shares the others out (default equal)."""
    event_type = peewee.ForeignKeyField(EventType, backref="hosts", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    is_fixed = peewee.BooleanField(default=False)
    weight = peewee.IntegerField(default=1)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "event_type_hosts"
        indexes = ((("event_type", "user"), True),)


EventType.add_index(peewee.ModelIndex(EventType, (EventType.user, EventType.slug), unique=True,
                                      name="event_types_personal_slug", where=EventType.team.is_null()))
EventType.add_index(peewee.ModelIndex(EventType, (EventType.team, EventType.slug), unique=True,
                                      name="event_types_team_slug", where=EventType.team.is_null(False)))


class HostBookingLimits(BaseModel):
    """Booking limits across all of a host's event types (issue 23), counting every booking they take (their own
    and the team bookings they attend), in the zone of the schedule in use; null: no limit."""
    user = peewee.ForeignKeyField(User, unique=True, backref="+", on_delete="CASCADE")
    max_per_day = peewee.IntegerField(null=True)
    max_per_week = peewee.IntegerField(null=True)
    max_per_month = peewee.IntegerField(null=True)
    max_per_year = peewee.IntegerField(null=True)
    max_minutes_per_day = peewee.IntegerField(null=True)
    max_minutes_per_week = peewee.IntegerField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "host_booking_limits"
