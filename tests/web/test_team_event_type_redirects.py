"""Redirect after booking in the TEAM event-type editor (issue 23 point 9; the personal editor's is tested in
test_booking_redirect.py): the organization page's team form has the "After booking" section, saves the https URL
and "pass the booking's details", shows them again, refuses a bad URL inline (nothing saved), leaves the redirect
alone when a form without the section is posted, and clears it when emptied; an invitee who books the team event
type on the team booking page is sent there with the booking's details."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db import db
from app.models import Booking, EventType, Membership
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.conftest import login

HTMX = {"HX-Request": "true"}
TARGET = "https://example.com/thanks"


@pytest.fixture
def crew(app, make_user):
    """Acme's team Sales: Olga owns Acme, Adam is an admin and Mia a member of it (both in Sales)."""
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia")}
    with app.app_context(), db.connection_context():
        team = factories.team(people["olga"], [people["adam"], people["mia"]])
        Membership.update(role="ADMIN").where((Membership.organization == team.organization_id)
                                              & (Membership.user == people["adam"].id)).execute()
    return {**people, "team": team, "org_id": team.organization_id}


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _form(crew, **overrides):
    """A complete, valid post of the team form with its "After booking" section; None leaves a field out."""
    data = {"name": "Demo", "slug": "demo", "description": "", "duration": "30", "extra_durations": "",
            "location_type": "none", "location_detail": "", "buffer_before": "0", "buffer_after": "0",
            "notice_value": "0", "notice_unit": "hours", "window_type": "rolling", "window_days": "30",
            "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
            "color": "#2563eb", "recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4",
            "reminders": ["1440"], "reminder_custom": "", "scheduling_type": "collective",
            "host": [crew["adam"].id], "op": "save", "redirect_section": "1", "redirect_url": "",
            "redirect_with_details": None}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _new_url(crew):
    return f"/dashboard/organizations/{crew['org_id']}/teams/{crew['team'].id}/event-types/new"


def _edit_url(crew, event_type_id):
    return f"/dashboard/organizations/{crew['org_id']}/event-types/{event_type_id}/edit"


def _demo(app):
    with app.app_context(), db.connection_context():
        return EventType.get_or_none((EventType.slug == "demo") & EventType.team.is_null(False))


def test_the_team_form_saves_shows_and_clears_the_redirect(app, crew):
    adam = _client(app, crew["adam"])
    opened = adam.get(_new_url(crew), headers=HTMX).data.decode()
    assert 'id="tet-after-booking"' in opened and 'name="redirect_section" value="1"' in opened
    assert 'id="tet-redirect_url" name="redirect_url" type="url"' in opened
    created = adam.post(_new_url(crew), data=_form(crew, redirect_url=f" {TARGET}?a=1 ",
                                                   redirect_with_details="1"), headers=HTMX)
    assert created.status_code == 200 and "Created the team event type “Demo” in Sales." in created.data.decode()
    demo = _demo(app)
    assert (demo.redirect_url, demo.redirect_with_details) == (f"{TARGET}?a=1", True)

    form = adam.get(_edit_url(crew, demo.id), headers=HTMX).data.decode()
    assert f'value="{TARGET}?a=1"' in form
    assert re.search(r'name="redirect_with_details" value="1" id="tet-redirect_with_details" checked', form)

    # a post without the section (an older page) leaves it as it is
    kept = _form(crew, redirect_section=None, redirect_url=None)
    assert adam.post(_edit_url(crew, demo.id), data=kept).status_code == 302
    assert (_demo(app).redirect_url, _demo(app).redirect_with_details) == (f"{TARGET}?a=1", True)

    # emptied, and the box unticked: no redirect
    assert adam.post(_edit_url(crew, demo.id), data=_form(crew)).status_code == 302
    assert (_demo(app).redirect_url, _demo(app).redirect_with_details) == (None, False)


@pytest.mark.parametrize(("url", "message"), [("http://example.com/thanks", "Use an https:// URL."),
                                              ("https://user:pw@example.com/", "user name or password"),
                                              ("https://intranet/thanks", "Enter a valid URL")])
def test_a_bad_url_is_refused_inline_and_nothing_is_saved(app, crew, url, message):
    olga = _client(app, crew["olga"])
    response = olga.post(_new_url(crew), data=_form(crew, redirect_url=url), headers=HTMX)
    assert response.status_code == 422
    page = response.data.decode()
    assert 'id="tet-e-redirect_url"' in page and message in page
    assert 'aria-invalid="true" aria-describedby="tet-e-redirect_url"' in page
    assert f'value="{url}"' in page and 'href="#tet-redirect_url"' in page         # the error summary links to it
    assert _demo(app) is None


def test_a_member_cannot_set_it(app, crew):
    mia = _client(app, crew["mia"])
    response = mia.post(_new_url(crew), data=_form(crew, redirect_url=TARGET), headers=HTMX)
    assert response.status_code == 403 and _demo(app) is None


def test_the_team_booking_page_sends_the_invitee_there_with_the_details(app, crew):
    olga = _client(app, crew["olga"])
    assert olga.post(_new_url(crew), data=_form(crew, redirect_url=TARGET + "?campaign=spring",
                                                redirect_with_details="1")).status_code == 302
    demo = _demo(app)
    now = datetime.now(UTC)
    with app.app_context(), db.connection_context():
        start = available_slots(EventType.get_by_id(demo.id), now + timedelta(days=2), now + timedelta(days=12),
                                now=now)[0]
    guest = app.test_client()
    moment = start.astimezone(UTC)
    page = guest.get(f"/team/sales/demo?tz=UTC&date={moment.date().isoformat()}&time={moment:%H:%M}").data.decode()
    form = page[page.index('class="booking-form"'):]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form[:form.index("</form>")]))
    fields.update(name="Gina Guest", email="gina@example.com")
    response = guest.post("/team/sales/demo", data=fields, headers=HTMX)
    assert response.status_code == 204, response.data.decode()[:1000]
    target = urlsplit(response.headers["HX-Redirect"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == TARGET
    query = parse_qs(target.query)
    with app.app_context(), db.connection_context():
        booking = Booking.get(Booking.invitee_email == "gina@example.com")
    assert query["campaign"] == ["spring"] and query["booking_id"] == [booking.id]
    assert query["event_type"] == ["demo"] and query["invitee_name"] == ["Gina Guest"]
    assert query["start_time"] == [start.strftime("%Y-%m-%dT%H:%M:%SZ")]
