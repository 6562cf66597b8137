"""Voice agents: the monthly minutes period (issue 21). Hourly, so a consumer that was down on the first of the
month catches up: agents switched off for minutes in an earlier month come back on and their host is told once."""
from __future__ import annotations

from huey import crontab

from app.services.voice import lifecycle
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="7"))
def reset_voice_minutes() -> int:
    """Reactivate the agents auto-deactivated in an earlier month (several consumers never tell a host twice)."""
    return lifecycle.reset_period()
