"""Cancellation and reschedule policy (issue 23 point 4): what an invitee may still do online with their booking.

An event type lets its invitees cancel, and separately reschedule, at any time before the start, until N hours
before it, or never (``app.services.scheduling.event_type_policies``), and may require a cancellation reason.
``bookings.cancel_booking`` / ``reschedule_booking`` call the checks below for the invitee's own actions
(``by == "invitee"``); the host's actions are never limited. A refusal is ``PolicyRefused``, a 403 (the JSON error
shape under /api). The refund rules of paid bookings (``refund_invitee_hours``) are separate and unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from app.models import Booking
from app.services.errors import Forbidden, ValidationFailed

ACTIONS = {"cancel": "cancelled", "reschedule": "rescheduled"}
REASON_REQUIRED = "Please tell the host why you are cancelling."


@dataclass(frozen=True)
class Rule:
    """One action's rule for one booking at one moment."""
    action: str                  # "cancel" | "reschedule"
    mode: str                    # "anytime" | "until" | "never"
    hours: int | None            # "until": the cut-off, hours before the start
    deadline: datetime | None    # "until": the last instant the action is allowed
    allowed: bool

    @property
    def hours_text(self) -> str:
        return f"{self.hours} hour{'s' if self.hours != 1 else ''}" if self.hours is not None else ""


def rule(booking: Booking, action: str, now: datetime) -> Rule:
    """The invitee's ``action`` on ``booking`` at ``now``: allowed up to and including the deadline (start − N h).
    A booking whose event type was deleted keeps the default (any time)."""
    event_type = booking.event_type
    mode = (getattr(event_type, f"invitee_{action}", None) if event_type is not None else None) or "anytime"
    if mode == "never":
        return Rule(action, mode, None, None, False)
    if mode == "until":
        hours = int(getattr(event_type, f"invitee_{action}_hours"))
        deadline = booking.start_at - timedelta(hours=hours)
        return Rule(action, mode, hours, deadline, now <= deadline)
    return Rule(action, "anytime", None, None, True)


class PolicyRefused(Forbidden):
    """The event type's policy no longer lets the invitee do this online (403)."""

    def __init__(self, booking: Booking, refused: Rule) -> None:
        verb = ACTIONS[refused.action]
        host = booking.user.name
        if refused.mode == "never":
            message = f"This meeting cannot be {verb} online. Please contact {host}."
        else:
            message = (f"This meeting can no longer be {verb} online: {host} allows it until {refused.hours_text} "
                       f"before the start. Please contact {host}.")
        super().__init__(message)
        self.rule = refused


def check_invitee_cancel(booking: Booking, reason: str | None, now: datetime) -> None:
    """Raise PolicyRefused past the cut-off (or when never allowed), ValidationFailed({"reason"}) when the event
    type requires a reason and none was given."""
    refused = rule(booking, "cancel", now)
    if not refused.allowed:
        raise PolicyRefused(booking, refused)
    if requires_reason(booking) and not (reason or "").strip():
        raise ValidationFailed({"reason": REASON_REQUIRED})


def check_invitee_reschedule(booking: Booking, now: datetime) -> None:
    refused = rule(booking, "reschedule", now)
    if not refused.allowed:
        raise PolicyRefused(booking, refused)


def requires_reason(booking: Booking) -> bool:
    event_type = booking.event_type
    return bool(event_type is not None and event_type.require_cancel_reason)


def contact_url(booking: Booking, action: str, when: str) -> str:
    """A mailto: link to the host with the subject filled in ("Cancel: Intro call on Tue 3 Mar 2026, 14:00")."""
    subject = f"{'Cancel' if action == 'cancel' else 'Reschedule'}: {booking.event_name} on {when}"
    return f"mailto:{quote(booking.user.email, safe='@')}?subject={quote(subject, safe='')}"
