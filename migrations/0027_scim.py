"""SCIM 2.0 provisioning (issue 20): an organization's SCIM bearer tokens (hashed) and the SCIM identity of its
members (one per account; ``userName`` unique per organization, case-insensitive through ``user_name_key``)."""
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

    class Organization(Base):
        class Meta:
            table_name = "organizations"

    class ScimToken(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE")
        token_hash = peewee.CharField(max_length=64, unique=True)
        prefix = peewee.CharField(max_length=20)
        created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = UTCDateTimeField()
        last_used_at = UTCDateTimeField(null=True)
        expires_at = UTCDateTimeField(null=True)
        revoked_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "scim_tokens"
            indexes = ((("organization", "created_at"), False),)

    class ScimUser(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE", unique=True)
        external_id = peewee.CharField(max_length=255, null=True)
        user_name = peewee.CharField(max_length=255)
        user_name_key = peewee.CharField(max_length=255)
        active = peewee.BooleanField(null=True, default=True)
        given_name = peewee.CharField(max_length=100, null=True)
        family_name = peewee.CharField(max_length=100, null=True)
        display_name = peewee.CharField(max_length=200, null=True)
        email = peewee.CharField(max_length=254, null=True)
        email_primary = peewee.BooleanField(null=True)
        disabled_account = peewee.BooleanField(default=False)
        created_account = peewee.BooleanField(default=False)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "scim_users"
            indexes = ((("organization", "user_name_key"), True), (("organization", "external_id"), False))

    models = [User, Organization, ScimToken, ScimUser]
    with database.bind_ctx(models):
        database.create_tables(models[2:])
