"""Close scheduling links that follow the event types (issue 19, spec page 26).

While a user has Close connected, each of their own event types that is active and public (not secret, not a draft)
is a THIRD_PARTY scheduling link in Close, through the OAuth integration endpoints of ``CloseApi``: name, the public
booking URL (``BASE_URL/<username>/<slug>``), description, ``source_id`` = the event type's id, ``source_type``
"LinkTime" and ``duration_in_minutes``. Team event types are not published (a shared link mapped to the team's
members needs Close's shared-link endpoints, which ``CloseApi`` does not call).

How it follows the event types: ``event_types.CHANGE_HOOKS`` announces every create, edit and delete inside its
transaction; connecting Close (``crm_hooks.on_connected``) queues every event type. Each queues one ``close_link``
outbox row per (connection, event type): "bring this link to the event type's state now". A row not yet taken
absorbs later changes (coalesced), and the handler reads the event type when it runs, so a rename then a delete
ends deleted. It publishes (Close upserts by ``source_id``: a retry or a duplicate never makes a second link) or
deletes (a secret, draft or deleted event type; a deleted one's row is gone, the payload keeps the ``source_id``),
and skips the call when ``CloseLink`` says Close already has that state (``fingerprint``). Two rows of one link
never run at once: the later one waits (``outbox.Postpone``) for the earlier.

The rows run on the "webhooks" lane (app/queue.py), so a slow or hanging Close never holds the workers that send
email. Tokens come from ``oauth_connections.oauth_token`` (renewed one at a time and saved: Close rotates refresh
tokens); ``CloseApi`` gets only the access token, so it can never renew one and lose the new refresh token, and a
401 asks ``oauth_token`` for a renewal. A transient failure (429 with Close's ``rate_reset``, 5xx, timeouts) is
retried after ``retry_after`` when Close names it, else on ``RETRY_DELAYS``; every failure is written on the link
row and on the connection (``Integration.last_error``/``last_error_at``, shown on the integrations page), and a
later success clears the connection's. Disconnecting deletes nothing in Close and drops the queued rows.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import peewee
from flask import current_app

from app.db import db
from app.integrations.close_crm import PROVIDER
from app.integrations.errors import GrantRevoked, IntegrationError, Unauthorized
from app.integrations.oauth import TokenSet
from app.models import CloseLink, EventType, Integration, OutboxMessage, User
from app.models.base import utcnow
from app.services import outbox
from app.services.integrations import crm_hooks
from app.services.integrations.oauth_connections import oauth_client, oauth_token
from app.services.scheduling import event_types

log = logging.getLogger(__name__)

KIND = "close_link"
RETRY_DELAYS = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)   # seconds after the 1st, 2nd, ... failed attempt
MAX_RETRY_AFTER = 3600          # a longer rate_reset than this is waited in steps of an hour
BUSY_WAIT = 5                   # seconds: an earlier row of the same link is running


# --- what a link is ------------------------------------------------------------------------------------------
def qualifies(event_type: EventType) -> bool:
    """Published in Close: the user's own (not a team's), active (not a draft) and public (not secret)."""
    return event_type.team_id is None and event_type.status == "active" and not event_type.is_secret


def public_url(event_type: EventType, user: User | None = None) -> str:
    """The event type's public booking page (the ``public.booking_page`` route: ``/<username>/<slug>``)."""
    user = user or User.get_by_id(event_type.user_id)
    return f"{str(current_app.config['BASE_URL']).rstrip('/')}/{user.username}/{event_type.slug}"


def link_fields(event_type: EventType, user: User | None = None) -> dict[str, Any]:
    """What Close shows of the link."""
    return {"name": event_type.name, "url": public_url(event_type, user),
            "description": (event_type.description or "").strip() or None, "duration": int(event_type.duration)}


def fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def connection_of(user_id: str) -> Integration | None:
    """The user's Close connection that can be used (not revoked, credentials stored)."""
    return (Integration.select().where((Integration.user == user_id) & (Integration.provider == PROVIDER)
                                       & (Integration.status != "revoked") & Integration.credentials.is_null(False))
            .first())


# --- queueing ------------------------------------------------------------------------------------------------
def _payload(integration_id: str, event_type_id: str) -> dict[str, str]:
    return {"integration_id": integration_id, "event_type_id": event_type_id}


def queue(integration: Integration, event_type_id: str) -> None:
    """Inside a transaction: make sure a ``close_link`` row will bring the link to the event type's state.

    A row of the same link that no worker holds yet takes this change too (it reads the event type when it runs).
    The UPDATE locks that row until this transaction ends, so a worker cannot take it in between and miss the
    change (PostgreSQL re-checks ``leased_until`` after the lock; on SQLite this transaction is the only writer)."""
    payload = _payload(integration.id, event_type_id)
    waiting = (OutboxMessage.update(next_attempt_at=OutboxMessage.next_attempt_at)
               .where((OutboxMessage.kind == KIND) & (OutboxMessage.payload == json.dumps(payload))
                      & OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null()
                      & OutboxMessage.leased_until.is_null())
               .execute())
    if not waiting:
        outbox.add(KIND, payload, user_id=integration.user_id)


def _pending(integration: Integration, event_type: EventType) -> None:
    """The link row says a job is on its way (created for an event type that had none)."""
    updated = (CloseLink.update(status="pending", updated_at=utcnow())
               .where((CloseLink.integration == integration.id) & (CloseLink.event_type == event_type.id)).execute())
    if not updated:
        CloseLink.create(integration=integration.id, event_type=event_type.id, source_id=event_type.id)


def _event_type_changed(event_type: EventType, change: str) -> None:
    """``event_types.CHANGE_HOOKS``: a personal event type was created, edited or is being deleted."""
    if event_type.team_id is not None:
        return
    integration = connection_of(event_type.user_id)
    if integration is None:
        return
    known = CloseLink.select().where((CloseLink.integration == integration.id)
                                     & (CloseLink.event_type == event_type.id)).exists()
    if not known and not qualifies(event_type):
        return              # never published through this connection: nothing to change in Close
    if change != "deleted":
        _pending(integration, event_type)
    queue(integration, event_type.id)


event_types.CHANGE_HOOKS.append(_event_type_changed)


@crm_hooks.on_connected
def _connected(integration: Integration) -> None:
    """Close connected (or connected again): every own event type is brought to Close, the public ones published and
    the others deleted there (a link an earlier connection published before the event type turned secret)."""
    if integration.provider != PROVIDER:
        return
    for event_type in EventType.select().where((EventType.user == integration.user_id) & EventType.personal()):
        _pending(integration, event_type)
        queue(integration, event_type.id)


@crm_hooks.on_disconnected
def _disconnected(integration: Integration) -> None:
    """Close disconnected or revoked: the links stay in Close; the jobs not yet taken are dropped (a running one
    finds the connection gone and stops)."""
    if integration.provider != PROVIDER:
        return
    marker = json.dumps({"integration_id": integration.id})[1:-1]      # '"integration_id": "<id>"'
    (OutboxMessage.update(done_at=utcnow(), last_error="Close was disconnected")
     .where((OutboxMessage.kind == KIND) & OutboxMessage.payload.contains(marker) & OutboxMessage.done_at.is_null()
            & OutboxMessage.failed_at.is_null() & OutboxMessage.leased_until.is_null())
     .execute())
    (CloseLink.update(status="failed", last_error="Close was disconnected before this link was updated.",
                      updated_at=utcnow())
     .where((CloseLink.integration == integration.id) & (CloseLink.status == "pending")).execute())


# --- the handler ---------------------------------------------------------------------------------------------
def _usable(integration: Integration | None) -> bool:
    return (integration is not None and integration.provider == PROVIDER and integration.status != "revoked"
            and bool(integration.credentials))


def _earlier_running(message, now: datetime) -> bool:
    """Another row of the same link, queued before this one, is being run by a worker now."""
    earlier = ((OutboxMessage.created_at < message.created_at)
               | ((OutboxMessage.created_at == message.created_at) & (OutboxMessage.id < message.id)))
    return (OutboxMessage.select().where((OutboxMessage.kind == KIND) & (OutboxMessage.payload == message.payload)
                                         & (OutboxMessage.id != message.id) & OutboxMessage.done_at.is_null()
                                         & OutboxMessage.failed_at.is_null() & (OutboxMessage.leased_until > now)
                                         & earlier)
            .exists())


@outbox.handler(KIND, pass_message=True, lane="webhooks")
def sync_link(payload: dict, message, now: datetime) -> None:
    integration = Integration.get_or_none(Integration.id == payload["integration_id"])
    if not _usable(integration):
        return                      # disconnected or revoked: nothing more is done in Close
    if _earlier_running(message, now):
        raise outbox.Postpone(now + timedelta(seconds=BUSY_WAIT), "an earlier job of this link is running")
    source_id = payload["event_type_id"]
    event_type = EventType.get_or_none(EventType.id == source_id)
    if event_type is not None and event_type.user_id != integration.user_id:
        return
    link = CloseLink.get_or_none((CloseLink.integration == integration.id) & (CloseLink.event_type == source_id))
    wanted = event_type is not None and qualifies(event_type)
    fields = link_fields(event_type) if wanted else None
    mark = fingerprint(fields) if fields is not None else None
    if link is not None and link.status == ("published" if wanted else "deleted") and link.fingerprint == mark:
        return                      # Close has this already (a duplicate job, or a change Close does not show)
    name = event_type.name if event_type is not None else "a deleted event type"
    try:
        if fields is not None:
            remote_id = _with_api(integration, lambda api: api.create_link(
                fields["name"], fields["url"], fields["description"], source_id, fields["duration"]))
            _settle(integration, event_type, source_id, status="published", remote_id=remote_id, fingerprint=mark)
        else:
            _with_api(integration, lambda api: api.delete_link(source_id))
            _settle(integration, event_type, source_id, status="deleted", remote_id=None, fingerprint=None)
    except GrantRevoked as exc:     # oauth_token disconnected the account already (the card and an email say so)
        _settle(integration, event_type, source_id, status="failed",
                last_error="Close no longer accepts LinkTime's access; connect Close again.")
        raise outbox.PermanentFailure(str(exc)) from exc
    except IntegrationError as exc:
        _failed(integration, event_type, source_id, name, exc, message, now)
    except ValueError as exc:       # a link Close would refuse (e.g. BASE_URL is not set): no retry helps
        text = f"Close scheduling link of “{name}” not published: {exc}."
        _settle(integration, event_type, source_id, status="failed", last_error=text)
        _record_error(integration.id, text)
        raise outbox.PermanentFailure(text) from exc
    _record_ok(integration.id)


def _bare(token: TokenSet) -> TokenSet:
    """The access token alone: ``CloseApi`` cannot renew it (a renewal is ``oauth_token``'s, which saves it)."""
    return TokenSet(access_token=token.access_token, refresh_token=None, expires_at=None)


def _with_api(integration: Integration, call):
    """``call(api)`` with a valid token; a 401 renews it (saved) once and tries again."""
    client = oauth_client(PROVIDER, integration)
    token = oauth_token(integration)
    try:
        return call(client.api(_bare(token)))
    except Unauthorized:
        token = oauth_token(integration, stale=token.access_token)
        return call(client.api(_bare(token)))


def _failed(integration: Integration, event_type: EventType | None, source_id: str, name: str,
            exc: IntegrationError, message, now: datetime) -> None:
    """Write the failure down; raise ``RetryAt`` while a transient one has retries left, else ``PermanentFailure``."""
    attempt = int(getattr(message, "attempts", 1) or 1)
    action = "publish" if event_type is not None and qualifies(event_type) else "remove"
    if exc.transient and attempt <= len(RETRY_DELAYS):
        delay = RETRY_DELAYS[attempt - 1] if exc.retry_after is None else min(max(exc.retry_after, 1.0),
                                                                              MAX_RETRY_AFTER)
        text = (f"Close could not {action} the scheduling link of “{name}” yet ({exc.message}); LinkTime will "
                "try again.")
        _settle(integration, event_type, source_id, status="pending", last_error=text)
        _record_error(integration.id, text)
        raise outbox.RetryAt(now + timedelta(seconds=delay), text)
    text = f"Close did not {action} the scheduling link of “{name}”: {exc.message}"
    _settle(integration, event_type, source_id, status="failed", last_error=text)
    _record_error(integration.id, text)
    raise outbox.PermanentFailure(text) from exc


def _settle(integration: Integration, event_type: EventType | None, source_id: str, *, status: str,
            last_error: str | None = None, **fields) -> None:
    """Write the link row (made when a published event type had none; a deleted event type's is gone)."""
    values = {"status": status, "last_error": last_error, "updated_at": utcnow(), **fields}
    updated = (CloseLink.update(**values)
               .where((CloseLink.integration == integration.id) & (CloseLink.event_type == source_id)).execute())
    if updated or event_type is None:
        return
    try:
        with db.atomic():
            CloseLink.create(integration=integration.id, event_type=source_id, source_id=source_id, **values)
    except peewee.IntegrityError:   # the event type was deleted meanwhile, or another job made the row
        log.info("close link of event type %s not recorded: the row exists or the event type is gone", source_id)


def _record_error(integration_id: str, text: str) -> None:
    now = utcnow()
    Integration.update(last_error=text[:2000], last_error_at=now, updated_at=now).where(
        (Integration.id == integration_id) & (Integration.status != "revoked")).execute()


def _record_ok(integration_id: str) -> None:
    Integration.update(last_error=None, last_error_at=None, updated_at=utcnow()).where(
        (Integration.id == integration_id) & (Integration.status == "connected")
        & Integration.last_error.is_null(False)).execute()


def link_of(integration: Integration, event_type: EventType) -> CloseLink | None:
    """The event type's link row in this connection (status, last error), if any."""
    return CloseLink.get_or_none((CloseLink.integration == integration.id) & (CloseLink.event_type == event_type.id))
