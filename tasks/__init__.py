"""Thin task adapters on the queue lanes of ``app.queue``, and the decorators that run a task inside the app.

The lanes (``huey``: "linktime", ``webhook_huey``: "linktime-webhooks") and their storage are ``app.queue``'s:
``create_app`` configures them (``configure_queue``) and imports this package by name, so the app never imports
it and nothing here reads the environment. Each task is also registered by name (``app.queue.register``), which
is how services enqueue it without importing this package. A task runs in the app that configured the queue;
the consumer entry modules (``tasks.worker``, ``tasks.webhook_worker``) create that app.
"""
from __future__ import annotations

import functools

from flask import has_app_context

from app.queue import DEFAULT_QUEUE, LANES, WEBHOOK_QUEUE, bound_app, huey, register, webhook_huey

__all__ = ["DEFAULT_QUEUE", "LANES", "WEBHOOK_QUEUE", "app_periodic_task", "app_task", "huey", "load_all",
           "webhook_huey"]


def _get_app():
    return bound_app()


def app_task(lane: str = "default", **task_kwargs):
    """A Huey task of ``lane`` ("default" or "webhooks") that runs inside an app context (and a database
    connection), registered by its function's name for ``app.queue.enqueue``."""
    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if has_app_context():
                return fn(*args, **kwargs)
            app = _get_app()
            with app.app_context():
                from app.db import connection
                with connection():
                    return fn(*args, **kwargs)
        return register(fn.__name__, LANES[lane].task(name=fn.__name__, **task_kwargs)(run))
    return decorate


def app_periodic_task(validate_datetime, **task_kwargs):
    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            app = _get_app()
            with app.app_context():
                from app.db import connection
                with connection():
                    return fn(*args, **kwargs)
        return huey.periodic_task(validate_datetime, name=fn.__name__, **task_kwargs)(run)
    return decorate


def load_all() -> None:
    """Import every task module so the consumer knows every task (and ``app.queue`` every name)."""
    from tasks import analytics, calendars, maintenance, notifications, outbox  # noqa: F401 (registers them)
