"""Seats (issue 23): an event type whose every slot takes up to N invitees (a class, a webinar), each booking their
own seat. The rules of the option; the seats themselves are app/services/booking/seats.py.

A seated event type is a personal one with one length, free, not repeating and without a daily maximum (that
counts bookings, and each seat is one): those combinations are refused with a message saying why.
"""
from __future__ import annotations

from app.models import EventType
from app.services.scheduling.event_types import OPTION_VALIDATORS, EventTypeInput, resulting

MIN_SEATS, MAX_SEATS = 2, 1000
SEATS_NOT_TEAM = "Seats are for personal event types: a team event type books its hosts one invitee at a time."
SEATS_NOT_REPEATING = "A seated event type cannot repeat: choose single meetings, or leave the seats empty."
SEATS_NOT_PAID = "A seated event type is free: remove the price, or leave the seats empty."
SEATS_ONE_LENGTH = "A seated event type has one length: remove the other durations, or leave the seats empty."
SEATS_NO_DAILY_MAX = ("The daily maximum counts bookings and every seat is one: leave it empty for a seated event "
                      "type (the seats limit each slot).")


def parse_seats(errors: dict, value) -> int | None:
    """The seats typed: empty or 0 is a normal one-to-one event type (None), else 2..1000."""
    text = "" if value is None else str(value).strip()
    if text in ("", "0"):
        return None
    try:
        number = int(text)
    except ValueError:
        errors["seats"] = "The seats per time slot must be a whole number."
        return None
    if not MIN_SEATS <= number <= MAX_SEATS:
        errors["seats"] = (f"Offer between {MIN_SEATS} and {MAX_SEATS} seats per time slot, or leave it empty "
                           "for one invitee per time.")
        return None
    return number


def _validate_seats(errors: dict, changes: dict, data: EventTypeInput, current: EventType | None, team) -> None:
    if data.seats is not None:
        changes["seats"] = parse_seats(errors, data.seats)
    if data.seats_show_remaining is not None:
        changes["seats_show_remaining"] = bool(data.seats_show_remaining)
    if not resulting(changes, current, "seats") or "seats" in errors:
        return
    if team is not None or (current is not None and current.team_id):
        errors["seats"] = SEATS_NOT_TEAM
    elif resulting(changes, current, "recurrence"):
        errors["seats"] = SEATS_NOT_REPEATING
    elif resulting(changes, current, "price_amount"):
        errors["seats"] = SEATS_NOT_PAID
    elif resulting(changes, current, "extra_durations"):
        errors["seats"] = SEATS_ONE_LENGTH
    elif resulting(changes, current, "max_per_day"):
        errors["seats"] = SEATS_NO_DAILY_MAX


OPTION_VALIDATORS.append(_validate_seats)
