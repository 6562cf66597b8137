"""The booking lifecycle: facts first, then everything that shows them, with one internal event per change.

The lifecycle subscribes to the public booking events (``CHANGES``). For each, it first runs the *steps*
that produce facts other side effects need (today the video link, ``app.services.integrations.meetings``;
a payment could be another), in the order they registered. A step either finishes in the fan-out itself or takes
the change over (returns True) and calls ``step_done`` once its first attempt is over, whatever its outcome. When
no step holds the change any more, ``READY`` is emitted, once per change: when no step held it at all (no video link to
make), its subscribers run at once in the domain event's fan-out (the same transaction, as before); otherwise it is
one ``lifecycle`` outbox row written in the transaction that records the step's first attempt, fanned out by the
queue like a domain event. Either way the consumers' rows are written atomically with marking the trigger done.

Consumers (confirmation emails, customers' webhooks, the calendar event) subscribe to ``READY`` only, with
``events.subscribe(lifecycle.READY)``; they never import the steps or each other. The ready payload is::

    {"event": READY, "change": "booking.created", "bookingId": ..., "eventId": <the public event's row id>,
     "envelope": <the public envelope, with the facts the steps filled in (data.meetingLink)> or None,
     "facts": {...}}

``facts`` carries what a step learnt that a consumer must respect (``calendarEventMade``: the step wrote, or
will write, the booking's calendar event itself). Facts that change after READY (a link made by a later
attempt) are told with ``UPDATED`` (``{"bookingId", "what"}``, always a ``lifecycle`` row). Both are internal:
they are never ``event`` rows, so customers' webhooks, Zapier samples and redelivery only ever see public events.
"""
from __future__ import annotations

from collections.abc import Callable

from app.models import Booking
from app.services import events, outbox

KIND = "lifecycle"
CHANGES = ("booking.created", "booking.rescheduled", "booking.cancelled")
READY = "lifecycle.booking_ready"
UPDATED = "lifecycle.booking_updated"
# UPDATED's "what": a video link made by a later attempt (emails and calendar), a video link given up whose
# calendar event must now be written without it (calendar only), a Meet link replaced because its calendar event
# was made again (emails only: calendar_sync rewrites that event itself)
LINK_ADDED, LINK_GIVEN_UP, LINK_REPLACED = "meeting_link_added", "meeting_link_given_up", "meeting_link_replaced"
# a team booking's hosts changed without a new time (a member left the organization): ``added`` and ``removed`` list
# the hosts concerned (emails to them; every host's calendar is brought in line)
HOSTS_CHANGED = "hosts_changed"

Step = Callable[[str, dict, "Booking | None"], bool]    # (event id, envelope, booking) -> holds the change
STEPS: list[tuple[str, Step]] = []


def step(name: str):
    """Register a fact-producing step; it returns True when it holds the change until it calls ``step_done``."""
    def register(fn: Step) -> Step:
        STEPS.append((name, fn))
        return fn
    return register


@events.subscribe(*CHANGES)
def _on_change(event_id: str, envelope: dict) -> None:
    _advance(event_id, envelope, events.booking_of(envelope), envelope["event"], after=None, facts={})


def step_done(name: str, booking: Booking, change: str, event_id: str | None, envelope: dict | None,
              **facts) -> None:
    """Step ``name`` finished its first attempt of ``booking``'s ``change`` (call it in the transaction recording
    that): the following steps run, then READY is emitted with ``facts``. ``envelope`` is the public one with the
    step's facts filled in (None when the step no longer has it: then the later steps are skipped)."""
    _advance(event_id, envelope, booking, change, after=name, facts=facts)


def _advance(event_id: str | None, envelope: dict | None, booking: Booking | None, change: str, *,
             after: str | None, facts: dict) -> None:
    names = [name for name, _ in STEPS]
    if envelope is not None:
        for _name, fn in STEPS[names.index(after) + 1 if after is not None else 0:]:
            if fn(event_id, envelope, booking):
                return
    booking_id = booking.id if booking is not None else ((envelope or {}).get("data") or {}).get("id")
    ready = {"event": READY, "change": change, "bookingId": booking_id, "eventId": event_id, "envelope": envelope,
             "facts": facts}
    if after is None:       # nothing held the change: its consumers run in the domain event's own fan-out
        for subscriber in events.SUBSCRIBERS.get(READY, []):
            subscriber(event_id, ready)
    else:
        outbox.add(KIND, ready, user_id=booking.user_id)


def updated(booking: Booking, what: str, **details) -> None:
    """A fact of the booking changed after READY (see ``LINK_*``, ``HOSTS_CHANGED``); call it inside the transaction
    recording it. ``details`` ride along in the payload (JSON values)."""
    outbox.add(KIND, {"event": UPDATED, "bookingId": booking.id, "what": what, **details}, user_id=booking.user_id)


def booking_of(payload: dict) -> Booking | None:
    """The booking a READY or UPDATED payload is about, as stored now (read once per fan-out)."""
    return events.booking_of({"data": {"id": payload.get("bookingId")}})


@outbox.handler(KIND, transactional=True)
def _fan_out(payload: dict, message_id: str) -> None:
    events.fan_out(payload, message_id)
