"""Delivering webhooks: signatures, the outbound HTTP seam with its address guard, and the retry schedule.

One attempt POSTs the exact JSON body with two signature sets: LinkTime's own ``X-LinkTime-Signature:
sha256=<hex HMAC-SHA256 of the body keyed with the secret string>`` (spec page 16) and the Standard Webhooks
headers ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the base64-decoded part of the ``whsec_`` secret, so the
``standardwebhooks`` libraries verify it as they are.

Retries (spec page 16): attempts at 0 s, 10 s, 60 s, 1 h, 4 h and 24 h after the event (the outbox row's
``created_at``) for 429, 5xx, timeouts and network errors; a later ``Retry-After`` moves the next attempt;
other 4xx, 3xx (redirects are not followed) and refused addresses are not retried.

Outbound guard: unless WEBHOOK_ALLOW_PRIVATE (default on in development, off in production), targets must be
https and every address the host name resolves to must be global; the connection then goes to the address that
was checked (resolved once per connection inside the transport), so a DNS answer that changes between the check
and the connect (DNS rebinding) cannot point a delivery at an internal service. A NAT64 address (64:ff9b::/96)
counts as the IPv4 address it embeds; the local-use NAT64 prefix 64:ff9b:1::/48 is never allowed. A host name that
cannot be one (an empty label as in ``a..example.com``, a label over 63 characters) is refused, not retried.

Sharing the webhook queue (``tasks.webhook_huey``): an endpoint gets one delivery at a time (``claim_endpoint``
holds ``webhooks.busy_until`` for the attempt; another delivery to it is postponed, not counted as an attempt), a
connection must be made within WEBHOOK_CONNECT_TIMEOUT, and a circuit breaker pauses an endpoint that timed out
``BREAKER_THRESHOLD`` times in a row: while paused, a due attempt is recorded as not sent and the delivery's next
attempt follows the retry schedule, no earlier than the pause's end (1 minute, doubling up to an hour). Any answer
from the endpoint closes the breaker. So one hanging endpoint holds at most one webhook worker.

The same seam carries the CalDAV and ICS feed requests (``app.integrations.ical``), so two more rules hold for
every request: the session never keeps cookies (one server's cookie is never sent with another user's request),
and ``deadline(seconds)`` bounds a whole exchange (connecting, the answer's headers and its body) however slowly a
server trickles its bytes; a read past the deadline fails as a timeout.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import connection as urllib3_connection

from app.models import Webhook, WebhookDelivery
from app.models.base import utcnow
from app.security import hmac_sha256_hex

log = logging.getLogger(__name__)

USER_AGENT = "LinkTime-Webhook/1.0"
SECRET_PREFIX = "whsec_"
RETRY_OFFSETS = (0, 10, 60, 3600, 4 * 3600, 24 * 3600)   # seconds after the event of attempts 1..6
MAX_ATTEMPTS = len(RETRY_OFFSETS)
EXCERPT_BYTES = 1024
MAX_RETRY_AFTER = timedelta(hours=24)                     # a Retry-After never parks a delivery longer


class AddressNotAllowed(Exception):
    """The target is not allowed by the outbound policy (plain http, or a non-public address)."""


class InvalidHostName(socket.gaierror):
    """The host name cannot be looked up at all (an empty label, a label over 63 characters, ...).

    A ``gaierror``, so every caller that handles "could not resolve" handles it too."""


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


# --- the address guard -----------------------------------------------------------------------------------
_getaddrinfo = socket.getaddrinfo   # the one resolver call (tests replace it to simulate DNS answers)


NAT64 = ipaddress.ip_network("64:ff9b::/96")               # RFC 6052: the IPv4 address is the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")        # RFC 8215: local use, where the IPv4 bits sit varies


def address_allowed(address: str) -> bool:
    """True for globally routable unicast addresses; False for private, loopback, link-local, CGNAT, ...

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by the IPv4 address too."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6:
        if ip in NAT64_LOCAL:
            return False
        if ip in NAT64:
            return address_allowed(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not address_allowed(str(embedded)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def host_name_ok(host: str | None) -> bool:
    """Whether ``host`` could be looked up at all: an IP address, or a name whose labels are 1 to 63 characters
    (as IDNA encodes them; one trailing dot allowed) and 253 in all."""
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        pass
    name = host.removesuffix(".")
    try:
        encoded = name.encode("idna")
    except UnicodeError:
        return False
    return 0 < len(encoded) <= 253 and all(0 < len(label) <= 63 for label in encoded.split(b"."))


def resolve(host: str, port: int, allow_private: bool) -> list[tuple]:
    """Every address of ``host`` (getaddrinfo tuples); with the guard on, every one of them must be global.

    A host name that cannot be one raises ``InvalidHostName`` (a ``socket.gaierror``)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not host_name_ok(host):
            raise InvalidHostName(f"{host} is not a valid host name") from None
        try:
            infos = _getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except UnicodeError as exc:   # the resolver's IDNA step: a label it cannot encode
            raise InvalidHostName(f"{host} is not a valid host name") from exc
    else:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        infos = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(literal), port))]
    if not infos:
        raise socket.gaierror(f"no address for {host}")
    if not allow_private:
        refused = sorted({info[4][0] for info in infos if not address_allowed(info[4][0])})
        if refused:
            raise AddressNotAllowed(f"{host} resolves to a private or local address ({', '.join(refused)}); "
                                    "webhooks may only be sent to public addresses")
    return infos


def check_scheme(url: str, allow_private: bool) -> None:
    if urlsplit(url).scheme != "https" and not allow_private:
        raise AddressNotAllowed("webhooks are only sent to https:// URLs on this instance")


# --- the overall deadline -----------------------------------------------------------------------------------
_local = threading.local()


class DeadlineExceeded(TimeoutError):
    """A read was attempted after the deadline of the exchange in progress (``deadline``)."""


def remaining() -> float | None:
    """Seconds left before the deadline of this thread's exchange in progress; None without one."""
    end = getattr(_local, "deadline", None)
    return None if end is None else end - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound every read (and connect) of this thread's guarded requests inside the block to ``seconds`` in all.

    Nested blocks keep the earlier deadline. Every socket read waits at most until the deadline and a read after
    it raises ``DeadlineExceeded``, so a server that sends one byte every few seconds cannot hold a worker."""
    previous = getattr(_local, "deadline", None)
    end = time.monotonic() + seconds
    _local.deadline = end if previous is None else min(previous, end)
    try:
        yield
    finally:
        _local.deadline = previous


class _DeadlineReader(io.RawIOBase):
    """The connection's reading side: each read waits at most until the deadline of the exchange in progress."""

    def __init__(self, sock: socket.socket, raw: io.RawIOBase) -> None:
        super().__init__()
        self._sock, self._raw = sock, raw

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer) -> int | None:
        left = remaining()
        if left is None:
            return self._raw.readinto(buffer)
        if left <= 0:
            raise DeadlineExceeded("the overall time limit of this request has passed")
        usual = self._sock.gettimeout()
        if usual is not None and usual <= left:
            return self._raw.readinto(buffer)
        self._sock.settimeout(left)
        try:
            return self._raw.readinto(buffer)
        finally:
            self._sock.settimeout(usual)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()       # gives the socket's reference back (the connection closes the socket)
        super().close()


class _DeadlineSocket:
    """A connection's socket whose ``makefile("rb")`` (what http.client reads the answer from) honours
    ``deadline``; everything else goes to the socket itself."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str):
        return getattr(self._sock, name)

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs):
        if mode != "rb":
            return self._sock.makefile(mode, buffering, **kwargs)
        raw = self._sock.makefile("rb", buffering=0)
        size = io.DEFAULT_BUFFER_SIZE if buffering is None or buffering < 0 else buffering
        return io.BufferedReader(_DeadlineReader(self._sock, raw), size or io.DEFAULT_BUFFER_SIZE)


class _PinnedConnectionMixin:
    """Resolve, check every address, then connect to exactly an address that was checked."""

    allow_private = False

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if self.sock is not None and not isinstance(self.sock, _DeadlineSocket):  # type: ignore[attr-defined]
            self.sock = _DeadlineSocket(self.sock)  # type: ignore[attr-defined]

    def _new_conn(self) -> socket.socket:
        host = self._dns_host  # type: ignore[attr-defined]
        try:
            infos = resolve(host, self.port, self.allow_private)  # type: ignore[attr-defined]
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined]
        last: OSError | None = None
        for info in infos:
            ip = info[4][0]
            timeout = self.timeout  # type: ignore[attr-defined]
            left = remaining()
            if left is not None:
                if left <= 0:
                    raise ConnectTimeoutError(self, f"Connection to {self.host} timed out "  # type: ignore
                                                    "(the request's time limit passed).")
                timeout = left if timeout is None or timeout > left else timeout
            try:
                return urllib3_connection.create_connection(
                    (ip, self.port), timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options)  # type: ignore[attr-defined]
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "  # type: ignore
                                                f"(connect timeout={timeout})") from exc
            except OSError as exc:
                last = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]


@lru_cache(maxsize=2)
def _pool_classes(allow_private: bool) -> dict[str, type]:
    http_conn = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection),
                     {"allow_private": allow_private})
    https_conn = type("PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection),
                      {"allow_private": allow_private})
    return {"http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})}


class PinnedAdapter(HTTPAdapter):
    """A requests transport whose connections go through the address guard (no proxies, no retries)."""

    def __init__(self, allow_private: bool, **kwargs) -> None:
        self.allow_private = allow_private
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow_private)


class RefuseAllCookies(DefaultCookiePolicy):
    """No cookie is ever stored, and none is ever sent: the session is shared by every user's requests."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


def session(allow_private: bool) -> requests.Session:
    """One keep-alive session per worker thread and policy; it never keeps cookies."""
    attr = "private" if allow_private else "public"
    existing = getattr(_local, attr, None)
    if existing is not None:
        return existing
    s = requests.Session()
    s.trust_env = False  # environment proxies would connect somewhere the guard never checked
    s.cookies.set_policy(RefuseAllCookies())
    adapter = PinnedAdapter(allow_private, pool_connections=16, pool_maxsize=4)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    setattr(_local, attr, s)
    return s


# --- one attempt ----------------------------------------------------------------------------------------
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
    """``Retry-After`` as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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


def claim_endpoint(webhook_id: str, policy: Policy, wait: float | None = None) -> EndpointClaim:
    """Hold the endpoint for one delivery, or say when to try again (not an attempt).

    The claim lasts ``ENDPOINT_LEASE`` seconds and is renewed with the outbox row's lease while the delivery runs
    (``outbox.keep_alive``), so a worker killed mid-delivery frees the endpoint within that time. Behind a delivery
    that started a moment ago this waits up to ``wait`` (``ENDPOINT_WAIT``) seconds for it (a fast endpoint's
    bursts), then tries again a second later; behind a slow one, once that one must have ended (or its claim ran
    out)."""
    give_up = time.monotonic() + (ENDPOINT_WAIT if wait is None else wait)
    while True:
        now = utcnow()
        claimed = (Webhook.update(busy_since=now, busy_until=now + timedelta(seconds=ENDPOINT_LEASE))
                   .where((Webhook.id == webhook_id) & (Webhook.busy_until.is_null() | (Webhook.busy_until <= now)))
                   .execute())
        if claimed:
            return EndpointClaim(since=now)
        row = Webhook.select(Webhook.busy_since, Webhook.busy_until).where(Webhook.id == webhook_id).first()
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


def renew_endpoint(webhook_id: str, since: datetime) -> None:
    now = utcnow()
    Webhook.update(busy_until=now + timedelta(seconds=ENDPOINT_LEASE)).where(
        (Webhook.id == webhook_id) & (Webhook.busy_since == since)).execute()


def release_endpoint(webhook_id: str, since: datetime) -> None:
    Webhook.update(busy_since=None, busy_until=None).where(
        (Webhook.id == webhook_id) & (Webhook.busy_since == since)).execute()


def paused_until(webhook: Webhook, now: datetime) -> datetime | None:
    """The end of the endpoint's pause (circuit breaker open), or None when deliveries may go."""
    return webhook.paused_until if webhook.paused_until is not None and webhook.paused_until > now else None


def note_outcome(webhook_id: str, outcome: Outcome, now: datetime) -> None:
    """Feed the circuit breaker: a timeout extends the streak (and from the threshold on pauses the endpoint,
    for twice as long each time); any answer, or a fast failure, closes it."""
    if not outcome.timed_out:
        (Webhook.update(timeout_streak=0, paused_until=None)
         .where((Webhook.id == webhook_id) & ((Webhook.timeout_streak != 0) | Webhook.paused_until.is_null(False)))
         .execute())
        return
    Webhook.update(timeout_streak=Webhook.timeout_streak + 1).where(Webhook.id == webhook_id).execute()
    row = Webhook.select(Webhook.timeout_streak).where(Webhook.id == webhook_id).first()
    if row is None or row.timeout_streak < BREAKER_THRESHOLD:
        return
    pause = min(BREAKER_PAUSE * 2 ** min(row.timeout_streak - BREAKER_THRESHOLD, 6), BREAKER_MAX_PAUSE)
    Webhook.update(paused_until=now + pause).where(Webhook.id == webhook_id).execute()
    log.info("webhook %s paused until %s after %d timeouts in a row", webhook_id, (now + pause).isoformat(),
             row.timeout_streak)
