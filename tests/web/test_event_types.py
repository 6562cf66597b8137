"""Dashboard event types through the test client: list actions, the create/edit form, htmx partials."""
from __future__ import annotations

import pytest

from tests.conftest import login

HX = {"HX-Request": "true"}
BASE = "/dashboard/event-types"


def _db(app):
    from contextlib import ExitStack

    from app.db import db

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(db.connection_context())
    return stack


def _event_types(app, user) -> dict:
    from app.models import EventType
    with _db(app):
        return {et.slug: et for et in EventType.select().where(EventType.user == user.id)}


def _snapshot(app) -> list[dict]:
    from app.models import EventType, Schedule
    with _db(app):
        return (sorted(EventType.select().dicts(), key=lambda r: r["id"])
                + sorted(Schedule.select().dicts(), key=lambda r: r["id"]))


def _default_type(app, user):
    return _event_types(app, user)["30-min"]


def form(**changes) -> dict:
    """A complete, valid create/edit form post (as the page sends it)."""
    data = {"name": "Intro call", "slug": "intro-call", "description": "Say **hello**", "duration": "45",
            "extra_durations": "15, 60", "location_type": "in_person", "location_detail": "Main St 1",
            "buffer_before": "5", "buffer_after": "10", "notice_value": "2", "notice_unit": "hours",
            "window_type": "rolling",
            "window_days": "30", "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "",
            "status": "active", "color": "#16a34a", "recurrence": "none", "recurrence_interval": "2",
            "recurrence_max": "4", "reminders": ["1440"], "reminder_custom": "", "schedule_id": "", "op": "save"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _is_fragment(response) -> bool:
    return b"<html" not in response.data and b"<!doctype" not in response.data.lower()


@pytest.fixture
def alice(client, make_user):
    user = make_user("alice")
    login(client, user)
    return user


@pytest.fixture
def bob_type(app, make_user):
    bob = make_user("bob")
    return _default_type(app, bob)


# ---------------------------------------------------------------- list

def test_list_requires_sign_in(client):
    response = client.get(BASE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_shows_each_event_type_with_its_public_link_and_actions(client, app, alice):
    response = client.get(BASE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "30 Minute Meeting" in page
    base_url = app.config["BASE_URL"]
    assert f'data-copy="{base_url}/alice/30-min"' in page
    assert 'role="switch" aria-checked="true"' in page
    et = _default_type(app, alice)
    for action in ("toggle", "duplicate", "delete", "edit"):
        assert f"{BASE}/{et.id}/{action}" in page
    assert 'aria-current="page"' in page and ">Event types</a>" in page


def test_list_htmx_get_returns_only_the_list_block(client, alice):
    response = client.get(BASE, headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    assert 'id="event-type-list"' in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_toggle_with_htmx_returns_the_row_and_switches_the_status(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/toggle", data={"active": "0"}, headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith(f'<article class="et-row is-draft" id="et-{et.id}"')
    assert 'aria-checked="false"' in body and "Draft" in body
    assert "HX-Request" in response.headers["Vary"]
    assert _default_type(app, alice).status == "draft"
    client.post(f"{BASE}/{et.id}/toggle", data={"active": "1"}, headers=HX)
    assert _default_type(app, alice).status == "active"


def test_toggle_as_plain_post_redirects_to_the_list_with_a_message(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/toggle", data={"active": "0"})
    assert response.status_code == 302 and response.headers["Location"] == BASE
    assert _default_type(app, alice).status == "draft"
    assert "is off (draft)" in client.get(BASE).get_data(as_text=True)


def test_duplicate_creates_a_draft_copy_and_htmx_gets_the_updated_list(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/duplicate", headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert 'id="event-type-list"' in body and "30 Minute Meeting (copy)" in body
    copy = _event_types(app, alice)["30-min-2"]
    assert copy.name == "30 Minute Meeting (copy)" and copy.status == "draft" and copy.duration == et.duration


def test_duplicate_as_plain_post_redirects(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/duplicate")
    assert response.status_code == 302 and response.headers["Location"] == BASE
    assert set(_event_types(app, alice)) == {"30-min", "30-min-2"}


def test_delete_asks_for_confirmation_first_then_deletes(client, app, alice):
    et = _default_type(app, alice)
    confirm = client.get(f"{BASE}/{et.id}/delete", headers=HX)
    assert confirm.status_code == 200 and _is_fragment(confirm)
    text = confirm.get_data(as_text=True)
    assert "Delete “30 Minute Meeting”?" in text and f'hx-post="{BASE}/{et.id}/delete"' in text
    assert "30-min" in _event_types(app, alice)  # asking deletes nothing
    response = client.post(f"{BASE}/{et.id}/delete", headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    assert "Deleted “30 Minute Meeting”." in response.get_data(as_text=True)
    assert _event_types(app, alice) == {}


def test_delete_without_javascript_uses_a_confirmation_page_and_redirects(client, app, alice):
    et = _default_type(app, alice)
    page = client.get(f"{BASE}/{et.id}/delete")
    assert page.status_code == 200 and b"<!doctype html>" in page.data
    assert b"hx-post" not in page.data  # the full page posts plainly
    response = client.post(f"{BASE}/{et.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == BASE
    assert _event_types(app, alice) == {}


def test_cancelling_a_delete_brings_back_the_row(client, app, alice):
    et = _default_type(app, alice)
    response = client.get(f"{BASE}/{et.id}/row", headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    assert f'id="et-{et.id}"' in response.get_data(as_text=True)
    assert client.get(f"{BASE}/{et.id}/row").status_code == 302


@pytest.mark.parametrize("method,suffix", [
    ("get", "/edit"), ("post", "/edit"), ("post", "/toggle"), ("post", "/duplicate"), ("get", "/delete"),
    ("post", "/delete"), ("get", "/row"),
])
def test_another_users_event_type_answers_404_and_is_untouched(client, app, alice, bob_type, method, suffix):
    before = _snapshot(app)
    response = getattr(client, method)(f"{BASE}/{bob_type.id}{suffix}", data=form() if method == "post" else None)
    assert response.status_code == 404
    assert _snapshot(app) == before


def test_unknown_event_type_answers_404(client, alice):
    assert client.get(f"{BASE}/nope/edit").status_code == 404


# ---------------------------------------------------------------- create

def test_new_form_has_defaults_and_every_field(client, alice):
    response = client.get(f"{BASE}/new")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("name", "slug", "description", "duration", "extra_durations", "location_type", "location_detail",
                 "buffer_before", "buffer_after", "notice_value", "notice_unit", "window_type", "window_days",
                 "window_start", "window_end", "slot_interval", "max_per_day", "status", "is_secret", "color",
                 "recurrence", "recurrence_interval", "recurrence_max", "reminders", "schedule_id"):
        assert f'name="{name}"' in page, name
    assert 'value="1440" checked' in page  # one reminder a day before, by default
    assert 'name="csrf_token"' in page
    assert "data-suggest-slug" in page and 'for="f-name"' in page


def test_create_as_plain_post_saves_every_field_and_redirects_to_the_edit_page(client, app, alice):
    from app.services.scheduling.schedules import default_schedule_for
    with _db(app):
        schedule = default_schedule_for(alice)
    data = form(is_secret="1", max_per_day="3", slot_interval="15", location_type="in_person",
                location_detail="1 Main St", reminders=["1440", "60"], reminder_custom="30",
                recurrence="weeks", recurrence_interval="3", recurrence_max="6", schedule_id=schedule.id,
                **{"questions-0-label": "Company", "questions-0-type": "text", "questions-0-required": "1",
                   "questions-1-label": "Team size", "questions-1-type": "select",
                   "questions-1-options": "1-10\n11-50\n"})
    response = client.post(f"{BASE}/new", data=data)
    et = _event_types(app, alice)["intro-call"]
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{et.id}/edit"
    assert (et.name, et.duration, et.extra_durations) == ("Intro call", 45, [15, 60])
    assert (et.location_type, et.location_detail) == ("in_person", "1 Main St")
    assert (et.buffer_before, et.buffer_after, et.minimum_notice) == (5, 10, 120)
    assert (et.window_type, et.window_days, et.slot_interval, et.max_per_day) == ("rolling", 30, 15, 3)
    assert (et.status, et.is_secret, et.color, et.schedule_id) == ("active", True, "#16a34a", schedule.id)
    assert et.reminders == [1440, 60, 30]
    assert et.recurrence == {"frequency": "weekly", "interval": 3, "maxOccurrences": 6}
    assert [(q["label"], q["type"], q["required"], q["options"]) for q in et.questions] == [
        ("Company", "text", True, []), ("Team size", "select", False, ["1-10", "11-50"])]
    assert "Created “Intro call”." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_create_with_htmx_returns_the_edit_form_block_and_pushes_its_url(client, app, alice):
    response = client.post(f"{BASE}/new", data=form(), headers=HX)
    et = _event_types(app, alice)["intro-call"]
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="event-type-form"')
    assert f'hx-post="{BASE}/{et.id}/edit"' in body and "Created “Intro call”." in body
    assert response.headers["HX-Push-Url"] == f"{BASE}/{et.id}/edit"
    assert "HX-Request" in response.headers["Vary"]


def test_create_with_an_empty_slug_takes_a_free_slug_from_the_name(client, app, alice):
    client.post(f"{BASE}/new", data=form(name="30 Min", slug=""))
    assert set(_event_types(app, alice)) == {"30-min", "30-min-2"}


@pytest.mark.parametrize("notice_value,notice_unit,minutes", [("45", "minutes", 45), ("2", "hours", 120),
                                                              ("3", "days", 4320)])
def test_minimum_notice_is_entered_with_a_unit_and_stored_in_minutes(client, app, alice, notice_value,
                                                                     notice_unit, minutes):
    client.post(f"{BASE}/new", data=form(notice_value=notice_value, notice_unit=notice_unit))
    et = _event_types(app, alice)["intro-call"]
    assert et.minimum_notice == minutes
    page = client.get(f"{BASE}/{et.id}/edit").get_data(as_text=True)
    assert f'name="notice_value" type="number" min="0" inputmode="numeric" value="{notice_value}"' in page
    assert f'<option value="{notice_unit}" selected>' in page


@pytest.mark.parametrize("kind,interval,expected", [
    ("none", "2", None),
    ("weekly", "5", {"frequency": "weekly", "interval": 1, "maxOccurrences": 4}),
    ("weeks", "2", {"frequency": "weekly", "interval": 2, "maxOccurrences": 4}),
    ("monthly", "2", {"frequency": "monthly", "interval": 1, "maxOccurrences": 4}),
])
def test_recurrence_offer_choices_are_stored(client, app, alice, kind, interval, expected):
    client.post(f"{BASE}/new", data=form(recurrence=kind, recurrence_interval=interval))
    assert _event_types(app, alice)["intro-call"].recurrence == expected


def test_a_fixed_booking_window_is_stored(client, app, alice):
    client.post(f"{BASE}/new", data=form(window_type="range", window_start="2030-01-01", window_end="2030-02-01"))
    et = _event_types(app, alice)["intro-call"]
    assert (et.window_type, str(et.window_start), str(et.window_end)) == ("range", "2030-01-01", "2030-02-01")


INVALID = [
    ({"slug": "30-min"}, "You already have an event type with this URL.", "slug"),
    ({"slug": "Bad Slug!"}, "Use lower-case letters, digits and single hyphens", "slug"),
    ({"name": ""}, "Enter a name of at most 100 characters.", "name"),
    ({"duration": "4"}, "A duration in minutes must be between 5 and 720.", "duration"),
    ({"duration": "721"}, "A duration in minutes must be between 5 and 720.", "duration"),
    ({"duration": "half an hour"}, "A duration in minutes must be a whole number.", "duration"),
    ({"extra_durations": "15, 1000"}, "Each extra duration must be between 5 and 720.", "extra_durations"),
    ({"buffer_after": "241"}, "The buffer after must be between 0 and 240.", "buffer_after"),
    ({"notice_value": "-1"}, "The minimum notice must be between 0 and", "notice_value"),
    ({"window_type": "range", "window_start": "2030-02-01", "window_end": "2030-01-01"},
     "The last date must not be before the first.", "window_end"),
    ({"window_days": "0"}, "The number of days must be between 1 and 730.", "window_days"),
    ({"location_type": "in_person", "location_detail": ""}, "Enter the address.", "location_detail"),
    ({"location_type": "zoom"}, "Connect Zoom in Settings → Integrations first.", "location_type"),
    ({"location_type": "google_meet"}, "Google Meet needs Google Calendar: connect it in Settings", "location_type"),
    ({"location_type": "moon"}, "Choose a location from the list.", "location_type"),
    ({"color": "blue"}, "Use a colour like #2563eb.", "color"),
    ({"questions-0-label": "Plan", "questions-0-type": "select", "questions-0-options": "Only one"},
     "Question 1: a choice needs at least two options.", None),
    ({"recurrence": "weeks", "recurrence_max": "1"}, "The maximum number of occurrences must be between 2 and 52.",
     "recurrence"),
    ({"reminder_custom": "2"}, "Each reminder (minutes before) must be between 5 and 43200.", None),
    ({"schedule_id": "not-mine"}, "Choose one of your schedules.", "schedule_id"),
    ({"status": "paused"}, "Choose active or draft.", "status"),
]


@pytest.mark.parametrize("changes,message,field", INVALID)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_invalid_create_shows_inline_errors_and_creates_nothing(client, app, alice, changes, message, field, htmx):
    before = _snapshot(app)
    response = client.post(f"{BASE}/new", data=form(**changes), headers=HX if htmx else {})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    assert "Nothing was saved." in body
    if field:
        assert f'id="f-{field}"' in body and 'aria-invalid="true"' in body
    assert _is_fragment(response) == htmx
    assert _snapshot(app) == before
    # what the user typed is kept
    assert 'value="Intro call"' in body or changes.get("name") == ""


def test_a_hand_edited_slug_stays_hand_edited_after_an_invalid_post(client, alice):
    edited = client.post(f"{BASE}/new", data=form(slug="my-own", duration="1")).get_data(as_text=True)
    assert 'data-slug-input\n               data-edited="true"' in edited
    suggested = client.post(f"{BASE}/new", data=form(slug="intro-call", duration="1")).get_data(as_text=True)
    assert 'data-edited="true"' not in suggested


def test_an_invalid_form_keeps_questions_and_their_order(client, app, alice):
    data = form(duration="1", **{"questions-0-label": "Second", "questions-0-type": "email",
                                 "questions-1-label": "First", "questions-1-type": "phone"})
    body = client.post(f"{BASE}/new", data=data).get_data(as_text=True)
    assert body.index('value="Second"') < body.index('value="First"')
    assert '<option value="phone" selected>' in body


def test_another_users_schedule_cannot_be_chosen(client, app, alice, make_user):
    from app.services.scheduling.schedules import default_schedule_for
    bob = make_user("bob")
    with _db(app):
        bobs = default_schedule_for(bob)
    response = client.post(f"{BASE}/new", data=form(schedule_id=bobs.id))
    assert response.status_code == 422 and "Choose one of your schedules." in response.get_data(as_text=True)
    assert "intro-call" not in _event_types(app, alice)


# ---------------------------------------------------------------- edit

def test_edit_form_shows_the_stored_values(client, app, alice):
    client.post(f"{BASE}/new", data=form(description="**Hi** <script>alert(1)</script>", is_secret="1"))
    et = _event_types(app, alice)["intro-call"]
    page = client.get(f"{BASE}/{et.id}/edit").get_data(as_text=True)
    assert 'value="Intro call"' in page and 'value="intro-call"' in page and 'value="15, 60"' in page
    assert 'name="is_secret" value="1" checked' in page
    assert "<strong>Hi</strong>" in page and "<script>alert(1)" not in page  # sanitized preview
    assert f"{app.config['BASE_URL']}/alice/intro-call" in page


def test_edit_as_plain_post_saves_and_redirects(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/edit", data=form(name="Quick chat", slug="30-min", duration="20",
                                                             status="draft"))
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{et.id}/edit"
    saved = _default_type(app, alice)
    assert (saved.name, saved.duration, saved.status) == ("Quick chat", 20, "draft")


def test_edit_with_htmx_returns_only_the_form_with_a_saved_message(client, app, alice):
    et = _default_type(app, alice)
    response = client.post(f"{BASE}/{et.id}/edit", data=form(slug="30-min", duration="25"), headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="event-type-form"') and "Changes saved." in body
    assert "HX-Request" in response.headers["Vary"]
    assert _default_type(app, alice).duration == 25


@pytest.mark.parametrize("changes,message", [
    ({"slug": "taken"}, "You already have an event type with this URL."),
    ({"slug": "-bad-"}, "Use lower-case letters, digits and single hyphens"),
    ({"slug": "30-min", "duration": "0"}, "must be between 5 and 720"),
    ({"slug": "30-min", "window_type": "range", "window_start": "2030-03-02", "window_end": "2030-03-01"},
     "The last date must not be before the first."),
])
def test_invalid_edit_changes_nothing(client, app, alice, changes, message):
    client.post(f"{BASE}/new", data=form(name="Taken", slug="taken"))
    et = _default_type(app, alice)
    before = _snapshot(app)
    response = client.post(f"{BASE}/{et.id}/edit", data=form(name="Renamed", **changes), headers=HX)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _snapshot(app) == before
    assert _default_type(app, alice).name == "30 Minute Meeting"


# ---------------------------------------------------------------- questions rows

def _question_rows(body: str) -> list[str]:
    import re
    return re.findall(r'name="questions-\d+-label" value="([^"]*)"', body)


def test_add_question_with_htmx_returns_only_the_questions_section(client, app, alice):
    before = _snapshot(app)
    response = client.post(f"{BASE}/questions", headers=HX,
                           data={"op": "add-question", "questions-0-label": "Company", "questions-0-type": "text"})
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<fieldset id="questions"')
    assert _question_rows(body) == ["Company", ""]
    assert 'id="q-1-label" name="questions-1-label" value="" maxlength="200" autofocus' in body
    assert _snapshot(app) == before


@pytest.mark.parametrize("op,expected", [
    ("up-question:1", ["B", "A", "C"]),
    ("down-question:0", ["B", "A", "C"]),
    ("down-question:2", ["A", "B", "C"]),
    ("remove-question:1", ["A", "C"]),
])
def test_question_rows_move_and_remove(client, alice, op, expected):
    data = {"op": op}
    for i, label in enumerate("ABC"):
        data[f"questions-{i}-label"] = label
        data[f"questions-{i}-type"] = "text"
    body = client.post(f"{BASE}/questions", data=data, headers=HX).get_data(as_text=True)
    assert _question_rows(body) == expected


def test_question_buttons_work_without_javascript_and_save_nothing(client, app, alice):
    et = _default_type(app, alice)
    before = _snapshot(app)
    response = client.post(f"{BASE}/{et.id}/edit", data=form(op="add-question", name="Changed"))
    assert response.status_code == 200 and b"<!doctype html>" in response.data
    assert _question_rows(response.get_data(as_text=True)) == [""]
    assert 'value="Changed"' in response.get_data(as_text=True)
    assert _snapshot(app) == before


def test_empty_question_rows_are_dropped_when_saving(client, app, alice):
    client.post(f"{BASE}/new", data=form(**{"questions-0-label": "", "questions-0-type": "text",
                                            "questions-1-label": "Why?", "questions-1-type": "textarea"}))
    assert [q["label"] for q in _event_types(app, alice)["intro-call"].questions] == ["Why?"]


# ---------------------------------------------------------------- as-you-type helpers

@pytest.mark.parametrize("slug,expected", [
    ("30-min", "You already have an event type with this URL."),
    ("No Spaces", "Use lower-case letters, digits and single hyphens"),
    ("", "Enter a URL slug."),
    ("coffee", "is available."),
])
def test_slug_check_answers_as_you_type(client, alice, slug, expected):
    response = client.get(f"{BASE}/slug-check", query_string={"slug": slug}, headers=HX)
    assert response.status_code == 200 and _is_fragment(response)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="slug-check"') and expected in body


def test_slug_check_accepts_the_event_types_own_slug(client, app, alice):
    et = _default_type(app, alice)
    body = client.get(f"{BASE}/slug-check", query_string={"slug": "30-min", "exclude": et.id}, headers=HX).get_data(
        as_text=True)
    assert "is available." in body


def test_slug_suggestion_follows_the_name_and_avoids_taken_slugs(client, alice):
    body = client.get(f"{BASE}/slug-suggestion", query_string={"name": "30 Min"}, headers=HX).get_data(as_text=True)
    assert 'id="slug-field"' in body and 'value="30-min-2"' in body
    body = client.get(f"{BASE}/slug-suggestion", query_string={"name": "Café Chat!"}, headers=HX).get_data(
        as_text=True)
    assert 'value="cafe-chat"' in body


def test_description_preview_is_rendered_markdown_without_scripts(client, alice):
    response = client.post(f"{BASE}/preview", headers=HX, data={
        "description": "**Bold** [x](javascript:alert(1)) <script>alert(2)</script> <img src=x onerror=alert(3)>"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="description-preview"' in body
    assert "<strong>Bold</strong>" in body
    assert "<script" not in body and "javascript:" not in body and "onerror" not in body


def test_helpers_require_sign_in(client):
    assert client.get(f"{BASE}/slug-check?slug=x").status_code == 302
    assert client.post(f"{BASE}/preview", data={"description": "x"}).status_code == 302
