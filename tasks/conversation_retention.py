"""Messaging conversations: the daily deletion of messages older than MESSAGING_RETENTION_DAYS."""
from __future__ import annotations

from huey import crontab

from app.services.messaging import conversations
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="37", hour="3"))
def delete_old_conversation_messages() -> int:
    """Empty the content of messages older than the retention period (the conversations and bookings stay)."""
    return conversations.delete_old_messages()
