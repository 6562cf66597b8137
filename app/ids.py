"""Identifiers: CUID-style ids that do not reveal counts, and unguessable tokens for links."""
from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.digits + string.ascii_lowercase


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id() -> str:
    """25 characters: 'c', 8 of millisecond time (sortable), 16 random (about 82 bits)."""
    return "c" + _base36(int(time.time() * 1000), 8) + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def new_token(nbytes: int = 24) -> str:
    """An unguessable URL-safe token for invitee-facing links."""
    return secrets.token_urlsafe(nbytes)
