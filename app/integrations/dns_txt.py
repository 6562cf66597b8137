"""TXT record look-ups (custom domain verification) with dnspython.

The resolver is the system's (``/etc/resolv.conf``) unless DNS_RESOLVER names one (``address`` or
``address:port``, ``[v6-address]:port``); tests point it at a DNS server on loopback.
"""
from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver


@dataclass(frozen=True)
class TxtAnswer:
    """What a look-up found: the TXT strings at the name (empty: none), or ``error`` when the question could not
    be answered (no such name, a timeout, a refusing server)."""
    values: tuple[str, ...]
    error: str | None = None


def parse_resolver(spec: str) -> tuple[str, int] | None:
    """``"127.0.0.1:5353"`` -> ("127.0.0.1", 5353); ``"9.9.9.9"`` -> ("9.9.9.9", 53); "" -> None (the system's)."""
    spec = spec.strip()
    if not spec:
        return None
    if spec.startswith("["):
        address, _, rest = spec[1:].partition("]")
        port = rest.lstrip(":") or "53"
    elif spec.count(":") == 1:
        address, port = spec.split(":")
    else:
        address, port = spec, "53"
    return address, int(port)


def _resolver(spec: str, timeout: float) -> dns.resolver.Resolver:
    server = parse_resolver(spec)
    if server is None:
        resolver = dns.resolver.Resolver(configure=True)
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server[0]]
        resolver.port = server[1]
    resolver.lifetime = timeout
    resolver.timeout = timeout
    resolver.cache = None
    return resolver


def lookup_txt(name: str, *, resolver: str = "", timeout: float = 5.0) -> TxtAnswer:
    try:
        answer = _resolver(resolver, timeout).resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return TxtAnswer((), f"{name} does not exist in DNS")
    except dns.resolver.NoNameservers:
        return TxtAnswer((), "the DNS servers refused to answer")
    except dns.exception.Timeout:
        return TxtAnswer((), "the DNS look-up timed out")
    except dns.exception.DNSException as exc:
        return TxtAnswer((), f"the DNS look-up failed: {exc}")
    values = []
    for record in answer.rrset or ():
        values.append(b"".join(record.strings).decode("utf-8", "replace"))
    return TxtAnswer(tuple(values))
