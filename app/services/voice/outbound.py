"""Outbound AI voice calls: the workflows' AI Voice Call action (spec page 10, "Workflow Integration").

A workflow action of kind ``ai_call`` has the config ``{"to": "invitee" | "host" | "custom", "customPhone",
"callType": "reminder" | "confirmation" | "follow_up" | "custom", "customMessage"}`` (``customPhone`` is the number
called when ``to`` is ``custom``, and the host's own number when ``to`` is ``host``: LinkTime keeps no phone
number of its users). It is offered on Pro and above when the account has an active voice agent with a phone
number (``availability``), and the instance has ElevenLabs configured.

Before each call (``place_call``) LinkTime checks, in this order: the plan, an active agent (``is_active``, not
deleted) whose number is active and imported into ElevenLabs, the number to call (the invitee's phone on the
booking), that number's SMS opt-out (someone who texted STOP is never called either), and the month's minutes
(``usage.usage_for(user).exhausted``). A failed check raises ``CallSkipped`` with the reason in plain words, which
the run history shows. Otherwise ElevenLabs' outbound API places the call (``settings.client().outbound_call``)
with the dynamic variables the agent's prompt uses and a first message for the call type (always saying that an
AI assistant is calling), and a ``CallLog`` (direction ``outbound``) is written with the conversation id and call
SID of the answer; the post-call webhook completes it later.

Never twice: before asking ElevenLabs, the action row's ``remote_id`` is marked ``PENDING`` (committed), and after
the answer it holds the conversation id (with the CallLog, in one transaction). A retry that finds the
conversation id returns it without calling; one that finds the mark cannot know whether the earlier attempt
reached ElevenLabs (the worker died, or ElevenLabs did not answer in time), so it fails saying so instead of
calling again. A refusal ElevenLabs answered (429, 5xx: nothing was started) clears the mark and is retried like
other actions' transient failures; a permanent refusal fails the action with ElevenLabs' reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests
import urllib3.exceptions

from app.datetimes import format_datetime, host_clock, invitee_clock, zone_text
from app.db import transaction
from app.integrations.elevenlabs import OutboundCall
from app.integrations.errors import IntegrationError, PermanentError
from app.models import Booking, CallLog, PhoneNumber, SmsOptOut, User, VoiceAgent, WorkflowRunAction
from app.models.base import utcnow
from app.phones import normalize_phone
from app.services import plans
from app.services.booking.bookings import add_activity
from app.services.voice import settings, usage
from app.services.voice.prompts import host_first_name

TARGETS = {"invitee": "The invitee", "host": "You (the host)", "custom": "Another number"}
CALL_TYPES = {"reminder": "Reminder", "confirmation": "Confirmation", "follow_up": "Follow-up",
              "custom": "Custom message"}
MAX_MESSAGE = 500                     # a custom message (it becomes part of the first message)
FIRST_MESSAGE_MAX = 500
PENDING = "call-pending"              # remote_id while ElevenLabs is being asked


class CallSkipped(Exception):
    """No call for this run: the reason, in plain words, for the run history."""


@dataclass(frozen=True)
class Placed:
    note: str                         # for the run history and the Test panel
    remote_id: str | None             # ElevenLabs' conversation id (else the call SID)
    call: CallLog | None = None


# --- who may call ------------------------------------------------------------------------------------------------
def calling_agent(user: User) -> VoiceAgent | None:
    """The account's agent that places outbound calls: its oldest active agent whose number is active and imported
    into ElevenLabs (``elevenlabs_phone_id``), or None."""
    return (VoiceAgent.select(VoiceAgent, PhoneNumber).join(PhoneNumber)
            .where((VoiceAgent.user == user.id) & VoiceAgent.is_active & VoiceAgent.deleted_at.is_null()
                   & VoiceAgent.elevenlabs_agent_id.is_null(False) & (PhoneNumber.status == "active")
                   & PhoneNumber.elevenlabs_phone_id.is_null(False) & (PhoneNumber.elevenlabs_phone_id != ""))
            .order_by(VoiceAgent.created_at, VoiceAgent.id).first())


def plan_reason(user: User) -> str | None:
    """Why the account's plan has no AI voice calls (None when it has them)."""
    if plans.limits_for(user).voice_phone_number:
        return None
    return (f"AI Voice Calls need the Pro plan or higher (you are on "
            f"{plans.PLAN_LABELS[plans.effective_plan(user)]}).")


NO_AGENT = ("AI Voice Calls need an active voice agent with a phone number: set one up under Dashboard → "
            "Voice Agents.")


def availability(user: User) -> str | None:
    """None when the editor offers the AI Voice Call action to ``user``; else why not (plan first, then the
    agent). The caller checks ``settings.configured()`` first (without ElevenLabs nothing is offered)."""
    return plan_reason(user) or (None if calling_agent(user) is not None else NO_AGENT)


# --- what is said ------------------------------------------------------------------------------------------------
def _spoken_when(booking: Booking, to: str) -> str:
    clock = host_clock(booking.user) if to == "host" else invitee_clock(booking)
    text = format_datetime(booking.start_at, clock.tz, clock.hour12, style="long")
    return f"{text} ({zone_text(clock.tz).split(' / ')[0]})"


def first_message(call_type: str, *, agent: VoiceAgent, host: User, booking: Booking, to: str,
                  custom_message: str = "") -> str:
    """What the agent says first: who is calling (an AI assistant, always), and why."""
    host_name = host_first_name(host)
    if to == "host":
        hello = f"Hi {host_name}, this is {agent.name}, your AI scheduling assistant."
        whose = f"with {booking.invitee_name}"
    else:
        invitee = (booking.invitee_name or "").strip().split()
        hello = f"Hi{' ' + invitee[0] if invitee else ''}, this is {agent.name}, {host_name}'s AI assistant."
        whose = f"with {host_name}"
    when = _spoken_when(booking, to)
    event = booking.event_name or "meeting"
    reasons = {
        "reminder": f"I'm calling to remind you of your {event} {whose} on {when}. Can you still make it, or would "
                    "you like to reschedule?",
        "confirmation": f"I'm calling to confirm your {event} {whose} on {when}. Shall I go over the details?",
        "follow_up": f"I'm following up on your {event} {whose}. How did it go, and would you like to schedule "
                     "another meeting?",
        "custom": (custom_message or "").strip() or f"I'm calling about your {event} {whose} on {when}.",
    }
    return f"{hello} {reasons.get(call_type, reasons['reminder'])}"[:FIRST_MESSAGE_MAX]


def dynamic_variables(*, user: User, agent: VoiceAgent, booking: Booking, call_type: str,
                      custom_message: str) -> dict[str, str]:
    """The values the agent's prompt uses ({{host_name}}, {{booking_id}}, ...), as the personalization webhook
    gives them to inbound calls, plus what this call is about."""
    host = booking.user
    base = settings.base_url()
    return {"booking_id": booking.id, "call_type": call_type, "custom_message": custom_message or "",
            "host_name": host.name or host.username, "invitee_name": booking.invitee_name or "",
            "user_id": user.id, "agent_id": agent.id, "booking_url": f"{base}/{host.username}",
            "host_timezone": host.timezone or "UTC", "agent_name": agent.name}


# --- the checks ----------------------------------------------------------------------------------------------------
def target_phone(config: dict, booking: Booking) -> str:
    """The E.164 number the action calls (raises CallSkipped when there is none)."""
    to = config.get("to") or "invitee"
    if to in ("host", "custom"):
        number = normalize_phone(config.get("customPhone"))
        if number is None:
            who = "your" if to == "host" else "the"
            raise CallSkipped(f"The action has no valid number to call ({who} number in the action is missing "
                              "or not valid).")
        return number
    if booking.status == "PENDING_PAYMENT":
        raise CallSkipped("The booking is not confirmed yet (it waits for its payment): no call.")
    raw = (booking.invitee_phone or "").strip()
    if not raw:
        raise CallSkipped("The invitee gave no phone number with this booking.")
    number = normalize_phone(raw)
    if number is None:
        raise CallSkipped(f"The invitee's phone number ({raw}) is not a valid number.")
    return number


def opted_out(phone: str) -> bool:
    return SmsOptOut.select().where(SmsOptOut.phone == phone).exists()


def check(user: User, config: dict, booking: Booking) -> tuple[VoiceAgent, str]:
    """Every check before a call; the agent and the number to call, or CallSkipped with the reason."""
    if not settings.configured():
        raise CallSkipped("AI voice calls are not configured on this LinkTime server (ElevenLabs settings).")
    reason = plan_reason(user)
    if reason:
        raise CallSkipped(reason)
    agent = calling_agent(user)
    if agent is None:
        raise CallSkipped("No active voice agent with a phone number: the call was not placed.")
    number = target_phone(config, booking)
    if opted_out(number):
        raise CallSkipped(f"{number} replied STOP to our texts: LinkTime does not call or text it until it "
                          "replies START.")
    if usage.usage_for(user).exhausted:
        raise CallSkipped("This month's voice minutes are used up: calls resume when the minutes reset on the "
                          "first of the month.")
    return agent, number


# --- placing the call ----------------------------------------------------------------------------------------------
def _not_started(exc: IntegrationError) -> bool:
    """ElevenLabs surely started nothing: it answered (any HTTP status), or the connection never opened."""
    if exc.status is not None:
        return True
    seen, cause = set(), exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (requests.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                              ConnectionRefusedError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return isinstance(exc, PermanentError) and "not allowed" in str(exc)


def _mark(result_id: str, value: str | None, expected: str | None) -> bool:
    query = WorkflowRunAction.update(remote_id=value).where((WorkflowRunAction.id == result_id)
                                                            & (WorkflowRunAction.status == "queued"))
    query = query.where(WorkflowRunAction.remote_id.is_null() if expected is None
                        else WorkflowRunAction.remote_id == expected)
    return query.execute() == 1


def place_call(user: User, booking: Booking, config: dict, *, result_id: str | None, now: datetime | None = None,
               workflow_name: str = "") -> Placed:
    """Place the AI call of one fired action (``result_id``: its ``WorkflowRunAction``); see the module docstring.
    Raises CallSkipped, ``IntegrationError`` (transient: retry; permanent: fail) or PermanentError for a call an
    earlier attempt may have started."""
    now = now or utcnow()
    if result_id is not None:
        earlier = WorkflowRunAction.select(WorkflowRunAction.remote_id).where(
            WorkflowRunAction.id == result_id).scalar()
        if earlier == PENDING:
            raise PermanentError("An earlier attempt asked ElevenLabs to place this call but got no answer: the call "
                                 "may have been placed, so LinkTime does not call again (see Dashboard → Calls).",
                                 provider="elevenlabs")
        if earlier:
            return Placed("The call was placed by an earlier attempt", remote_id=earlier)
    call_type = config.get("callType") if config.get("callType") in CALL_TYPES else "reminder"
    custom_message = (config.get("customMessage") or "").strip()[:MAX_MESSAGE]
    to = config.get("to") if config.get("to") in TARGETS else "invitee"
    agent, number = check(user, config, booking)
    if result_id is not None and not _mark(result_id, PENDING, None):
        return Placed("The call is being placed by another attempt", remote_id=None)
    try:
        answer: OutboundCall = settings.client().outbound_call(
            agent_id=agent.elevenlabs_agent_id, phone_number_id=agent.phone_number.elevenlabs_phone_id,
            to_number=number,
            dynamic_variables=dynamic_variables(user=user, agent=agent, booking=booking, call_type=call_type,
                                                custom_message=custom_message),
            first_message=first_message(call_type, agent=agent, host=booking.user, booking=booking, to=to,
                                        custom_message=custom_message))
    except IntegrationError as exc:
        if result_id is not None and _not_started(exc):
            _mark(result_id, None, PENDING)
        elif result_id is not None:
            raise PermanentError(f"{exc} The call may have been placed, so LinkTime does not call again (see "
                                 "Dashboard → Calls).", provider="elevenlabs") from exc
        raise
    remote_id = answer.conversation_id or answer.call_sid
    with transaction():
        call = CallLog.create(user=user, agent=agent, agent_name=agent.name, direction="outbound",
                              conversation_id=answer.conversation_id, call_sid=answer.call_sid, caller_phone=number,
                              agent_phone=agent.phone_number.e164, status="IN_PROGRESS", booking=booking,
                              call_type=call_type, started_at=now)
        if result_id is not None:
            _mark(result_id, remote_id or f"call:{call.id}", PENDING)
        said = f"AI {CALL_TYPES[call_type].lower()} call placed to {number} by {agent.name}"
        add_activity(booking.id, "workflow", f"Workflow “{workflow_name}”: {said}" if workflow_name else said)
    return Placed(f"{agent.name} is calling {number} ({CALL_TYPES[call_type].lower()})",
                  remote_id=remote_id or f"call:{call.id}", call=call)


def test_call(user: User, booking: Booking, config: dict, *, phone: str | None = None) -> str:
    """The Test button: every check, and what would happen; a test never places a call (it would ring a real phone
    and cost minutes). ``phone``, when typed, stands for the number to call. Raises CallSkipped like a real run."""
    if phone:
        config = {**config, "to": "custom", "customPhone": phone}
    elif (config.get("to") or "invitee") == "invitee":       # the sample booking has no phone
        if not settings.configured():
            raise CallSkipped("AI voice calls are not configured on this LinkTime server (ElevenLabs settings).")
        raise CallSkipped(availability(user) or "A test does not place calls. Enter a phone number to check that "
                                                "it could be called.")
    agent, number = check(user, config, booking)
    return (f"Checks passed: {agent.name} would call {number} from {agent.phone_number.e164}. A test does not place "
            "the call.")
