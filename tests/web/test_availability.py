"""Dashboard availability through the test client: schedules, weekly hours, date overrides, htmx partials."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.conftest import login

HX = {"HX-Request": "true"}
BASE = "/dashboard/availability"
WEEKDAY_HOURS = {str(d): [["09:00", "17:00"]] if d < 5 else [] for d in range(7)}


def _db(app):
    from contextlib import ExitStack

    from app.db import db

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(db.connection_context())
    return stack


def _schedules(app, user) -> dict:
    from app.models import Schedule
    with _db(app):
        return {s.name: s for s in Schedule.select().where(Schedule.user == user.id)}


def _working_hours(app, user):
    return _schedules(app, user)["Working hours"]


def _snapshot(app) -> list[dict]:
    from app.models import Schedule
    with _db(app):
        return sorted(Schedule.select().dicts(), key=lambda r: r["id"])


def _is_fragment(response) -> bool:
    return b"<html" not in response.data and b"<!doctype" not in response.data.lower()


def weekly_form(hours: dict | None = None, **extra) -> dict:
    """The weekly form as the page posts it: ``day-N-start``/``day-N-end`` repeated per range."""
    data: dict = {"op": "save"}
    for day, ranges in (hours if hours is not None else WEEKDAY_HOURS).items():
        data[f"day-{day}-start"] = [r[0] for r in ranges]
        data[f"day-{day}-end"] = [r[1] for r in ranges]
    data.update(extra)
    return data


def _ranges_in(body: str, day: int) -> list[list[str]]:
    starts = re.findall(rf'name="day-{day}-start" value="([^"]*)"', body)
    ends = re.findall(rf'name="day-{day}-end" value="([^"]*)"', body)
    return [list(pair) for pair in zip(starts, ends, strict=True)]


@pytest.fixture
def alice(client, make_user):
    user = make_user("alice")
    login(client, user)
    return user


@pytest.fixture
def schedule(app, alice):
    return _working_hours(app, alice)


# ---------------------------------------------------------------- schedule list

def test_list_requires_sign_in(client):
    response = client.get(BASE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_shows_schedules_with_a_summary_of_their_hours(client, alice):
    response = client.get(BASE)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Working hours" in page and "Default" in page and "Mon–Fri 09:00–17:00" in page
    assert 'id="f-timezone-search"' in page and 'data-tz-filter="f-timezone"' in page  # searchable zone picker
    assert '<option value="Europe/Berlin" selected>' in page  # the new schedule starts in the user's zone


def test_create_schedule_as_plain_post_redirects_to_its_page(client, app, alice):
    response = client.post(BASE, data={"name": "Evenings", "timezone": "America/New_York"})
    created = _schedules(app, alice)["Evenings"]
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{created.id}"
    assert created.timezone == "America/New_York" and not created.is_default
    assert created.weekly == WEEKDAY_HOURS


def test_create_schedule_with_htmx_returns_the_updated_list(client, app, alice):
    response = client.post(BASE, data={"name": "Evenings", "timezone": "Asia/Tokyo"}, headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="schedules"') and "Created “Evenings”." in body
    assert "HX-Request" in response.headers["Vary"]
    assert "Evenings" in _schedules(app, alice)


@pytest.mark.parametrize("data,message", [
    ({"name": "Evenings", "timezone": "Mars/Olympus"}, "Choose a time zone from the list."),
    ({"name": "Evenings", "timezone": ""}, "Choose a time zone from the list."),
    ({"name": "", "timezone": "UTC"}, "Enter a name of at most 100 characters."),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_invalid_new_schedule_shows_inline_errors_and_creates_nothing(client, app, alice, data, message, htmx):
    before = _snapshot(app)
    response = client.post(BASE, data=data, headers=HX if htmx else {})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert _is_fragment(response) == htmx
    assert _snapshot(app) == before


def test_make_default_moves_the_default(client, app, alice):
    client.post(BASE, data={"name": "Evenings", "timezone": "UTC"})
    evenings = _schedules(app, alice)["Evenings"]
    response = client.post(f"{BASE}/{evenings.id}/default", headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    assert "is now your default schedule" in response.get_data(as_text=True)
    schedules = _schedules(app, alice)
    assert schedules["Evenings"].is_default and not schedules["Working hours"].is_default


def test_delete_schedule_confirms_then_deletes(client, app, alice):
    client.post(BASE, data={"name": "Evenings", "timezone": "UTC"})
    evenings = _schedules(app, alice)["Evenings"]
    confirm = client.get(f"{BASE}/{evenings.id}/delete", headers=HX)
    assert confirm.status_code == 200 and "Delete “Evenings”?" in confirm.get_data(as_text=True)
    assert "Evenings" in _schedules(app, alice)
    response = client.post(f"{BASE}/{evenings.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == BASE
    assert set(_schedules(app, alice)) == {"Working hours"}


def test_the_default_schedule_cannot_be_deleted(client, app, alice, schedule):
    response = client.post(f"{BASE}/{schedule.id}/delete", headers=HX)
    assert response.status_code == 409
    assert "Make another schedule the default" in response.get_data(as_text=True)
    plain = client.post(f"{BASE}/{schedule.id}/delete")
    assert plain.status_code == 302
    assert "Working hours" in _schedules(app, alice)


@pytest.mark.parametrize("method,suffix", [
    ("get", ""), ("post", "/settings"), ("post", "/weekly"), ("get", "/overrides"),
    ("get", "/override?date=2030-01-01"),
    ("post", "/overrides"), ("post", "/overrides/remove"), ("post", "/default"), ("get", "/delete"),
    ("post", "/delete"), ("get", "/row"),
])
def test_another_users_schedule_answers_404_and_is_untouched(client, app, alice, make_user, method, suffix):
    bobs = _working_hours(app, make_user("bob"))
    before = _snapshot(app)
    data = {**weekly_form(), "name": "Mine now", "timezone": "UTC", "override_start": "2030-01-01",
            "first": "2030-01-01", "last": "2030-01-01"} if method == "post" else None
    response = getattr(client, method)(f"{BASE}/{bobs.id}{suffix}", data=data)
    assert response.status_code == 404
    assert _snapshot(app) == before


# ---------------------------------------------------------------- weekly hours

def test_schedule_page_shows_weekly_hours_settings_and_calendar(client, schedule):
    response = client.get(f"{BASE}/{schedule.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _ranges_in(page, 0) == [["09:00", "17:00"]] and _ranges_in(page, 5) == []
    assert 'id="weekly-hours"' in page and 'id="schedule-settings"' in page and 'id="overrides"' in page
    assert '<label class="visually-hidden" for="day-0-start-0">Monday, range 1, from</label>' in page
    assert page.count('name="csrf_token"') >= 3


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_saving_weekly_hours_stores_them(client, app, alice, schedule, htmx):
    hours = {**WEEKDAY_HOURS, "0": [["13:00", "17:00"], ["08:00", "12:00"]], "5": [["10:00", "14:00"]]}
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(hours), headers=HX if htmx else {})
    if htmx:
        assert response.status_code == 200 and _is_fragment(response)
        body = response.get_data(as_text=True)
        assert body.lstrip().startswith('<form id="weekly-hours"') and "Weekly hours saved." in body
        assert "HX-Request" in response.headers["Vary"]
    else:
        assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{schedule.id}"
    weekly = _working_hours(app, alice).weekly
    assert weekly["0"] == [["08:00", "12:00"], ["13:00", "17:00"]] and weekly["5"] == [["10:00", "14:00"]]


@pytest.mark.parametrize("ranges,message", [
    ([["17:00", "09:00"]], "Tuesday: the end (09:00) must be after the start (17:00)."),
    ([["09:00", "12:00"], ["11:00", "13:00"]], "Tuesday: 09:00–12:00 overlaps 11:00–13:00."),
    ([["9am", "12:00"]], "Tuesday: use times like 09:00."),
    ([["", "12:00"]], "Tuesday: use times like 09:00."),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_invalid_weekly_hours_show_the_error_on_that_day_and_change_nothing(client, app, schedule, ranges, message,
                                                                           htmx):
    before = _snapshot(app)
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form({**WEEKDAY_HOURS, "1": ranges}),
                           headers=HX if htmx else {})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'<p class="error" id="e-day-1">{message}</p>' in body
    assert "Nothing was saved." in body
    assert _ranges_in(body, 1) == ranges  # what was typed stays in the form
    assert _is_fragment(response) == htmx
    assert _snapshot(app) == before


def test_add_hours_adds_a_range_without_saving(client, app, schedule):
    before = _snapshot(app)
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(op="add:0"), headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and _is_fragment(response)
    assert _ranges_in(body, 0) == [["09:00", "17:00"], ["18:00", "19:00"]]
    assert "Unsaved changes" in body and 'id="day-0-start-1"' in body
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(op="add:6"), headers=HX)
    assert _ranges_in(response.get_data(as_text=True), 6) == [["09:00", "17:00"]]
    assert _snapshot(app) == before


def test_remove_a_range_without_saving(client, app, schedule):
    before = _snapshot(app)
    body = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(op="remove:2:0"), headers=HX).get_data(
        as_text=True)
    assert _ranges_in(body, 2) == [] and _ranges_in(body, 1) == [["09:00", "17:00"]]
    assert "Unavailable" in body
    assert _snapshot(app) == before


def test_copy_a_days_hours_to_other_days(client, app, alice, schedule):
    hours = {**WEEKDAY_HOURS, "0": [["08:00", "10:00"], ["14:00", "16:00"]]}
    body = client.post(f"{BASE}/{schedule.id}/weekly", headers=HX,
                       data=weekly_form(hours, op="copy:0", **{"copy-0-to": ["2", "5"]})).get_data(as_text=True)
    assert _ranges_in(body, 2) == _ranges_in(body, 5) == [["08:00", "10:00"], ["14:00", "16:00"]]
    assert _ranges_in(body, 1) == [["09:00", "17:00"]]
    assert _working_hours(app, alice).weekly["5"] == []  # not yet saved
    client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(
        {**hours, "2": hours["0"], "5": hours["0"]}))
    assert _working_hours(app, alice).weekly["5"] == [["08:00", "10:00"], ["14:00", "16:00"]]


def test_weekly_buttons_work_without_javascript(client, app, schedule):
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form(op="add:5"))
    assert response.status_code == 200 and b"<!doctype html>" in response.data
    assert _ranges_in(response.get_data(as_text=True), 5) == [["09:00", "17:00"]]


# ---------------------------------------------------------------- name and time zone

def test_rename_and_change_zone_with_htmx_updates_the_title_too(client, app, alice, schedule):
    response = client.post(f"{BASE}/{schedule.id}/settings", data={"name": "Office", "timezone": "Asia/Tokyo"},
                           headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="schedule-settings"')
    assert '<h1 id="schedule-title" hx-swap-oob="true">Office</h1>' in body
    saved = _schedules(app, alice)["Office"]
    assert saved.timezone == "Asia/Tokyo"


def test_rename_as_plain_post_redirects(client, app, alice, schedule):
    response = client.post(f"{BASE}/{schedule.id}/settings", data={"name": "Office", "timezone": "UTC"})
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{schedule.id}"
    assert "Office" in _schedules(app, alice)


@pytest.mark.parametrize("data,message", [
    ({"name": "Office", "timezone": "Europe/Atlantis"}, "Choose a time zone from the list."),
    ({"name": " ", "timezone": "UTC"}, "Enter a name of at most 100 characters."),
])
def test_invalid_name_or_zone_changes_nothing(client, app, schedule, data, message):
    before = _snapshot(app)
    response = client.post(f"{BASE}/{schedule.id}/settings", data=data, headers=HX)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert _snapshot(app) == before


# ---------------------------------------------------------------- overrides and the calendar

def test_calendar_moves_between_months_in_place(client, schedule):
    response = client.get(f"{BASE}/{schedule.id}/overrides", query_string={"month": "2030-02"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and _is_fragment(response)
    assert body.lstrip().startswith('<section id="overrides"') and "February 2030" in body
    assert "?month=2030-03" in body and "?month=2030-01" in body
    assert 'id="cell-2030-02-28"' in body and 'id="cell-2030-03-01"' not in body
    plain = client.get(f"{BASE}/{schedule.id}/overrides", query_string={"month": "2030-02"})
    assert plain.status_code == 302 and plain.headers["Location"] == f"{BASE}/{schedule.id}?month=2030-02"
    assert "February 2030" in client.get(plain.headers["Location"]).get_data(as_text=True)


def test_clicking_a_date_opens_the_override_form_for_it(client, schedule):
    response = client.get(f"{BASE}/{schedule.id}/override", query_string={"date": "2030-01-07"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and _is_fragment(response)
    assert 'id="override-form"' in body and "Hours for Mon 7 Jan 2030" in body
    assert 'name="override_start" value="2030-01-07"' in body
    assert 'name="override-start" value="09:00"' in body  # prefilled with the weekday's hours
    assert "is-selected" in body
    plain = client.get(f"{BASE}/{schedule.id}/override", query_string={"date": "2030-01-07"})
    assert plain.status_code == 200 and b"<!doctype html>" in plain.data and b'id="override-form"' in plain.data


def test_override_form_for_an_invalid_date_is_404(client, schedule):
    assert client.get(f"{BASE}/{schedule.id}/override", query_string={"date": "soon"}).status_code == 404


def test_save_an_override_with_htmx_updates_the_calendar(client, app, alice, schedule):
    response = client.post(f"{BASE}/{schedule.id}/overrides", headers=HX, data={
        "override_start": "2030-01-07", "override_end": "", "override-start": ["14:00", "09:00"],
        "override-end": ["16:00", "12:00"], "op": "save"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and _is_fragment(response)
    assert "Saved the hours for Mon 7 Jan 2030." in body and "January 2030" in body
    assert 'id="override-form"' not in body  # the form closes
    cell = re.search(r'<a class="day-cell([^"]*)"\s+id="cell-2030-01-07"', body)
    assert cell and "has-override" in cell.group(1)
    assert "Monday 7 January 2030: 09:00–12:00, 14:00–16:00 (override)" in body
    assert _working_hours(app, alice).overrides == {"2030-01-07": [["09:00", "12:00"], ["14:00", "16:00"]]}


def test_a_vacation_marks_every_date_unavailable(client, app, alice, schedule):
    response = client.post(f"{BASE}/{schedule.id}/overrides", data={
        "override_start": "2030-07-29", "override_end": "2030-08-02", "unavailable": "1",
        "override-start": ["09:00"], "override-end": ["17:00"], "op": "save"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BASE}/{schedule.id}?month=2030-07#overrides"
    overrides = _working_hours(app, alice).overrides
    assert overrides == {f"2030-0{d}": [] for d in ("7-29", "7-30", "7-31", "8-01", "8-02")}


def test_upcoming_overrides_are_listed_in_runs_and_can_be_removed(client, app, alice, schedule):
    start = date.today() + timedelta(days=40)
    client.post(f"{BASE}/{schedule.id}/overrides", data={
        "override_start": start.isoformat(), "override_end": (start + timedelta(days=2)).isoformat(),
        "unavailable": "1", "op": "save"})
    page = client.get(f"{BASE}/{schedule.id}").get_data(as_text=True)
    assert page.count('name="first"') == 1 and "Unavailable" in page
    response = client.post(f"{BASE}/{schedule.id}/overrides/remove", headers=HX, data={
        "first": start.isoformat(), "last": (start + timedelta(days=2)).isoformat()})
    assert response.status_code == 200 and _is_fragment(response)
    assert "the weekly hours apply again" in response.get_data(as_text=True)
    assert _working_hours(app, alice).overrides == {}


@pytest.mark.parametrize("data,message", [
    ({"override_start": "2030-01-10", "override_end": "2030-01-09"}, "The last date must not be before the first."),
    ({"override_start": "2030-01-10", "override-start": ["12:00"], "override-end": ["10:00"]},
     "Thursday, 10 January 2030: the end (10:00) must be after the start (12:00)."),
    ({"override_start": "2030-01-10", "override-start": ["09:00", "10:00"], "override-end": ["11:00", "12:00"]},
     "Thursday, 10 January 2030: 09:00–11:00 overlaps 10:00–12:00."),
    ({"override_start": "", "override-start": ["09:00"], "override-end": ["11:00"]}, "Choose the date"),
    ({"override_start": "2030-01-10", "override_end": "2031-06-01", "unavailable": "1"},
     "An override can cover at most one year."),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_invalid_override_shows_inline_errors_and_changes_nothing(client, app, schedule, data, message, htmx):
    before = _snapshot(app)
    response = client.post(f"{BASE}/{schedule.id}/overrides", data={"op": "save", **data}, headers=HX if htmx else {})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and "Nothing was saved." in body and 'aria-invalid="true"' in body
    assert 'id="override-form"' in body  # still open, with what was typed
    assert _is_fragment(response) == htmx
    assert _snapshot(app) == before


def test_override_hours_rows_can_be_added_and_removed_before_saving(client, app, schedule):
    before = _snapshot(app)
    body = client.post(f"{BASE}/{schedule.id}/overrides", headers=HX, data={
        "override_start": "2030-01-10", "override-start": ["09:00"], "override-end": ["12:00"],
        "op": "add-range"}).get_data(as_text=True)
    assert re.findall(r'name="override-start" value="([^"]*)"', body) == ["09:00", "13:00"]
    body = client.post(f"{BASE}/{schedule.id}/overrides", headers=HX, data={
        "override_start": "2030-01-10", "override-start": ["09:00", "13:00"], "override-end": ["12:00", "14:00"],
        "op": "remove-range:0"}).get_data(as_text=True)
    assert re.findall(r'name="override-start" value="([^"]*)"', body) == ["13:00"]
    assert _snapshot(app) == before


def test_an_existing_override_is_prefilled_when_its_date_is_opened(client, schedule):
    client.post(f"{BASE}/{schedule.id}/overrides", data={"override_start": "2030-01-10", "unavailable": "1",
                                                          "op": "save"})
    body = client.get(f"{BASE}/{schedule.id}/override", query_string={"date": "2030-01-10"}, headers=HX).get_data(
        as_text=True)
    assert 'name="unavailable" value="1" data-unavailable-toggle checked' in body


# ---------------------------------------------------------------- errors on the host's clock


@pytest.fixture
def twelve_hour(app, alice):
    from app.models import User
    with _db(app):
        User.update(hour12=True).where(User.id == alice.id).execute()


@pytest.mark.parametrize("ranges,message", [
    ([["13:00", "10:00"]], "Tuesday: the end (10:00am) must be after the start (1:00pm)."),
    ([["09:00", "13:00"], ["12:30", "00:00"]], "Tuesday: 9:00am–1:00pm overlaps 12:30pm–12:00am."),
])
def test_weekly_hours_errors_speak_the_hosts_12_hour_clock(client, schedule, twelve_hour, ranges, message):
    response = client.post(f"{BASE}/{schedule.id}/weekly", data=weekly_form({**WEEKDAY_HOURS, "1": ranges}),
                           headers=HX)
    assert response.status_code == 422
    assert f'<p class="error" id="e-day-1">{message}</p>' in response.get_data(as_text=True)


def test_override_errors_name_the_date_as_people_write_it_on_the_hosts_clock(client, schedule, twelve_hour):
    response = client.post(f"{BASE}/{schedule.id}/overrides", headers=HX, data={
        "op": "save", "override_start": "2030-01-09", "override-start": ["13:00"], "override-end": ["10:00"]})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Wednesday, 9 January 2030: the end (10:00am) must be after the start (1:00pm)." in body
    assert "2030-01-09:" not in body and "(13:00)" not in body
    several = client.post(f"{BASE}/{schedule.id}/overrides", headers=HX, data={
        "op": "save", "override_start": "2030-01-09", "override_end": "2030-01-11",
        "override-start": ["09:00", "10:00"], "override-end": ["11:00", "12:00"]}).get_data(as_text=True)
    assert ("Wednesday, 9 January 2030 to Friday, 11 January 2030: 9:00am–11:00am overlaps 10:00am–12:00pm."
            in several)
