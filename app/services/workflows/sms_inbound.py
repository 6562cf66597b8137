"""Texts coming back from Twilio (issue 17): opt-out keywords and the delivery status of sent texts.

An inbound text whose whole body (case and surrounding spaces aside) is a stop word records an opt-out for that
number; a start word removes it; a help word answers who sends these texts and how to stop them. Any other text is
ignored. Opted-out numbers are never texted (the SMS action checks ``opted_out`` first).

Status callbacks update the ``WorkflowRunAction`` that sent the message (its ``remote_id`` is the message SID):
``delivered`` marks it delivered, ``failed`` / ``undelivered`` failed with Twilio's error code in plain words; other
statuses (``queued``, ``sent``, ...) change nothing, and a delivered or failed row is never moved back. Callbacks
may arrive twice or out of order, so every update is idempotent.
"""
from __future__ import annotations

from app.integrations.twilio_sms import explain
from app.models.base import utcnow
from app.models.workflows import WorkflowRunAction
from app.services.opt_outs import opt_in, opt_out
from app.statements import Param, Statement

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
FINAL_STATUSES = ("delivered", "failed")

UNSUBSCRIBED_REPLY = "You've been unsubscribed."


def keyword(body: str | None) -> str | None:
    """``"stop"``, ``"start"`` or ``"help"`` when the whole message is one of their words, else None."""
    word = " ".join((body or "").split()).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def reply_for(from_phone: str, body: str, instance_name: str) -> str | None:
    """Apply the keyword of an inbound text from ``from_phone`` and answer the reply to send (None: no reply)."""
    kind = keyword(body)
    if kind == "stop":
        opt_out(from_phone)
        return UNSUBSCRIBED_REPLY
    if kind == "start":
        opt_in(from_phone)
        return f"You've been resubscribed to {instance_name} scheduling messages. Reply STOP to unsubscribe."
    if kind == "help":
        return f"{instance_name} scheduling messages. Reply STOP to unsubscribe, START to resubscribe."
    return None


_RECORD = Statement(lambda: WorkflowRunAction.update(
    status=Param("status", WorkflowRunAction.status), error=Param("error", WorkflowRunAction.error),
    finished_at=Param("finished_at", WorkflowRunAction.finished_at),
).where((WorkflowRunAction.remote_id == Param("sid")) & WorkflowRunAction.status.not_in(FINAL_STATUSES)))


def record_status(sid: str, status: str, error_code: int | None) -> None:
    """Apply a status callback to the action that sent message ``sid`` (unknown SIDs are ignored)."""
    status = (status or "").strip().lower()
    if not sid or status not in ("delivered", "failed", "undelivered"):
        return
    delivered = status == "delivered"
    # one statement, atomic on its own: no BEGIN / COMMIT around it (each a turn of SQLite's write lock)
    _RECORD.execute(sid=sid, status="delivered" if delivered else "failed",
                    error=None if delivered else explain(error_code), finished_at=utcnow())

