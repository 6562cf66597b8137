"""``python -m app.serve``: one process that migrates, serves HTTP and runs the queue consumers (one per lane).

This is what ``make run`` starts. Ctrl-C (SIGINT) or SIGTERM stops the web server and lets the
consumer finish its running tasks. Queued and scheduled tasks live in the queue storage (a SQLite file
in the instance folder by default), so a restart picks them up.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from waitress.server import create_server

from app import create_app
from app.config import ConfigError
from app.db import db, upgrade
from app.db_errors import DATABASE_ERRORS, unreachable_message
from app.log_throttle import summarize_waitress_queue_warnings

log = logging.getLogger("linktime.serve")


def main() -> int:
    try:
        app = create_app()
    except ConfigError as exc:  # a clear message, not a traceback
        print(exc, file=sys.stderr, flush=True)
        return 2
    try:
        with db.connection_context():
            for name in upgrade():
                log.info("applied migration %s", name)
    except DATABASE_ERRORS as exc:  # one clear line, not a driver traceback
        print(unreachable_message(app.config["DATABASE_URL"], exc), file=sys.stderr, flush=True)
        return 2

    consumers = []
    if app.config["RUN_QUEUE_IN_WEB"]:
        from app.queue import agent_huey, huey, webhook_huey
        # Three lanes with their own worker threads: deliveries to customers' webhook endpoints and the messaging
        # agents' replies (waiting on the AI model) never hold the workers that send email, write calendars and
        # create meetings (app/queue.py). Periodic tasks run on the main lane only.
        for lane, workers, periodic in ((huey, app.config["HUEY_WORKERS"], True),
                                        (webhook_huey, app.config["WEBHOOK_WORKERS"], False),
                                        (agent_huey, app.config["AGENT_WORKERS"], False)):
            consumer = lane.create_consumer(workers=workers, worker_type="thread", periodic=periodic,
                                            check_worker_health=True,
                                            max_delay=0.5)  # idle workers poll twice a second
            consumer.start()
            consumers.append(consumer)
            log.info("queue consumer %s started with %d worker thread(s)", lane.name, workers)

    summarize_waitress_queue_warnings()  # one "Task queue depth" warning a minute, not one per queued request
    server = create_server(app, host=app.config["HOST"], port=app.config["PORT"], threads=16,
                           ident="LinkTime", channel_timeout=60, connection_limit=500)
    stopping = threading.Event()

    def stop(signum, _frame):
        if stopping.is_set():
            return
        stopping.set()
        log.info("received signal %s, stopping", signum)
        server.close()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    log.info("LinkTime listening on http://%s:%s", app.config["HOST"], app.config["PORT"])
    print(f"LinkTime is running on {app.config['BASE_URL']}  (Ctrl-C stops it)", flush=True)
    try:
        server.run()
    except (OSError, ValueError):
        if not stopping.is_set():
            raise
    finally:
        for consumer in consumers:
            consumer.stop_flag.set()        # every lane stops taking tasks, then each finishes its running ones
        for consumer in consumers:
            consumer.stop(graceful=True)
            log.info("queue consumer %s stopped", consumer.huey.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
