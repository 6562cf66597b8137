"""organization_logos: an organization's logo (issue 15), kept in the database like a host's logo so every web
process can serve it; one per organization, gone with it."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class Organization(Base):
        class Meta:
            table_name = "organizations"

    class OrganizationLogo(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE", unique=True)
        content_type = peewee.CharField(max_length=40)
        data = peewee.BlobField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "organization_logos"

    with database.bind_ctx([Organization, OrganizationLogo]):
        database.create_tables([OrganizationLogo])
