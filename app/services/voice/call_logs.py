"""Call logs as hosts read them: Dashboard → Calls and ``GET /api/v1/calls`` (spec page 23), and the deletion of
old transcripts.

A host sees the ``CallLog`` rows of their account (``CallLog.user``), newest first; another account's call is a
``NotFound``. ``CallFilter`` narrows the list by status, outcome, agent, direction and a half-open range of start
instants. ``call_json`` is the API's representation: ``{"id", "direction", "callerPhone", "durationSeconds",
"status" (lower case: "completed"), "agentName", "startedAt"}`` as page 23 shows it, plus ``outcome`` (the spec's
"with AI agent name, duration, and outcome"), ``callType`` and ``bookingId``.

Transcripts are kept ``VOICE_TRANSCRIPT_RETENTION_DAYS`` days from the call's start (default 90): the daily task
``delete_old_transcripts`` empties older ones and sets ``transcript_deleted_at`` (the call itself stays).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from peewee import JOIN

from app.models import Booking, CallLog, User, VoiceAgent
from app.models.base import utcnow
from app.models.voice import CALL_DIRECTIONS, CALL_OUTCOMES, CALL_STATUSES
from app.services.errors import NotFound
from app.services.events import iso

STATUS_LABELS = {"IN_PROGRESS": "In progress", "COMPLETED": "Completed", "FAILED": "Failed",
                 "NO_ANSWER": "No answer"}
OUTCOME_LABELS = {"booking_created": "Booking created", "info_provided": "Info provided", "no_action": "No action"}
DIRECTION_LABELS = {"inbound": "Inbound", "outbound": "Outbound", "web": "Web widget"}
DELETE_BATCH = 500


@dataclass(frozen=True)
class CallFilter:
    status: str = "all"                       # one of CALL_STATUSES, or "all"
    outcome: str | None = None                # one of CALL_OUTCOMES
    agent_id: str | None = None
    direction: str | None = None              # one of CALL_DIRECTIONS
    start: datetime | None = None             # started at or after
    end: datetime | None = None               # started before


def retention_days() -> int:
    return int(current_app.config["VOICE_TRANSCRIPT_RETENTION_DAYS"])


def _where(user: User, filters: CallFilter):
    condition = CallLog.user == user.id
    if filters.status != "all" and filters.status in CALL_STATUSES:
        condition &= CallLog.status == filters.status
    if filters.outcome in CALL_OUTCOMES:
        condition &= CallLog.outcome == filters.outcome
    if filters.agent_id:
        condition &= CallLog.agent == filters.agent_id
    if filters.direction in CALL_DIRECTIONS:
        condition &= CallLog.direction == filters.direction
    if filters.start is not None:
        condition &= CallLog.started_at >= filters.start
    if filters.end is not None:
        condition &= CallLog.started_at < filters.end
    return condition


def list_calls(user: User, filters: CallFilter | None = None, *, page: int = 1, limit: int = 20
               ) -> tuple[int, list[CallLog]]:
    """The number of the user's calls matching ``filters`` and one page of them, newest first (each with its
    agent and booking loaded, both may be None)."""
    condition = _where(user, filters or CallFilter())
    total = CallLog.select().where(condition).count()
    rows = list(CallLog.select(CallLog, VoiceAgent, Booking)
                .join(VoiceAgent, JOIN.LEFT_OUTER, on=(CallLog.agent == VoiceAgent.id))
                .switch(CallLog).join(Booking, JOIN.LEFT_OUTER, on=(CallLog.booking == Booking.id))
                .where(condition).order_by(CallLog.started_at.desc(), CallLog.id.desc())
                .limit(limit).offset((max(page, 1) - 1) * limit))
    return total, rows


def get_call(user: User, call_id: str) -> CallLog:
    call = CallLog.get_or_none((CallLog.id == call_id) & (CallLog.user == user.id))
    if call is None:
        raise NotFound("Call not found")
    return call


def agents_of(user: User) -> list[VoiceAgent]:
    """The account's agents for the filter (a deleted one still names its calls)."""
    return list(VoiceAgent.select().where(VoiceAgent.user == user.id).order_by(VoiceAgent.created_at))


def agent_name(call: CallLog) -> str:
    """The agent's name when the call was made (the agent may be renamed or gone since)."""
    if call.agent_name:
        return call.agent_name
    agent = call.agent if call.agent_id else None
    return agent.name if agent is not None else ""


def booking_of(call: CallLog) -> Booking | None:
    return call.booking if call.booking_id else None


def call_json(call: CallLog) -> dict:
    return {"id": call.id, "direction": call.direction, "callerPhone": call.caller_phone,
            "durationSeconds": int(call.duration_seconds or 0), "status": (call.status or "").lower(),
            "agentName": agent_name(call), "startedAt": iso(call.started_at), "outcome": call.outcome,
            "callType": call.call_type, "bookingId": call.booking_id}


def duration_text(seconds: int | None) -> str:
    """``142`` → ``2:22``; an hour or more ``1:02:03``."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def delete_old_transcripts(now: datetime | None = None) -> int:
    """Empty the transcripts of calls that started more than the retention period ago; how many were deleted."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days())
    deleted = 0
    while True:
        ids = [row.id for row in CallLog.select(CallLog.id)
               .where(CallLog.transcript.is_null(False) & (CallLog.started_at < cutoff)).limit(DELETE_BATCH)]
        if not ids:
            return deleted
        deleted += (CallLog.update(transcript=None, transcript_deleted_at=now)
                    .where(CallLog.id.in_(ids)).execute())
