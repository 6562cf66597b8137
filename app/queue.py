"""The queue seam: the three Huey lanes, their configuration by the app, and enqueueing a task by its name.

Services never import ``tasks``: they call ``enqueue("process_outbox", message_id)``, and the task modules
``register`` each task under its name when they define it. A name nobody registered raises ``TaskNotRegistered``
(the callers log it; an outbox row stays due, so the sweep queues it again once the tasks are there).

The lanes are built here without storage; ``configure_queue(app)`` (called by ``create_app``) gives them the
storage of the app's HUEY_URL and its HUEY_IMMEDIATE, binds the app the tasks run in, and loads the task modules
(the ``tasks`` package, imported by name: nothing in ``app`` imports it). So no module reads the environment when
it is imported, and ``create_app(overrides)`` governs the queue as it governs everything else. Until then a lane
refuses every use (``QueueNotConfigured``) instead of queueing into nowhere.

Storage follows HUEY_URL: a SQLite file in the instance folder by default, Redis or PostgreSQL to share the
queue between processes; tests set HUEY_IMMEDIATE to run tasks inline. Three lanes share that storage under
different queue names, each with its own workers:
- ``huey`` ("linktime"): emails, calendar writes, meetings, the event fan-out, periodic tasks;
- ``webhook_huey`` ("linktime-webhooks"): deliveries to customers' webhook endpoints (and test sends), whose
  answer time LinkTime does not control. A slow or hanging endpoint can only hold webhook workers, never the
  workers that send email;
- ``agent_huey`` ("linktime-agents"): work that waits on an AI model (the messaging agents' reply to an inbound
  text, ``tasks.messaging``), which can take 10 s or more, or hang until its timeout. A burst of customers texting a
  slow model can only hold agent workers, never the workers that send email.
``python -m app.serve`` runs all three; scaled out, ``huey_consumer tasks.worker.huey``,
``huey_consumer tasks.webhook_worker.huey`` and ``huey_consumer tasks.agent_worker.huey`` run them as separate
processes. Periodic tasks run on the main lane only.
"""
from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from huey import Huey
from huey.consumer import Consumer, Scheduler
from huey.contrib.sql_huey import SqlStorage
from huey.storage import BaseStorage, RedisStorage, SqliteStorage

from app.instance import private_dir, private_file

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "linktime"
WEBHOOK_QUEUE = "linktime-webhooks"
AGENT_QUEUE = "linktime-agents"
TASK_PACKAGE = "tasks"   # its load_all() defines every task; imported by name, so app/ never imports it


class QueueNotConfigured(RuntimeError):
    """A lane was used before ``configure_queue`` (no app was created in this process)."""


class TaskNotRegistered(LookupError):
    """``enqueue`` of a name no task module registered."""


class QueueFileStorage(SqliteStorage):
    """Huey's SQLite storage with ``synchronous=NORMAL`` (as the database has): in WAL mode a commit then
    waits for no fsync, and a process killed at any moment loses nothing committed; only a power cut could
    drop the last few enqueues, which the outbox sweep queues again from the database. SQLite's default
    (FULL) made every enqueue on a booking's commit wait for the disk (about 10 ms each here)."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


class UnconfiguredStorage(BaseStorage):
    """A lane's storage until ``configure_queue``: every use fails, naming the missing step."""

    def _refuse(self, *args, **kwargs):
        raise QueueNotConfigured(f"the queue {self.name!r} is not configured: create the app first "
                                 "(create_app calls configure_queue)")

    enqueue = dequeue = queue_size = enqueued_items = flush_queue = _refuse
    add_to_schedule = read_schedule = schedule_size = scheduled_items = flush_schedule = _refuse
    put_data = peek_data = pop_data = delete_data = has_data_for_key = put_if_empty = _refuse
    result_store_size = result_items = flush_results = flush_all = _refuse


def storage_for(cfg: Mapping[str, Any]) -> tuple[type[BaseStorage], dict[str, Any]]:
    """The storage class and its arguments for ``cfg["HUEY_URL"]``."""
    url = cfg["HUEY_URL"]
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        filename = url[len("sqlite:///"):]
        private_dir(Path(filename).parent)  # the queue holds mail payloads: 0700 folder, 0600 file
        private_file(filename)
        return QueueFileStorage, {"filename": filename}
    if scheme in ("redis", "rediss"):
        return RedisStorage, {"url": url}
    if scheme in ("postgres", "postgresql"):
        from playhouse.db_url import connect
        return SqlStorage, {"database": connect(url.replace("postgres://", "postgresql://", 1))}
    raise ValueError(f"HUEY_URL: unsupported scheme {scheme!r} (use sqlite:///, redis:// or postgresql://)")


class MinuteScheduler(Scheduler):
    """Huey's scheduler with its periodic checks on the minute boundary, as cron wakes (Huey counts its 60 s from
    the consumer's start, so a task due at 10:00 could wait until 10:00:59): the first check at start-up, then a
    fraction of a second past each minute. Timed workflow runs are claimed within a second of their minute."""

    def enqueue_periodic_tasks(self, now):
        super().enqueue_periodic_tasks(now)
        self._next_periodic = time.monotonic() + (60 - time.time() % 60) + 0.05


class MinuteConsumer(Consumer):
    scheduler_class = MinuteScheduler


class Lane(Huey):
    """A Huey instance whose storage comes from the app's configuration (``configure``), not from import time.

    ``results=False``: nothing reads a task's return value, and Huey would keep every one in the queue's storage
    (a write per task, and a table that only grows)."""

    storage_class = UnconfiguredStorage

    def __init__(self, name: str) -> None:
        super().__init__(name, results=False, utc=True)
        self._source: tuple[str, bool] | None = None

    def configure(self, cfg: Mapping[str, Any]) -> None:
        """Use the storage of ``cfg["HUEY_URL"]`` (in memory, running tasks inline, with HUEY_IMMEDIATE).

        Configuring again with the same settings keeps the storage (every create_app of a process calls this)."""
        source = (str(cfg["HUEY_URL"]), bool(cfg["HUEY_IMMEDIATE"]))
        if source == self._source:
            return
        self.storage_class, self.storage_kwargs = storage_for(cfg)
        self._immediate = source[1]
        self.storage = self.create_storage()
        self._source = source

    def create_consumer(self, **options) -> MinuteConsumer:
        """The consumer ``python -m app.serve`` and ``huey_consumer`` run: periodic checks on the minute."""
        return MinuteConsumer(self, **options)


def make_huey(cfg: Mapping[str, Any], name: str = DEFAULT_QUEUE) -> Lane:
    """A lane configured from ``cfg`` (apart from the app's own three)."""
    lane = Lane(name)
    lane.configure(cfg)
    return lane


huey = Lane(DEFAULT_QUEUE)
webhook_huey = Lane(WEBHOOK_QUEUE)
agent_huey = Lane(AGENT_QUEUE)
LANES = {"default": huey, "webhooks": webhook_huey, "agents": agent_huey}

_tasks: dict[str, Any] = {}
_app = None


def register(name: str, task):
    """Make ``task`` (a Huey task: callable, with ``schedule``) reachable as ``enqueue(name, ...)``."""
    _tasks[name] = task
    return task


def registered(name: str) -> bool:
    return name in _tasks


def enqueue(name: str, *args, delay: float | None = None) -> None:
    """Queue the task registered as ``name`` with ``args`` (after ``delay`` seconds when given)."""
    task = _tasks.get(name)
    if task is None:
        raise TaskNotRegistered(f"no task {name!r} is registered (the task modules are loaded by configure_queue)")
    if delay:
        task.schedule(args, delay=delay)
    else:
        task(*args)


def configure_queue(app) -> None:
    """Configure every lane from ``app.config``, bind ``app`` for the tasks and load the task modules."""
    global _app
    for lane in LANES.values():
        lane.configure(app.config)
    _app = app
    importlib.import_module(TASK_PACKAGE).load_all()


def bound_app():
    """The app the tasks run in: the one most recently configured the queue in this process."""
    if _app is None:
        raise QueueNotConfigured("no app configured the queue in this process: create the app first "
                                 "(huey_consumer tasks.worker.huey does)")
    return _app
