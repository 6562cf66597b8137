"""Accounts: users, their sign-in identities and logos."""
from __future__ import annotations

import secrets

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.statements import Param, Statement


def _session_key() -> str:
    return secrets.token_hex(16)


class User(BaseModel):
    email = peewee.CharField(max_length=254, unique=True)
    username = peewee.CharField(max_length=30, unique=True)
    name = peewee.CharField(max_length=100)
    password_hash = peewee.CharField(max_length=255, null=True)  # null: signs in with Google/Microsoft only
    timezone = peewee.CharField(max_length=64, default="UTC")
    brand_color = peewee.CharField(max_length=7, default="#2563eb")
    hour12 = peewee.BooleanField(default=False)      # reads a 12-hour clock (dashboard, the host's emails)
    plan = peewee.CharField(max_length=20, default="FREE")
    is_admin = peewee.BooleanField(default=False)
    is_disabled = peewee.BooleanField(default=False)
    # Rotated when the password changes: every session and reset link issued before stops working.
    session_key = peewee.CharField(max_length=32, default=_session_key)
    created_at = UTCDateTimeField(default=utcnow)
    last_login_at = UTCDateTimeField(null=True)
    # Set when the owner proved the address (signed link, a provider that vouches for it, the CLI, the first
    # account of the instance). Null: the account works, but a banner asks to confirm it.
    email_verified_at = UTCDateTimeField(null=True)
    checklist_dismissed_at = UTCDateTimeField(null=True)  # the dashboard's first-run checklist, hidden
    # Raised in the same transaction as any change that alters the host's public pages (bookings, hours,
    # event types, profile, connected calendars): the public page cache keys on it (app/web/page_cache.py).
    pages_version = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "users"
        only_save_dirty = True  # a save() never writes back a stale pages_version (or any field it did not set)

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.username} <{self.email}>"


class UserLogo(BaseModel):
    """A host's logo kept in the database, so every web process can serve it."""
    user = peewee.ForeignKeyField(User, backref="logos", on_delete="CASCADE", unique=True)
    content_type = peewee.CharField(max_length=40)
    data = peewee.BlobField()
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "user_logos"


class OAuthIdentity(BaseModel):
    """A Google or Microsoft account linked for sign-in (OpenID Connect subject)."""
    user = peewee.ForeignKeyField(User, backref="identities", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    subject = peewee.CharField(max_length=255)
    email = peewee.CharField(max_length=254)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "oauth_identities"
        indexes = ((("provider", "subject"), True),)


class WebSession(BaseModel):
    """A signed-in browser session kept on the server (app/web/server_session.py).

    The cookie holds a random token; only its SHA-256 is stored, so a copy of this table opens no session.
    Deleting the row ends the session at once (sign-out, password change or reset, disabled account)."""
    token_hash = peewee.CharField(max_length=64, unique=True)
    user = peewee.ForeignKeyField(User, backref="web_sessions", on_delete="CASCADE")
    data = peewee.TextField(default="")
    created_at = UTCDateTimeField(default=utcnow)
    last_seen_at = UTCDateTimeField(default=utcnow, index=True)
    ip = peewee.CharField(max_length=45, null=True)
    user_agent = peewee.CharField(max_length=255, null=True)

    class Meta:
        table_name = "web_sessions"


_BUMP = Statement(lambda: User.update(pages_version=User.pages_version + 1).where(User.id == Param("user")))


def bump_pages_version(user_id: str) -> None:
    """Mark the host's public pages as changed; inside a write transaction, also locks the host's row."""
    _BUMP.execute(user=user_id)
