"""Calendar integrations: connections, their calendars, cached busy times and the events bookings created."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "users"

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class Integration(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        provider = peewee.CharField(max_length=20)
        category = peewee.CharField(max_length=20)
        label = peewee.CharField(max_length=200)
        account_email = peewee.CharField(max_length=254, null=True)
        server_url = peewee.CharField(max_length=2000, null=True)
        credentials = peewee.TextField(null=True)
        status = peewee.CharField(max_length=20)
        last_error = peewee.TextField(null=True)
        last_error_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "integrations"
            indexes = ((("user", "provider"), False),)

    class IntegrationCalendar(Base):
        integration = peewee.ForeignKeyField(Integration, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        remote_id = peewee.CharField(max_length=2000)
        name = peewee.CharField(max_length=200)
        color = peewee.CharField(max_length=16, null=True)
        writable = peewee.BooleanField()
        check_conflicts = peewee.BooleanField()
        is_destination = peewee.BooleanField()
        position = peewee.IntegerField()

        class Meta:
            table_name = "integration_calendars"
            indexes = ((("user", "check_conflicts"), False),)

    class CalendarBusyCache(Base):
        calendar = peewee.ForeignKeyField(IntegrationCalendar, on_delete="CASCADE")
        window_start = UTCDateTimeField()
        intervals = peewee.TextField()
        fetched_at = UTCDateTimeField(null=True)
        error = peewee.TextField(null=True)
        error_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "calendar_busy_cache"
            indexes = ((("calendar", "window_start"), True),)

    class BookingCalendarEvent(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        integration = peewee.ForeignKeyField(Integration, on_delete="CASCADE")
        calendar_remote_id = peewee.CharField(max_length=2000)
        href = peewee.CharField(max_length=2000)
        uid = peewee.CharField(max_length=255)
        etag = peewee.CharField(max_length=255, null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "booking_calendar_events"
            indexes = ((("booking",), True),)

    models = [Integration, IntegrationCalendar, CalendarBusyCache, BookingCalendarEvent]
    with database.bind_ctx([User, Booking, *models]):
        database.create_tables(models)
