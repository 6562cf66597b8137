"""Routing forms (issue 18): the forms (fields, rules and default route as ordered JSON), their responses, and on a
booking the response it followed (``bookings.routing_response_id``)."""
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

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class RoutingForm(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        slug = peewee.CharField(max_length=100)
        description = peewee.TextField(default="")
        published = peewee.BooleanField(default=False)
        fields = peewee.TextField()
        rules = peewee.TextField()
        default_route = peewee.TextField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "routing_forms"
            indexes = ((("user", "slug"), True),)

    class RoutingResponse(Base):
        form = peewee.ForeignKeyField(RoutingForm, on_delete="CASCADE")
        answers = peewee.TextField()
        matched_rule = peewee.CharField(max_length=32, null=True)
        route = peewee.TextField(null=True)
        booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "routing_responses"
            indexes = ((("form", "created_at"), False), (("booking",), False))

    models = [User, Booking, RoutingForm, RoutingResponse]
    with database.bind_ctx(models):
        database.create_tables(models[2:])
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_column("bookings", "routing_response_id", peewee.CharField(max_length=32, null=True)))
