"""The four tools a voice agent calls mid-conversation (spec page 10, "Tool Webhooks"): ``list_event_types``,
``get_available_slots``, ``create_booking`` and ``get_booking_details``.

Each takes the agent (the account it acts for is bound to it server-side: its user, or for an organization agent
the organization's members) and the tool's JSON body, and answers the spec's shapes. Every failure raises
``ToolError`` whose message is a sentence the agent can say to the caller; ``tool_error_json`` is the spec's
``{"error": true, "message": ...}``. A ``user_id`` / ``organization_id`` in the body that is not the agent's is a
``ToolRefused`` (403): it is checked, never used to choose whose data to read.

Times are spoken in the caller's zone ("9:00 AM"), instants given back as UTC ISO 8601 with ``Z``. Bookings go
through the booking page's own service (``app.services.booking.bookings.create_booking``, source ``voice``): the
same slot check under the host's lock, the contact, the emails, webhooks and calendar events. A repeated
``create_booking`` in one conversation with the same request answers the first booking (``VoiceToolBooking``).

The messaging agents' tools (``app.services.messaging.booking_tools``) reuse the agent-neutral parts:
``linked_or_offered_event_types``, ``keyed_event_types``, ``find_keyed``, ``slots_answer``, ``booking_request``,
``request_key``, ``book`` and ``booking_answer``.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import peewee

from app.models import Booking, EventType, User
from app.models.organizations import Membership
from app.models.voice import CallLog, VoiceAgent, VoiceAgentEventType, VoiceToolBooking
from app.services.booking import bookings as booking_service
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.slots import available_slots
from app.services.validation import is_email
from app.services.voice.prompts import host_first_name
from app.timezones import is_valid_timezone, zone

SOURCE = "voice"
SYSTEM_TROUBLE = ("I'm having trouble accessing the calendar right now. Can I take your number and have someone "
                  "call you back?")
AGENT_UNAVAILABLE = "I'm sorry, this scheduling assistant is not available right now. Please book online instead."
NOT_YOUR_ACCOUNT = "I'm sorry, I can't access that calendar."
UNKNOWN_TYPE = ("I couldn't find that meeting type. Would you like me to list the meetings I can book for you?")
NO_TYPES = "I'm sorry, there are no meetings I can book right now. Please try the online booking page."
BAD_DATE = "I didn't catch the date. Which day would you like, for example March 3rd?"
BAD_ZONE = "I didn't recognise that time zone. Which city or time zone are you in?"
BAD_TIME = "I didn't catch the time. Could you choose one of the times I offered?"
BAD_EMAIL = "That email address doesn't look right. Could you spell it for me again?"
BAD_NAME = "Could I have your full name for the booking, please?"
BAD_PHONE = "That phone number doesn't look right. Could you say it again with the area code?"
TAKEN = "I'm sorry, that time was just taken. Would you like me to check other times?"
PAID = ("That meeting type needs to be paid for online, so I can't book it by phone. You can book it on the "
        "online booking page.")
BOOKING_NOT_FOUND = "I couldn't find that booking. Could you give me the date of the meeting instead?"
MAX_TEXT = 5000


class ToolError(Exception):
    """A failure the agent says to the caller (HTTP 200 with the spoken message)."""
    status = 200

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToolRefused(ToolError):
    """The request names an account that is not the agent's (HTTP 403, still in the spoken shape)."""
    status = 403


def tool_error_json(message: str) -> dict:
    return {"error": True, "message": message}


# --- the account an agent acts for -------------------------------------------------------------------------
def usable_agent(agent_id: str | None) -> VoiceAgent:
    """The active, not deleted agent of ``agent_id`` (our id), or ToolError."""
    agent = VoiceAgent.get_or_none(VoiceAgent.id == agent_id) if isinstance(agent_id, str) and agent_id else None
    if agent is None or not agent.is_active or agent.deleted_at is not None or agent.user.is_disabled:
        raise ToolError(AGENT_UNAVAILABLE)
    return agent


def check_actor(agent: VoiceAgent, body: dict) -> None:
    """Refuse a body whose ``user_id`` / ``organization_id`` is not the agent's own."""
    user_id, org_id = body.get("user_id"), body.get("organization_id")
    if user_id not in (None, "") and str(user_id) != agent.user_id:
        raise ToolRefused(NOT_YOUR_ACCOUNT)
    if org_id not in (None, "") and str(org_id) != (agent.organization_id or ""):
        raise ToolRefused(NOT_YOUR_ACCOUNT)


def account_user_ids(agent: VoiceAgent) -> list[str]:
    """Whose calendars the agent may read and book: its user, or every (enabled) member of its organization."""
    if not agent.organization_id:
        return [agent.user_id]
    ids = [uid for (uid,) in Membership.select(Membership.user).join(User)
           .where((Membership.organization == agent.organization_id) & (User.is_disabled == False))  # noqa: E712
           .tuples()]
    return ids if agent.user_id in ids else [agent.user_id, *ids]


def agent_event_types(agent: VoiceAgent) -> list[EventType]:
    """The event types the agent books: the linked ones (still active), else every active, non-secret personal
    event type of the account (an organization agent: of every member), by host and position."""
    return linked_or_offered_event_types(agent, VoiceAgentEventType)


def linked_or_offered_event_types(agent, link_model) -> list[EventType]:
    """``agent_event_types`` for any agent (voice or messaging) whose links are rows of ``link_model`` (``agent``,
    ``event_type``): the same rule for every kind of agent."""
    linked = (EventType.select(EventType, User).join(User)
              .join_from(EventType, link_model, on=(link_model.event_type == EventType.id))
              .where((link_model.agent == agent.id) & (EventType.status == "active")
                     & (User.is_disabled == False))  # noqa: E712
              .order_by(User.name, EventType.position, EventType.name))
    rows = list(linked)
    if rows:
        return rows
    return list(EventType.select(EventType, User).join(User)
                .where(EventType.user.in_(account_user_ids(agent)) & EventType.personal()
                       & (EventType.status == "active") & (EventType.is_secret == False)  # noqa: E712
                       & (User.is_disabled == False))  # noqa: E712
                .order_by(User.name, EventType.position, EventType.name))


def keyed_event_types(types: list[EventType]) -> list[tuple[str, EventType]]:
    """(the slug the agent uses, event type): an organization's members may share a slug, then it is
    ``username/slug``."""
    counts: dict[str, int] = {}
    for et in types:
        counts[et.slug] = counts.get(et.slug, 0) + 1
    return [(et.slug if counts[et.slug] == 1 else f"{et.user.username}/{et.slug}", et) for et in types]


def _keyed(agent: VoiceAgent) -> list[tuple[str, EventType]]:
    return keyed_event_types(agent_event_types(agent))


def find_keyed(keyed: list[tuple[str, EventType]], slug: Any) -> EventType:
    """The event type a tool call names (its key, bare slug or name) among ``keyed``; else ToolError."""
    if not isinstance(slug, str) or not slug.strip():
        raise ToolError(UNKNOWN_TYPE)
    wanted = slug.strip().lower()
    if not keyed:
        raise ToolError(NO_TYPES)
    for key, et in keyed:
        if key.lower() == wanted:
            return et
    named = [et for _, et in keyed if et.name.strip().lower() == wanted or et.slug.lower() == wanted]
    if len(named) == 1:                       # the model said the name, or the bare slug of a unique member type
        return named[0]
    raise ToolError(UNKNOWN_TYPE)


def find_event_type(agent: VoiceAgent, slug: Any) -> EventType:
    return find_keyed(_keyed(agent), slug)


# --- words -------------------------------------------------------------------------------------------------
def spoken_time(moment: datetime) -> str:
    """``9:00 AM``."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def spoken_date(moment: datetime | date, *, year: bool = True) -> str:
    """``Monday, February 10, 2026`` (``Monday, February 10`` without the year)."""
    text = f"{moment:%A}, {moment:%B} {moment.day}"
    return f"{text}, {moment.year}" if year else text


def zone_abbreviation(moment: datetime) -> str:
    return moment.strftime("%Z") or "UTC"


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _host_zone(event_type: EventType) -> str:
    schedule = effective_schedule(event_type) if not event_type.team_id else None
    return schedule.timezone if schedule else (event_type.user.timezone or "UTC")


def _caller_zone(body: dict, fallback: str) -> str:
    tz = body.get("timezone")
    if tz in (None, ""):
        return fallback
    if not isinstance(tz, str) or not is_valid_timezone(tz.strip()):
        raise ToolError(BAD_ZONE)
    return tz.strip()


def _text(body: dict, key: str, limit: int = MAX_TEXT) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        return ""
    return str(value).strip()[:limit]


# --- the tools ---------------------------------------------------------------------------------------------
def list_event_types(agent: VoiceAgent, body: dict | None = None) -> dict:
    organization = bool(agent.organization_id)
    items = []
    for key, et in _keyed(agent):
        item = {"slug": key, "name": et.name, "duration_minutes": et.duration, "description": et.description or ""}
        if organization:
            item["host_name"] = et.user.name
        items.append(item)
    return {"event_types": items}


def get_available_slots(agent: VoiceAgent, body: dict, *, now: datetime | None = None) -> dict:
    return slots_answer(find_event_type(agent, body.get("event_type_slug")), body, now=now)


def slots_answer(event_type: EventType, body: dict, *, now: datetime | None = None) -> dict:
    """get_available_slots' answer for ``event_type`` (``body``'s ``date`` and optional ``timezone``)."""
    now = now or datetime.now(UTC)
    raw_date = body.get("date")
    try:
        day = date.fromisoformat(raw_date.strip()) if isinstance(raw_date, str) else None
    except ValueError:
        day = None
    if day is None:
        raise ToolError(BAD_DATE)
    tz_name = _caller_zone(body, _host_zone(event_type))
    tz = zone(tz_name)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    starts = available_slots(event_type, start, end, now=now)
    return {"slots": [{"time": spoken_time(s.astimezone(tz)), "start_time": iso_z(s)} for s in starts],
            "date": day.isoformat()}


def _parse_start(value: Any, tz_name: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ToolError(BAD_TIME)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ToolError(BAD_TIME) from exc
    if moment.tzinfo is None:                     # a local time without its offset: the caller's clock
        moment = moment.replace(tzinfo=zone(tz_name))
    return moment.astimezone(UTC)


def request_key(event_type: EventType, req: booking_service.BookingRequest) -> str:
    """What makes two create_booking calls the same request (sha256 hex)."""
    parts = [event_type.id, iso_z(req.start), req.invitee_email.strip().lower(), req.invitee_name.strip(),
             req.invitee_timezone, (req.invitee_phone or "").strip(), (req.notes or "").strip()]
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def _validation_message(errors: dict[str, str]) -> str:
    if "email" in errors:
        return BAD_EMAIL
    if "name" in errors:
        return BAD_NAME
    if "phone" in errors:
        return BAD_PHONE
    if "timezone" in errors:
        return BAD_ZONE
    if "startTime" in errors:
        return BAD_TIME
    if any(key.startswith("q_") for key in errors):
        return ("This meeting type asks a few questions I can't take by phone. You can book it on the online "
                "booking page.")
    return "I couldn't make that booking. Could we try another time?"


def booking_answer(booking: Booking, tz_name: str) -> dict:
    """The ``booking`` of create_booking's answer, with the sentence the agent says."""
    local = booking.start_at.astimezone(zone(tz_name))
    when = f"{spoken_time(local)} {zone_abbreviation(local)}"
    host = booking.user
    message = (f"Your {booking.event_name} with {host_first_name(host)} is booked for "
               f"{spoken_date(local, year=False)} at {when}. A confirmation email is on its way to "
               f"{booking.invitee_email}.")
    return {"id": booking.id, "event_name": booking.event_name, "date": spoken_date(local), "time": when,
            "confirmation_message": message}


def booking_request(event_type: EventType, body: dict, *, source: str = SOURCE,
                    paid_message: str = PAID) -> booking_service.BookingRequest:
    """The booking service's request from create_booking's ``body``; ToolError for what is missing or wrong."""
    if event_type.is_paid:
        raise ToolError(paid_message)
    tz_name = _caller_zone(body, _host_zone(event_type))
    name, email = _text(body, "invitee_name", 200), _text(body, "invitee_email", 254).lower()
    if not name:
        raise ToolError(BAD_NAME)
    if not is_email(email):
        raise ToolError(BAD_EMAIL)
    phone = _text(body, "invitee_phone", 40) or None
    if phone and not booking_service.PHONE_RE.match(phone):
        raise ToolError(BAD_PHONE)
    return booking_service.BookingRequest(start=_parse_start(body.get("start_time"), tz_name), invitee_name=name,
                                          invitee_email=email, invitee_timezone=tz_name, invitee_phone=phone,
                                          notes=_text(body, "notes") or None, source=source, invitee_hour12=True)


def book(event_type: EventType, req: booking_service.BookingRequest, *, now: datetime | None = None) -> Booking:
    """Book through the booking page's service; its refusals as the ToolError the agent relays."""
    try:
        return booking_service.create_booking(event_type, req, now=now).booking
    except booking_service.SlotUnavailable as exc:
        raise ToolError(TAKEN) from exc
    except ValidationFailed as exc:
        raise ToolError(_validation_message(exc.errors)) from exc
    except NotFound as exc:
        raise ToolError(UNKNOWN_TYPE) from exc


def create_booking(agent: VoiceAgent, body: dict, *, conversation_id: str | None = None,
                   now: datetime | None = None) -> dict:
    event_type = find_event_type(agent, body.get("event_type_slug"))
    req = booking_request(event_type, body)
    conversation_id = (conversation_id or _text(body, "conversation_id", 100) or "").strip() or None
    if conversation_id and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", conversation_id):
        conversation_id = None
    key = request_key(event_type, req)
    if conversation_id:
        earlier = _earlier(agent, conversation_id, key)
        if earlier is not None:
            return {"success": True, "booking": booking_answer(earlier, earlier.invitee_timezone)}
    booking = book(event_type, req, now=now)
    if conversation_id:
        VoiceToolBooking.insert(agent=agent.id, conversation_id=conversation_id, request_key=key,
                                booking=booking.id).on_conflict_ignore().execute()
        booking = _earlier(agent, conversation_id, key) or booking      # a concurrent twin may have been first
        (CallLog.update(booking=booking.id)
         .where((CallLog.conversation_id == conversation_id) & (CallLog.agent == agent.id)
                & CallLog.booking.is_null()).execute())
    return {"success": True, "booking": booking_answer(booking, booking.invitee_timezone)}


def _earlier(agent: VoiceAgent, conversation_id: str, key: str) -> Booking | None:
    row = (VoiceToolBooking.select(VoiceToolBooking.booking)
           .where((VoiceToolBooking.agent == agent.id) & (VoiceToolBooking.conversation_id == conversation_id)
                  & (VoiceToolBooking.request_key == key)).first())
    return Booking.get_or_none(Booking.id == row.booking_id) if row is not None else None


def get_booking_details(agent: VoiceAgent, body: dict) -> dict:
    booking_id = body.get("booking_id")
    if not isinstance(booking_id, str) or not booking_id.strip() or len(booking_id) > 64:
        raise ToolError(BOOKING_NOT_FOUND)
    booking = (Booking.select().where((Booking.id == booking_id.strip())
                                      & Booking.user.in_(account_user_ids(agent))).first())
    if booking is None:
        raise ToolError(BOOKING_NOT_FOUND)
    tz_name = booking.invitee_timezone if is_valid_timezone(booking.invitee_timezone) else "UTC"
    local = booking.start_at.astimezone(zone(tz_name))
    return {"booking": {"id": booking.id, "event_name": booking.event_name, "invitee_name": booking.invitee_name,
                        "invitee_email": booking.invitee_email, "date": spoken_date(local),
                        "time": f"{spoken_time(local)} {zone_abbreviation(local)}", "status": booking.status,
                        "meeting_link": booking.meeting_link, "notes": booking.notes}}


TOOLS = {
    "event-types": lambda agent, body, conversation_id: list_event_types(agent, body),
    "available-slots": lambda agent, body, conversation_id: get_available_slots(agent, body),
    "create-booking": lambda agent, body, conversation_id: create_booking(agent, body,
                                                                          conversation_id=conversation_id),
    "booking-details": lambda agent, body, conversation_id: get_booking_details(agent, body),
}


def run_tool(name: str, agent_id: str | None, body: dict, *, conversation_id: str | None = None) -> dict:
    """Look the agent up, check the body's account, run the tool. Raises ToolError / ToolRefused."""
    agent = usable_agent(agent_id)
    check_actor(agent, body)
    try:
        return TOOLS[name](agent, body, conversation_id)
    except peewee.DatabaseError as exc:
        raise ToolError(SYSTEM_TROUBLE) from exc
