"""Team event types (issue 15): an event type may belong to a team, with a scheduling type (collective or
round-robin) and its hosts (fixed or not, with a weight); a team booking lists every host who attends it, and
a round-robin one says why its host was chosen. An event type's URL is unique per host for personal event types
and per team for team ones (two partial unique indexes replace the one on (user, slug))."""
import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "users"

    class Team(Base):
        class Meta:
            table_name = "teams"

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class EventTypeHost(Base):
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        is_fixed = peewee.BooleanField(default=False)
        weight = peewee.IntegerField(default=1)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "event_type_hosts"
            indexes = ((("event_type", "user"), True),)

    class BookingHost(Base):
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        is_fixed = peewee.BooleanField(default=False)

        class Meta:
            table_name = "booking_hosts"
            indexes = ((("booking", "user"), True), (("user", "booking"), False))

    with database.bind_ctx([User, Team, EventType, Booking, EventTypeHost, BookingHost]):
        database.create_tables([EventTypeHost, BookingHost])
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(
        migrator.add_column("event_types", "team_id",
                            peewee.ForeignKeyField(Team, null=True, on_delete="CASCADE", field=Team.id)),
        migrator.add_column("event_types", "scheduling_type", peewee.CharField(max_length=12, null=True)),
        migrator.add_column("bookings", "assignment_reason", peewee.TextField(null=True)),
        migrator.drop_index("event_types", "event_types_user_id_slug"),
    )
    database.execute_sql("CREATE UNIQUE INDEX event_types_personal_slug ON event_types (user_id, slug) "
                         "WHERE team_id IS NULL")
    database.execute_sql("CREATE UNIQUE INDEX event_types_team_slug ON event_types (team_id, slug) "
                         "WHERE team_id IS NOT NULL")
