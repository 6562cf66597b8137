"""WhatsApp reminders of bookings made in a WhatsApp conversation (spec page 11: template notifications for booking
reminders, SMS when the templates are pending or rejected).

The booking reminders (``notifications.send_due_reminders``, every minute) tell ``REMINDER_HOOKS`` which bookings
they reminded by email; for a booking that a WhatsApp conversation led to, ``queue_reminder`` queues the task
``send_whatsapp_reminder``, which texts the customer from the agent's number: a free-form WhatsApp message inside the
24-hour customer-service window, the approved template outside it, SMS when there is no approved template or sender
(``whatsapp.send_outside_window``). A booking made by SMS gets its reminder by email only, as before.
"""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from app import queue
from app.models import Booking
from app.models.messaging import Conversation
from app.services.booking import notifications
from app.services.messaging import whatsapp
from app.services.voice.tools import spoken_date, spoken_time, zone_abbreviation

log = logging.getLogger(__name__)
TASK = "send_whatsapp_reminder"


def _conversation_of(booking_id: str) -> Conversation | None:
    return (Conversation.select().where((Conversation.booking == booking_id) & (Conversation.channel == "whatsapp"))
            .order_by(Conversation.created_at.desc()).first())


def queue_reminder(booking_id: str) -> None:
    """A reminder hook: queue the WhatsApp reminder of a booking a WhatsApp conversation led to."""
    if _conversation_of(booking_id) is not None:
        queue.enqueue(TASK, booking_id)


def send_reminder(booking_id: str) -> whatsapp.Sent | None:
    """Text the reminder (None when the booking is gone, not confirmed, or no WhatsApp conversation led to it)."""
    booking = Booking.get_or_none(Booking.id == booking_id)
    conversation = _conversation_of(booking_id)
    if booking is None or conversation is None or booking.status != "CONFIRMED":
        return None
    local = booking.start_at.astimezone(ZoneInfo(booking.invitee_timezone or "UTC"))
    when = f"{spoken_date(local, year=False)} at {spoken_time(local)} {zone_abbreviation(local)}"
    try:
        return whatsapp.send_outside_window(conversation, conversation.contact_phone, "reminder",
                                            {"name": booking.invitee_name.split()[0] if booking.invitee_name
                                             else "there", "event": booking.event_name, "when": when})
    except whatsapp.WhatsAppFailed as exc:        # opted out, number gone: the email reminder went anyway
        log.warning("the WhatsApp reminder of booking %s was not sent: %s", booking_id, exc)
        return None


if queue_reminder not in notifications.REMINDER_HOOKS:
    notifications.REMINDER_HOOKS.append(queue_reminder)
