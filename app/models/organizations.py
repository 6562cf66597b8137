"""Organizations: members with roles, invitations by email, and teams of members (issue 15).

An organization is owned by its OWNER members; OWNER and ADMIN members manage it. Invitations are single-use
links whose token only exists in the email: the row keeps its SHA-256. Teams belong to one organization and
hold some of its members; their slug names the public team page ``/team/<slug>``.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow

ROLES = ("OWNER", "ADMIN", "MEMBER")


class Organization(BaseModel):
    name = peewee.CharField(max_length=100)
    slug = peewee.CharField(max_length=40, unique=True)
    brand_color = peewee.CharField(max_length=7, default="#2563eb")
    plan = peewee.CharField(max_length=20, default="ORGANIZATION")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "organizations"


class Membership(BaseModel):
    organization = peewee.ForeignKeyField(Organization, backref="memberships", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = peewee.CharField(max_length=10, default="MEMBER")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "memberships"
        indexes = ((("organization", "user"), True),)


class Invitation(BaseModel):
    organization = peewee.ForeignKeyField(Organization, backref="invitations", on_delete="CASCADE")
    email = peewee.CharField(max_length=254)
    role = peewee.CharField(max_length=10, default="MEMBER")
    token_hash = peewee.CharField(max_length=64, unique=True)
    invited_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()
    accepted_at = UTCDateTimeField(null=True)
    accepted_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    revoked_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "invitations"
        indexes = ((("organization", "email"), False),)


class Team(BaseModel):
    organization = peewee.ForeignKeyField(Organization, backref="teams", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    slug = peewee.CharField(max_length=40, unique=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "teams"


class TeamMember(BaseModel):
    team = peewee.ForeignKeyField(Team, backref="members", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="team_memberships", on_delete="CASCADE")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "team_members"
        indexes = ((("team", "user"), True),)


class OrganizationLogo(BaseModel):
    """An organization's logo kept in the database (as a host's ``UserLogo``), served at ``/org-logo/<id>``."""
    organization = peewee.ForeignKeyField(Organization, backref="logos", on_delete="CASCADE", unique=True)
    content_type = peewee.CharField(max_length=40)
    data = peewee.BlobField()
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "organization_logos"
