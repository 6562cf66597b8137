"""Custom domains (issue 20): one host name per user for their booking pages, with its TXT verification state."""
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

    class CustomDomain(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE", unique=True)
        hostname = peewee.CharField(max_length=253, unique=True)
        token = peewee.CharField(max_length=64)
        status = peewee.CharField(max_length=16, default="pending")
        verified_at = UTCDateTimeField(null=True)
        last_checked_at = UTCDateTimeField(null=True)
        last_error = peewee.TextField(null=True)
        warned_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "custom_domains"

    models = [User, CustomDomain]
    with database.bind_ctx(models):
        database.create_tables(models[1:])
