"""Delivering webhooks: signatures, one attempt through the outbound guard (``app.net``), the retry schedule.

One attempt POSTs the exact JSON body with two signature sets: LinkTime's own ``X-LinkTime-Signature:
sha256=<hex HMAC-SHA256 of the body keyed with the secret string>`` (spec page 16) and the Standard Webhooks
headers ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the base64-decoded part of the ``whsec_`` secret, so the
``standardwebhooks`` libraries verify it as they are.

Retries (spec page 16): attempts at 0 s, 10 s, 60 s, 1 h, 4 h and 24 h after the event (the outbox row's
``created_at``) for 429, 5xx, timeouts and network errors; a later ``Retry-After`` moves the next attempt;
other 4xx, 3xx (redirects are not followed) and refused addresses are not retried.

Outbound guard: the requests go through ``app.net`` (address guard against private and rebinding targets, the
connection pinned to the checked address, no cookies, an overall ``deadline``); here WEBHOOK_ALLOW_PRIVATE
(default on in development, off in production) chooses its policy and targets must be https unless it is on.

Sharing the webhook queue (the "linktime-webhooks" lane): an endpoint gets one delivery at a time (``claim_endpoint``
holds ``webhooks.busy_until`` for the attempt; another delivery to it is postponed, not counted as an attempt), a
connection must be made within WEBHOOK_CONNECT_TIMEOUT, and a circuit breaker pauses an endpoint that timed out
``BREAKER_THRESHOLD`` times in a row: while paused, a due attempt is recorded as not sent and the delivery's next
attempt follows the retry schedule, no earlier than the pause's end (1 minute, doubling up to an hour). Any answer
from the endpoint closes the breaker. So one hanging endpoint holds at most one webhook worker.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app

from app.integrations.errors import retry_after_seconds
from app.models import Webhook, WebhookDelivery
from app.models.base import utcnow
from app.net import AddressNotAllowed, deadline, expired, host_name_ok, session
from app.security import hmac_sha256_hex

log = logging.getLogger(__name__)

USER_AGENT = "LinkTime-Webhook/1.0"
SECRET_PREFIX = "whsec_"
RETRY_OFFSETS = (0, 10, 60, 3600, 4 * 3600, 24 * 3600)   # seconds after the event of attempts 1..6
MAX_ATTEMPTS = len(RETRY_OFFSETS)
EXCERPT_BYTES = 1024
MAX_RETRY_AFTER = timedelta(hours=24)                     # a Retry-After never parks a delivery longer
BREAKER_THRESHOLD = 3                                     # timeouts in a row that pause an endpoint
BREAKER_PAUSE = timedelta(minutes=1)                      # the first pause; each further timeout doubles it
BREAKER_MAX_PAUSE = timedelta(hours=1)
ENDPOINT_LEASE = 30                                       # seconds a claim of an endpoint lasts unless renewed
SHORT_POSTPONE = timedelta(seconds=1)                     # behind a delivery that started just now
ENDPOINT_WAIT = 0.5                                       # seconds a delivery waits for one that just started
YOUNG_CLAIM = timedelta(seconds=2)                        # a claim this young is "just started" (worth waiting for)


@dataclass(frozen=True)
class Policy:
    allow_private: bool
    timeout: float
    connect_timeout: float | None = None

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) for requests: the connect timeout is never longer than the whole timeout."""
        connect = self.timeout if self.connect_timeout is None else min(self.connect_timeout, self.timeout)
        return connect, self.timeout


def policy_from_config(config=None) -> Policy:
    config = config if config is not None else current_app.config
    return Policy(allow_private=bool(config["WEBHOOK_ALLOW_PRIVATE"]), timeout=float(config["WEBHOOK_TIMEOUT"]),
                  connect_timeout=float(config["WEBHOOK_CONNECT_TIMEOUT"]))


# --- secrets and signatures ------------------------------------------------------------------------------
def generate_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes: the format the Standard Webhooks libraries expect."""
    import secrets
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature, derived as ``standardwebhooks.Webhook`` does."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "==")


def body_bytes(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secret: str, body: bytes, *, event: str, event_timestamp: str, message_id: str,
                   sent_at: int) -> dict[str, str]:
    to_sign = f"{message_id}.{sent_at}.".encode() + body
    standard = base64.b64encode(hmac.new(standard_key(secret), to_sign, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-LinkTime-Signature": "sha256=" + hmac_sha256_hex(secret, body),
        "X-LinkTime-Event": event,
        "X-LinkTime-Timestamp": event_timestamp,
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": f"v1,{standard}",
    }


# --- one attempt ----------------------------------------------------------------------------------------
def check_scheme(url: str, allow_private: bool) -> None:
    if urlsplit(url).scheme != "https" and not allow_private:
        raise AddressNotAllowed("webhooks are only sent to https:// URLs on this instance")


@dataclass
class Outcome:
    ok: bool
    retryable: bool
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str | None = None
    error: str | None = None
    retry_after: datetime | None = None
    timed_out: bool = False

    def summary(self) -> str:
        if self.ok:
            return f"HTTP {self.status_code}"
        if self.status_code is not None:
            return f"HTTP {self.status_code}" + (f" ({self.error})" if self.error else "")
        return self.error or "failed"


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After`` (delta-seconds or an HTTP date) as the moment to try again; None when absent or unreadable."""
    seconds = retry_after_seconds(value, now)
    return None if seconds is None else now + timedelta(seconds=seconds)


def _read_excerpt(response: requests.Response, deadline: float) -> str:
    """At most 1 KB of the answer, read until ``deadline`` (monotonic); the rest is never read."""
    if isinstance(getattr(response, "_content", False), bytes):   # requests already read a redirect's body
        return response.content[:EXCERPT_BYTES].decode("utf-8", "replace")
    raw = b""
    try:
        while len(raw) <= EXCERPT_BYTES and time.monotonic() < deadline:
            chunk = response.raw.read(256, decode_content=True)
            if not chunk:
                break
            raw += chunk
    except Exception:  # an unreadable body is not a failed delivery
        log.debug("could not read the webhook answer", exc_info=True)
    return raw[:EXCERPT_BYTES].decode("utf-8", "replace")


def post(url: str, body: bytes, headers: dict[str, str], policy: Policy, now: datetime) -> Outcome:
    """POST once; classify the result. Never raises for HTTP, network or policy failures."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    with deadline(policy.timeout):
        try:
            check_scheme(url, policy.allow_private)
            host = urlsplit(url).hostname
            if not host_name_ok(host):
                raise AddressNotAllowed(f"{host or 'the URL'} is not a valid host name")
            response = session(policy.allow_private).post(url, data=body, headers=headers, allow_redirects=False,
                                                           timeout=policy.timeouts, stream=True)
        except AddressNotAllowed as exc:
            return Outcome(ok=False, retryable=False, duration_ms=elapsed(), error=f"Refused: {exc}")
        except requests.ConnectTimeout:
            return Outcome(ok=False, retryable=True, duration_ms=elapsed(), timed_out=True,
                           error=f"Timeout: no connection within {policy.timeouts[0]:g} s")
        except requests.Timeout:
            return Outcome(ok=False, retryable=True, duration_ms=elapsed(), timed_out=True,
                           error=f"Timeout: no answer within {policy.timeout:g} s")
        except ValueError as exc:
            # requests' InvalidURL / InvalidSchema, an IDNA UnicodeError: a URL no request can be made to, which
            # retrying will not mend
            return Outcome(ok=False, retryable=False, duration_ms=elapsed(),
                           error=f"Refused: not a valid URL ({type(exc).__name__})")
        except requests.RequestException as exc:
            if expired():
                return Outcome(ok=False, retryable=True, duration_ms=elapsed(), timed_out=True,
                               error=f"Timeout: no answer within {policy.timeout:g} s")
            return Outcome(ok=False, retryable=True, duration_ms=elapsed(), error=_network_error(exc))
        try:
            excerpt = _read_excerpt(response, time.monotonic() + policy.timeout)
        finally:
            response.close()
    status = response.status_code
    outcome = Outcome(ok=200 <= status < 300, retryable=False, status_code=status, duration_ms=elapsed(),
                      excerpt=excerpt or None)
    if outcome.ok:
        return outcome
    if status == 429 or status >= 500:
        outcome.retryable = True
        outcome.retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    elif 300 <= status < 400:
        outcome.error = "Redirects are not followed; use the final URL"
    else:
        outcome.error = "Not retried (client error)"
    return outcome


def _network_error(exc: requests.RequestException) -> str:
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text:
        return f"Network error: could not resolve the host ({type(exc).__name__})"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "Network error: connection refused"
    return f"Network error: {type(exc).__name__}: {text[:300]}"


def next_attempt_at(first_at: datetime, attempt: int, now: datetime, retry_after: datetime | None) -> datetime | None:
    """When attempt ``attempt + 1`` is due, or None after the last attempt."""
    if attempt >= MAX_ATTEMPTS:
        return None
    when = first_at + timedelta(seconds=RETRY_OFFSETS[attempt])
    if retry_after is not None and retry_after > when:
        when = min(retry_after, now + MAX_RETRY_AFTER)
    return max(when, now)


def attempt(webhook: Webhook, event_id: str, envelope: dict, now: datetime, policy: Policy | None = None) -> Outcome:
    """Sign and POST ``envelope`` to ``webhook`` once."""
    policy = policy or policy_from_config()
    secret = current_app.extensions["linktime_encryptor"].decrypt(webhook.secret)
    body = body_bytes(envelope)
    headers = signed_headers(secret, body, event=envelope["event"], event_timestamp=envelope["timestamp"],
                             message_id=event_id, sent_at=int(time.time()))
    return post(webhook.url, body, headers, policy, now)


def record(webhook: Webhook, event_id: str, event: str, attempt_no: int, outcome: Outcome,
           next_retry_at: datetime | None, now: datetime | None = None) -> WebhookDelivery:
    return WebhookDelivery.create(
        webhook=webhook, event_id=event_id, event=event, attempt=attempt_no, status_code=outcome.status_code,
        duration_ms=outcome.duration_ms, response_excerpt=outcome.excerpt, error=outcome.error,
        next_retry_at=next_retry_at, success=outcome.ok, created_at=now or utcnow())


# --- the endpoint's share of the webhook queue -------------------------------------------------------------
@dataclass(frozen=True)
class EndpointClaim:
    """The outcome of ``claim_endpoint``: ``since`` names a claim this delivery holds (renew and release it with
    that value, so a late worker never frees another's claim); otherwise ``retry_at`` says when to try again."""
    since: datetime | None = None
    retry_at: datetime | None = None


def claim_endpoint(webhook_id: str, policy: Policy, wait: float | None = None, *,
                   model=Webhook) -> EndpointClaim:
    """Hold the endpoint for one delivery, or say when to try again (not an attempt).

    The claim lasts ``ENDPOINT_LEASE`` seconds and is renewed with the outbox row's lease while the delivery runs
    (``outbox.keep_alive``), so a worker killed mid-delivery frees the endpoint within that time. Behind a delivery
    that started a moment ago this waits up to ``wait`` (``ENDPOINT_WAIT``) seconds for it (a fast endpoint's
    bursts), then tries again a second later; behind a slow one, once that one must have ended (or its claim ran
    out). ``model``: the table whose row is the endpoint (``Webhook``; a workflow's Call Webhook and Slack actions
    are ``WorkflowAction`` rows with the same four columns)."""
    give_up = time.monotonic() + (ENDPOINT_WAIT if wait is None else wait)
    while True:
        now = utcnow()
        claimed = (model.update(busy_since=now, busy_until=now + timedelta(seconds=ENDPOINT_LEASE))
                   .where((model.id == webhook_id) & (model.busy_until.is_null() | (model.busy_until <= now)))
                   .execute())
        if claimed:
            return EndpointClaim(since=now)
        row = model.select(model.busy_since, model.busy_until).where(model.id == webhook_id).first()
        if row is None or row.busy_until is None or row.busy_since is None:
            young = True
        else:
            young = now - row.busy_since < YOUNG_CLAIM
        if young and time.monotonic() < give_up:
            time.sleep(0.05)
            continue
        if young:
            return EndpointClaim(retry_at=now + SHORT_POSTPONE + _jitter())
        expected_end = min(row.busy_since + timedelta(seconds=policy.timeout), row.busy_until)
        return EndpointClaim(retry_at=max(expected_end, now) + SHORT_POSTPONE + _jitter())


def _jitter() -> timedelta:
    """Up to a second more, so deliveries postponed behind one claim do not all wake at the same moment."""
    return timedelta(milliseconds=random.randint(0, 1000))


def renew_endpoint(webhook_id: str, since: datetime, *, model=Webhook) -> None:
    now = utcnow()
    model.update(busy_until=now + timedelta(seconds=ENDPOINT_LEASE)).where(
        (model.id == webhook_id) & (model.busy_since == since)).execute()


def release_endpoint(webhook_id: str, since: datetime, *, model=Webhook) -> None:
    model.update(busy_since=None, busy_until=None).where(
        (model.id == webhook_id) & (model.busy_since == since)).execute()


def paused_until(webhook, now: datetime) -> datetime | None:
    """The end of the endpoint's pause (circuit breaker open), or None when deliveries may go."""
    return webhook.paused_until if webhook.paused_until is not None and webhook.paused_until > now else None


def note_outcome(webhook_id: str, outcome: Outcome, now: datetime, *, model=Webhook) -> None:
    """Feed the circuit breaker: a timeout extends the streak (and from the threshold on pauses the endpoint,
    for twice as long each time); any answer, or a fast failure, closes it."""
    if not outcome.timed_out:
        (model.update(timeout_streak=0, paused_until=None)
         .where((model.id == webhook_id) & ((model.timeout_streak != 0) | model.paused_until.is_null(False)))
         .execute())
        return
    model.update(timeout_streak=model.timeout_streak + 1).where(model.id == webhook_id).execute()
    row = model.select(model.timeout_streak).where(model.id == webhook_id).first()
    if row is None or row.timeout_streak < BREAKER_THRESHOLD:
        return
    pause = min(BREAKER_PAUSE * 2 ** min(row.timeout_streak - BREAKER_THRESHOLD, 6), BREAKER_MAX_PAUSE)
    model.update(paused_until=now + pause).where(model.id == webhook_id).execute()
    log.info("webhook %s paused until %s after %d timeouts in a row", webhook_id, (now + pause).isoformat(),
             row.timeout_streak)
