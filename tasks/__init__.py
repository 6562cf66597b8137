"""Thin task adapters on the queue lanes of ``app.queue``, and the decorators that run a task inside the app.

The lanes (``huey``: "linktime", ``webhook_huey``: "linktime-webhooks", ``agent_huey``: "linktime-agents") and
their storage are ``app.queue``'s: ``create_app`` configures them (``configure_queue``) and imports this package by
name, so the app never imports it and nothing here reads the environment. Each task is also registered by name
(``app.queue.register``), which is how services enqueue it without importing this package. A task runs in the app
that configured the queue; the consumer entry modules (``tasks.worker``, ``tasks.webhook_worker``,
``tasks.agent_worker``) create that app.
"""
from __future__ import annotations

from app.queue import AGENT_QUEUE, DEFAULT_QUEUE, LANES, WEBHOOK_QUEUE, agent_huey, huey, webhook_huey
from tasks.base import app_periodic_task, app_task

__all__ = ["AGENT_QUEUE", "DEFAULT_QUEUE", "LANES", "WEBHOOK_QUEUE", "agent_huey", "app_periodic_task", "app_task",
           "huey", "load_all", "webhook_huey"]


def load_all() -> None:
    """Import every task module so the consumer knows every task (and ``app.queue`` every name)."""
    from tasks import (  # noqa: F401 (registers)
        analytics,
        approvals,
        calendars,
        call_logs,
        conversation_retention,
        domains,
        maintenance,
        messaging,
        notifications,
        outbox,
        payments,
        phone_numbers,
        voice,
        whatsapp,
        workflows,
    )
