"""Connections to other services (calendars, video conferencing), whatever the provider: their names, the
encrypted credentials, listing, status, the calendars a connection brings, and disconnecting.

``app.services.integrations.calendars`` connects CalDAV / iCloud accounts and ICS feeds and owns busy time;
``app.services.integrations.oauth_connections`` connects the OAuth providers (Google, Microsoft, Zoom, Webex,
Teams) and keeps their tokens fresh; ``app.services.integrations.meetings`` makes the video meetings of bookings.
"""
from __future__ import annotations

import json
import logging

import peewee
from flask import current_app

from app.db import transaction
from app.integrations import caldav, oauth
from app.models import Integration, IntegrationCalendar, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services.errors import NotFound

log = logging.getLogger(__name__)

SERVICES = {"caldav": "CalDAV", "icloud": "iCloud", "ics": "ICS feed",
            **{provider: info.service for provider, info in oauth.PROVIDERS.items()}}
# OAuth providers are named by key in the audit log
AUDIT_SERVICES = {provider: info.audit_name for provider, info in oauth.PROVIDERS.items()}


# What a connection's card says when its stored secrets cannot be decrypted any more.
UNREADABLE_MESSAGE = ("LinkTime can no longer read the stored access of this connection (the server's encryption "
                      "key was changed without keeping the old one). Disconnect it and connect it again.")


# --- credentials -------------------------------------------------------------------------------------------
def _encryptor():
    return current_app.extensions["linktime_encryptor"]


def read_credentials(integration: Integration) -> dict | None:
    """The decrypted secrets of a connection: {} when it has none, None when they cannot be read (a key
    rotated away, a damaged value). Logs a warning for the latter, never with the stored value."""
    if not integration.credentials:
        return {}
    try:
        data = json.loads(_encryptor().decrypt(integration.credentials))
    except ValueError as exc:          # DecryptionError, or not JSON once decrypted
        reason = type(exc).__name__
    else:
        if isinstance(data, dict):
            return data
        reason = "not a JSON object"
    log.warning("the stored credentials of integration %s (%s) cannot be read (%s); treated as none",
                integration.id, integration.provider, reason)
    return None


def credentials(integration: Integration) -> dict:
    """The decrypted secrets of a connection, {} when there are none or they cannot be read. Unreadable ones
    also mark the connection as needing attention (the card says to connect it again)."""
    data = read_credentials(integration)
    if data is None:
        _mark_unreadable(integration)
        return {}
    return data


def _mark_unreadable(integration: Integration) -> None:
    if integration.status == "error" and integration.last_error == UNREADABLE_MESSAGE:
        return
    try:
        with transaction():            # a savepoint inside a caller's transaction: a failure here stays here
            record_error(integration.id, UNREADABLE_MESSAGE)
    except peewee.DatabaseError:
        log.warning("integration %s could not be marked as unreadable", integration.id, exc_info=True)


def sealed(data: dict) -> str:
    return _encryptor().encrypt(json.dumps(data, separators=(",", ":")))


def cfg(name: str):
    return current_app.config[name]

# provider -> the service a connection of it is, when that depends on the connection (a CalDAV account may be iCloud)
SERVICE_KEYS = {"caldav": lambda integration: caldav.service_key(integration.server_url)}


def service_name(integration: Integration) -> str:
    key = SERVICE_KEYS[integration.provider](integration) if integration.provider in SERVICE_KEYS \
        else integration.provider
    return SERVICES.get(key, key)



def lock_user(user: User) -> None:
    """Serialise a user's integration changes (the UPDATE locks the row on PostgreSQL) and retire their cached
    public pages: connected calendars decide which times those pages offer."""
    bump_pages_version(user.id)


def has_destination(user: User) -> bool:
    return IntegrationCalendar.select().where((IntegrationCalendar.user == user)
                                              & IntegrationCalendar.is_destination).exists()



def sync_calendars(user: User, integration: Integration, found: list[tuple[str, str, str | None, bool]]) -> None:
    existing = {c.remote_id: c for c in integration.calendars}
    seen = set()
    for position, (url, name, color, writable) in enumerate(found):
        seen.add(url)
        cal = existing.get(url)
        if cal is None:
            IntegrationCalendar.create(integration=integration, user=user, remote_id=url, name=name, color=color,
                                       writable=writable, check_conflicts=True, position=position)
        else:
            cal.name, cal.color, cal.writable, cal.position = name, color, writable, position
            cal.is_destination = cal.is_destination and writable
            cal.save()
    for url, cal in existing.items():
        if url not in seen:
            cal.delete_instance()
    if not has_destination(user):
        first = (IntegrationCalendar.select().where((IntegrationCalendar.integration == integration)
                                                    & IntegrationCalendar.writable)
                 .order_by(IntegrationCalendar.position).first())
        if first is not None:
            first.is_destination = True
            first.save()



def get_integration(user: User, integration_id: str) -> Integration:
    integration = Integration.get_or_none((Integration.id == integration_id) & (Integration.user == user))
    if integration is None:
        raise NotFound("Integration not found")
    return integration


def list_integrations(user: User, category: str | None = None) -> list[Integration]:
    query = Integration.select().where(Integration.user == user)
    if category:
        query = query.where(Integration.category == category)
    return list(query.order_by(Integration.created_at))



def record_error(integration_id: str, message: str) -> None:
    Integration.update(status="error", last_error=message[:2000], last_error_at=utcnow(), updated_at=utcnow()).where(
        (Integration.id == integration_id) & (Integration.status != "revoked")).execute()


def record_ok(integration_id: str) -> None:
    Integration.update(status="connected", last_error=None, updated_at=utcnow()).where(
        (Integration.id == integration_id) & (Integration.status.not_in(["connected", "revoked"]))).execute()

