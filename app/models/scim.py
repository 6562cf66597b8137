"""SCIM 2.0 provisioning (issue 20): an organization's bearer tokens and the SCIM identity of its members.

A token is ``lt_scim_`` + random; only its SHA-256 is kept (``token_hash``) with a short ``prefix`` to tell tokens
apart on the settings page. Rotation gives the old token an ``expires_at`` (the grace period); revocation sets
``revoked_at``. A ``ScimUser`` is what an identity provider manages: one per account across all organizations
(``user`` is unique), its ``id`` is the SCIM resource id, ``user_name_key`` the lower-cased ``userName`` that is
unique within the organization. ``disabled_account`` says that ``active: false`` disabled the account, so that
``active: true`` only re-enables what SCIM itself disabled; ``created_account`` that provisioning made the account
(rather than linking one that existed).
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.organizations import Organization


class ScimToken(BaseModel):
    organization = peewee.ForeignKeyField(Organization, backref="scim_tokens", on_delete="CASCADE")
    token_hash = peewee.CharField(max_length=64, unique=True)
    prefix = peewee.CharField(max_length=20)
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UTCDateTimeField(default=utcnow)
    last_used_at = UTCDateTimeField(null=True)
    expires_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "scim_tokens"
        indexes = ((("organization", "created_at"), False),)


class ScimUser(BaseModel):
    organization = peewee.ForeignKeyField(Organization, backref="scim_users", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="scim_identities", on_delete="CASCADE", unique=True)
    external_id = peewee.CharField(max_length=255, null=True)
    user_name = peewee.CharField(max_length=255)
    user_name_key = peewee.CharField(max_length=255)
    active = peewee.BooleanField(null=True, default=True)      # null: not given (counts as active)
    given_name = peewee.CharField(max_length=100, null=True)
    family_name = peewee.CharField(max_length=100, null=True)
    display_name = peewee.CharField(max_length=200, null=True)
    email = peewee.CharField(max_length=254, null=True)
    email_primary = peewee.BooleanField(null=True)
    disabled_account = peewee.BooleanField(default=False)
    created_account = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "scim_users"
        indexes = ((("organization", "user_name_key"), True), (("organization", "external_id"), False))
