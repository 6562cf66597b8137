"""The three tools a messaging agent gives Claude (spec page 11, "Tools Available to Claude"): ``list_event_types``,
``get_available_slots`` and ``create_booking``, as Messages API tool definitions (``TOOLS``) and their handlers.

They run the voice agents' logic (``app.services.voice.tools``: the same event-type rule, slot engine, booking
service under the host's lock, contact, emails and webhooks; source ``sms`` or ``whatsapp``). Whose data is bound
server-side from the conversation's agent, never from the model's arguments: a slug naming another account's event
type is simply not among the agent's and answers an error result the model sees (``is_error``). The invitee's phone
is the conversation's (whatever the model says). Idempotent: the same conversation repeating the same request gets
the first booking (its id kept in ``Conversation.data["bookings"]`` by request key). A booking that is not
confirmed at once (it waits for the host's approval) is answered as such and its id kept in
``Conversation.data["unconfirmed_bookings"]``: ``notices`` sends its confirmation when it is confirmed.

``run(conversation, name, arguments)`` -> ``ToolOutcome(content: dict, is_error: bool, ...)``; it never raises for
a tool's refusal. Tool preconditions of the state machine: ``create_booking``'s start must be one of the times
``get_available_slots`` offered in this conversation for that event type (the model cannot invent a time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import peewee

from app.models import Booking, EventType
from app.models.messaging import Conversation, MessagingAgent, MessagingAgentEventType
from app.services.voice import tools as voice

NOT_OFFERED = ("That time was not offered. Check the availability with get_available_slots and offer the customer "
               "one of the returned times.")
PAID = "That meeting type must be paid for online, so it can't be booked by text. Please share the booking page."
UNKNOWN_TOOL = "There is no such tool."
AWAITING = ("Your request for {event_name} on {date} at {time} is in; it is not confirmed yet. You'll get a message "
            "here as soon as it is.")
UNCONFIRMED = "unconfirmed_bookings"             # Conversation.data: bookings the agent made that were not confirmed
MAX_OFFERED = 200                                 # offered start times remembered per conversation

TOOLS: list[dict[str, Any]] = [
    {"name": "list_event_types",
     "description": "List the meeting types the customer can book (slug, name, duration in minutes, description).",
     "input_schema": {"type": "object", "properties": {}}},
    {"name": "get_available_slots",
     "description": "The free start times of one meeting type on one date. Only offer times this tool returned.",
     "input_schema": {"type": "object",
                      "properties": {"event_type_slug": {"type": "string",
                                                         "description": "slug from list_event_types"},
                                     "date": {"type": "string", "description": "the date, YYYY-MM-DD"},
                                     "timezone": {"type": "string",
                                                  "description": "the customer's IANA time zone, if known"}},
                      "required": ["event_type_slug", "date"]}},
    {"name": "create_booking",
     "description": "Book the meeting once the customer chose a time and gave their name and email and confirmed.",
     "input_schema": {"type": "object",
                      "properties": {"event_type_slug": {"type": "string"},
                                     "start_time": {"type": "string",
                                                    "description": "start_time exactly as get_available_slots "
                                                                   "returned it"},
                                     "invitee_name": {"type": "string", "description": "the customer's full name"},
                                     "invitee_email": {"type": "string", "description": "the customer's email"},
                                     "timezone": {"type": "string", "description": "the customer's IANA time zone"},
                                     "notes": {"type": "string", "description": "anything the host should know"}},
                      "required": ["event_type_slug", "start_time", "invitee_name", "invitee_email"]}},
]
TOOL_NAMES = tuple(t["name"] for t in TOOLS)


@dataclass
class ToolOutcome:
    content: dict[str, Any]
    is_error: bool = False
    booking_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)       # what the conversation learnt (merged into data)


def agent_event_types(agent: MessagingAgent) -> list[EventType]:
    """The event types the agent books: its linked ones (still active), else every active, non-secret personal
    event type of its user (an organization agent: of every member) -- the voice agents' rule."""
    return voice.linked_or_offered_event_types(agent, MessagingAgentEventType)


def _keyed(agent: MessagingAgent) -> list[tuple[str, EventType]]:
    return voice.keyed_event_types(agent_event_types(agent))


def _key_of(agent: MessagingAgent, event_type: EventType) -> str:
    return next((key for key, et in _keyed(agent) if et.id == event_type.id), event_type.slug)


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(content={"error": True, "message": message}, is_error=True)


def run(conversation: Conversation, name: str, arguments: Any, *, now: datetime | None = None) -> ToolOutcome:
    """Run one tool call of the model for ``conversation``; refusals are error outcomes, never exceptions."""
    agent = conversation.agent
    body = dict(arguments) if isinstance(arguments, dict) else {}
    if agent is None or agent.deleted_at is not None or agent.user.is_disabled:
        return _error(voice.AGENT_UNAVAILABLE)
    try:
        if name == "list_event_types":
            return ToolOutcome(content=_list(agent))
        if name == "get_available_slots":
            return _slots(conversation, agent, body, now)
        if name == "create_booking":
            return _create(conversation, agent, body, now)
    except voice.ToolError as exc:
        return _error(exc.message)
    except peewee.DatabaseError:
        return _error(voice.SYSTEM_TROUBLE)
    return _error(UNKNOWN_TOOL)


def _list(agent: MessagingAgent) -> dict[str, Any]:
    items = []
    for key, et in _keyed(agent):
        item = {"slug": key, "name": et.name, "duration_minutes": et.duration, "description": et.description or ""}
        if agent.organization_id:
            item["host_name"] = et.user.name
        items.append(item)
    return {"event_types": items}


def _slots(conversation: Conversation, agent: MessagingAgent, body: dict, now: datetime | None) -> ToolOutcome:
    event_type = voice.find_keyed(_keyed(agent), body.get("event_type_slug"))
    answer = voice.slots_answer(event_type, body, now=now or datetime.now(UTC))
    key = _key_of(agent, event_type)
    offered = dict((conversation.data or {}).get("offered") or {})
    starts = list(dict.fromkeys([*offered.get(event_type.id, []), *[s["start_time"] for s in answer["slots"]]]))
    offered[event_type.id] = starts[-MAX_OFFERED:]
    learnt = {"event_type": {"id": event_type.id, "slug": key, "name": event_type.name},
              "date": answer["date"], "offered": offered}
    if isinstance(body.get("timezone"), str) and body["timezone"].strip():
        learnt["timezone"] = body["timezone"].strip()
    return ToolOutcome(content=answer, data=learnt)


def _create(conversation: Conversation, agent: MessagingAgent, body: dict, now: datetime | None) -> ToolOutcome:
    event_type = voice.find_keyed(_keyed(agent), body.get("event_type_slug"))
    body = {**body, "invitee_phone": conversation.contact_phone}          # the phone is the conversation's
    req = voice.booking_request(event_type, body, source=conversation.channel or "sms", paid_message=PAID)
    key = voice.request_key(event_type, req)
    req.idempotency_key = f"conversation:{conversation.id}:{key[:64]}"    # the service's own check, under the lock
    data = conversation.data or {}
    learnt: dict[str, Any] = {"name": req.invitee_name, "email": req.invitee_email,
                              "event_type": {"id": event_type.id, "slug": _key_of(agent, event_type),
                                             "name": event_type.name},
                              "start_time": voice.iso_z(req.start)}
    earlier_id = (data.get("bookings") or {}).get(key)
    earlier = Booking.get_or_none(Booking.id == earlier_id) if earlier_id else None
    if earlier is not None:
        return ToolOutcome(content={"success": True, "booking": _answer(earlier)}, booking_id=earlier.id, data=learnt)
    if voice.iso_z(req.start) not in ((data.get("offered") or {}).get(event_type.id) or []):
        outcome = _error(NOT_OFFERED)
        outcome.data = learnt
        return outcome
    try:
        booking = voice.book(event_type, req, now=now)
    except voice.ToolError as exc:
        outcome = _error(exc.message)
        outcome.data = learnt
        return outcome
    learnt["bookings"] = {**(data.get("bookings") or {}), key: booking.id}
    if booking.status != "CONFIRMED":          # the host approves it (or a payment confirms it) later
        learnt[UNCONFIRMED] = [*(data.get(UNCONFIRMED) or []), booking.id][-MAX_OFFERED:]
    return ToolOutcome(content={"success": True, "booking": _answer(booking)}, booking_id=booking.id, data=learnt)


def _answer(booking: Booking) -> dict[str, Any]:
    """The booking as create_booking answers it; one not confirmed yet says so (the agent must not say "booked")."""
    answer = voice.booking_answer(booking, booking.invitee_timezone)
    if booking.status == "CONFIRMED":
        return answer
    return {**answer, "status": booking.status, "confirmation_message": AWAITING.format(**answer)}
