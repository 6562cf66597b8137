"""What other modules do when a CRM connection is made or ends (Close publishes the event types as scheduling links
when Close is connected, for example). The connection service calls ``connected`` / ``disconnected``; a module
registers with ``@on_connected`` / ``@on_disconnected`` at import, and never imports the connection service."""
from __future__ import annotations

from collections.abc import Callable

from app.models import Integration

Hook = Callable[[Integration], None]
ON_CONNECTED: list[Hook] = []
ON_DISCONNECTED: list[Hook] = []


def on_connected(fn: Hook) -> Hook:
    """Run ``fn(integration)`` inside the transaction that stores a new or renewed CRM connection."""
    ON_CONNECTED.append(fn)
    return fn


def on_disconnected(fn: Hook) -> Hook:
    """Run ``fn(integration)`` inside the transaction that removes a CRM connection or marks it revoked."""
    ON_DISCONNECTED.append(fn)
    return fn


def connected(integration: Integration) -> None:
    for hook in ON_CONNECTED:
        hook(integration)


def disconnected(integration: Integration) -> None:
    for hook in ON_DISCONNECTED:
        hook(integration)
