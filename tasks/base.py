"""The decorators that make a function a task of a queue lane, run inside the app that configured the queue."""
from __future__ import annotations

import functools

from flask import has_app_context

from app.queue import LANES, bound_app, huey, register


def _get_app():
    return bound_app()


def app_task(lane: str = "default", **task_kwargs):
    """A Huey task of ``lane`` ("default", "webhooks" or "agents") that runs inside an app context (and a database
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
