"""OAuth connections: Google Calendar, Outlook (Microsoft 365), Zoom, Webex and Microsoft Teams.

One implementation for every provider: the redirect flow with state and PKCE (``oauth_authorization``, then
``connect_oauth`` at the callback), the token set stored encrypted, ``oauth_access_token`` renewing it five minutes
before it expires one renewal at a time per connection (``_renewal_lock``; no database transaction is open while the
provider answers), ``oauth_call`` retrying a 401 once with a renewed token, and ``revoke_oauth`` disconnecting an
account whose refresh token the provider no longer accepts (credentials and calendars deleted, the card says why,
audit entry, email). The CRMs (HubSpot, Attio, Salesforce, Close) are connected by ``crm_connections`` and share the
rest: token renewal, revocation and ``disconnect`` (which run ``crm_hooks.disconnected`` for them).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import peewee
from flask import current_app

from app.db import db, is_postgres, transaction
from app.integrations import oauth
from app.integrations.errors import (
    AuthorizationFailed,
    GrantRevoked,
    IntegrationError,
    PermanentError,
    Unauthorized,
)
from app.models import Integration, IntegrationCalendar, User
from app.models.base import utcnow
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.integrations import crm_hooks
from app.services.integrations.connections import (
    AUDIT_SERVICES,
    SERVICES,
    UNREADABLE_MESSAGE,
    cfg,
    credentials,
    get_integration,
    lock_user,
    read_credentials,
    sealed,
    service_name,
    sync_calendars,
)

log = logging.getLogger(__name__)

# provider -> (service name, company, settings prefix). Zoom, Webex and Microsoft Teams connections have no
# calendars: they create the meetings of bookings (app.services.integrations.meetings).
OAUTH_PROVIDERS = {provider: (info.service, info.company, oauth.SETTINGS_PREFIX.get(provider, provider.upper()))
                   for provider, info in oauth.PROVIDERS.items()}
VIDEO_PROVIDERS = tuple(provider for provider, info in oauth.PROVIDERS.items() if info.category == "video")
CRM_PROVIDERS = tuple(provider for provider, info in oauth.PROVIDERS.items() if info.category == "crm")
GOOGLE_REVOKED_MESSAGE = ("Google no longer accepts LinkTime's access to this calendar (access was removed in your "
                          "Google account, or it expired). It is no longer checked for conflicts and new bookings "
                          "are not added to it. Connect Google Calendar again to restore it.")
REVOKED_MESSAGES = {
    "google": GOOGLE_REVOKED_MESSAGE,
    "microsoft": ("Microsoft no longer accepts LinkTime's access to this calendar (access was removed in your "
                  "Microsoft account, or it expired). It is no longer checked for conflicts and new bookings are not "
                  "added to it. Connect Outlook Calendar again to restore it."),
    **{provider: (f"{company} no longer accepts LinkTime's access to your {name} account (access was removed at "
                  f"{company}, or it expired). New bookings get no {name} link until you connect {name} again; "
                  "existing bookings keep their links.")
       for provider, (name, company, _prefix) in OAUTH_PROVIDERS.items() if provider in VIDEO_PROVIDERS},
    **{provider: (f"{company} no longer accepts LinkTime's access (it was removed at {company}, or it expired). New "
                  f"bookings are not synced to {name} until you connect it again; what is already in {name} stays "
                  "there.")
       for provider, (name, company, _prefix) in OAUTH_PROVIDERS.items() if provider in CRM_PROVIDERS},
}


def oauth_configured(provider: str) -> bool:
    prefix = OAUTH_PROVIDERS[provider][2]
    return bool(cfg(f"{prefix}_CLIENT_ID") and cfg(f"{prefix}_CLIENT_SECRET"))


def oauth_client(provider: str, integration: Integration | None = None):
    """The provider's OAuth client configured from its GOOGLE_* / MICROSOFT_* / ... settings. A connection made
    against another login host (a Salesforce sandbox: ``server_url``) renews its tokens there."""
    config = oauth.config_from_settings(current_app.config, provider)
    if integration is not None and integration.server_url and provider in CRM_PROVIDERS:
        config = {**config, "login_url": integration.server_url}
    return oauth.client_for(provider, config)


def oauth_authorization(provider: str, redirect_uri: str) -> oauth.AuthorizationRequest:
    """Where to send the browser (state and PKCE verifier are for the caller to keep in the session)."""
    name, _, prefix = OAUTH_PROVIDERS[provider]
    if not oauth_configured(provider):
        raise ValidationFailed({provider: f"{name} is not set up on this server ({prefix}_CLIENT_ID and "
                                          f"{prefix}_CLIENT_SECRET)."})
    return oauth_client(provider).authorization_request(redirect_uri)


def callback_error(exc: AuthorizationFailed, provider: str = "google") -> str:
    name, company, _ = OAUTH_PROVIDERS[provider]
    if exc.code == "access_denied":
        return f"You did not allow LinkTime to use your {name} account, so nothing was connected."
    if exc.code == "state_mismatch":
        return (f"That answer from {company} does not belong to a connection attempt started here (or it expired). "
                "Nothing was connected; please try again.")
    return f"{company} did not grant access ({exc.code or 'no reason given'}). Nothing was connected."


def connect_oauth(provider: str, user: User, args, *, expected_state: str, code_verifier: str, redirect_uri: str,
                  ip: str | None = None) -> Integration:
    """Finish the OAuth redirect: check state, exchange the code, read the account and its calendars, store.

    Any failure raises ValidationFailed({provider: message}) and stores nothing."""
    name, company, _ = OAUTH_PROVIDERS[provider]
    if provider in CRM_PROVIDERS:       # a CRM has no account email or calendars: crm_connections connects it
        raise ValidationFailed({provider: f"{name} is connected under Settings → Integrations → CRM."})
    if not oauth_configured(provider):
        raise ValidationFailed({provider: f"{name} is not set up on this server."})
    client = oauth_client(provider)
    try:
        code = client.parse_callback(args, expected_state=expected_state)
        token = client.exchange_code(code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        email = client.get_email(token.access_token)
        if not isinstance(email, str) or not email.strip():
            raise PermanentError(f"{company} answered an account email address that is not text.",
                                 provider=provider)
        email = email.strip()[:254]
        found = [] if provider in VIDEO_PROVIDERS else client.list_calendars(token.access_token)
        rows = _calendar_rows(found, company)
    except AuthorizationFailed as exc:
        raise ValidationFailed({provider: callback_error(exc, provider)}) from None
    except IntegrationError as exc:
        raise ValidationFailed({provider: f"We could not connect {name}: {exc.message}"}) from None
    if not token.refresh_token:
        raise ValidationFailed({provider: f"{company} did not grant lasting (offline) access, so LinkTime could not "
                                          f"keep your {name} connected. Nothing was connected; please try again."})
    if not found and provider not in VIDEO_PROVIDERS:
        raise ValidationFailed({provider: f"This {company} account has no calendars."})
    can_write = client.can_write_calendars(token.scope)
    secret = sealed({"token": token.to_dict()})
    with transaction(immediate=True):
        lock_user(user)
        integration = (Integration.select().where((Integration.user == user) & (Integration.provider == provider)
                                                  & (Integration.account_email == email)).first())
        if integration is None:
            integration = Integration.create(user=user, provider=provider, label=email, account_email=email,
                                             credentials=secret, category=oauth.PROVIDERS[provider].category)
        else:   # connecting the same account again (e.g. after access was revoked): new token, calendars updated
            integration.credentials, integration.status, integration.last_error = secret, "connected", None
            integration.last_error_at, integration.updated_at = None, utcnow()
            integration.save()
        sync_calendars(user, integration, [(cid, name, color, writable and can_write)
                                           for cid, name, color, writable in rows])
        audit.record("integration.connected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": AUDIT_SERVICES[provider], "account": email})
    return integration


def _calendar_rows(found: list[oauth.CalendarInfo], company: str) -> list[tuple[str, str, str | None, bool]]:
    """(remote id, name, colour, writable) of the calendars the provider listed, the primary one first (the
    default destination); an answer LinkTime cannot store is a PermanentError, not a crash."""
    rows = []
    for cal in sorted(found, key=lambda c: not c.primary):
        if not isinstance(cal.id, str) or not cal.id or len(cal.id) > 2000:
            raise PermanentError(f"{company} answered a calendar without a usable id.")
        name = cal.name if isinstance(cal.name, str) and cal.name.strip() else cal.id
        color = cal.color[:16] if isinstance(cal.color, str) and cal.color else None
        rows.append((cal.id, name[:200], color, bool(cal.writable)))
    return rows


def _locked_integration(integration_id: str) -> Integration | None:
    """The integration row, locked until the transaction ends (SQLite: the IMMEDIATE transaction holds the
    database's write lock already)."""
    query = Integration.select().where(Integration.id == integration_id)
    if is_postgres():
        query = query.for_update()
    return query.first()


# One renewal per connection at a time. In this process: a lock per connection (the single-box SQLite mode
# runs the web server and the queue consumer in one process, so this is every renewal there). On PostgreSQL,
# where several web and consumer processes run, also a session-level advisory lock on the connection's id.
# Neither holds a database transaction or row lock while the provider answers (up to INTEGRATION_HTTP_TIMEOUT
# to connect and again to read): on SQLite that would be the database's one write lock, and bookings would
# fail with "database is locked" behind a slow token endpoint.
_renewal_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_renewal_locks_guard = threading.Lock()
_ADVISORY_NAMESPACE = 0x4C54    # the first key of pg_advisory_lock(int, int): LinkTime's token renewals


def _process_lock(integration_id: str) -> threading.Lock:
    with _renewal_locks_guard:
        lock = _renewal_locks.get(integration_id)
        if lock is None:
            lock = _renewal_locks[integration_id] = threading.Lock()
        return lock


@contextmanager
def _renewal_lock(integration_id: str) -> Iterator[None]:
    with _process_lock(integration_id):
        if not is_postgres():
            yield
            return
        args = (_ADVISORY_NAMESPACE, integration_id)
        db.execute_sql("SELECT pg_advisory_lock(%s, hashtext(%s))", args)
        try:
            yield
        finally:
            try:
                db.execute_sql("SELECT pg_advisory_unlock(%s, hashtext(%s))", args)
            except peewee.DatabaseError:    # never hand a connection that still holds the lock back to the pool
                log.warning("releasing the renewal lock of integration %s failed; closing the connection",
                            integration_id, exc_info=True)
                db.manual_close()


def _stored_token(integration_id: str) -> tuple[Integration, oauth.TokenSet]:
    """The connection's row and its token as stored now. GrantRevoked when it was removed or revoked;
    PermanentError when the stored token cannot be read (the card says to connect again)."""
    row = Integration.get_or_none(Integration.id == integration_id)
    if row is None or not row.credentials or row.status == "revoked":
        provider = row.provider if row is not None else ""
        raise GrantRevoked(f"The {SERVICES.get(provider, 'calendar')} connection was removed.", provider=provider,
                           code="disconnected")
    try:
        return row, oauth.token_class(row.provider).from_dict(credentials(row)["token"])
    except (KeyError, TypeError, ValueError):
        raise PermanentError(UNREADABLE_MESSAGE, provider=row.provider, code="unreadable") from None


def oauth_access_token(integration: Integration | str, *, stale: str | None = None) -> str:
    """A valid access token of an OAuth connection (see ``oauth_token``)."""
    return oauth_token(integration, stale=stale).access_token


def oauth_token(integration: Integration | str, *, stale: str | None = None) -> oauth.TokenSet:
    """The valid token set of an OAuth connection (the provider's ``oauth.token_class``: a Salesforce one carries its
    ``instance_url``), renewed (and saved) from 5 minutes before it expires.

    ``stale``: a token the API refused (401): renew it even if it has not expired. Renewals of one connection
    run one at a time (``_renewal_lock``); a caller that waited for another's renewal uses its result. The
    provider is asked outside any database transaction; the new token is saved only over the credentials the
    renewal started from, so a disconnect or a reconnect meanwhile wins. GrantRevoked (the refresh token is
    dead) disconnects the account (``revoke_oauth``) before it is raised, unless it was connected again
    meanwhile."""
    integration_id = integration if isinstance(integration, str) else integration.id
    _row, token = _stored_token(integration_id)
    if stale is None and not oauth.needs_refresh(token, datetime.now(UTC)):
        return token
    with _renewal_lock(integration_id):
        row, current = _stored_token(integration_id)        # read again: another renewal may have finished
        renewed_meanwhile = current.access_token not in (token.access_token, stale)
        if not oauth.needs_refresh(current, datetime.now(UTC)) and (stale is None or renewed_meanwhile):
            return current
        try:
            new = oauth_client(row.provider, row).refresh(current)
        except GrantRevoked as exc:
            failure, refused = exc, row.credentials
        else:
            with transaction(immediate=True):
                saved = Integration.update(credentials=sealed({"token": new.to_dict()}), updated_at=utcnow()).where(
                    (Integration.id == integration_id) & (Integration.credentials == row.credentials)).execute()
            if saved:
                return new
            log.info("integration %s changed while its token was renewed; using what is stored now", integration_id)
            return _stored_token(integration_id)[1]
    if revoke_oauth(integration_id, refused=refused):
        raise failure
    _row, latest = _stored_token(integration_id)          # connected again meanwhile: its token is the one to use
    if oauth.needs_refresh(latest, datetime.now(UTC)):
        raise failure
    return latest


def oauth_call(integration: Integration | str, call):
    """``call(access_token)`` with a valid token; a 401 renews the token once and tries again."""
    token = oauth_access_token(integration)
    try:
        return call(token)
    except Unauthorized:
        return call(oauth_access_token(integration, stale=token))


def revoke_oauth(integration_id: str, *, refused: str | None = None) -> bool:
    """The provider refused the refresh token: delete the credentials and calendars, keep the card with the
    reason, audit it and tell the user by email. Runs once per revocation; True when it did.

    ``refused``: the stored (encrypted) credentials whose refresh was refused. When the row holds others by now
    (the user connected the account again, or another renewal saved a new token), nothing is revoked."""
    from app.services import mailer

    first = Integration.get_or_none(Integration.id == integration_id)
    if first is None:
        return False
    user = User.get_by_id(first.user_id)
    provider = first.provider
    name, company, _ = OAUTH_PROVIDERS[provider]
    with transaction(immediate=True):
        lock_user(user)                      # the user row first, as connecting and disconnecting do
        row = _locked_integration(integration_id)
        if row is None or row.status == "revoked":
            return False
        if refused is not None and row.credentials != refused:
            log.info("%s integration %s was connected again meanwhile: not disconnected", name, integration_id)
            return False
        Integration.update(credentials=None, status="revoked", last_error=REVOKED_MESSAGES[provider],
                           last_error_at=utcnow(), updated_at=utcnow()).where(Integration.id == row.id).execute()
        IntegrationCalendar.delete().where(IntegrationCalendar.integration == row.id).execute()
        if provider in CRM_PROVIDERS:        # e.g. Close stops following event types
            crm_hooks.disconnected(Integration.get_by_id(row.id))
        audit.record("integration.disconnected", resource="integration", resource_id=row.id, user=user,
                     details={"service": AUDIT_SERVICES[provider], "account": row.account_email or row.label,
                              "reason": f"access revoked at {company}"})
        mailer.queue_email(user.email, f"{name} was disconnected from LinkTime", "integration_revoked",
                           user_id=user.id, user=user, service=SERVICES[provider],
                           account=row.account_email or row.label,
                           kind=oauth.PROVIDERS[provider].category, link=f"{cfg('BASE_URL')}/settings/integrations")
    log.info("%s integration %s disconnected: the refresh token was refused", name, integration_id)
    return True


def disconnect(user: User, integration_id: str, *, ip: str | None = None) -> bool:
    """Delete any connection (CalDAV and feeds included) and its stored credentials at once (events already
    created stay in the calendar). It lives here because it ends with the OAuth grant.

    A Google or Zoom connection's refresh token is also revoked there (best effort, after the row is gone);
    True when the provider confirmed that."""
    integration = get_integration(user, integration_id)
    with transaction(immediate=True):
        lock_user(user)
        row = Integration.get_or_none(Integration.id == integration.id)
        secret = (read_credentials(row) if row is not None else None) or {}   # unreadable: nothing to revoke
        service = AUDIT_SERVICES.get(integration.provider) or service_name(integration)
        if row is not None and row.provider in CRM_PROVIDERS:
            crm_hooks.disconnected(row)
        Integration.delete().where(Integration.id == integration.id).execute()
        audit.record("integration.disconnected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": service})
    if integration.provider in OAUTH_PROVIDERS and secret.get("token") and oauth_configured(integration.provider):
        try:      # where the provider offers revocation (Google, Zoom); Microsoft and Webex have none
            token = oauth.TokenSet.from_dict(secret["token"])
            return oauth_client(integration.provider, integration).revoke(token.refresh_token or token.access_token)
        except (IntegrationError, ValueError, KeyError, TypeError) as exc:
            log.info("revoking the %s token of integration %s failed: %s", integration.provider, integration.id, exc)
    return False
