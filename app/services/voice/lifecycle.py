"""The start and end of each call (spec page 10, "Lifecycle Webhooks") and the monthly minutes.

``personalization(body)``: ElevenLabs asks, as an inbound call arrives, what the agent should know and say. The agent
is the one bound to the called number (an active ``PhoneNumber``); the answer is ``conversation_initiation_client_data``
with the dynamic variables of the agent's prompt and tools and its first message. Under one minute left this month
(``usage.exhausted``), or when the agent is switched off, the caller hears the "unavailable, book online" override;
outside the agent's active hours the after-hours behaviour (voicemail greeting, the host's message, or the booking URL,
also texted to the caller when Twilio SMS is set up and the caller did not text STOP). The call's ``CallLog``
(inbound) is created here.

``record_call_status(payload)``: the post-call webhook, in the spec's flat shape or ElevenLabs'
``post_call_transcription``; it completes the ``CallLog`` (or creates it: a widget conversation, direction "web"):
duration, transcript text, cost ($0.10 a started minute), status and outcome from the tool calls, the booking made.
Delivered twice, it changes nothing more. If the account has now used up its month, ``deactivate_for_minutes``
switches its agents off (``auto_deactivated``) and tells the host once a month.

``reset_period(now)``: from the first of the month (UTC) the agents switched off in an earlier month are switched on
again and the host is told, once (a conditional update claims each notice, so several consumers are safe).
"""
from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
from flask import current_app

from app.db import transaction
from app.integrations import twilio_sms
from app.models import Booking, User
from app.models.voice import CallLog, PhoneNumber, VoiceAgent, VoicePeriodNotice, VoiceToolBooking
from app.phones import normalize_phone
from app.services import audit, opt_outs, outbox
from app.services.voice import hours, prompts, usage
from app.services.voice.tools import account_user_ids

log = logging.getLogger(__name__)

INITIATION = "conversation_initiation_client_data"
UNAVAILABLE_PROMPT = ("Apologize that you're unavailable and direct the caller to the booking URL. "
                      "End the call politely.")
CENTS_PER_MINUTE = 10
SMS_KIND = "voice_sms"
FINAL = ("COMPLETED", "FAILED", "NO_ANSWER")


# --- personalization -----------------------------------------------------------------------------------------
def _field(body: dict, *names: str) -> str:
    for name in names:
        value = body.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()[:100]
    return ""


def booking_url(host: User) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/{host.username}"


def spoken_url(url: str) -> str:
    """``linktime.io/emmanuel``: the booking URL as the agent says it (no scheme)."""
    return url.split("://", 1)[-1].rstrip("/")


def host_name(agent: VoiceAgent) -> str:
    if agent.organization_id:
        return agent.organization.name
    return agent.user.name or agent.user.username


def dynamic_variables(agent: VoiceAgent) -> dict[str, str]:
    host = agent.user
    variables = {"host_name": host_name(agent), "business_context": agent.business_context or "",
                 "booking_url": booking_url(host), "host_email": host.email, "host_timezone": host.timezone,
                 "agent_name": agent.name, "user_id": agent.user_id, "agent_id": agent.id}
    if agent.organization_id:
        variables["organization_id"] = agent.organization_id
    return variables


def unavailable_override(agent: VoiceAgent) -> dict:
    """Spec page 10's "over minute limit" answer (also for a switched-off agent), with the dynamic variables the
    agent's tools refer to so ElevenLabs can start the conversation."""
    host = agent.user
    first = (f"I'm sorry, {prompts.host_first_name(host)}'s scheduling assistant is currently unavailable. "
             f"Please visit {spoken_url(booking_url(host))} to book a meeting online.")
    return {"type": INITIATION, "dynamic_variables": dynamic_variables(agent),
            "conversation_config_override": {"agent": {"first_message": first,
                                                       "prompt": {"prompt": UNAVAILABLE_PROMPT}}}}


def no_agent_answer() -> dict:
    return {"type": INITIATION, "dynamic_variables": {},
            "conversation_config_override": {"agent": {
                "first_message": "I'm sorry, this number is not taking calls right now. Please try again later.",
                "prompt": {"prompt": "Apologize that nobody can take the call and end it politely."}}}}


def after_hours_override(agent: VoiceAgent, *, texted: bool) -> dict:
    settings = agent.active_hours or {}
    behavior = settings.get("afterHoursBehavior") or "voicemail"
    custom = (settings.get("afterHoursMessage") or "").strip()
    host_first = prompts.host_first_name(agent.user)
    url = spoken_url(booking_url(agent.user))
    opening = hours.opening_text(settings)
    if behavior == "message" and custom:
        first = custom
        prompt = ("The office is closed. You have said the host's after-hours message; answer only to repeat it, "
                  f"mention that meetings can be booked online at {url}, and end the call politely.")
    elif behavior == "booking_url":
        first = (f"Hi! You've reached {host_first}'s AI scheduling assistant. We're closed right now, but you can "
                 f"book a meeting any time at {url}.")
        if texted:
            first += " I've also sent the link to you by text message."
        prompt = ("The office is closed. Direct the caller to the booking URL "
                  f"{url}, spell it if asked, and end the call politely. Do not book meetings.")
    else:                                   # voicemail
        first = custom or (f"Hi! You've reached {host_first}'s AI assistant. We're closed right now (our hours: "
                           f"{opening}). Please leave your name, number and the reason for your call, and "
                           "someone will get back to you.")
        prompt = ("The office is closed. Take a message: ask for the caller's name, phone number and the reason "
                  "for the call, repeat it back, then end the call politely. Do not book meetings.")
    return {"type": INITIATION, "dynamic_variables": dynamic_variables(agent),
            "conversation_config_override": {"agent": {"first_message": first, "prompt": {"prompt": prompt}}}}


def agent_for_number(called: str, elevenlabs_agent_id: str = "") -> VoiceAgent | None:
    """The agent answering ``called`` (an active number), else the agent ElevenLabs named. Several agents of an
    organization may share one number while ElevenLabs routes it to one of them: the agent ElevenLabs named comes
    first, then active agents before switched-off ones."""
    e164 = normalize_phone(called) or called
    agent = None
    if e164:
        on_number = (VoiceAgent.select().join(PhoneNumber, on=(VoiceAgent.phone_number == PhoneNumber.id))
                     .where((PhoneNumber.e164 == e164) & (PhoneNumber.status == "active")
                            & VoiceAgent.deleted_at.is_null()))
        named = (on_number.where(VoiceAgent.elevenlabs_agent_id == elevenlabs_agent_id).first()
                 if elevenlabs_agent_id else None)
        agent = named or on_number.order_by(VoiceAgent.is_active.desc(), VoiceAgent.created_at).first()
    if agent is None and elevenlabs_agent_id:
        agent = VoiceAgent.get_or_none((VoiceAgent.elevenlabs_agent_id == elevenlabs_agent_id)
                                       & VoiceAgent.deleted_at.is_null())
    return agent


def _known_log(agent: VoiceAgent, conversation_id: str, call_sid: str) -> CallLog | None:
    if conversation_id:
        found = CallLog.get_or_none(CallLog.conversation_id == conversation_id)
        if found is not None:
            return found
    if call_sid:
        return CallLog.select().where((CallLog.call_sid == call_sid) & (CallLog.agent == agent.id)).first()
    return None


def _open_log(agent: VoiceAgent, *, conversation_id: str, call_sid: str, caller: str, called: str,
              over_limit: bool) -> CallLog:
    """The call's log, created once (ElevenLabs may ask twice for one call)."""
    existing = _known_log(agent, conversation_id, call_sid)
    if existing is not None:
        return existing
    try:
        with transaction():
            return CallLog.create(user=agent.user_id, agent=agent, agent_name=agent.name, direction="inbound",
                                  conversation_id=conversation_id or None, call_sid=call_sid or None,
                                  caller_phone=caller[:20] or None, agent_phone=called[:20] or None,
                                  over_limit=over_limit)
    except peewee.IntegrityError:             # the same conversation's other request won
        return CallLog.get(CallLog.conversation_id == conversation_id)


def personalization(body: dict, *, now: datetime | None = None) -> dict:
    """The answer to ElevenLabs' conversation-initiation webhook for an inbound call."""
    now = now or datetime.now(UTC)
    caller = _field(body, "from", "caller_id", "caller")
    called = _field(body, "to", "called_number", "called")
    conversation_id = _field(body, "conversation_id")
    call_sid = _field(body, "call_sid", "CallSid")
    agent = agent_for_number(called, _field(body, "agent_id"))
    if agent is None or agent.user.is_disabled:
        log.info("a call to %s found no voice agent", called or "an unknown number")
        return no_agent_answer()
    caller_e164 = normalize_phone(caller) or caller
    agent_phone = agent.phone_number.e164 if agent.phone_number_id else called
    if not agent.is_active:
        _open_log(agent, conversation_id=conversation_id, call_sid=call_sid, caller=caller_e164,
                  called=agent_phone, over_limit=agent.auto_deactivated)
        return unavailable_override(agent)
    if usage.usage_for(agent.user, now).exhausted:
        _open_log(agent, conversation_id=conversation_id, call_sid=call_sid, caller=caller_e164,
                  called=agent_phone, over_limit=True)
        return unavailable_override(agent)
    if not hours.is_open(agent.active_hours, now):
        known = _known_log(agent, conversation_id, call_sid)        # ElevenLabs asking again: text only once
        _open_log(agent, conversation_id=conversation_id, call_sid=call_sid, caller=caller_e164,
                  called=agent_phone, over_limit=False)
        texted = False
        if (agent.active_hours or {}).get("afterHoursBehavior") == "booking_url":
            texted = text_booking_url(agent, caller_e164) if known is None else can_text(caller_e164)
        return after_hours_override(agent, texted=texted)
    _open_log(agent, conversation_id=conversation_id, call_sid=call_sid, caller=caller_e164, called=agent_phone,
              over_limit=False)
    return {"type": INITIATION, "dynamic_variables": dynamic_variables(agent),
            "conversation_config_override": {"agent": {"first_message": prompts.greeting_for(agent, agent.user)}}}


# --- the booking URL by text (after hours) --------------------------------------------------------------------
def can_text(caller: str) -> bool:
    """Twilio SMS is set up, the caller's number is a valid one and it did not text STOP."""
    phone = normalize_phone(caller)
    return bool(phone) and twilio_sms.configured() and not opt_outs.opted_out(phone)


def text_booking_url(agent: VoiceAgent, caller: str) -> bool:
    """Queue a text with the booking URL to the caller (never waits on Twilio); whether one was queued."""
    if not can_text(caller):
        return False
    phone = normalize_phone(caller)
    body = (f"Thanks for calling {host_name(agent)}. Book a meeting any time: {booking_url(agent.user)} "
            "Reply STOP to opt out.")
    with transaction():
        outbox.add(SMS_KIND, {"to": phone, "body": body, "agent_id": agent.id}, user_id=agent.user_id)
    return True


@outbox.handler(SMS_KIND)
def _send_booking_url(payload: dict) -> None:
    if not twilio_sms.configured():
        raise outbox.PermanentFailure("Twilio SMS is not configured")
    if opt_outs.opted_out(payload["to"]):
        return
    try:
        twilio_sms.send_sms(payload["to"], payload["body"])
    except twilio_sms.TwilioError as exc:
        if exc.code == 21610:
            opt_outs.opt_out(payload["to"])
        raise outbox.PermanentFailure(str(exc)) from exc


# --- call status ---------------------------------------------------------------------------------------------
def call_status(value: Any) -> str:
    text = str(value or "").strip().lower().replace("-", "_")
    if text in ("failed", "error", "call_initiation_failure", "canceled", "cancelled"):
        return "FAILED"
    if text in ("no_answer", "busy", "unanswered"):
        return "NO_ANSWER"
    return "COMPLETED"


def _int(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def _result_ok(result: Any, is_error: bool = False) -> bool:
    """Whether a create_booking tool result stands for a booking (not ``{"error": true}``)."""
    if is_error:
        return False
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return True              # not JSON (the spec's example says "..."): the call itself went through
    if isinstance(result, dict):
        return not result.get("error") and result.get("success", True) is not False
    return True


def _booking_id_of(result: Any) -> str | None:
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return None
    booking = result.get("booking") if isinstance(result, dict) else None
    return str(booking["id"]) if isinstance(booking, dict) and booking.get("id") else None


def parse_call(payload: dict) -> dict | None:
    """The flat spec payload or ElevenLabs' ``post_call_transcription`` as one dict: conversation_id, agent_id,
    status, duration, transcript (text), tools [(name, ok, booking id)], call_sid, phone, started_at. None for a
    webhook type that says nothing about a call's end (e.g. ``post_call_audio``)."""
    kind = payload.get("type")
    if kind is None:
        tools = []
        for call in payload.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("name"):
                result = call.get("result")
                tools.append((str(call["name"]), _result_ok(result, bool(call.get("is_error"))),
                              _booking_id_of(result)))
        transcript = payload.get("transcript")
        return {"conversation_id": _field(payload, "conversation_id"), "agent_id": _field(payload, "agent_id"),
                "status": call_status(payload.get("status")), "duration": _int(payload.get("duration_secs")),
                "transcript": transcript if isinstance(transcript, str) else None, "tools": tools,
                "call_sid": _field(payload, "call_sid"), "phone": {}, "started_at": None}
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if kind == "call_initiation_failure":
        reason = str(data.get("failure_reason") or "")
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        body = metadata.get("body") if isinstance(metadata.get("body"), dict) else {}
        return {"conversation_id": _field(data, "conversation_id"), "agent_id": _field(data, "agent_id"),
                "status": "NO_ANSWER" if reason in ("no-answer", "busy") else "FAILED", "duration": 0,
                "transcript": None, "tools": [], "call_sid": _field(body, "CallSid", "call_sid"), "phone": {},
                "started_at": None}
    if kind != "post_call_transcription":
        return None
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    lines, tools = [], []
    for turn in data.get("transcript") or []:
        if not isinstance(turn, dict):
            continue
        message = (turn.get("message") or "").strip() if isinstance(turn.get("message"), str) else ""
        if message:
            lines.append(f"{'Agent' if turn.get('role') == 'agent' else 'Caller'}: {message}")
        results = {r.get("request_id"): r for r in turn.get("tool_results") or [] if isinstance(r, dict)}
        by_name = {r.get("tool_name"): r for r in turn.get("tool_results") or [] if isinstance(r, dict)}
        for call in turn.get("tool_calls") or []:
            if not isinstance(call, dict) or not call.get("tool_name"):
                continue
            result = results.get(call.get("request_id")) or by_name.get(call.get("tool_name")) or {}
            value = result.get("result_value")
            tools.append((str(call["tool_name"]), _result_ok(value, bool(result.get("is_error"))),
                          _booking_id_of(value)))
    phone = metadata.get("phone_call") if isinstance(metadata.get("phone_call"), dict) else {}
    started = metadata.get("start_time_unix_secs")
    return {"conversation_id": _field(data, "conversation_id"), "agent_id": _field(data, "agent_id"),
            "status": call_status(data.get("status")), "duration": _int(metadata.get("call_duration_secs")),
            "transcript": "\n".join(lines) or None, "tools": tools, "call_sid": _field(phone, "call_sid"),
            "phone": phone,
            "started_at": datetime.fromtimestamp(int(started), UTC) if isinstance(started, int | float) else None}


def outcome_of(tools: list[tuple[str, bool, str | None]], booked: bool) -> str:
    if booked or any(name == "create_booking" and ok for name, ok, _ in tools):
        return "booking_created"
    if tools:
        return "info_provided"
    return "no_action"


def _find_log(call: dict) -> CallLog | None:
    if call["conversation_id"]:
        found = CallLog.get_or_none(CallLog.conversation_id == call["conversation_id"])
        if found is not None:
            return found
    if call["call_sid"]:
        return (CallLog.select().where((CallLog.call_sid == call["call_sid"]) & CallLog.conversation_id.is_null())
                .order_by(CallLog.started_at.desc()).first())
    return None


def _new_log(call: dict, now: datetime) -> CallLog | None:
    agent = (VoiceAgent.get_or_none(VoiceAgent.elevenlabs_agent_id == call["agent_id"])
             if call["agent_id"] else None)
    if agent is None:
        return None
    phone = call["phone"]
    direction = phone.get("direction") if phone.get("direction") in ("inbound", "outbound") else "web"
    started = call["started_at"] or now - timedelta(seconds=call["duration"])
    return CallLog.create(user=agent.user_id, agent=agent, agent_name=agent.name, direction=direction,
                          conversation_id=call["conversation_id"] or None, call_sid=call["call_sid"] or None,
                          caller_phone=str(phone.get("external_number") or "")[:20] or None,
                          agent_phone=str(phone.get("agent_number") or "")[:20] or None, started_at=started)


def _booking_of(log_row: CallLog, call: dict) -> Booking | None:
    owners = account_user_ids(log_row.agent) if log_row.agent_id else [log_row.user_id]
    if log_row.conversation_id:
        row = (VoiceToolBooking.select(VoiceToolBooking.booking)
               .where((VoiceToolBooking.conversation_id == log_row.conversation_id)
                      & (VoiceToolBooking.agent == log_row.agent_id))
               .order_by(VoiceToolBooking.created_at.desc()).first())
        if row is not None:
            return Booking.get_or_none((Booking.id == row.booking_id) & Booking.user.in_(owners))
    for name, ok, booking_id in reversed(call["tools"]):
        if name == "create_booking" and ok and booking_id:
            found = Booking.get_or_none((Booking.id == booking_id) & Booking.user.in_(owners))
            if found is not None:
                return found
    return None


def record_call_status(payload: dict, *, now: datetime | None = None) -> CallLog | None:
    """Complete the call's log from a post-call webhook; None when the webhook concerns no call of ours."""
    now = now or datetime.now(UTC)
    call = parse_call(payload)
    if call is None:
        return None
    with transaction():
        row = _find_log(call)
        if row is None:
            row = _new_log(call, now)
            if row is None:
                log.info("a post-call webhook for an unknown agent or conversation was ignored")
                return None
        if call["conversation_id"] and not row.conversation_id:
            row.conversation_id = call["conversation_id"]
        booking = _booking_of(row, call) or (row.booking if row.booking_id else None)
        row.status = call["status"]
        row.duration_seconds = call["duration"]
        row.cost_cents = math.ceil(call["duration"] / 60) * CENTS_PER_MINUTE
        if call["transcript"] is not None and row.transcript_deleted_at is None:
            row.transcript = call["transcript"]
        row.outcome = outcome_of(call["tools"], booking is not None)
        row.booking = booking
        row.ended_at = row.ended_at or now
        row.save()
    if row.user.is_disabled:
        return row
    if usage.usage_for(row.user, now).exceeded:
        deactivate_for_minutes(row.user, now=now)
    return row


# --- minutes -------------------------------------------------------------------------------------------------
def _dashboard_link() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/dashboard/voice-agents"


def deactivate_for_minutes(user: User, *, now: datetime | None = None) -> int:
    """Switch the account's active agents off for the rest of the month (``auto_deactivated``); the first time
    in a month the host is told by email. Returns how many agents were switched off."""
    from app.services.mailer import queue_email

    now = now or datetime.now(UTC)
    period = usage.period_key(now)
    with transaction():
        ids = [agent_id for (agent_id,) in VoiceAgent.select(VoiceAgent.id).where(
            (VoiceAgent.user == user.id) & (VoiceAgent.is_active == True)  # noqa: E712
            & VoiceAgent.deleted_at.is_null()).tuples()]
        switched = (VoiceAgent.update(is_active=False, auto_deactivated=True, updated_at=now)
                    .where(VoiceAgent.id.in_(ids) & (VoiceAgent.is_active == True)).execute()  # noqa: E712
                    if ids else 0)
        first = False
        if switched and not VoicePeriodNotice.select().where((VoicePeriodNotice.user == user.id)
                                                & (VoicePeriodNotice.period == period)).exists():
            try:
                with transaction():          # a savepoint: a concurrent webhook may insert the same notice
                    VoicePeriodNotice.create(user=user.id, period=period, deactivated_at=now)
                first = True
            except peewee.IntegrityError:
                first = False
        if first:
            used = usage.usage_for(user, now)
            queue_email(user.email, "Your voice agents are paused until next month", "voice_minutes_exhausted",
                        user_id=user.id, user=user, minutes_used=used.minutes_used, minute_limit=used.limit,
                        resets_on=_next_period(now), link=_dashboard_link())
        for agent_id in ids if switched else ():
            audit.record("voice_agent.updated", resource="voice_agent", resource_id=agent_id, user=user,
                         details={"isActive": False, "reason": f"the minutes of {period} are used up"})
    return switched


def _next_period(now: datetime) -> str:
    start = usage.period_start(now)
    following = (start + timedelta(days=32)).replace(day=1)
    return f"{following:%B} {following.day}, {following.year}"


def reset_period(now: datetime | None = None) -> int:
    """Switch on the agents switched off for minutes in an earlier month and tell each host once; how many
    accounts were reactivated. Safe to run at any time and from several consumers."""
    from app.services.mailer import queue_email

    now = now or datetime.now(UTC)
    period = usage.period_key(now)
    done = 0
    due = list(VoicePeriodNotice.select().where((VoicePeriodNotice.period < period)
                                                & VoicePeriodNotice.reactivated_at.is_null()))
    for notice in due:
        with transaction():
            claimed = (VoicePeriodNotice.update(reactivated_at=now)
                       .where((VoicePeriodNotice.id == notice.id)
                              & VoicePeriodNotice.reactivated_at.is_null()).execute())
            if not claimed:
                continue                     # another consumer took it
            user = User.get_by_id(notice.user_id)
            if VoicePeriodNotice.select().where((VoicePeriodNotice.user == user.id)
                                                & (VoicePeriodNotice.period == period)).exists():
                continue                     # already over this month's minutes again: stays off
            count = _reactivate(user, now)
            done += 1
            if count and not user.is_disabled:
                queue_email(user.email, "Your voice agents are back on", "voice_minutes_reset", user_id=user.id,
                            user=user, agents=count, minute_limit=usage.usage_for(user, now).limit,
                            link=_dashboard_link())
    # agents switched off without a notice (e.g. a notice deleted with its month): back on, quietly
    stray = (VoiceAgent.select(VoiceAgent.user).where((VoiceAgent.auto_deactivated == True)  # noqa: E712
                                                      & VoiceAgent.deleted_at.is_null()).distinct())
    for (user_id,) in stray.tuples():
        noticed = VoicePeriodNotice.select().where((VoicePeriodNotice.user == user_id)
                                                   & ((VoicePeriodNotice.period == period)
                                                      | VoicePeriodNotice.reactivated_at.is_null()))
        if not noticed.exists():
            with transaction():
                _reactivate(User.get_by_id(user_id), now)
    return done


def _reactivate(user: User, now: datetime) -> int:
    ids = [agent_id for (agent_id,) in VoiceAgent.select(VoiceAgent.id).where(
        (VoiceAgent.user == user.id) & (VoiceAgent.auto_deactivated == True)  # noqa: E712
        & VoiceAgent.deleted_at.is_null()).tuples()]
    if not ids:
        return 0
    count = (VoiceAgent.update(is_active=True, auto_deactivated=False, updated_at=now)
             .where(VoiceAgent.id.in_(ids) & (VoiceAgent.auto_deactivated == True)).execute())  # noqa: E712
    for agent_id in ids:
        audit.record("voice_agent.updated", resource="voice_agent", resource_id=agent_id, user=user,
                     details={"isActive": True, "reason": "a new month of voice minutes began"})
    return count
