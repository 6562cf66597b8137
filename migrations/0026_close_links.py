"""Close scheduling links (issue 19): one row per Close connection and event type with Close's id of the link, a
fingerprint of what was last published, its status and last error; both foreign keys cascade."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class Integration(Base):
        class Meta:
            table_name = "integrations"

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class CloseLink(Base):
        integration = peewee.ForeignKeyField(Integration, on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")
        source_id = peewee.CharField(max_length=200)
        remote_id = peewee.CharField(max_length=200, null=True)
        fingerprint = peewee.CharField(max_length=64, null=True)
        status = peewee.CharField(max_length=12, default="pending")
        last_error = peewee.TextField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "close_links"
            indexes = ((("integration", "event_type"), True),)

    models = [Integration, EventType, CloseLink]
    with database.bind_ctx(models):
        database.create_tables(models[2:])
