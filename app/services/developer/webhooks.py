"""Outgoing webhooks (spec pages 13, 14, 16): the user's endpoints, the fan-out of events to them, delivery.

- ``create_webhook`` / ``update_webhook`` / ``delete_webhook`` / ``list_webhooks``: URL (checked against the
  outbound policy), any of the events (``EVENT_NAMES``), an optional event-type filter (booking events only), an active
  flag. The secret (``whsec_`` + base64 of 32 random bytes) is returned once and stored encrypted. Every
  webhook counts against the plan's ``webhooks`` limit, Zapier's included.
- A subscriber of every event writes one ``webhook`` outbox row per matching active webhook of the event's
  account, in the fan-out transaction; ``deliver_webhook`` (the outbox handler) makes one attempt, records it as
  a ``WebhookDelivery`` (and as a booking activity for booking events) and names its next attempt.
- ``queue_test`` queues a sample payload (a ``webhook_test`` row on the webhook queue: the web request never waits
  on the endpoint) and ``sent_test_status`` tells the polling page how it went; ``redeliver`` queues an event to a
  webhook again as a new series.
- Deliveries run on the webhook queue (``lane="webhooks"``); one endpoint gets one delivery at a time and a
  circuit breaker pauses it after timeouts in a row (``webhook_delivery.claim_endpoint`` / ``note_outcome``).
- A webhook deleted while one of its deliveries is in flight ends that delivery quietly (nothing to record).
"""
from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import peewee
from flask import current_app

from app import net
from app.db import is_postgres, transaction
from app.ids import new_id
from app.models import EventType, OutboxMessage, User, Webhook, WebhookDelivery
from app.models.base import utcnow
from app.services import audit, events, outbox
from app.services.booking import lifecycle
from app.services.booking.bookings import add_activity
from app.services.developer import webhook_delivery as delivery
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import check_count
from app.statements import Param, Statement

EVENT_NAMES = events.EVENT_NAMES
BOOKING_EVENTS = ("booking.created", "booking.cancelled", "booking.rescheduled", "booking.no_show",
                  "booking.requested")
EVENT_LABELS = {"booking.created": "Booking created", "booking.cancelled": "Booking cancelled",
                "booking.rescheduled": "Booking rescheduled", "payment.received": "Payment received",
                "contact.created": "Contact created", "booking.no_show": "Invitee marked as no-show",
                "booking.requested": "Booking requested (awaiting confirmation)"}
ZAPIER_LABEL = "Zapier"
MAX_URL = 2000
TEST_PREFIX = "test_"

log = logging.getLogger(__name__)


# --- validation -----------------------------------------------------------------------------------------
def validate_url(raw: str | None, policy: delivery.Policy | None = None) -> str:
    """The cleaned URL, or ValidationFailed({"url": ...}) with a message a person can act on."""
    policy = policy or delivery.policy_from_config()
    url = (raw or "").strip()
    if not url:
        raise ValidationFailed({"url": "Enter the URL that should receive the webhooks."})
    if len(url) > MAX_URL:
        raise ValidationFailed({"url": f"Use a URL of at most {MAX_URL} characters."})
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValidationFailed({"url": "A URL cannot contain spaces."})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed({"url": "Enter a valid URL, e.g. https://hook.example.com/linktime."}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed({"url": "Enter a full http:// or https:// URL, e.g. https://hook.example.com/linktime."})
    if policy.allow_private:
        return url
    if parts.scheme != "https":
        raise ValidationFailed({"url": "Use an https:// URL: webhooks are not sent over plain http."})
    host = parts.hostname
    try:
        net.resolve(host, port or 443, allow_private=False)
    except net.AddressNotAllowed:
        raise ValidationFailed({"url": f"{host} points to a private or local network address. Webhooks can only "
                                       "be sent to public addresses."}) from None
    except (socket.gaierror, UnicodeError, OSError):
        raise ValidationFailed({"url": f"We could not find the host {host}. Check the URL."}) from None
    return url


def _clean_events(raw) -> list[str]:
    chosen = [raw] if isinstance(raw, str) else list(raw or [])
    if not chosen:
        raise ValidationFailed({"events": "Choose at least one event."})
    if any(not isinstance(e, str) or e not in EVENT_NAMES for e in chosen):
        raise ValidationFailed({"events": "Choose from: " + ", ".join(EVENT_NAMES) + "."})
    return [e for e in EVENT_NAMES if e in chosen]   # canonical order, no duplicates


def _event_type_for(user: User, event_type_id: str | None) -> EventType | None:
    if not event_type_id:
        return None
    event_type = EventType.get_or_none((EventType.id == event_type_id) & (EventType.user == user)
                                       & EventType.personal())
    if event_type is None:
        raise ValidationFailed({"event_type": "Choose one of your event types."})
    return event_type


def _validated(user: User, url: str, event_names, event_type_id: str | None) -> tuple[str, list[str], EventType | None]:
    """Check every field at once, so the form shows every problem together."""
    errors: dict[str, str] = {}
    values: list = []
    for check in (lambda: validate_url(url), lambda: _clean_events(event_names),
                  lambda: _event_type_for(user, event_type_id)):
        try:
            values.append(check())
        except ValidationFailed as exc:
            errors.update(exc.errors)
            values.append(None)
    if errors:
        raise ValidationFailed(errors)
    return values[0], values[1], values[2]


def _origin(url: str) -> str:
    """Scheme and host only: hook URLs often carry a secret path, which audit entries do not keep."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _lock_user(user: User) -> None:
    if is_postgres():
        list(User.select(User.id).where(User.id == user.id).for_update())


# --- CRUD ------------------------------------------------------------------------------------------------
def create_webhook(user: User, url: str, event_names: list[str] | str, *, event_type_id: str | None = None,
                   active: bool = True, label: str | None = None, ip: str | None = None) -> tuple[Webhook, str]:
    """Returns the webhook and its secret (to show once). Raises ValidationFailed or PlanLimitReached."""
    clean_url, chosen, event_type = _validated(user, url, event_names, event_type_id)
    secret = delivery.generate_secret()
    with transaction(immediate=True):
        _lock_user(user)
        check_count(user, "webhooks", Webhook.select().where(Webhook.user == user).count(), "webhooks")
        webhook = Webhook.create(user=user, url=clean_url, events=chosen, event_type=event_type,
                                 active=bool(active), label=label,
                                 secret=current_app.extensions["linktime_encryptor"].encrypt(secret))
        audit.record("webhook.created", resource="webhook", resource_id=webhook.id, user=user, actor=user, ip=ip,
                     details={"url": _origin(clean_url), "events": chosen, "label": label,
                              "eventTypeId": event_type.id if event_type else None})
    return webhook, secret


def get_webhook(user: User, webhook_id: str) -> Webhook:
    webhook = Webhook.get_or_none((Webhook.id == webhook_id) & (Webhook.user == user))
    if webhook is None:
        raise NotFound("Webhook not found")
    return webhook


def list_webhooks(user: User) -> list[Webhook]:
    return list(Webhook.select().where(Webhook.user == user).order_by(Webhook.created_at))


def update_webhook(user: User, webhook_id: str, *, url: str, event_names: list[str] | str,
                   event_type_id: str | None = None, active: bool = True, ip: str | None = None) -> Webhook:
    webhook = get_webhook(user, webhook_id)
    clean_url, chosen, event_type = _validated(user, url, event_names, event_type_id)
    changed = [name for name, old, new in (("url", webhook.url, clean_url), ("events", webhook.events, chosen),
                                           ("eventTypeId", webhook.event_type_id,
                                            event_type.id if event_type else None),
                                           ("active", webhook.active, bool(active))) if old != new]
    with transaction():
        fields = [Webhook.url, Webhook.events, Webhook.event_type, Webhook.active, Webhook.updated_at]
        if "url" in changed:   # a new endpoint starts with a closed circuit breaker
            webhook.timeout_streak, webhook.paused_until = 0, None
            fields += [Webhook.timeout_streak, Webhook.paused_until]
        webhook.url, webhook.events, webhook.event_type, webhook.active = clean_url, chosen, event_type, bool(active)
        webhook.updated_at = utcnow()
        webhook.save(only=fields)   # never the endpoint's claim columns, which deliveries change meanwhile
        audit.record("webhook.updated", resource="webhook", resource_id=webhook.id, user=user, actor=user, ip=ip,
                     details={"url": _origin(clean_url), "events": chosen, "active": bool(active),
                              "changed": changed})
    return webhook


def delete_webhook(user: User, webhook_id: str, *, ip: str | None = None, label: str | None = None) -> None:
    """Delete the user's webhook (with ``label``, only one carrying that label); NotFound otherwise."""
    webhook = get_webhook(user, webhook_id)
    if label is not None and webhook.label != label:
        raise NotFound("Webhook not found")
    with transaction():
        webhook.delete_instance()   # its deliveries go with it (ON DELETE CASCADE)
        audit.record("webhook.deleted", resource="webhook", resource_id=webhook_id, user=user, actor=user, ip=ip,
                     details={"url": _origin(webhook.url), "events": webhook.events, "label": webhook.label})


def deliveries(webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.select().where(WebhookDelivery.webhook == webhook)
                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.attempt.desc()).limit(limit))


def last_deliveries(webhooks: list[Webhook]) -> dict[str, WebhookDelivery]:
    """The newest delivery of each webhook (for the list page)."""
    latest: dict[str, WebhookDelivery] = {}
    for webhook in webhooks:
        found = (WebhookDelivery.select().where(WebhookDelivery.webhook == webhook)
                 .order_by(WebhookDelivery.created_at.desc()).first())
        if found is not None:
            latest[webhook.id] = found
    return latest


# --- fan-out and delivery --------------------------------------------------------------------------------
def matches(webhook: Webhook, envelope: dict) -> bool:
    if not webhook.active or envelope["event"] not in (webhook.events or []):
        return False
    if webhook.event_type_id and envelope["event"] in BOOKING_EVENTS:
        event_type = (envelope.get("data") or {}).get("eventType") or {}
        return event_type.get("id") == webhook.event_type_id
    return True


@events.subscribe(*(name for name in EVENT_NAMES if name not in lifecycle.CHANGES))
def _on_event(event_id: str, envelope: dict) -> None:
    queue_deliveries(event_id, envelope)


@events.subscribe(lifecycle.READY)
def _on_booking_ready(_message_id: str, ready: dict) -> None:
    """A booking event once the booking lifecycle is ready: its public envelope (booking.created with the video
    link, when there is one) under the public event's id. The lifecycle's own events are never delivered."""
    if ready.get("envelope"):
        queue_deliveries(ready["eventId"], ready["envelope"])


_EVENT_OWNER = Statement(lambda: OutboxMessage.select(OutboxMessage.user_id).where(OutboxMessage.id == Param("id"))
                         .limit(1).tuples())
_ACTIVE = Statement(lambda: Webhook.select().where((Webhook.user == Param("user")) & (Webhook.active == True)))


def queue_deliveries(event_id: str, envelope: dict) -> None:
    """One ``webhook`` outbox row per matching active webhook of the event's account."""
    row = _EVENT_OWNER.first(id=event_id)
    if row is None or not row[0]:
        return
    for webhook in _ACTIVE.rows(user=row[0]):
        if matches(webhook, envelope):
            outbox.add("webhook", {"webhookId": webhook.id, "eventId": event_id, "envelope": envelope},
                       user_id=row[0])


def _activity(envelope: dict, webhook: Webhook, attempt_no: int, outcome: delivery.Outcome,
              next_retry: datetime | None) -> None:
    if envelope["event"] not in BOOKING_EVENTS:
        return
    booking_id = (envelope.get("data") or {}).get("id")
    target = _origin(webhook.url) + (" (Zapier)" if webhook.label == ZAPIER_LABEL else "")
    if outcome.ok:
        message = f"Webhook {envelope['event']} delivered to {target} ({outcome.summary()}, attempt {attempt_no})"
    elif next_retry is not None:
        message = (f"Webhook {envelope['event']} to {target} failed: {outcome.summary()} (attempt {attempt_no}); "
                   f"next attempt {events.iso(next_retry)}")
    else:
        message = (f"Webhook {envelope['event']} to {target} failed: {outcome.summary()} (attempt {attempt_no}); "
                   "not retried")
    try:
        with transaction():   # a savepoint: a failed insert must not spoil the delivery record's transaction
            add_activity(booking_id, "webhook", message)
    except Exception:  # the booking may be gone; the delivery record still tells
        log.info("no booking activity for webhook delivery of booking %s", booking_id, exc_info=True)


@outbox.handler("webhook", pass_message=True, lane="webhooks")
def deliver_webhook(payload: dict, message: OutboxMessage, now: datetime) -> None:
    """One attempt of one event to one webhook; raises RetryAt with the next attempt or PermanentFailure."""
    webhook = Webhook.get_or_none(Webhook.id == payload["webhookId"])
    if webhook is None or (not webhook.active and not payload.get("manual")):
        return   # deleted or switched off since the event: nothing to send
    attempt_no = message.attempts
    if attempt_no > delivery.MAX_ATTEMPTS:
        raise outbox.PermanentFailure(f"gave up after {delivery.MAX_ATTEMPTS} attempts")
    envelope, event_id = payload["envelope"], payload["eventId"]
    paused = delivery.paused_until(webhook, now)
    if paused is not None:      # circuit breaker open: not sent, the schedule goes on from the pause's end
        outcome = delivery.Outcome(ok=False, retryable=True, retry_after=paused, error=(
            f"Not sent: the endpoint timed out {webhook.timeout_streak} times in a row; deliveries paused until "
            f"{events.iso(paused)}"))
    else:
        outcome = _attempt_holding_endpoint(webhook, event_id, envelope, now)
    next_retry = None
    if not outcome.ok and outcome.retryable:
        next_retry = delivery.next_attempt_at(message.created_at, attempt_no, now, outcome.retry_after)
    if not _record(webhook, event_id, envelope, attempt_no, outcome, next_retry, now):
        return   # the webhook was deleted while the request was in flight
    if outcome.ok:
        return
    if next_retry is not None:
        raise outbox.RetryAt(next_retry, f"attempt {attempt_no}: {outcome.summary()}")
    if outcome.status_code == 410 and webhook.label == ZAPIER_LABEL:
        _remove_gone_zapier_hook(webhook)
    raise outbox.PermanentFailure(f"attempt {attempt_no}: {outcome.summary()}")


def _attempt_holding_endpoint(webhook: Webhook, event_id: str, envelope: dict, now: datetime) -> delivery.Outcome:
    """One POST while holding the endpoint (another delivery to it is postponed); feeds the circuit breaker."""
    policy = delivery.policy_from_config()
    claim = delivery.claim_endpoint(webhook.id, policy)
    if claim.since is None:
        raise outbox.Postpone(claim.retry_at, "the endpoint is busy with another delivery")
    outbox.keep_alive(lambda: delivery.renew_endpoint(webhook.id, claim.since))
    try:
        outcome = delivery.attempt(webhook, event_id, envelope, now, policy)
        delivery.note_outcome(webhook.id, outcome, now)
    finally:
        delivery.release_endpoint(webhook.id, claim.since)
    return outcome


def _record(webhook: Webhook, event_id: str, envelope: dict, attempt_no: int, outcome: delivery.Outcome,
            next_retry: datetime | None, now: datetime, *, activity: bool = True) -> WebhookDelivery | None:
    """Record the attempt; None (quietly) when the webhook was deleted meanwhile."""
    try:
        with transaction():
            row = delivery.record(webhook, event_id, envelope["event"], attempt_no, outcome, next_retry, now)
            if activity:
                _activity(envelope, webhook, attempt_no, outcome, next_retry)
        return row
    except peewee.IntegrityError:
        if Webhook.get_or_none(Webhook.id == webhook.id) is not None:
            raise
        log.info("webhook %s was deleted while event %s was being delivered; nothing recorded", webhook.id, event_id)
        return None


def _remove_gone_zapier_hook(webhook: Webhook) -> None:
    """Zapier answers 410 Gone for a Zap that was deleted without unsubscribing: drop the subscription."""
    with transaction():
        Webhook.delete().where(Webhook.id == webhook.id).execute()
        audit.record("webhook.deleted", resource="webhook", resource_id=webhook.id, user=webhook.user,
                     details={"url": _origin(webhook.url), "events": webhook.events, "label": webhook.label,
                              "reason": "Zapier answered 410 Gone"})


# --- test sends and redelivery ---------------------------------------------------------------------------
def sample_envelope(event: str, user: User) -> dict:
    """A documented sample of ``event`` (spec pages 14 and 16) with this account's host and event type."""
    if event not in EVENT_NAMES:
        raise ValidationFailed({"event": "Choose one of: " + ", ".join(EVENT_NAMES) + "."})
    now = utcnow()
    event_type = (EventType.select().where((EventType.user == user) & EventType.personal())
                  .order_by(EventType.position, EventType.created_at).first())
    booking = {
        "id": "sample_booking_0001",
        "eventType": ({"id": event_type.id, "name": event_type.name, "slug": event_type.slug,
                       "duration": event_type.duration} if event_type else
                      {"id": "sample_event_type", "name": "30 Minute Meeting", "slug": "30-min", "duration": 30}),
        "startTime": "2026-02-10T14:00:00.000Z", "endTime": "2026-02-10T14:30:00.000Z", "status": "CONFIRMED",
        "invitee": {"name": "John Smith", "email": "john@example.com", "timezone": "America/New_York"},
        "host": {"id": user.id, "name": user.name, "email": user.email},
        "meetingLink": "https://meet.google.com/abc-defg-hij", "location": "Google Meet",
        "notes": "Looking forward to our call!", "isRecurring": False, "recurringGroupId": None,
        "noShow": False, "noShowMarkedAt": None,
        "guests": [{"email": "lee@example.com", "noShow": False, "noShowMarkedAt": None}],
    }
    if event == "booking.cancelled":
        booking.update(status="CANCELLED", cancelReason="Schedule conflict")
    elif event == "booking.rescheduled":
        booking.update(startTime="2026-02-12T10:00:00.000Z", endTime="2026-02-12T10:30:00.000Z",
                       previousStartTime="2026-02-10T14:00:00.000Z", previousEndTime="2026-02-10T14:30:00.000Z")
    elif event == "booking.no_show":
        booking.update(noShow=True, noShowMarkedAt="2026-02-10T14:20:00.000Z")
    elif event == "booking.requested":
        booking.update(status="PENDING", approval="pending")
    data: dict
    if event in BOOKING_EVENTS:
        data = booking
    elif event == "payment.received":
        data = {"bookingId": "sample_booking_0001", "amount": 5000, "currency": "usd", "paymentMethod": "card",
                "transactionId": "pi_3abc123def456", "provider": "stripe"}
    else:
        data = {"id": "sample_contact_0001", "name": "John Smith", "email": "john@example.com",
                "phone": "+14155551234", "company": "Acme Inc", "notes": None, "createdAt": events.iso(now),
                "source": "booking"}
    return {"apiVersion": events.API_VERSION, "event": event, "timestamp": events.iso(now), "data": data}


@dataclass
class SentTestStatus:
    """Where a queued test send is: ``pending`` (result None), ``done`` (the recorded result) or ``gone``."""
    state: str
    result: WebhookDelivery | None = None
    event: str | None = None


def queue_test(user: User, webhook_id: str, event: str) -> str:
    """Queue a sample ``event`` to the webhook (one attempt, not retried); returns the id to poll with
    ``sent_test_status``. The attempt runs on the webhook queue, never in the caller's request."""
    webhook = get_webhook(user, webhook_id)
    envelope = sample_envelope(event, user)
    with transaction():
        message = outbox.add("webhook_test", {"webhookId": webhook.id, "eventId": TEST_PREFIX + new_id(),
                                              "envelope": envelope}, user_id=user.id)
    return message.id


def sent_test_status(user: User, webhook_id: str, test_id: str) -> SentTestStatus:
    webhook = get_webhook(user, webhook_id)
    message = OutboxMessage.get_or_none((OutboxMessage.id == test_id) & (OutboxMessage.kind == "webhook_test")
                                        & (OutboxMessage.user_id == user.id))
    if message is None:
        raise NotFound("Test not found")
    payload = json.loads(message.payload)
    if payload.get("webhookId") != webhook.id:
        raise NotFound("Test not found")
    event = payload["envelope"]["event"]
    result = (WebhookDelivery.select().where((WebhookDelivery.webhook == webhook)
                                             & (WebhookDelivery.event_id == payload["eventId"])).first())
    if result is not None:
        return SentTestStatus("done", result, event)
    if message.done_at is not None or message.failed_at is not None:
        return SentTestStatus("gone", None, event)
    return SentTestStatus("pending", None, event)


@outbox.handler("webhook_test", pass_message=True, lane="webhooks")
def deliver_test(payload: dict, message: OutboxMessage, now: datetime) -> None:
    """The one attempt of a test send. It waits its turn at the endpoint like any delivery but ignores a pause
    (a test is how a host checks the endpoint is back), and its outcome feeds the circuit breaker."""
    webhook = Webhook.get_or_none(Webhook.id == payload["webhookId"])
    if webhook is None:
        return
    envelope = payload["envelope"]
    outcome = _attempt_holding_endpoint(webhook, payload["eventId"], envelope, now)
    _record(webhook, payload["eventId"], envelope, 1, outcome, None, now, activity=False)


def is_test(delivery_row: WebhookDelivery) -> bool:
    return delivery_row.event_id.startswith(TEST_PREFIX)


def redeliver(user: User, webhook_id: str, delivery_id: str) -> OutboxMessage:
    """Queue the event of a past delivery to its webhook again, as a new series of attempts."""
    webhook = get_webhook(user, webhook_id)
    past = WebhookDelivery.get_or_none((WebhookDelivery.id == delivery_id) & (WebhookDelivery.webhook == webhook))
    if past is None:
        raise NotFound("Delivery not found")
    if is_test(past):
        raise ValidationFailed({"delivery": "A test delivery cannot be redelivered: send another test."})
    event_row = OutboxMessage.get_or_none((OutboxMessage.id == past.event_id) & (OutboxMessage.kind == "event"))
    if event_row is None:
        raise ValidationFailed({"delivery": "This event is no longer stored and cannot be redelivered."})
    with transaction():
        return outbox.add("webhook", {"webhookId": webhook.id, "eventId": past.event_id,
                                      "envelope": json.loads(event_row.payload), "manual": True}, user_id=user.id)


# --- Zapier ------------------------------------------------------------------------------------------------
def recent_envelopes(user: User, event: str, *, limit: int = 3, event_type_id: str | None = None,
                     scan: int = 500) -> list[dict]:
    """The newest real payloads of ``event`` for the account (newest first), from the stored events."""
    found: list[dict] = []
    rows = (OutboxMessage.select(OutboxMessage.payload)
            .where((OutboxMessage.kind == "event") & (OutboxMessage.user_id == user.id)
                   & OutboxMessage.payload.contains(f'"{event}"'))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(scan))
    for row in rows:
        envelope = json.loads(row.payload)
        if envelope.get("event") != event:
            continue
        if event_type_id and event in BOOKING_EVENTS and \
                ((envelope.get("data") or {}).get("eventType") or {}).get("id") != event_type_id:
            continue
        found.append(envelope)
        if len(found) >= limit:
            break
    return found
