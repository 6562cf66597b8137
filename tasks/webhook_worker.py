"""Entry point for separate webhook queue processes: ``huey_consumer tasks.webhook_worker.huey -w 4 -k thread``.

Deliveries to customers' webhook endpoints run here, apart from the main queue (``tasks.worker``), so a slow or
hanging endpoint never delays email, calendar writes or meetings. Periodic tasks run on the main queue only.
Creating the app configures the queue from its settings and loads every task (``app.queue.configure_queue``).
"""
from app import create_app
from tasks import webhook_huey as huey

create_app()

__all__ = ["huey"]
