"""Organizations, their members (roles OWNER, ADMIN, MEMBER), invitations by email and teams (issue 15); the
audit log gains the organization an entry belongs to, for the organization-wide log."""
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

    class Organization(Base):
        name = peewee.CharField(max_length=100)
        slug = peewee.CharField(max_length=40, unique=True)
        brand_color = peewee.CharField(max_length=7, default="#2563eb")
        plan = peewee.CharField(max_length=20, default="ORGANIZATION")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "organizations"

    class Membership(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        role = peewee.CharField(max_length=10, default="MEMBER")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "memberships"
            indexes = ((("organization", "user"), True),)

    class Invitation(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE")
        email = peewee.CharField(max_length=254)
        role = peewee.CharField(max_length=10, default="MEMBER")
        token_hash = peewee.CharField(max_length=64, unique=True)
        invited_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField()
        accepted_at = UTCDateTimeField(null=True)
        accepted_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        revoked_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "invitations"
            indexes = ((("organization", "email"), False),)

    class Team(Base):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        slug = peewee.CharField(max_length=40, unique=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "teams"

    class TeamMember(Base):
        team = peewee.ForeignKeyField(Team, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "team_members"
            indexes = ((("team", "user"), True),)

    with database.bind_ctx([User, Organization, Membership, Invitation, Team, TeamMember]):
        database.create_tables([Organization, Membership, Invitation, Team, TeamMember])
    migrator = (PostgresqlMigrator if isinstance(database, peewee.PostgresqlDatabase) else SqliteMigrator)(database)
    migrate(migrator.add_column("audit_logs", "organization_id", peewee.CharField(max_length=32, null=True)),
            migrator.add_index("audit_logs", ("organization_id", "created_at"), False))
