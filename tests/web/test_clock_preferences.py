"""A new host's clock (12 or 24 h): the browser's hour cycle from the sign-up form, else the browser's language
region, else the convention of the time zone's country; the dashboard then shows times on that clock."""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import EventType, User
from app.services.booking import bookings as booking_service

FORM = {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada", "password": "analytical engine 1843"}


def _db(app):
    from contextlib import ExitStack

    from app.db import db

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(db.connection_context())
    return stack


def sign_up(client, timezone: str, headers: dict | None = None, **extra) -> None:
    response = client.post("/signup", data={**FORM, "timezone": timezone, **extra}, headers=headers or {})
    assert response.status_code == 302, response.data[:500]


def stored_hour12(app) -> bool:
    with _db(app):
        return User.get(User.username == "ada").hour12


def next_tuesday_1400_utc() -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today + timedelta(days=(1 - today.weekday()) % 7 + 7), time(14, 0), UTC)


def book_the_new_host(app) -> datetime:
    start = next_tuesday_1400_utc()
    with _db(app):
        host = User.get(User.username == "ada")
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        booking_service.create_booking(event_type, booking_service.BookingRequest(
            start=start, invitee_name="Ivan Invitee", invitee_email="ivan@example.com",
            invitee_timezone="Asia/Tokyo"))
    return start


def test_sign_up_page_has_the_hour_cycle_field_for_the_browser(client):
    page = client.get("/signup").get_data(as_text=True)
    assert re.search(r'<input type="hidden" name="hour" value="" data-detect-hour-cycle>', page)


@pytest.mark.parametrize("timezone, twelve", [("America/New_York", True), ("Europe/Paris", False)])
def test_a_new_host_without_a_browser_hint_gets_the_clock_of_their_zones_country(client, app, timezone, twelve):
    sign_up(client, timezone)
    assert stored_hour12(app) is twelve
    start = book_the_new_host(app).astimezone(ZoneInfo(timezone))
    end = start + timedelta(minutes=30)
    page = client.get("/dashboard/bookings").get_data(as_text=True)
    assert "Ivan Invitee" in page
    on_12 = f"{start.hour % 12 or 12}:00{'am' if start.hour < 12 else 'pm'} – {end.hour % 12 or 12}:30"
    on_24 = f"{start:%H:%M} – {end:%H:%M}"
    assert (on_12 in page, on_24 in page) == (twelve, not twelve)


@pytest.mark.parametrize("timezone, hour, twelve", [
    ("America/New_York", "24", False), ("Europe/Paris", "12", True), ("Europe/Paris", "24", False),
])
def test_the_browsers_hour_cycle_from_the_form_wins(client, app, timezone, hour, twelve):
    sign_up(client, timezone, hour=hour)
    assert stored_hour12(app) is twelve


@pytest.mark.parametrize("language, twelve", [("en-GB,en;q=0.9", False), ("en-US,en;q=0.9", True),
                                              ("en", True)])
def test_without_the_field_the_browsers_language_region_comes_before_the_zone(client, app, language, twelve):
    sign_up(client, "America/New_York", headers={"Accept-Language": language})   # "en": no region, the zone
    assert stored_hour12(app) is twelve


def test_a_failed_sign_up_keeps_the_browsers_hour_cycle(client):
    response = client.post("/signup", data={**FORM, "timezone": "Europe/Paris", "username": "x", "hour": "12"})
    assert response.status_code == 422
    assert '<input type="hidden" name="hour" value="12" data-detect-hour-cycle>' in response.get_data(as_text=True)
