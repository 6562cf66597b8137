"""Entry point for separate queue processes: ``huey_consumer tasks.worker.huey -w 4 -k thread``.

Creating the app configures the queue from its settings and loads every task (``app.queue.configure_queue``)."""
from app import create_app
from tasks import huey

create_app()

__all__ = ["huey"]
