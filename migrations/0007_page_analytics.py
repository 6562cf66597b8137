"""Page analytics: raw page views, daily rollups per page and per referrer, and the per-day visitor sets."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.BigAutoField()

        class Meta:
            legacy_table_names = False

    class User(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            table_name = "users"

    class PageView(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        event_type_id = peewee.CharField(max_length=32, null=True)
        viewed_at = UTCDateTimeField()
        day = peewee.DateField()
        visitor = peewee.CharField(max_length=16)
        referrer = peewee.CharField(max_length=255, null=True)
        embed = peewee.BooleanField()

        class Meta:
            table_name = "page_views"
            indexes = ((("user", "day"), False),)

    class PageViewDaily(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        page = peewee.CharField(max_length=32)
        embed = peewee.BooleanField()
        day = peewee.DateField()
        views = peewee.IntegerField()
        visitors = peewee.IntegerField()

        class Meta:
            table_name = "page_view_daily"
            indexes = ((("user", "page", "embed", "day"), True),)

    class PageViewReferrer(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        embed = peewee.BooleanField()
        day = peewee.DateField()
        referrer = peewee.CharField(max_length=255)
        views = peewee.IntegerField()

        class Meta:
            table_name = "page_view_referrers"
            indexes = ((("user", "embed", "day", "referrer"), True),)

    class PageVisitor(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        page = peewee.CharField(max_length=32)
        embed = peewee.BooleanField()
        day = peewee.DateField(index=True)
        visitor = peewee.CharField(max_length=16)

        class Meta:
            table_name = "page_visitors"
            indexes = ((("user", "day", "page", "embed", "visitor"), True),)

    models = [PageView, PageViewDaily, PageViewReferrer, PageVisitor]
    with database.bind_ctx([User, *models]):
        database.create_tables(models)
