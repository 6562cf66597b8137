"""Paid bookings: held bookings whose payment window ran out are released every minute."""
from __future__ import annotations

from huey import crontab

from app.services.booking import payments
from tasks.base import app_periodic_task


@app_periodic_task(crontab(minute="*"))
def release_expired_holds() -> int:
    """A held booking waits its event type's payment window (default 15 minutes) for the payment, then frees the
    slot; a payment arriving later is refunded (``payments.confirm_payment``)."""
    return payments.release_expired()
