"""The availability troubleshooter page: the day's timeline and start times, the htmx partial, another user's
event type is 404, and the busy details (invitee names, calendar names) only on the owner's page."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests import factories
from tests.conftest import login

URL = "/dashboard/availability/troubleshoot"
HX = {"HX-Request": "true"}


def _db(app):
    from contextlib import ExitStack

    from app.db import db

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(db.connection_context())
    return stack


def _day() -> date:
    """A Tuesday two to three weeks ahead (inside the default 60-day window, past any notice)."""
    day = datetime.now(UTC).date() + timedelta(days=14)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day


@pytest.fixture
def hana(app, make_user):
    return make_user("hana", timezone="Europe/Berlin")


@pytest.fixture
def setup(app, hana):
    """Hana's 30-min event type with a booking at 10:00 Berlin and a busy hour in her "Work Secrets" calendar."""
    from app.models import CalendarBusyCache
    from app.models.base import utcnow
    from app.services.integrations import calendars
    from app.timezones import zone

    day = _day()
    with _db(app):
        event_type = factories.event_type(hana)
        midnight = datetime.combine(day, time(0), zone("Europe/Berlin")).astimezone(UTC)
        factories.booking_row(event_type, midnight + timedelta(hours=10), name="Ivan Privatename")
        integration = factories.connection(hana, provider="ics", label="Feed")
        cal = factories.connection_calendar(integration, name="Work Secrets", check_conflicts=True)
        busy = [int((midnight + timedelta(hours=14)).timestamp()), int((midnight + timedelta(hours=15)).timestamp())]
        for w in calendars.windows(midnight - timedelta(days=4), midnight + timedelta(days=5)):
            inside = w.timestamp() <= busy[0] < (w + calendars.WINDOW).timestamp()
            CalendarBusyCache.create(calendar=cal.id, window_start=w, fetched_at=utcnow(),
                                     intervals=json.dumps([busy] if inside else []))
    return event_type, day


def test_the_page_shows_the_days_timeline_and_why_each_start_is_not_bookable(client, hana, setup):
    event_type, day = setup
    login(client, hana)
    response = client.get(f"{URL}?event_type={event_type.id}&date={day.isoformat()}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" in body and 'id="ts-result"' in body and "css/troubleshooter" in body
    assert "Working hours 09:00–17:00" in body
    assert "Ivan Privatename" in body and "Work Secrets" in body
    assert "Overlaps the booking" in body and "Busy in “Work Secrets”" in body
    assert "<strong>13</strong> of 16 start times can be booked" in body
    assert "Europe/Berlin" in body or "Europe/Berlin".replace("_", " ") in body


def test_without_parameters_the_first_event_type_and_today_are_shown(client, hana, setup):
    login(client, hana)
    response = client.get(URL)
    assert response.status_code == 200 and "30" in response.get_data(as_text=True)
    assert client.get(f"{URL}?date=not-a-date").status_code == 200


def test_htmx_gets_only_the_result(client, hana, setup):
    event_type, day = setup
    login(client, hana)
    response = client.get(f"{URL}?event_type={event_type.id}&date={day.isoformat()}", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<section id="ts-result"')
    assert "Ivan Privatename" in body


def test_another_users_event_type_is_404_and_shows_nothing_of_it(client, make_user, hana, setup):
    event_type, day = setup
    bob = make_user("bob")
    login(client, bob)
    for headers in ({}, HX):
        response = client.get(f"{URL}?event_type={event_type.id}&date={day.isoformat()}", headers=headers)
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        assert "Ivan Privatename" not in body and "Work Secrets" not in body
    own = client.get(f"{URL}?date={day.isoformat()}").get_data(as_text=True)
    assert "Ivan Privatename" not in own and "Work Secrets" not in own


def test_the_page_needs_a_login_and_the_availability_page_links_to_it(client, hana, setup):
    assert client.get(URL).status_code in (302, 303)
    login(client, hana)
    assert URL in client.get("/dashboard/availability").get_data(as_text=True)
