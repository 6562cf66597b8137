"""The outbound HTTP guard: every request LinkTime makes to an address a user entered (webhooks, CalDAV, ICS feeds).

Address guard: unless the caller allows private addresses (``WEBHOOK_ALLOW_PRIVATE``, default on in development, off
in production), every address the host name resolves to must be global; the connection then goes to the address
that was checked (resolved once per connection inside the transport), so a DNS answer that changes between the
check and the connect (DNS rebinding) cannot point a request at an internal service. A NAT64 address
(64:ff9b::/96) counts as the IPv4 address it embeds; the local-use NAT64 prefix 64:ff9b:1::/48 is never allowed. A
host name that cannot be one (an empty label as in ``a..example.com``, a label over 63 characters) is refused.

Two more rules hold for every request: the session never keeps cookies (one server's cookie is never sent with
another user's request), and ``deadline(seconds)`` bounds a whole exchange (connecting, the answer's headers and
its body) however slowly a server trickles its bytes; a read past the deadline fails as a timeout. The session
follows no redirects by itself and uses no proxies from the environment.

A bottom-layer module: it imports only the standard library, requests and urllib3 (no Flask, models or
services), so the integrations and the services both build on it.
"""
from __future__ import annotations

import io
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import connection as urllib3_connection


class AddressNotAllowed(Exception):
    """The target is not allowed by the outbound policy (plain http, or a non-public address)."""


class InvalidHostName(socket.gaierror):
    """The host name cannot be looked up at all (an empty label, a label over 63 characters, ...).

    A ``gaierror``, so every caller that handles "could not resolve" handles it too."""



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


def refusal(exc: BaseException) -> BaseException | None:
    """The guard's refusal (``AddressNotAllowed``, ``InvalidHostName``) anywhere in ``exc``'s causes, contexts,
    arguments and urllib3 ``reason``s, or None: how a client tells "not allowed here" (permanent) from a network
    failure (transient) when requests wraps the refusal."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AddressNotAllowed | InvalidHostName):
            return current
        stack.extend([current.__cause__, current.__context__, *[a for a in getattr(current, "args", ())
                                                                 if isinstance(a, BaseException)]])
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return None
