"""Phone numbers: the daily release of the numbers whose 30-day hold is over."""
from __future__ import annotations

from huey import crontab

from app.services.voice import numbers
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="23", hour="3"))
def release_held_numbers() -> int:
    """Held numbers past their hold go back to Twilio (status "released"); a refusal is retried the next day."""
    return numbers.release_due_numbers()
