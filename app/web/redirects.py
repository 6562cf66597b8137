"""Where a ``next`` parameter may send the browser: a path on this site, checked as the browser will read it.

Checking the string is not enough: browsers drop tabs and line breaks from a URL and read ``\\`` as ``/``, so
``/\\t/evil.com`` and ``/\\evil.com`` both become ``//evil.com``, another site. The target is refused when
it holds any control character, whitespace or backslash, and is then parsed: no scheme, no host, a path
that starts with exactly one ``/``.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\\u2028\u2029]")  # controls, space and backslash
MAX_LENGTH = 2000


def is_local_path(target: str | None) -> bool:
    if not target or len(target) > MAX_LENGTH or _UNSAFE.search(target):
        return False
    if not target.startswith("/") or target.startswith("//"):  # "///x" parses as a path but a browser reads a host
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return (not parts.scheme and not parts.netloc and parts.path.startswith("/")
            and not parts.path.startswith("//"))


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    return target if is_local_path(target) else default
