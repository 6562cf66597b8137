"""Entry point for separate webhook queue processes: ``huey_consumer tasks.webhook_worker.huey -w 4 -k thread``.

Deliveries to customers' webhook endpoints run here, apart from the main queue (``tasks.worker``), so a slow or
hanging endpoint never delays email, calendar writes or meetings. Periodic tasks run on the main queue only.
"""
from app import create_app
from tasks import bind_app, load_all
from tasks import webhook_huey as huey

bind_app(create_app())
load_all()

__all__ = ["huey"]
