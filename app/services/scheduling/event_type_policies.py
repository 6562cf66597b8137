"""Cancellation and reschedule policy of an event type (issue 23 point 4): until when the invitee may cancel and
reschedule online, and whether a cancellation needs a reason. Enforced by ``app.services.booking.policy``."""
from __future__ import annotations

from app.services.scheduling.event_types import OPTION_VALIDATORS, _int

# what the invitee may do online: at any time before the start, until N hours before it, or never
POLICY_MODES = ("anytime", "until", "never")
MIN_POLICY_HOURS, MAX_POLICY_HOURS = 1, 24 * 365


def _mode(errors: dict, field: str, value) -> str | None:
    mode = str(value).strip().lower()
    if mode not in POLICY_MODES:
        errors[field] = "Choose any time, until some hours before the start, or never."
        return None
    return mode


def _validate_policy(errors: dict, changes: dict, data, current, team) -> None:
    for action in ("cancel", "reschedule"):
        mode_field, hours_field = f"invitee_{action}", f"invitee_{action}_hours"
        mode = getattr(data, mode_field)
        if mode is not None:
            mode = _mode(errors, mode_field, mode)
            if mode is not None:
                changes[mode_field] = mode
        hours = getattr(data, hours_field)
        if hours is not None and hours != "":
            number = _int(errors, hours_field, hours, MIN_POLICY_HOURS, MAX_POLICY_HOURS, "the number of hours")
            if number is not None:
                changes[hours_field] = number
        elif mode == "until" and hours == "":
            errors[hours_field] = "Enter the number of hours."
    if data.require_cancel_reason is not None:
        changes["require_cancel_reason"] = bool(data.require_cancel_reason)


OPTION_VALIDATORS.append(_validate_policy)
