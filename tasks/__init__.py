"""The Huey instances (queue lanes) and the decorator that runs tasks inside the Flask app context.

Storage follows HUEY_URL: a SQLite file in the instance folder by default, Redis or PostgreSQL to share
the queue between processes. Tests set HUEY_IMMEDIATE=1 to run tasks inline.

Two lanes share that storage under different queue names, each with its own workers:
- ``huey`` ("linktime"): emails, calendar writes, meetings, the event fan-out, periodic tasks;
- ``webhook_huey`` ("linktime-webhooks"): deliveries to customers' webhook endpoints (and test sends), whose
  answer time LinkTime does not control. A slow or hanging endpoint can only hold webhook workers, never the
  workers that send email. ``python -m app.serve`` runs both; scaled out, ``huey_consumer tasks.worker.huey``
  and ``huey_consumer tasks.webhook_worker.huey`` run them as separate processes.
"""
from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlparse

from flask import has_app_context
from huey import RedisHuey, SqliteHuey
from huey.contrib.sql_huey import SqlHuey
from huey.storage import SqliteStorage

from app.config import load_config
from app.instance import private_dir, private_file

_app = None


DEFAULT_QUEUE = "linktime"
WEBHOOK_QUEUE = "linktime-webhooks"


class QueueFileStorage(SqliteStorage):
    """Huey's SQLite storage with ``synchronous=NORMAL`` (as the database has): in WAL mode a commit then
    waits for no fsync, and a process killed at any moment loses nothing committed; only a power cut could
    drop the last few enqueues, which the outbox sweep queues again from the database. SQLite's default
    (FULL) made every enqueue on a booking's commit wait for the disk (about 10 ms each here)."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


def make_huey(cfg: dict, name: str = DEFAULT_QUEUE):
    url = cfg["HUEY_URL"]
    scheme = urlparse(url).scheme
    # results=False: nothing reads a task's return value, and Huey would keep every one in the queue's storage
    # (a write per task, and a table that only grows)
    common = {"name": name, "immediate": bool(cfg["HUEY_IMMEDIATE"]), "utc": True, "results": False}
    if scheme == "sqlite":
        filename = url[len("sqlite:///"):]
        private_dir(Path(filename).parent)  # the queue holds mail payloads: 0700 folder, 0600 file
        private_file(filename)
        return SqliteHuey(filename=filename, storage_class=QueueFileStorage, **common)
    if scheme in ("redis", "rediss"):
        return RedisHuey(url=url, **common)
    if scheme in ("postgres", "postgresql"):
        from playhouse.db_url import connect
        return SqlHuey(database=connect(url.replace("postgres://", "postgresql://", 1)), **common)
    raise ValueError(f"HUEY_URL: unsupported scheme {scheme!r} (use sqlite:///, redis:// or postgresql://)")


_config = load_config()
huey = make_huey(_config)
webhook_huey = make_huey(_config, WEBHOOK_QUEUE)
LANES = {"default": huey, "webhooks": webhook_huey}


def bind_app(app) -> None:
    """Tell the tasks which Flask app to run in (create_app calls this)."""
    global _app
    _app = app


def _get_app():
    if _app is None:
        from app import create_app
        bind_app(create_app())
    return _app


def app_task(lane: str = "default", **task_kwargs):
    """A Huey task of ``lane`` ("default" or "webhooks") that runs inside an app context (and a database
    connection)."""
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
        return LANES[lane].task(name=fn.__name__, **task_kwargs)(run)
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
    """Import every task module so the consumer knows every task."""
    from tasks import analytics, calendars, maintenance, notifications, outbox  # noqa: F401 (registers them)
