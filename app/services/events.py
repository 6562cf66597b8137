"""Domain events: written to the outbox with the change, fanned out to subscribers by the queue.

``emit(name, data, user_id)`` stores one ``event`` outbox row whose payload is the envelope receivers see
(``apiVersion``, ``event``, ``timestamp``, ``data``; the row id is the stable event id). Processing that
row runs every subscriber of the event *inside one transaction* with marking the row done; subscribers
only write further outbox rows (an email, a webhook delivery ...), each with its own retries. So a
failure of one side effect never repeats or blocks another, and a crash never loses or duplicates one.
"""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from app.models import Booking
from app.services import outbox
from app.statements import Param, Statement

API_VERSION = "2025-02-09"
EVENT_NAMES = ("booking.created", "booking.cancelled", "booking.rescheduled", "payment.received",
               "contact.created", "booking.no_show", "booking.requested")
Subscriber = Callable[[str, dict], None]   # (event id, envelope)
SUBSCRIBERS: dict[str, list[Subscriber]] = {}


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and Z, as in the spec's payloads."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def subscribe(*names: str):
    def register(fn: Subscriber) -> Subscriber:
        for name in names:
            SUBSCRIBERS.setdefault(name, []).append(fn)
        return fn
    return register


def emit(name: str, data: dict, *, user_id: str | None) -> str:
    """Record the event in the current transaction; returns its id."""
    envelope = {"apiVersion": API_VERSION, "event": name, "timestamp": iso(datetime.now(UTC)),
                "data": data}
    return outbox.add("event", envelope, user_id=user_id).id


_BOOKING = Statement(lambda: Booking.select().where(Booking.id == Param("id")).limit(1))
_read: ContextVar[dict | None] = ContextVar("linktime_event_rows", default=None)


@outbox.handler("event", transactional=True)
def fan_out(payload: dict, message_id: str) -> None:
    token = _read.set({})
    try:
        for subscriber in SUBSCRIBERS.get(payload["event"], []):
            subscriber(message_id, payload)
    finally:
        _read.reset(token)


def booking_of(envelope: dict) -> Booking | None:
    """The booking a booking event is about, as stored now. During a fan-out every subscriber gets the same
    instance, read once (they all run in one transaction, and they only read it)."""
    booking_id = (envelope.get("data") or {}).get("id")
    if not booking_id:
        return None
    read = _read.get()
    if read is None:
        return _BOOKING.first(id=booking_id)
    if booking_id not in read:
        read[booking_id] = _BOOKING.first(id=booking_id)
    return read[booking_id]
