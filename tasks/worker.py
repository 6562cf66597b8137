"""Entry point for separate queue processes: ``huey_consumer tasks.worker.huey -w 4 -k thread``."""
from app import create_app
from tasks import bind_app, huey, load_all

bind_app(create_app())
load_all()

__all__ = ["huey"]
