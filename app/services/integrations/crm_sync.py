"""Bookings in the host's CRMs (issue 19): HubSpot, Attio and Salesforce, each on its own, never holding a booking.

A consumer of the booking lifecycle (``lifecycle.READY``: created, rescheduled, cancelled). In the fan-out's
transaction it appends the change to the ``BookingCrmSync`` row of each CRM the booking's host has connected
(``Integration`` category "crm", status "connected", a provider with an adapter in ``crm_records.ADAPTERS``, a plan
with ``crm_integrations``) and writes one ``crm_sync`` outbox row per CRM. So a crash after the booking commits
loses nothing: the event row, then the sync rows, are taken again by the outbox sweep.

The handler runs on the webhook lane (``lane="webhooks"``, ``app/queue.py``): a CRM that hangs can only hold
workers that never send email. One worker at a time carries a row's changes over, oldest first (``busy_since`` /
``busy_until``, renewed with the outbox lease; another worker postpones): a cancellation never overtakes the
creation it cancels. While one sync of a connection runs, the others of that connection wait too, so a hanging CRM
holds about one worker and never the other CRMs' syncs (their rows are their own). Each remote id is stored the
moment it exists (``crm_records.Work.keep``) and each change is removed once carried over, so a retry or a run
after a crash never makes a second record.

Failures: a transient one (timeout, 5xx, 429 with its ``Retry-After``) is tried again with backoff
(``RETRY_DELAYS``), the row staying "pending"; a permanent one (Salesforce's error codes in the plain words of
``salesforce.ADVICE``), or the last transient one, makes the row "failed" with the reason, recorded on the
connection too (``Integration.last_error``; a later success clears it). A refresh token the CRM no longer accepts
ends that CRM's sync: ``oauth_connections.oauth_token`` has disconnected it already. The booking page shows each
row and offers "Retry sync" for a failed one (``retry``).
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import peewee

from app.db import db, is_postgres, transaction
from app.integrations.errors import GrantRevoked, IntegrationError
from app.models import Booking, BookingCrmSync, Integration, User
from app.models.base import utcnow
from app.services import events, outbox, plans
from app.services.booking import lifecycle
from app.services.integrations import crm_records, oauth_connections
from app.statements import Param, Statement

log = logging.getLogger(__name__)

KIND = "crm_sync"
CATEGORY = "crm"
RETRY_DELAYS = (10, 60, 300, 1800, 7200, 21600)      # seconds before attempts 2..7
MAX_RETRY_AFTER = timedelta(hours=24)
LEASE_SECONDS = 30
BUSY_POSTPONE = timedelta(seconds=1)
STATUS_LABELS = {"pending": "Pending", "synced": "Synced", "failed": "Failed"}

_CONNECTED = Statement(lambda: Integration.select().where(
    (Integration.user == Param("user")) & (Integration.category == CATEGORY) & (Integration.status == "connected")
    & Integration.provider.in_(list(crm_records.ADAPTERS))).order_by(Integration.created_at))


# --- queueing, in the transaction of the change -------------------------------------------------------------
@events.subscribe(lifecycle.READY)
def _on_ready(event_id: str, payload: dict) -> None:
    change = payload.get("change")
    if change not in (crm_records.CREATED, crm_records.RESCHEDULED, crm_records.CANCELLED):
        return
    booking = lifecycle.booking_of(payload)
    if booking is None:
        return
    integrations = _CONNECTED.rows(user=booking.user_id)
    if not integrations or not plans.limits_for(booking.user).crm_integrations:
        return
    key = payload.get("eventId") or event_id        # one key per change: the public event's id
    for integration in integrations:
        queue_change(booking, integration, crm_records.change_of(booking, change, key))


def _row(booking_id: str, integration_id: str) -> BookingCrmSync | None:
    query = BookingCrmSync.select().where((BookingCrmSync.booking == booking_id)
                                          & (BookingCrmSync.integration == integration_id))
    return (query.for_update() if is_postgres() else query).first()


def queue_change(booking: Booking, integration: Integration, change: dict) -> BookingCrmSync:
    """Append ``change`` to the booking's sync with ``integration`` and queue it (inside the caller's transaction)."""
    with transaction():
        row = _row(booking.id, integration.id)
        if row is None:
            try:
                with db.atomic():           # a savepoint: a concurrent fan-out may have made the row first
                    row = BookingCrmSync.create(booking=booking.id, integration=integration.id,
                                                provider=integration.provider, changes=[change])
            except peewee.IntegrityError:
                row = _row(booking.id, integration.id)
        known = change["key"] in {c.get("key") for c in row.changes}
        if not known or row.status == "failed":     # a new change also gives a failed earlier one another go
            BookingCrmSync.update(changes=row.changes + ([] if known else [change]), status="pending", attempts=0,
                                  next_attempt_at=None, updated_at=utcnow()).where(
                BookingCrmSync.id == row.id).execute()
        outbox.add(KIND, {"sync_id": row.id}, user_id=booking.user_id)
    return row


def retry(booking: Booking, user: User) -> int:
    """Queue the booking's failed syncs again ("Retry sync"); how many. PlanLimitReached when the plan no longer
    includes CRM integrations."""
    plans.check_feature(user, "crm_integrations", "CRM integrations")
    queued = 0
    with transaction(immediate=True):
        for row in BookingCrmSync.select().where((BookingCrmSync.booking == booking.id)
                                                 & (BookingCrmSync.status == "failed")):
            BookingCrmSync.update(status="pending", attempts=0, next_attempt_at=None, updated_at=utcnow()).where(
                BookingCrmSync.id == row.id).execute()
            outbox.add(KIND, {"sync_id": row.id}, user_id=booking.user_id)
            queued += 1
    return queued


def statuses(booking: Booking) -> list[dict]:
    """Each CRM's sync of the booking, for its page: name, account, status (label), reason of a failure."""
    rows = (BookingCrmSync.select(BookingCrmSync, Integration).join(Integration)
            .where(BookingCrmSync.booking == booking.id).order_by(Integration.created_at))
    return [{"id": row.id, "name": _name(row.provider), "account": row.integration.label, "status": row.status,
             "label": STATUS_LABELS.get(row.status, row.status), "error": row.last_error} for row in rows]


def _name(provider: str) -> str:
    adapter = crm_records.ADAPTERS.get(provider)
    return adapter.name if adapter is not None else provider


# --- one worker per row (and per connection) -----------------------------------------------------------------
def _claim(sync: BookingCrmSync) -> datetime | None:
    """Hold the row for this worker while no other sync of its connection runs; the claim's start, or None."""
    now = utcnow()
    other = BookingCrmSync.alias()
    busy = (other.select(other.id).where((other.integration == sync.integration_id) & (other.id != sync.id)
                                         & other.busy_until.is_null(False) & (other.busy_until > now)))
    claimed = (BookingCrmSync.update(busy_since=now, busy_until=now + timedelta(seconds=LEASE_SECONDS))
               .where((BookingCrmSync.id == sync.id)
                      & (BookingCrmSync.busy_until.is_null() | (BookingCrmSync.busy_until <= now))
                      & ~peewee.fn.EXISTS(busy))
               .execute())
    return now if claimed else None


def _busy_until(sync: BookingCrmSync) -> datetime:
    latest = (BookingCrmSync.select(peewee.fn.MAX(BookingCrmSync.busy_until))
              .where(BookingCrmSync.integration == sync.integration_id).scalar())
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    now = utcnow()
    if latest is None:
        return now + BUSY_POSTPONE
    latest = latest if latest.tzinfo else latest.replace(tzinfo=now.tzinfo)
    return max(latest, now) + BUSY_POSTPONE + timedelta(milliseconds=random.randint(0, 1000))


def _renew(sync_id: str, since: datetime) -> None:
    BookingCrmSync.update(busy_until=utcnow() + timedelta(seconds=LEASE_SECONDS)).where(
        (BookingCrmSync.id == sync_id) & (BookingCrmSync.busy_since == since)).execute()


def _release(sync_id: str, since: datetime) -> None:
    BookingCrmSync.update(busy_since=None, busy_until=None).where(
        (BookingCrmSync.id == sync_id) & (BookingCrmSync.busy_since == since)).execute()


# --- carrying the changes over -------------------------------------------------------------------------------
@outbox.handler(KIND, pass_message=True, lane="webhooks")
def run_sync(payload: dict, message=None, now: datetime | None = None) -> None:
    now = now or utcnow()
    sync = BookingCrmSync.get_or_none(BookingCrmSync.id == payload.get("sync_id"))
    if sync is None or not sync.changes or sync.status != "pending":
        return                                  # done by another row's run, or failed and waiting for a retry
    if sync.next_attempt_at is not None and sync.next_attempt_at > now:
        raise outbox.Postpone(sync.next_attempt_at)     # another row of this sync keeps the schedule
    since = _claim(sync)
    if since is None:
        raise outbox.Postpone(_busy_until(sync))
    outbox.keep_alive(lambda: _renew(sync.id, since))
    released = False
    try:
        released = _carry_over(BookingCrmSync.get_by_id(sync.id), now, since)
    finally:
        if not released:
            _release(sync.id, since)


@outbox.on_failure(KIND)
def _given_up(payload: dict, error: str) -> None:
    """The queue gave the row up after an unexpected error (not the CRM's answer): the sync must not stay "pending"
    with nothing left to run it."""
    sync = BookingCrmSync.get_or_none(BookingCrmSync.id == payload.get("sync_id"))
    if sync is not None and sync.status == "pending":
        _fail(sync, f"LinkTime could not sync this booking to {_name(sync.provider)} because of an error of its own; "
                    "use Retry sync.", record=False)


def _save_ids(sync_id: str):
    def save(ids: dict) -> None:
        BookingCrmSync.update(remote_ids=ids, updated_at=utcnow()).where(BookingCrmSync.id == sync_id).execute()
    return save


def _carry_over(sync: BookingCrmSync, now: datetime, since: datetime) -> bool:
    """Carry the row's changes over, oldest first; True when it ended synced (the claim released with it)."""
    adapter = crm_records.ADAPTERS.get(sync.provider)
    integration = Integration.get_or_none(Integration.id == sync.integration_id)
    booking = Booking.get_or_none(Booking.id == sync.booking_id)
    if adapter is None or integration is None or booking is None:
        return False
    if integration.status == "revoked" or not integration.credentials:
        _fail(sync, oauth_connections.REVOKED_MESSAGES.get(sync.provider, "The connection was removed."),
              record=False)
        return False
    facts = crm_records.facts_of(booking)
    work = crm_records.Work(integration, dict(sync.remote_ids or {}), _save_ids(sync.id))
    try:
        released = False
        for change in list(sync.changes):
            adapter.apply(work, facts, change)
            released = _done(sync.id, change["key"], since)
    except GrantRevoked:
        # oauth_token disconnected the connection (card, audit entry, email): this CRM's sync ends here
        _fail(sync, oauth_connections.REVOKED_MESSAGES.get(sync.provider, "Access was revoked."), record=False)
        return False
    except IntegrationError as exc:
        if exc.transient:
            _retry_later(sync, adapter.name, exc, now)       # raises RetryAt, unless it was the last attempt
            return False
        _fail(sync, _plain(adapter.name, exc))
        return False
    except ValueError as exc:                   # a value the CRM cannot take (e.g. an address without "@")
        _fail(sync, f"{adapter.name} could not take this booking: {exc}.")
        return False
    if integration.last_error is not None:      # a success clears the connection's last error (read above)
        Integration.update(last_error=None, last_error_at=None).where(
            (Integration.id == integration.id) & (Integration.status == "connected")).execute()
    return released


def _locked(sync_id: str) -> BookingCrmSync | None:
    query = BookingCrmSync.select().where(BookingCrmSync.id == sync_id)
    return (query.for_update() if is_postgres() else query).first()


def _done(sync_id: str, key: str, since: datetime) -> bool:
    """The change ``key`` is in the CRM: take it off the row (under the row's lock: a new change may be appended).
    With none left the row is synced and this worker's claim released in the same write; True then."""
    with transaction(immediate=True):
        row = _locked(sync_id)
        if row is None:
            return False
        left = [c for c in row.changes if c.get("key") != key]
        if left:        # the next change, or one that arrived meanwhile (its own outbox row waits for this claim)
            BookingCrmSync.update(changes=left, updated_at=utcnow()).where(BookingCrmSync.id == sync_id).execute()
            return False
        return BookingCrmSync.update(changes=left, status="synced", last_error=None, attempts=0, next_attempt_at=None,
                                     busy_since=None, busy_until=None, updated_at=utcnow()).where(
            (BookingCrmSync.id == sync_id) & (BookingCrmSync.busy_since == since)).execute() == 1


def _plain(name: str, exc: IntegrationError) -> str:
    """What went wrong, for the host: the provider by its name, a temporary failure without the technical text."""
    if exc.transient and exc.status == 429:
        return f"{name} asked LinkTime to slow down (its rate limit)."
    if exc.transient and exc.status is not None and exc.status >= 500:
        return f"{name} had a temporary problem (HTTP {exc.status})."
    message = (exc.message or "").strip() or f"{name} refused the request."
    if message.lower().startswith(name.lower()):
        return f"{name}{message[len(name):]}"
    return f"{name}: {message}"


def _fail(sync: BookingCrmSync, error: str, *, record: bool = True) -> None:
    """The sync cannot go on by itself: the row is "failed" with ``error`` (the booking page offers a retry), and
    the connection's card shows it too (``record``; a revoked connection says so itself)."""
    log.info("CRM sync %s (%s) failed: %s", sync.id, sync.provider, error)
    with transaction(immediate=True):
        BookingCrmSync.update(status="failed", last_error=error[:2000], next_attempt_at=None,
                              updated_at=utcnow()).where(BookingCrmSync.id == sync.id).execute()
        if record:
            Integration.update(last_error=error[:2000], last_error_at=utcnow()).where(
                (Integration.id == sync.integration_id) & (Integration.status == "connected")).execute()


def _retry_later(sync: BookingCrmSync, name: str, exc: IntegrationError, now: datetime) -> None:
    attempts = sync.attempts + 1
    if attempts > len(RETRY_DELAYS):
        _fail(sync, f"{_plain(name, exc)} LinkTime tried {attempts} times and stopped; use Retry sync.")
        return
    wait = timedelta(seconds=RETRY_DELAYS[attempts - 1])
    if exc.retry_after is not None:
        wait = max(wait, min(timedelta(seconds=exc.retry_after), MAX_RETRY_AFTER))
    when = now + wait
    error = f"{_plain(name, exc)} LinkTime will try again."
    BookingCrmSync.update(attempts=attempts, next_attempt_at=when, last_error=error[:2000],
                          updated_at=utcnow()).where(BookingCrmSync.id == sync.id).execute()
    raise outbox.RetryAt(when, error)
