"""Availability schedules and event types."""
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

    class Schedule(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        timezone = peewee.CharField(max_length=64)
        is_default = peewee.BooleanField()
        weekly = peewee.TextField()
        overrides = peewee.TextField()
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "schedules"

    class EventType(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        schedule = peewee.ForeignKeyField(Schedule, null=True, on_delete="SET NULL")
        name = peewee.CharField(max_length=100)
        slug = peewee.CharField(max_length=100)
        description = peewee.TextField()
        duration = peewee.IntegerField()
        extra_durations = peewee.TextField()
        location_type = peewee.CharField(max_length=20)
        location_detail = peewee.CharField(max_length=500)
        buffer_before = peewee.IntegerField()
        buffer_after = peewee.IntegerField()
        minimum_notice = peewee.IntegerField()
        window_type = peewee.CharField(max_length=10)
        window_days = peewee.IntegerField()
        window_start = peewee.DateField(null=True)
        window_end = peewee.DateField(null=True)
        slot_interval = peewee.IntegerField(null=True)
        max_per_day = peewee.IntegerField(null=True)
        status = peewee.CharField(max_length=10)
        is_secret = peewee.BooleanField()
        color = peewee.CharField(max_length=7)
        questions = peewee.TextField()
        recurrence = peewee.TextField(null=True)
        reminders = peewee.TextField()
        position = peewee.IntegerField()
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "event_types"
            indexes = ((("user", "slug"), True),)

    models = [Schedule, EventType]
    with database.bind_ctx([User, *models]):
        database.create_tables(models)
