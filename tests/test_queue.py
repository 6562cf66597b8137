"""The queue seam (app/queue.py): tasks enqueued by name, lanes configured by create_app, and the import layers.

Services enqueue through ``app.queue`` without importing ``tasks``; a name nobody registered fails loudly and the
outbox row stays for the sweep; the Huey lanes take their storage from the app's settings (not the environment at
import); no module under app/ imports tasks, tasks imports the app package only in its consumer entry modules, and
the outbound guard (app/net.py) imports nothing of the app.
"""
from __future__ import annotations

import logging
import subprocess

import pytest

from app import queue
from app.services import outbox
from tests.integration.helpers import PYTHON, ROOT, clean_env


class FakeTask:
    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, *args):
        self.calls.append(("now", args, None))

    def schedule(self, args, delay=None):
        self.calls.append(("later", tuple(args), delay))


def test_enqueue_runs_the_task_registered_under_the_name_now_or_after_the_delay(monkeypatch):
    monkeypatch.setattr(queue, "_tasks", {})
    task = FakeTask()
    assert queue.register("fake_task", task) is task and queue.registered("fake_task")
    queue.enqueue("fake_task", "a", 2)
    queue.enqueue("fake_task", "b", delay=30)
    assert task.calls == [("now", ("a", 2), None), ("later", ("b",), 30)]


def test_an_unregistered_task_fails_loudly_and_the_outbox_leaves_the_row_to_the_sweep(app, monkeypatch, caplog):
    monkeypatch.setattr(queue, "_tasks", {})
    with pytest.raises(queue.TaskNotRegistered, match="process_outbox"):
        queue.enqueue("process_outbox", "some-row")
    with caplog.at_level(logging.ERROR, logger="app.services.outbox"):
        outbox._enqueue("some-row", kind="email")            # logged, never raised into the caller's commit
    [record] = [r for r in caplog.records if "could not enqueue outbox message some-row" in r.getMessage()]
    assert record.exc_info and isinstance(record.exc_info[1], queue.TaskNotRegistered)


def test_create_app_registers_every_task_the_services_enqueue(app):
    for name in [*outbox.LANE_TASKS.values(), "refresh_calendar_busy"]:
        assert queue.registered(name), name
    import tasks
    assert tasks.huey is queue.huey and tasks.webhook_huey is queue.webhook_huey
    assert tasks.agent_huey is queue.agent_huey


def test_the_messaging_agents_reply_runs_on_the_agents_lane(app):
    """The reply waits on the AI model (10 s or more): it runs on "linktime-agents", never on the main lane's
    workers that send everybody's email. Its retries are unchanged."""
    from app.services.messaging import inbound
    from tasks import messaging

    assert queue.LANES["agents"] is queue.agent_huey and queue.agent_huey.name == queue.AGENT_QUEUE == "linktime-agents"
    task = queue._tasks[inbound.REPLY_TASK]
    assert task is messaging.reply_to_message and task.huey is queue.agent_huey
    assert task.retries == messaging.REPLY_RETRIES and task.retry_delay == messaging.REPLY_RETRY_DELAY
    assert list(queue.agent_huey._registry._registry) == ["tasks.messaging.reply_to_message"]
    # no periodic task on the agents lane (they all run on the main lane)
    assert not [t for t in queue.agent_huey._registry._periodic_tasks]


def test_a_reply_queued_on_the_main_lane_before_the_upgrade_moves_to_the_agents_lane(app, monkeypatch):
    """A reply_to_message message still in "linktime" from a version without the agents lane is handed over, not
    dropped as an unknown task, and not answered on the main lane."""
    from app.services.messaging import inbound
    from tasks import messaging

    # Huey names a queued message by module and task name: the one the old main-lane task had
    assert messaging.reply_queued_on_the_main_lane.huey is queue.huey
    assert "tasks.messaging.reply_to_message" in queue.huey._registry._registry
    answered = []
    monkeypatch.setattr(inbound, "reply", lambda message_id, **kw: answered.append(message_id))
    monkeypatch.setattr(queue.agent_huey, "immediate", False)      # queued, as with a consumer of its own
    queue.agent_huey.flush()
    try:
        messaging.reply_queued_on_the_main_lane("msg-1")             # the main lane runs inline in the tests
        assert answered == []
        assert [(t.name, t.args) for t in queue.agent_huey.pending()] == [(inbound.REPLY_TASK, ("msg-1",))]
    finally:
        queue.agent_huey.flush()


def test_create_app_configures_every_lane_from_its_own_settings(app_factory, tmp_path):
    filename = tmp_path / "lanes.db"
    try:
        app = app_factory(HUEY_URL=f"sqlite:///{filename}", HUEY_IMMEDIATE=False)
        assert queue.bound_app() is app
        for lane, name in ((queue.huey, "linktime"), (queue.webhook_huey, "linktime-webhooks"),
                           (queue.agent_huey, "linktime-agents")):
            assert not lane.immediate and not lane.results
            assert isinstance(lane.storage, queue.QueueFileStorage)
            assert lane.storage.filename == str(filename) and lane.storage.name == name
            assert lane.storage.conn.execute("pragma synchronous").fetchone()[0] == 1
        assert queue.huey.pending_count() == 0
    finally:
        app_factory()                                        # back to the suite's settings: inline tasks
    assert queue.huey.immediate and queue.webhook_huey.immediate and queue.agent_huey.immediate


def test_a_lane_refuses_every_use_before_an_app_configures_it():
    lane = queue.Lane("never-configured")

    @lane.task()
    def noop():
        return None

    with pytest.raises(queue.QueueNotConfigured, match="never-configured"):
        noop()
    with pytest.raises(queue.QueueNotConfigured):
        lane.pending_count()


def test_importing_the_tasks_reads_no_settings():
    """Before the app exists, importing every task module neither reads nor validates the environment."""
    code = "import tasks, tasks.outbox, tasks.calendars, app.queue as q; assert q._app is None; print('ok')"
    result = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=clean_env(HUEY_URL="nonsense://x", PORT="eighty"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_import_layers():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("app", "tasks")
    assert "app.services.outbox" in graph.modules            # app/services is a package grimp sees
    entry_modules = {"tasks.worker", "tasks.webhook_worker", "tasks.agent_worker"}
    for module in graph.modules:
        imported = graph.find_modules_directly_imported_by(module)
        if module == "app" or module.startswith("app."):
            assert not {m for m in imported if m == "tasks" or m.startswith("tasks.")}, module
        elif module not in entry_modules:
            assert "app" not in imported, module                # create_app only in the consumer entry modules
    assert graph.find_modules_directly_imported_by("app.net") == set()   # the bottom layer: nothing of the app
    for module in graph.modules:
        if module.startswith("app.integrations"):
            assert not graph.chain_exists(importer=module, imported="app.services.developer.webhook_delivery"), module


def test_periodic_checks_fall_on_the_minute_boundary():
    """Huey counts 60 s from the consumer's start; ours wakes a moment past each minute (timed runs fire on time)."""
    import threading
    import time

    from huey import MemoryHuey

    from app.queue import Lane, MinuteConsumer, MinuteScheduler

    assert Lane.create_consumer.__annotations__["return"] in ("MinuteConsumer", MinuteConsumer)
    assert MinuteConsumer.scheduler_class is MinuteScheduler
    scheduler = MinuteScheduler(huey=MemoryHuey("aligned"), stop_flag=threading.Event(), interval=1, periodic=True)
    scheduler.enqueue_periodic_tasks(None)
    wakes_at = time.time() + (scheduler._next_periodic - time.monotonic())
    assert 0 <= wakes_at % 60 < 1 and wakes_at - time.time() <= 61
