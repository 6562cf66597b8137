"""Voice call logs: the daily deletion of transcripts older than VOICE_TRANSCRIPT_RETENTION_DAYS."""
from __future__ import annotations

from huey import crontab

from app.services.voice import call_logs
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="17", hour="3"))
def delete_old_call_transcripts() -> int:
    """Empty the transcripts of calls older than the retention period (the calls themselves stay)."""
    return call_logs.delete_old_transcripts()
