"""Entry point for separate agent queue processes: ``huey_consumer tasks.agent_worker.huey -w 4 -k thread``.

Work that waits on an AI model (the messaging agents' replies to inbound texts) runs here, apart from the main queue
(``tasks.worker``), so a slow or hanging model never delays email, calendar writes or meetings. Periodic tasks run on
the main queue only. Creating the app configures the queue from its settings and loads every task
(``app.queue.configure_queue``).
"""
from app import create_app
from tasks import agent_huey as huey

create_app()

__all__ = ["huey"]
