"""Additional guests per event type (issue 23, point 1): ``max_guests``, how many guest emails an invitee may add
to a booking (default 10; 0 turns guests off). The bookings' side is ``app.services.booking.guests``."""
from __future__ import annotations

from app.services.scheduling.event_types import OPTION_VALIDATORS, _int

DEFAULT_MAX_GUESTS = 10
MAX_GUESTS_LIMIT = 50


def _validate_max_guests(errors: dict, changes: dict, data, current, team) -> None:
    if data.max_guests is None:
        return
    number = _int(errors, "max_guests", data.max_guests, 0, MAX_GUESTS_LIMIT, "the number of guests")
    if number is not None:
        changes["max_guests"] = number


OPTION_VALIDATORS.append(_validate_max_guests)
