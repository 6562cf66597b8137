"""The one place that asks whether a request came from htmx (flask-htmx, initialised by the app factory)."""
from __future__ import annotations

from app.extensions import htmx


def is_htmx() -> bool:
    """True for a request htmx made (``HX-Request: true``), a history restore included."""
    return bool(htmx)


def is_history_restore() -> bool:
    """True when htmx asks for a whole page to restore its history after a cache miss."""
    return htmx.history_restore_request
