"""The dashboard of team event types and team bookings (issue 15) through the test client: creating, editing and
deleting a team's event types in the organization page (OWNER/ADMIN; a MEMBER reads and is refused with a 403,
an outsider or another organization's id gets a 404), inline errors, the hosts saved with fixed and weight; the
"Team event types" section of the event types page; team bookings in each attending host's list and detail
(with the round-robin assignment's reason), a 404 to everyone else, and a cancel by a host who is not the
organizer."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.models import Booking, BookingHost, EventType, EventTypeHost, Membership
from app.services.booking import bookings as booking_service
from app.services.scheduling.slots import available_slots
from app.web.event_types import FIELD_LABELS
from tests import factories
from tests.conftest import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def crew(app, make_user):
    """Acme's team Sales: Olga owns Acme, Adam is an admin, Mia a member (all three in Sales); Otto is an outsider
    who owns his own organization, Umbrella, with a team event type of its own."""
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto")}
    with app.app_context(), db.connection_context():
        team = factories.team(people["olga"], [people["adam"], people["mia"]])
        Membership.update(role="ADMIN").where((Membership.organization == team.organization_id)
                                              & (Membership.user == people["adam"].id)).execute()
        other = factories.team(people["otto"], [], org_slug="umbrella", slug="umbrella-sales", name="U-Sales")
        foreign = factories.team_event_type(people["otto"], other, [people["otto"]], name="Foreign")
    return {**people, "team": team, "org_id": team.organization_id, "foreign": foreign,
            "foreign_team": other, "foreign_org_id": other.organization_id}


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _form(crew, **overrides):
    """A complete, valid post of the team form (as the page sends it); a value of None leaves the field out."""
    data = {"name": "Demo", "slug": "demo", "description": "", "duration": "30", "extra_durations": "",
            "location_type": "none", "location_detail": "", "buffer_before": "5", "buffer_after": "10",
            "notice_value": "2", "notice_unit": "hours", "window_type": "rolling", "window_days": "30",
            "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
            "color": "#2563eb", "recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4",
            "reminders": ["1440"], "reminder_custom": "", "scheduling_type": "round_robin",
            "host": [crew["adam"].id, crew["mia"].id], f"fixed-{crew['adam'].id}": "1",
            f"weight-{crew['adam'].id}": "1", f"weight-{crew['mia'].id}": "3", "op": "save"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _event_type(app, slug="demo"):
    with app.app_context(), db.connection_context():
        return EventType.get_or_none((EventType.slug == slug) & EventType.team.is_null(False))


def _hosts(app, event_type_id):
    with app.app_context(), db.connection_context():
        return {row.user_id: (row.is_fixed, row.weight)
                for row in EventTypeHost.select().where(EventTypeHost.event_type == event_type_id)}


def test_the_owner_creates_a_round_robin_event_type_with_fixed_and_weighted_hosts(app, crew):
    olga = _client(app, crew["olga"])
    org_url = f"/dashboard/organizations/{crew['org_id']}"
    new_url = f"{org_url}/teams/{crew['team'].id}/event-types/new"
    form = olga.get(new_url)                                     # without JavaScript: the page, the form open
    assert form.status_code == 200 and b'id="team-event-type-form"' in form.data
    assert b"Fixed (attends every booking)" in form.data and b'name="csrf_token"' in form.data
    assert b"Collective" in form.data and b"Round robin" in form.data
    created = olga.post(new_url, data=_form(crew))
    assert created.status_code == 302 and created.headers["Location"].endswith(org_url)
    event_type = _event_type(app)
    assert event_type.scheduling_type == "round_robin" and event_type.team_id == crew["team"].id
    assert (event_type.buffer_before, event_type.buffer_after, event_type.minimum_notice,
            event_type.window_days) == (5, 10, 120, 30)
    assert _hosts(app, event_type.id) == {crew["adam"].id: (True, 1), crew["mia"].id: (False, 3)}
    page = olga.get(org_url).data.decode()
    assert "Created the team event type “Demo” in Sales." in page
    assert f'id="tet-{event_type.id}"' in page and "/team/sales/demo" in page
    assert "Round robin · 30 min" in page and "Adam (fixed)" in page and "Mia (weight 3)" in page


def test_an_admin_creates_one_through_htmx_and_gets_the_panel_back(app, crew):
    adam = _client(app, crew["adam"])
    url = f"/dashboard/organizations/{crew['org_id']}/teams/{crew['team'].id}/event-types/new"
    opened = adam.get(url, headers=HTMX)
    assert opened.status_code == 200 and opened.data.lstrip().startswith(b'<section id="org-panel"')
    answer = adam.post(url, data=_form(crew, scheduling_type="collective", slug="panel", name="Panel"), headers=HTMX)
    body = answer.data.decode()
    assert answer.status_code == 200 and body.lstrip().startswith('<section id="org-panel"')
    assert "Created the team event type “Panel” in Sales." in body and "Collective · 30 min" in body
    assert 'id="team-event-type-form"' not in body                  # closed again
    assert _event_type(app, "panel").scheduling_type == "collective"


def test_errors_show_inline_and_nothing_is_saved(app, crew):
    olga = _client(app, crew["olga"])
    url = f"/dashboard/organizations/{crew['org_id']}/teams/{crew['team'].id}/event-types/new"
    refused = olga.post(url, data=_form(crew, name="", duration="2", scheduling_type="both", host=[]),
                        headers=HTMX)
    body = refused.data.decode()
    assert refused.status_code == 422 and 'id="team-event-type-form"' in body
    assert "Choose at least one host." in body and "Choose collective or round robin." in body
    assert 'id="tet-e-name"' in body and 'id="tet-e-duration"' in body
    assert 'value="2"' in body                                        # what was typed is kept
    weight = olga.post(url, data=_form(crew, **{f"weight-{crew['mia'].id}": "0"}))   # a plain post: the page
    assert weight.status_code == 422 and b"Give each host a weight from 1 to 100." in weight.data
    assert b"<html" in weight.data.lower()
    outsider_host = olga.post(url, data=_form(crew, host=[crew["otto"].id]))
    assert outsider_host.status_code == 422 and b"Choose hosts among the team&#39;s members." in outsider_host.data
    taken = olga.post(url, data=_form(crew))
    assert taken.status_code == 302
    again = olga.post(url, data=_form(crew), headers=HTMX)
    assert again.status_code == 422 and 'id="tet-e-slug"' in again.data.decode()
    with app.app_context(), db.connection_context():
        assert EventType.select().where(EventType.team == crew["team"].id).count() == 1


def test_edit_and_delete_after_an_in_place_confirmation(app, crew):
    with app.app_context(), db.connection_context():
        made = factories.team_event_type(crew["olga"], crew["team"], [crew["adam"], crew["mia"]], name="Demo",
                                         fixed=[crew["adam"]], weights={crew["mia"].id: 4})
    olga = _client(app, crew["olga"])
    base = f"/dashboard/organizations/{crew['org_id']}/event-types/{made.id}"
    form = olga.get(f"{base}/edit", headers=HTMX).data.decode()
    assert 'value="Demo"' in form and f'id="tet-fixed-{crew["adam"].id}" checked' in form
    assert f'name="weight-{crew["mia"].id}" type="number"' in form and 'value="4"' in form
    saved = olga.post(f"{base}/edit", data=_form(crew, name="Demo call", scheduling_type="collective",
                                                 host=[crew["mia"].id], status="draft"))
    assert saved.status_code == 302
    event_type = _event_type(app)
    assert (event_type.name, event_type.scheduling_type, event_type.status) == ("Demo call", "collective", "draft")
    assert _hosts(app, made.id) == {crew["mia"].id: (False, 3)}
    confirm = olga.get(f"{base}/delete", headers=HTMX).data.decode()
    assert "Delete “Demo call”?" in confirm and f'action="{base}/delete"' in confirm
    assert _event_type(app) is not None                                # asking deleted nothing
    deleted = olga.post(f"{base}/delete", headers=HTMX)
    assert deleted.status_code == 200 and "Deleted the team event type “Demo call”." in deleted.data.decode()
    assert _event_type(app) is None


def test_a_member_reads_the_list_and_is_refused_every_change(app, crew):
    with app.app_context(), db.connection_context():
        made = factories.team_event_type(crew["olga"], crew["team"], [crew["mia"]], name="Demo")
    mia = _client(app, crew["mia"])
    org_url = f"/dashboard/organizations/{crew['org_id']}"
    page = mia.get(org_url).data.decode()
    assert f'id="tet-{made.id}"' in page and "/team/sales/demo" in page
    assert f'id="tet-edit-{made.id}"' not in page and f'id="tet-delete-{made.id}"' not in page
    assert f'id="tet-new-{crew["team"].id}"' not in page
    for method, url, data in (
            ("post", f"{org_url}/teams/{crew['team'].id}/event-types/new", _form(crew)),
            ("post", f"{org_url}/event-types/{made.id}/edit", _form(crew, name="Hijacked")),
            ("post", f"{org_url}/event-types/{made.id}/delete", {}),
            ("get", f"{org_url}/event-types/{made.id}/edit", None)):
        answer = getattr(mia, method)(url, data=data)
        assert answer.status_code == 403, url
        assert b"Only an owner or an admin of this organization can do this." in answer.data
    assert _event_type(app).name == "Demo" and _event_type(app, "demo").id == made.id


@pytest.mark.parametrize("method,path", [
    ("get", "/dashboard/organizations/{org}/teams/{team}/event-types/new"),
    ("post", "/dashboard/organizations/{org}/teams/{team}/event-types/new"),
    ("get", "/dashboard/organizations/{org}/event-types/{et}/edit"),
    ("post", "/dashboard/organizations/{org}/event-types/{et}/edit"),
    ("get", "/dashboard/organizations/{org}/event-types/{et}/delete"),
    ("post", "/dashboard/organizations/{org}/event-types/{et}/delete"),
])
def test_outsiders_and_other_organizations_ids_are_not_found(app, crew, method, path):
    with app.app_context(), db.connection_context():
        made = factories.team_event_type(crew["olga"], crew["team"], [crew["mia"]], name="Demo")
    data = _form(crew) if method == "post" else None
    otto = _client(app, crew["otto"])
    answer = getattr(otto, method)(path.format(org=crew["org_id"], team=crew["team"].id, et=made.id), data=data)
    assert answer.status_code == 404
    # the owner of Acme naming Umbrella's event type (under either organization) or Acme's under Umbrella
    olga = _client(app, crew["olga"])
    for org, team, et in ((crew["org_id"], crew["foreign_team"].id, crew["foreign"].id),
                          (crew["foreign_org_id"], crew["team"].id, made.id)):
        assert getattr(olga, method)(path.format(org=org, team=team, et=et), data=data).status_code == 404
    # Otto, owner of Umbrella, naming Acme's team or event type under his own organization
    assert getattr(otto, method)(path.format(org=crew["foreign_org_id"], team=crew["team"].id, et=made.id),
                                 data=data).status_code == 404
    assert _event_type(app).name == "Demo" and _event_type(app, "foreign") is not None


def test_the_event_types_page_lists_the_team_event_types_of_my_teams(app, crew):
    with app.app_context(), db.connection_context():
        made = factories.team_event_type(crew["olga"], crew["team"], [crew["adam"]], name="Demo")
    mia = _client(app, crew["mia"]).get("/dashboard/event-types").data.decode()
    assert 'id="team-event-types"' in mia and f'id="team-et-{made.id}"' in mia
    assert "Round robin" in mia and "/team/sales/demo" in mia
    edit = f"/dashboard/organizations/{crew['org_id']}/event-types/{made.id}/edit"
    assert edit not in mia                                            # a member reads only
    assert edit in _client(app, crew["olga"]).get("/dashboard/event-types").data.decode()
    assert "Foreign" not in mia
    otto = _client(app, crew["otto"]).get("/dashboard/event-types").data.decode()
    assert "Foreign" in otto and f'id="team-et-{made.id}"' not in otto


# --- every field of an event type (the personal editor's fields, questions, reminders, recurrence) ----------------
BERLIN = ZoneInfo("Europe/Berlin")


def _new_url(crew):
    return f"/dashboard/organizations/{crew['org_id']}/teams/{crew['team'].id}/event-types/new"


def _full(crew, today: date, **overrides):
    """Questions (one required text, one choice), reminders, other durations, a slot interval, a daily limit, a
    date range for a window and a recurrence."""
    return _form(crew, **{
        "extra_durations": "60, 15", "slot_interval": "15", "max_per_day": "3", "color": "#16A34A",
        "window_type": "range", "window_start": today.isoformat(),
        "window_end": (today + timedelta(days=30)).isoformat(), "recurrence": "weeks",
        "recurrence_interval": "3", "recurrence_max": "6", "reminders": ["1440", "60"], "reminder_custom": "90",
        "questions-0-id": "", "questions-0-label": "Which company are you with?", "questions-0-type": "text",
        "questions-0-required": "1", "questions-1-id": "", "questions-1-label": "Plan",
        "questions-1-type": "select", "questions-1-options": "Basic\nPro\n", **overrides})


def test_a_team_event_type_keeps_every_field_an_event_type_has(app, crew):
    olga = _client(app, crew["olga"])
    opened = olga.get(_new_url(crew), headers=HTMX).data.decode()
    for name in ("extra_durations", "slot_interval", "max_per_day", "window_start", "window_end", "color",
                 "recurrence", "recurrence_max", "reminder_custom"):
        assert f'id="tet-{name}" name="{name}"' in opened, name
    assert 'name="window_type" value="range"' in opened and 'id="tet-questions"' in opened
    assert 'name="reminders" value="1440" checked' in opened           # the personal editor's default reminder
    assert 'name="schedule_id"' not in opened and "Each host's own default schedule applies" in opened
    today = datetime.now(BERLIN).date()
    created = olga.post(_new_url(crew), data=_full(crew, today), headers=HTMX)
    assert created.status_code == 200 and "Created the team event type “Demo” in Sales." in created.data.decode()
    event_type = _event_type(app)
    assert event_type.extra_durations == [15, 60]
    assert (event_type.slot_interval, event_type.max_per_day, event_type.color) == (15, 3, "#16a34a")
    assert (event_type.window_type, event_type.window_start, event_type.window_end) == (
        "range", today, today + timedelta(days=30))
    assert event_type.recurrence == {"frequency": "weekly", "interval": 3, "maxOccurrences": 6}
    assert event_type.reminders == [1440, 90, 60]
    assert [(q["label"], q["type"], q["required"], q.get("options")) for q in event_type.questions] == [
        ("Which company are you with?", "text", True, []), ("Plan", "select", False, ["Basic", "Pro"])]
    assert event_type.schedule_id is None and _hosts(app, event_type.id)      # no schedule: the hosts' own apply

    # the edit form shows them all again, and saving it unchanged keeps them (the questions keep their ids)
    edit_url = f"/dashboard/organizations/{crew['org_id']}/event-types/{event_type.id}/edit"
    form = olga.get(edit_url, headers=HTMX).data.decode()
    assert 'value="15, 60"' in form and 'name="window_type" value="range" checked' in form
    assert f'id="tet-window_end" name="window_end" type="date" value="{today + timedelta(days=30)}"' in form
    assert 'id="tet-q-0-label" name="questions-0-label" value="Which company are you with?"' in form
    assert '<option value="weeks" selected>' in form and 'name="reminders" value="90" checked' in form
    question_ids = [q["id"] for q in event_type.questions]
    resent = _full(crew, today, reminder_custom="", reminders=["1440", "60", "90"],
                   **{"questions-0-id": question_ids[0], "questions-1-id": question_ids[1]})
    assert olga.post(edit_url, data=resent).status_code == 302
    again = _event_type(app)
    assert [q["id"] for q in again.questions] == question_ids and again.reminders == [1440, 90, 60]

    # back to a rolling window, single meetings and no questions
    plain = _form(crew, window_days="45", **{"questions-0-id": question_ids[0], "questions-0-label": ""})
    assert olga.post(edit_url, data=plain).status_code == 302
    back = _event_type(app)
    assert (back.window_type, back.window_days, back.recurrence, back.questions) == ("rolling", 45, None, [])


def test_a_question_of_a_team_event_type_is_asked_on_the_team_booking_form(app, crew):
    olga = _client(app, crew["olga"])
    today = datetime.now(BERLIN).date()
    assert olga.post(_new_url(crew), data=_full(crew, today, recurrence="none")).status_code == 302
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 + 7)               # next week's, inside the range
    guest = app.test_client()
    page = guest.get(f"/team/sales/demo?tz=Europe/Berlin&date={tuesday.isoformat()}&time=10:00").data.decode()
    assert 'class="booking-form"' in page
    form = page[page.index('class="booking-form"'):]
    form = form[:form.index("</form>")]
    assert "Which company are you with?" in form and re.search(r"<option value=\"Pro\"\s*>Pro</option>", form)
    outside = today + timedelta(days=40)                                           # after the range's last date
    later = guest.get(f"/team/sales/demo?tz=Europe/Berlin&date={outside.isoformat()}&time=10:00").data.decode()
    assert "Which company are you with?" not in later


TEAM_INVALID = [  # the personal editor's messages (tests/web/test_event_types.py), and the field marked invalid
    ({"extra_durations": "15, 1000"}, "Each extra duration must be between 5 and 720.", "extra_durations"),
    ({"slot_interval": "3"}, "The slot interval must be between 5 and 720.", "slot_interval"),
    ({"max_per_day": "0"}, "The daily maximum must be between 1 and 1000.", "max_per_day"),
    ({"window_type": "range", "window_start": "2030-02-01", "window_end": "2030-01-01"},
     "The last date must not be before the first.", "window_end"),
    ({"window_type": "range", "window_start": "", "window_end": "2030-01-01"}, "Enter the first date.",
     "window_start"),
    ({"window_days": "0"}, "The number of days must be between 1 and 730.", "window_days"),
    ({"color": "blue"}, "Use a colour like #2563eb.", "color"),
    ({"questions-0-label": "Plan", "questions-0-type": "select", "questions-0-options": "Only one"},
     "Question 1: a choice needs at least two options.", "questions"),
    ({"recurrence": "weeks", "recurrence_max": "1"}, "The maximum number of occurrences must be between 2 and 52.",
     "recurrence"),
    ({"reminder_custom": "2"}, "Each reminder (minutes before) must be between 5 and 43200.", "reminders"),
    ({"notice_value": "-1", "notice_unit": "days"}, "The minimum notice must be between 0 and", "minimum_notice"),
]


@pytest.mark.parametrize("changes,message,field", TEAM_INVALID)
def test_invalid_values_show_the_personal_editors_inline_errors(app, crew, changes, message, field):
    olga = _client(app, crew["olga"])
    answer = olga.post(_new_url(crew), data=_form(crew, **changes), headers=HTMX)
    body = answer.data.decode()
    assert answer.status_code == 422 and "Nothing was saved." in body
    summary = body[body.index('class="error-summary"'):]
    assert re.search(rf'href="#tet-[a-z_]+">{FIELD_LABELS[field]}: ', summary[:summary.index("</ul>")]), field
    error = re.search(rf'<p class="error" id="tet-e-{field}">([^<]*)</p>', body)
    assert error and message in error.group(1)
    if field not in ("questions", "reminders"):                          # those mark their fieldset
        anchor = {"minimum_notice": "notice_value"}.get(field, field)
        assert re.search(rf'id="tet-{anchor}"[^>]*aria-invalid="true" aria-describedby="tet-e-{field}"', body)
    assert 'id="team-event-type-form"' in body and 'value="Demo"' in body    # what was typed is kept
    # the personal editor says the same for the same values
    personal = {key: value for key, value in _form(crew, **changes).items()
                if key != "host" and not key.startswith(("fixed-", "weight-")) and key != "scheduling_type"}
    mine = olga.post("/dashboard/event-types/new", data={**personal, "schedule_id": ""}, headers=HTMX)
    assert mine.status_code == 422
    assert error.group(1) in re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', mine.data.decode()).group(1)
    with app.app_context(), db.connection_context():
        assert EventType.select().where(EventType.team == crew["team"].id).count() == 0


def test_questions_are_added_moved_and_removed_in_place_without_saving(app, crew):
    olga = _client(app, crew["olga"])
    url = f"/dashboard/organizations/{crew['org_id']}/event-types/questions"
    added = olga.post(url, data=_form(crew, op="add-question"), headers=HTMX)
    body = added.data.decode()
    assert added.status_code == 200 and body.lstrip().startswith('<fieldset id="tet-questions"')
    assert re.search(r'id="tet-q-0-label" name="questions-0-label" value="" maxlength="200" autofocus', body)
    assert f'hx-post="{url}" hx-target="#tet-questions"' in body
    two = _form(crew, op="up-question:1", **{"questions-0-label": "First", "questions-1-label": "Second"})
    moved = olga.post(url, data=two, headers=HTMX).data.decode()
    assert moved.index('value="Second"') < moved.index('value="First"') and 'id="tet-q-0-up"' in moved
    removed = olga.post(url, data={**two, "op": "remove-question:0"}, headers=HTMX).data.decode()
    assert 'value="First"' not in removed and 'value="Second"' in removed and "tet-q-1-label" not in removed
    # without JavaScript the buttons post the whole form: the page again, a row more, nothing saved
    plain = olga.post(_new_url(crew), data=_form(crew, op="add-question", **{"questions-0-label": "First"}))
    assert plain.status_code == 200 and b'id="tet-q-1-label"' in plain.data and b'value="First"' in plain.data
    assert _event_type(app) is None
    assert olga.post(url, data=_form(crew, op="add-question")).status_code == 302   # plain post: back to the page
    refused = _client(app, crew["mia"]).post(url, data=_form(crew, op="add-question"), headers=HTMX)
    assert refused.status_code == 403
    assert _client(app, crew["otto"]).post(url, data=_form(crew, op="add-question"),
                                           headers=HTMX).status_code == 404


# --- team bookings ------------------------------------------------------------------------------------------------
def _team_booking(app, crew):
    """A round-robin booking of Demo (Adam fixed, Mia rotating) a few days ahead: Mia is assigned, Adam attends."""
    now = datetime.now(UTC)
    with app.app_context(), db.connection_context():
        made = factories.team_event_type(crew["olga"], crew["team"], [crew["adam"], crew["mia"]], name="Demo",
                                         fixed=[crew["adam"]])
        event_type = EventType.get_by_id(made.id)
        starts = available_slots(event_type, now + timedelta(days=2), now + timedelta(days=12), now=now)
        assert starts, "the hosts' default schedules offer a time"
        booking = booking_service.create_booking(
            event_type, factories.booking_request(starts[0], name="Gina Guest", email="gina@example.com"),
            now=now).booking
        attending = {row.user_id for row in BookingHost.select().where(BookingHost.booking == booking.id)}
    assert booking.user_id == crew["mia"].id and attending == {crew["adam"].id, crew["mia"].id}
    return booking


def test_a_team_booking_shows_to_every_attending_host_and_to_nobody_else(app, crew):
    booking = _team_booking(app, crew)
    for name in ("mia", "adam"):
        client = _client(app, crew[name])
        listed = client.get("/dashboard/bookings").data.decode()
        assert f'id="booking-{booking.id}"' in listed and "Gina Guest" in listed, name
        assert f'id="booking-{booking.id}"' in client.get("/dashboard/bookings?q=gina").data.decode()
        detail = client.get(f"/dashboard/bookings/{booking.id}")
        body = detail.data.decode()
        assert detail.status_code == 200 and 'id="team-booking"' in body and "Sales" in body
        assert "Round robin" in body and "Adam" in body and "Mia" in body
        assert f"Assigned to Mia: {booking.assignment_reason}" in body
    assert "Organized by another host" in _client(app, crew["adam"]).get("/dashboard/bookings").data.decode()
    for name in ("olga", "otto"):                                      # a team member not attending, an outsider
        client = _client(app, crew[name])
        assert f'id="booking-{booking.id}"' not in client.get("/dashboard/bookings").data.decode()
        assert client.get(f"/dashboard/bookings/{booking.id}").status_code == 404
        assert client.get(f"/dashboard/bookings/{booking.id}/reschedule").status_code == 404
        assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "x"}).status_code == 404
    with app.app_context(), db.connection_context():
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"


def test_an_attending_host_who_is_not_the_organizer_cancels_a_team_booking(app, crew):
    booking = _team_booking(app, crew)
    adam = _client(app, crew["adam"])
    assert adam.get(f"/dashboard/bookings/{booking.id}/reschedule").status_code == 200
    cancelled = adam.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "Team offsite"})
    assert cancelled.status_code == 302
    with app.app_context(), db.connection_context():
        assert Booking.get_by_id(booking.id).status == "CANCELLED"
    listed = adam.get("/dashboard/bookings?tab=cancelled").data.decode()
    assert f'id="booking-{booking.id}"' in listed and "Team offsite" in listed
    assert f'id="booking-{booking.id}"' in _client(app, crew["mia"]).get(
        "/dashboard/bookings?tab=cancelled").data.decode()
