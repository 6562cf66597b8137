"""Out-of-office entries (issue 23, point 8): a host's days away (first and last day, inclusive, in the zone kept on
the row), a reason, a note for invitees, whether the reason is shown, and an optional teammate to redirect to."""
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

    class OutOfOffice(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        start_date = peewee.DateField()
        end_date = peewee.DateField()
        timezone = peewee.CharField(max_length=64)
        reason = peewee.CharField(max_length=20, default="vacation")
        note = peewee.TextField(null=True)
        show_reason = peewee.BooleanField(default=True)
        redirect_to = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "out_of_office"
            indexes = ((("user", "end_date"), False),)

    models = [User, OutOfOffice]
    with database.bind_ctx(models):
        database.create_tables(models[1:])
