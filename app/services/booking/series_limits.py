"""Booking limits over a recurring series (issue 23): the engine checks each occurrence against the bookings that
exist; this check, run by ``bookings._check_slots`` under the host lock, also counts the series' own earlier
occurrences (four weekly occurrences against a limit of two a month)."""
from __future__ import annotations

from app.services.booking.bookings import SERIES_CHECKS
from app.services.scheduling.booking_limits import series_conflicts

SERIES_CHECKS.append(series_conflicts)
