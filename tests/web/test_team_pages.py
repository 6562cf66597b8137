"""Public team pages (issue 15) through the test client: the team page, a team event type's booking page, its
calendar and slots partials, the booking form, the invitee's page of a team booking, and the reserved username.

The pages use the real clock: every time here is "next week's Tuesday at hh:mm in Berlin", inside the default
60-day window and the members' default Monday-Friday 09:00-17:00 hours.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, BookingHost, EventType, Organization
from app.services.booking.notifications import link_token
from tests import factories

BERLIN = ZoneInfo("Europe/Berlin")


def next_week(weekday: int = 1, hour: int = 10, minute: int = 0) -> datetime:
    """``weekday`` (0 = Monday) of next week at ``hour:minute`` in Berlin, as UTC."""
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


def html(response) -> str:
    return response.get_data(as_text=True)


def slot_times(page: str) -> set[str]:
    return set(re.findall(r'class="slot"[^>]*>\s*([0-9:]+)\s*<', page))


def form_fields(page: str) -> dict[str, str]:
    form = page[page.index('class="booking-form"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def crew(make_user, ctx):
    """Olga owns the Acme organization; Adam and Mia are in its Sales team with her (all in Berlin)."""
    olga = make_user("olga", name="Olga Owner")
    adam = make_user("adam", name="Adam Able")
    mia = make_user("mia", name="Mia Moss")
    team = factories.team(olga, [adam, mia])
    Organization.update(brand_color="#7c3aed").where(Organization.id == team.organization_id).execute()
    return olga, adam, mia, team


def day_of(start: datetime) -> str:
    return start.astimezone(BERLIN).date().isoformat()


def busy(person, start: datetime, email: str = "busy@example.com") -> None:
    """``person`` has a personal booking at ``start`` (30 minutes)."""
    factories.booking(factories.event_type(person), start, email=email)


def open_form(client, path: str, start: datetime) -> dict[str, str]:
    local = start.astimezone(BERLIN)
    response = client.get(f"{path}?tz=Europe/Berlin&date={local.date().isoformat()}&time={local:%H:%M}")
    assert response.status_code == 200 and 'class="booking-form"' in html(response), html(response)[-2000:]
    return form_fields(html(response))


# --- the team page -------------------------------------------------------------------------------------------
def test_team_page_lists_public_team_event_types_with_kind_and_hosts(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo", description="A **product** tour")
    factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel", duration=60)
    factories.team_event_type(olga, team, [adam], name="Hidden", is_secret=True)
    factories.team_event_type(olga, team, [adam], name="Sketch", status="draft")
    response = client.get("/team/sales")
    page = html(response)
    assert response.status_code == 200
    assert "Book a time with Sales" in page and "--brand: #7c3aed;" in page
    assert 'href="/team/sales/demo"' in page and 'href="/team/sales/panel"' in page
    assert "Round robin" in page and "Collective" in page
    assert "With Adam Able, Mia Moss" in page or "With Mia Moss, Adam Able" in page
    assert "Olga Owner" in page and "60 min" in page and "<strong>product</strong>" in page
    assert "Hidden" not in page and "Sketch" not in page
    assert "host-logo" not in page


def test_team_pages_show_the_organizations_logo_once_it_has_one(client, crew):
    from app.models import OrganizationLogo

    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    assert "host-logo" not in html(client.get("/team/sales/demo"))
    OrganizationLogo.create(organization=team.organization_id, content_type="image/png", data=b"\x89PNG\r\n\x1a\n")
    for path in ("/team/sales", "/team/sales/demo"):
        assert f'class="host-logo" src="/org-logo/{team.organization_id}"' in html(client.get(path))
    assert client.get(f"/org-logo/{team.organization_id}").status_code == 200


def test_unknown_team_draft_and_unknown_event_type_are_404_and_secret_is_bookable_by_link(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam], name="Hidden", is_secret=True)
    factories.team_event_type(olga, team, [adam], name="Sketch", status="draft")
    assert client.get("/team/nobody").status_code == 404
    assert client.get("/team/sales/nothing").status_code == 404
    assert client.get("/team/sales/sketch").status_code == 404
    assert client.get(f"/team/sales/sketch/slots?date={day_of(next_week())}").status_code == 404
    assert client.get("/team/sales/hidden").status_code == 200


def test_a_team_event_type_is_not_served_at_its_creators_personal_address(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    assert client.get("/olga/demo").status_code == 404
    assert "Demo" not in html(client.get("/olga"))


# --- booking page, calendar and slots ------------------------------------------------------------------------
def test_booking_page_and_calendar_show_the_team_and_link_to_the_team_routes(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    page = html(client.get("/team/sales/demo?tz=Europe/Berlin&hour=24"))
    assert "Sales" in page and 'href="/team/sales"' in page and "--brand: #7c3aed;" in page
    assert "/team/sales/demo/slots?" in page or "/team/sales/demo/calendar?" in page
    month = next_week().astimezone(BERLIN).strftime("%Y-%m")
    partial = client.get(f"/team/sales/demo/calendar?tz=Europe/Berlin&month={month}", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in html(partial)
    assert re.search(rf'href="/team/sales/demo\?[^"]*date={day_of(next_week())}"', html(partial))


def test_round_robin_slots_are_the_union_and_collective_slots_the_intersection(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    factories.team_event_type(olga, team, [adam, mia], kind="collective", name="Panel")
    busy(adam, next_week(1, 10))
    busy(mia, next_week(1, 11), email="other@example.com")
    day = day_of(next_week())
    union = slot_times(html(client.get(f"/team/sales/demo/slots?tz=Europe/Berlin&date={day}")))
    both = slot_times(html(client.get(f"/team/sales/panel/slots?tz=Europe/Berlin&date={day}")))
    assert {"09:00", "10:00", "10:30", "11:00", "16:30"} <= union
    assert {"09:00", "10:30", "11:30", "16:30"} <= both and not {"10:00", "11:00"} & both
    busy(mia, next_week(1, 10), email="third@example.com")        # now both are busy at 10:00
    union = slot_times(html(client.get(f"/team/sales/demo/slots?tz=Europe/Berlin&date={day}")))
    assert "10:00" not in union and "11:00" in union


# --- booking -------------------------------------------------------------------------------------------------
def test_booking_a_round_robin_time_makes_a_booking_with_its_host_and_the_invitee_page_names_them(client, crew):
    olga, adam, mia, team = crew
    demo = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    busy(adam, next_week(1, 10))
    start = next_week(1, 10)
    data = open_form(client, "/team/sales/demo", start)
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    response = client.post("/team/sales/demo", data=data)
    assert response.status_code == 302, html(response)
    location = response.headers["Location"]
    assert location.startswith("/booking/") and "booked=1" in location
    booking = Booking.get((Booking.event_type == demo.id) & (Booking.invitee_email == "ivan@example.com"))
    assert booking.start_at == start and booking.user_id == mia.id            # Adam is busy then
    assert [row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id)] == [mia.id]
    page = html(client.get(location))
    assert "You are scheduled" in page and "Demo with Mia Moss" in page


def test_booking_by_htmx_answers_with_a_redirect_header(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [olga, adam, mia], kind="collective", name="Panel")
    data = open_form(client, "/team/sales/panel", next_week(1, 14))
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    response = client.post("/team/sales/panel", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/booking/")
    booking = Booking.get()
    hosts = {row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id)}
    assert hosts == {olga.id, adam.id, mia.id}


def test_a_taken_time_answers_409_with_the_message_and_the_days_slots(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    start = next_week(1, 10)
    data = open_form(client, "/team/sales/demo", start)
    busy(adam, start)
    busy(mia, start, email="other@example.com")
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    response = client.post("/team/sales/demo", data=data)
    page = html(response)
    assert response.status_code == 409
    assert "This time is no longer available" in page
    assert "10:00" not in slot_times(page) and "10:30" in slot_times(page)
    assert Booking.select().where(Booking.invitee_email == "ivan@example.com").count() == 0


def test_a_form_token_of_another_event_type_is_refused(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    factories.team_event_type(olga, team, [adam, mia], name="Other")
    data = open_form(client, "/team/sales/other", next_week(1, 10))
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    response = client.post("/team/sales/demo", data=data)
    assert response.status_code == 400 and "This form expired" in html(response)
    assert Booking.select().count() == 0


def test_embedded_team_pages_may_be_framed(client, crew):
    olga, adam, mia, team = crew
    factories.team_event_type(olga, team, [adam, mia], name="Demo")
    framed = client.get("/team/sales/demo?embed=true")
    assert "frame-ancestors *" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers
    assert client.get("/team/sales/demo").headers["X-Frame-Options"] == "DENY"


def test_the_invitee_reschedules_and_cancels_a_team_booking(client, crew):
    olga, adam, mia, team = crew
    demo = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    booking = factories.booking(EventType.get_by_id(demo.id), next_week(1, 10))
    token = link_token(booking)
    page = html(client.get(f"/booking/{token}/reschedule?tz=Europe/Berlin"))
    assert f"/booking/{token}/reschedule/slots?" in page
    slots = html(client.get(f"/booking/{token}/reschedule/slots?tz=Europe/Berlin&date={day_of(next_week())}"))
    assert "14:00" in slot_times(slots)
    moved = client.post(f"/booking/{token}/reschedule",
                        data={"start": next_week(1, 14).strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": "Europe/Berlin"})
    assert moved.status_code == 302 and "rescheduled=1" in moved.headers["Location"]
    current = Booking.get_by_id(booking.id)
    assert current.start_at == next_week(1, 14) and current.user_id in (adam.id, mia.id)
    assert client.post(f"/booking/{token}/cancel", data={"reason": "No longer needed"}).status_code == 302
    assert Booking.get_by_id(booking.id).is_cancelled
    page = html(client.get(f"/booking/{token}"))
    assert 'href="/team/sales/demo"' in page                     # "Book a new time" goes to the team's page


# --- the reserved username -----------------------------------------------------------------------------------
def test_team_is_a_reserved_username(client, app):
    response = client.post("/signup", data={"name": "Tea M", "email": "team@example.com", "username": "team",
                                            "password": "analytical engine 1843", "timezone": "Europe/London"})
    assert response.status_code == 422 and b"This username is reserved." in response.data


def test_team_routes_win_over_a_hosts_two_segment_address(app):
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert rules["/team/<team_slug>"] == "team_pages.team_page"
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/team/sales")[0] == "team_pages.team_page"
    assert adapter.match("/team/sales/demo")[0] == "team_pages.booking_page"
    assert adapter.match("/team/sales/demo/slots")[0] == "team_pages.slots"
    assert adapter.match("/teamster/demo")[0] == "public.booking_page"
