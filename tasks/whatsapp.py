"""WhatsApp senders (spec page 11): the status poll that backs up Twilio's webhook, and the deregistration of a
released number's sender."""
from __future__ import annotations

from huey import crontab

from app.services.messaging import notices, whatsapp
from tasks.base import app_periodic_task, app_task


@app_periodic_task(crontab(minute="*/5"))
def poll_whatsapp_senders() -> int:
    """Pending senders are asked about every 5 minutes, approved ones hourly (a revocation is caught within the
    hour); a sender whose number was released is deregistered again if the first attempt failed."""
    return whatsapp.poll_due()


@app_task()
def deregister_whatsapp_sender(number_id: str) -> None:
    """A number went on hold (``numbers.hold_number``): its WhatsApp sender is deregistered at Twilio."""
    whatsapp.on_number_released(number_id)


@app_task()
def send_whatsapp_reminder(booking_id: str) -> None:
    """A reminder task queued before reminders went through the outbox (``notices``): queued there now."""
    notices.queue_reminder(booking_id)
