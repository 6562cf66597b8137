"""Custom domains: the daily look at every verified domain's TXT record."""
from __future__ import annotations

from huey import crontab

from app.services import custom_domains
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="47", hour="4"))
def recheck_custom_domains() -> int:
    """A verified domain whose record disappeared stops being served; its owner is told once by email."""
    return custom_domains.recheck_verified()
