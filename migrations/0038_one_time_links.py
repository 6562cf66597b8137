"""Single-use links and one-off meetings (issue 23, point 7): ``one_time_links`` (a link that books one event type
once, optionally expiring) and ``one_time_link_times`` (the proposed starts of a one-off meeting)."""
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

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class OneTimeLink(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")
        kind = peewee.CharField(max_length=12, default="single_use")
        token = peewee.CharField(max_length=64, unique=True)
        name = peewee.CharField(max_length=100, null=True)
        duration = peewee.IntegerField(null=True)
        location_type = peewee.CharField(max_length=20, null=True)
        location_detail = peewee.CharField(max_length=500, null=True)
        expires_at = UTCDateTimeField(null=True)
        used_at = UTCDateTimeField(null=True)
        booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
        revoked_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "one_time_links"

    class OneTimeLinkTime(Base):
        link = peewee.ForeignKeyField(OneTimeLink, on_delete="CASCADE")
        start_at = UTCDateTimeField()

        class Meta:
            table_name = "one_time_link_times"
            indexes = ((("link", "start_at"), True),)

    models = [User, EventType, Booking, OneTimeLink, OneTimeLinkTime]
    with database.bind_ctx(models):
        database.create_tables(models[3:])
