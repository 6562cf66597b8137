"""Requires confirmation (issue 23 point 2): an event type whose bookings wait for the host's confirmation, always or
only when booked less than ``confirmation_threshold_hours`` before their start.

Personal event types only: a team event type refuses the option (who of its hosts would confirm?). A priced or
repeating event type refuses it too: a payment and a series each have their own hold, and one request confirms one
meeting. The booking side lives in ``app.services.booking.approvals``.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.models import EventType
from app.services.scheduling.event_types import OPTION_VALIDATORS, EventTypeInput, _int, resulting

MAX_THRESHOLD_HOURS = 24 * 365
TEAM_REFUSED = "Team event types cannot require confirmation: only personal event types can."
PAID_REFUSED = "A paid event type cannot require confirmation: remove the price, or take bookings at once."
REPEAT_REFUSED = "A repeating event type cannot require confirmation: choose single meetings, or take bookings at once."


def needs_confirmation(event_type: EventType, start: datetime, now: datetime) -> bool:
    """Whether a booking of ``event_type`` starting at ``start``, made at ``now``, waits for the host's confirmation."""
    if not event_type.requires_confirmation or event_type.team_id:
        return False
    hours = event_type.confirmation_threshold_hours
    return hours is None or start - now < timedelta(hours=hours)


def _validate_approval(errors: dict, changes: dict, data: EventTypeInput, current: EventType | None, team) -> None:
    if data.requires_confirmation is not None:
        changes["requires_confirmation"] = bool(data.requires_confirmation)
    if data.confirmation_threshold_hours is not None:
        changes["confirmation_threshold_hours"] = _int(
            errors, "confirmation_threshold_hours", data.confirmation_threshold_hours, 1, MAX_THRESHOLD_HOURS,
            "the confirmation threshold in hours", optional=True)
    required = changes.get("requires_confirmation", current.requires_confirmation if current else False)
    if not required:
        return
    if team is not None:
        errors["requires_confirmation"] = TEAM_REFUSED
        return
    # read from the input, not ``changes``: the price's own validator may run after this one
    priced = (data.price or "").strip() if data.price is not None else (current.price_amount if current else None)
    repeats = resulting(changes, current, "recurrence")
    if priced:
        errors["requires_confirmation"] = PAID_REFUSED
    elif repeats:
        errors["requires_confirmation"] = REPEAT_REFUSED


OPTION_VALIDATORS.append(_validate_approval)
