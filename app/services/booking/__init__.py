"""Bookings: creating, moving and cancelling them, their lifecycle, the emails about them, contacts."""
