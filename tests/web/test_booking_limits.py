"""Booking limits in the dashboard (issue 23): the event type editor's "More booking limits" fields with inline
errors, and the host-wide page (Availability → Booking limits), a plain form whose htmx post answers with the form
alone."""
from __future__ import annotations

import pytest

from app.models import EventType, HostBookingLimits
from tests.conftest import login
from tests.web.test_paid_booking_pages import editor_form as paid_editor_form

BASE = "/dashboard/event-types"
LIMITS = "/dashboard/availability/limits"
HX = {"HX-Request": "true"}


def editor_form(**changes) -> dict:
    """The editor's fields (no payment section: no payment provider is set up here)."""
    return paid_editor_form(payment_section=None, **changes)


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def hana(app, client):
    from tests import factories
    with app.app_context():         # models are read between requests (each request has its own connection)
        user = factories.user("hana", timezone="America/New_York")
        login(client, user)
        yield user


def test_the_editor_saves_and_shows_the_limits(client, hana):
    page = html(client.get(f"{BASE}/new"))
    assert 'name="max_per_week"' in page and 'name="max_minutes_per_week"' in page
    response = client.post(f"{BASE}/new", data=editor_form(limits_section="1", max_per_week="3", max_per_month="",
                                                           max_per_year="100", max_minutes_per_day="120",
                                                           max_minutes_per_week=""))
    assert response.status_code == 302, html(response)[:2000]
    et = EventType.get(EventType.slug == "coaching")
    assert (et.max_per_week, et.max_per_month, et.max_per_year, et.max_minutes_per_day, et.max_minutes_per_week) == (
        3, None, 100, 120, None)
    edit = html(client.get(f"{BASE}/{et.id}/edit"))
    assert 'id="f-max_per_week"' in edit and 'value="3"' in edit and 'value="120"' in edit
    # emptied: no limit; a form without the section (a team's) leaves them as they are
    form = editor_form(limits_section="1", max_per_year="100")
    assert client.post(f"{BASE}/{et.id}/edit", data=form).status_code == 302
    assert EventType.get_by_id(et.id).max_per_week is None
    assert client.post(f"{BASE}/{et.id}/edit", data=editor_form()).status_code == 302
    assert EventType.get_by_id(et.id).max_per_year == 100


def test_the_editor_shows_bad_limits_inline_and_saves_nothing(client, hana):
    response = client.post(f"{BASE}/new", headers=HX,
                           data=editor_form(limits_section="1", max_per_week="0", max_minutes_per_day="a lot"))
    page = html(response)
    assert response.status_code == 422
    assert 'id="e-max_per_week"' in page and "Enter between 1 and 5000 bookings per week" in page
    assert 'id="e-max_minutes_per_day"' in page and "whole number of booked minutes per day" in page
    assert "Bookings per week:" in page         # the summary names the field
    assert not EventType.select().where(EventType.slug == "coaching").exists()


def test_the_host_wide_page_saves_with_htmx_and_shows_errors_inline(client, hana):
    page = html(client.get("/dashboard/availability"))
    assert LIMITS in page
    page = html(client.get(LIMITS))
    assert "<html" in page and 'name="max_per_day"' in page
    response = client.post(LIMITS, headers=HX, data={"max_per_day": "4", "max_per_week": "12", "max_per_month": "",
                                                     "max_per_year": "", "max_minutes_per_day": "240",
                                                     "max_minutes_per_week": ""})
    part = html(response)
    assert response.status_code == 200 and "<html" not in part and 'id="limits-form"' in part
    assert "Booking limits saved." in part
    row = HostBookingLimits.get(HostBookingLimits.user == hana.id)
    assert (row.max_per_day, row.max_per_week, row.max_minutes_per_day, row.max_per_month) == (4, 12, 240, None)
    response = client.post(LIMITS, headers=HX, data={"max_per_day": "4", "max_per_week": "-1",
                                                     "max_minutes_per_week": "99999"})
    part = html(response)
    assert response.status_code == 422
    assert 'id="e-max_per_week"' in part and 'aria-invalid="true"' in part and "Nothing was saved" in part
    assert 'id="e-max_minutes_per_week"' in part
    assert HostBookingLimits.get(HostBookingLimits.user == hana.id).max_per_week == 12


def test_the_host_wide_page_works_without_javascript_and_needs_sign_in(client, hana, app):
    response = client.post(LIMITS, data={"max_per_week": "5"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{LIMITS}?saved=1")
    assert "Booking limits saved." in html(client.get(response.headers["Location"]))
    assert 'value="5"' in html(client.get(LIMITS))
    anonymous = app.test_client()
    assert anonymous.get(LIMITS).status_code == 302
    assert anonymous.post(LIMITS, data={"max_per_week": "1"}).status_code in (302, 400)
    assert HostBookingLimits.get(HostBookingLimits.user == hana.id).max_per_week == 5
