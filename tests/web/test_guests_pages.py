"""Additional guests on the pages (issue 23, point 1): the event-type editor's "Guests" section, the booking form's
"Add guests" field (plain form post, inline errors), and the host's booking page listing the guests and marking one
as a no-show after the start."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import Booking, EventType, OutboxMessage
from app.models.guests import BookingGuest
from app.services.booking import guests as guest_service
from app.services.scheduling import event_types as et_service
from tests import factories
from tests.conftest import login
from tests.web.test_public_pages import html, next_week, open_form, slot_url

BASE = "/dashboard/event-types"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host")


def book_form(client, start, **values):
    data = open_form(client, start)
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com", **values})
    return client.post("/hana/30-min", data=data)


def stored_guests() -> list[str]:
    return [g.email for g in BookingGuest.select().order_by(BookingGuest.position)]


def editor_form(**changes) -> dict:
    data = {"name": "Coaching", "slug": "coaching", "description": "", "duration": "60", "extra_durations": "",
            "location_type": "none", "location_detail": "", "buffer_before": "0", "buffer_after": "0",
            "notice_value": "0", "notice_unit": "hours", "window_type": "rolling", "window_days": "60",
            "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
            "color": "#16a34a", "recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4",
            "reminders": ["1440"], "reminder_custom": "", "schedule_id": "", "op": "save"}
    data.update(changes)
    return data


# --- the editor --------------------------------------------------------------------------------------------------
def test_the_editor_shows_and_saves_the_guest_limit(client, host):
    login(client, host)
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-guests"' in page and re.search(r'name="max_guests"[^>]*value="10"', page)
    response = client.post(f"{BASE}/new", data=editor_form(guests_section="1", max_guests="3"))
    assert response.status_code == 302, html(response)[:2000]
    made = EventType.get(EventType.slug == "coaching")
    assert made.max_guests == 3
    assert re.search(r'name="max_guests"[^>]*value="3"', html(client.get(f"{BASE}/{made.id}/edit")))
    # a form without the section (e.g. an older page) leaves the limit alone
    assert client.post(f"{BASE}/{made.id}/edit", data=editor_form()).status_code == 302
    assert EventType.get_by_id(made.id).max_guests == 3


@pytest.mark.parametrize(("value", "message"), [("51", "between 0 and 50"), ("many", "whole number"),
                                                 ("", "Enter the number of guests")])
def test_the_editor_refuses_a_bad_limit_inline(client, host, value, message):
    login(client, host)
    response = client.post(f"{BASE}/new", data=editor_form(guests_section="1", max_guests=value))
    assert response.status_code == 422
    page = html(response)
    assert 'id="e-max_guests"' in page and message in page and 'aria-describedby="e-max_guests"' in page
    assert not EventType.select().where(EventType.slug == "coaching").exists()


# --- the booking form -----------------------------------------------------------------------------------------
def test_the_form_offers_guests_without_javascript_and_books_them(client, host):
    form_page = html(client.get(slot_url(next_week(1, 10))))
    assert '<details class="field guests-field" id="guests-field">' in form_page     # closed until used
    assert 'name="guests"' in form_page and "up to 10" in form_page
    response = book_form(client, next_week(1, 10), guests="Lee@example.com,\nsam@example.com; lee@example.com")
    assert response.status_code == 302, html(response)[:2000]
    booking = Booking.get()
    assert booking.guest_count == 2 and stored_guests() == ["lee@example.com", "sam@example.com"]
    confirmation = html(client.get(response.headers["Location"]))
    assert '<dd id="booking-guests">lee@example.com, sam@example.com</dd>' in confirmation


@pytest.mark.parametrize(("guests", "message"), [
    ("lee@example.com, nope", "Enter valid email addresses for your guests: “nope” is not one."),
    ("ivan@example.com", "Leave out your own email address: you are invited already."),
    (", ".join(f"g{n}@example.com" for n in range(11)), "Add at most 10 guests."),
])
def test_bad_guests_are_shown_inline_and_nothing_is_booked(client, host, guests, message):
    response = book_form(client, next_week(1, 10), guests=guests)
    assert response.status_code == 422
    page = html(response)
    assert f'<p class="error" id="e-guests">{message}</p>' in page
    assert 'aria-invalid="true"' in page and "<details class=\"field guests-field has-error\"" in page
    assert " open>" in page.split('id="guests-field"')[1][:10]
    assert guests.split(",")[0] in page                     # what was typed is kept
    assert Booking.select().count() == 0 and BookingGuest.select().count() == 0


def test_an_event_type_without_guests_has_no_field_and_refuses_them(client, host, event_type):
    et_service.update_event_type(event_type, et_service.EventTypeInput(max_guests=0))
    assert 'name="guests"' not in html(client.get(slot_url(next_week(1, 10))))
    response = book_form(client, next_week(1, 10), guests="lee@example.com")
    assert response.status_code == 422 and "does not take additional guests" in html(response)
    assert Booking.select().count() == 0


# --- the host's booking page ----------------------------------------------------------------------------------
def booking_with_guests(app, event_type, start, emails):
    with app.app_context(), db.connection_context():
        row = factories.booking_row(event_type, start, guest_count=len(emails))
        for position, email in enumerate(emails):
            BookingGuest.create(booking=row.id, email=email, position=position)
        return row


@pytest.fixture
def past(app, event_type):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return booking_with_guests(app, event_type, start, ["lee@example.com", "sam@example.com"])


def test_the_booking_page_lists_the_guests_with_no_show_buttons_after_the_start(client, host, past):
    login(client, host)
    page = html(client.get(f"/dashboard/bookings/{past.id}"))
    assert 'id="guests-card"' in page
    assert 'href="mailto:lee@example.com"' in page and 'href="mailto:sam@example.com"' in page
    action = f"/dashboard/bookings/{past.id}/guests/no-show"
    assert page.count(f'action="{action}"') == 2 and 'data-confirm="Mark lee@example.com as a no-show?"' in page


def test_before_the_start_guests_are_listed_without_buttons(app, client, host, event_type):
    future = booking_with_guests(app, event_type, datetime.now(UTC) + timedelta(days=2), ["lee@example.com"])
    login(client, host)
    page = html(client.get(f"/dashboard/bookings/{future.id}"))
    assert 'href="mailto:lee@example.com"' in page and "/guests/no-show" not in page
    answer = client.post(f"/dashboard/bookings/{future.id}/guests/no-show",
                         data={"guest": "lee@example.com", "no_show": "1"}, headers=HTMX)
    assert answer.status_code == 409 and "not started" in html(answer)


def test_a_booking_without_guests_has_no_guests_card(app, client, host, event_type):
    row = booking_with_guests(app, event_type, datetime.now(UTC) + timedelta(days=2), [])
    login(client, host)
    assert 'id="guests-card"' not in html(client.get(f"/dashboard/bookings/{row.id}"))


def test_marking_a_guest_swaps_the_card_and_emits_the_event(app, client, host, past):
    login(client, host)
    answer = client.post(f"/dashboard/bookings/{past.id}/guests/no-show",
                         data={"guest": "lee@example.com", "no_show": "1"}, headers=HTMX)
    assert answer.status_code == 200
    card = html(answer)
    assert card.lstrip().startswith('<section class="card" aria-labelledby="h-guests" id="guests-card">')
    assert "lee@example.com was marked as a no-show." in card and "Undo no-show" in card
    with app.app_context(), db.connection_context():
        marks = {g.email: bool(g.no_show) for g in guest_service.guests_of(Booking.get_by_id(past.id))}
        assert marks == {"lee@example.com": True, "sam@example.com": False}
        assert not Booking.get_by_id(past.id).no_show
        [event] = [json.loads(r.payload) for r in OutboxMessage.select().where(OutboxMessage.kind == "event")
                   if json.loads(r.payload)["event"] == "booking.no_show"]
        assert event["data"]["guest"]["email"] == "lee@example.com"
    # a plain form post (no JavaScript) undoes it and returns to the booking
    answer = client.post(f"/dashboard/bookings/{past.id}/guests/no-show",
                         data={"guest": "lee@example.com", "no_show": "0"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/dashboard/bookings/{past.id}")
    with app.app_context(), db.connection_context():
        assert not any(g.no_show for g in BookingGuest.select())


def test_an_unknown_guest_or_a_bad_value_is_refused_in_the_card(client, host, past):
    login(client, host)
    url = f"/dashboard/bookings/{past.id}/guests/no-show"
    answer = client.post(url, data={"guest": "ivan@example.com", "no_show": "1"}, headers=HTMX)
    assert answer.status_code == 422 and "no guest with this email" in html(answer)
    answer = client.post(url, data={"guest": "lee@example.com", "no_show": "maybe"}, headers=HTMX)
    assert answer.status_code == 422 and "Choose whether the guest came." in html(answer)


def test_another_hosts_booking_is_404(app, client, make_user, past):
    otto = make_user("otto")
    login(client, otto)
    answer = client.post(f"/dashboard/bookings/{past.id}/guests/no-show",
                         data={"guest": "lee@example.com", "no_show": "1"}, headers=HTMX)
    assert answer.status_code == 404
    with app.app_context(), db.connection_context():
        assert not any(g.no_show for g in BookingGuest.select())


# --- the team editor ---------------------------------------------------------------------------------------------
def test_the_team_editor_sets_the_guest_limit_too(app, make_user):
    from tests.web.test_team_event_types_dashboard import _client, _event_type, _form

    people = {name: make_user(name) for name in ("olga", "adam")}
    with app.app_context(), db.connection_context():
        team = factories.team(people["olga"], [people["adam"]])
    olga = _client(app, people["olga"])
    new_url = f"/dashboard/organizations/{team.organization_id}/teams/{team.id}/event-types/new"
    page = html(olga.get(new_url))
    assert 'id="tet-guests"' in page and re.search(r'id="tet-max_guests"[^>]*value="10"', page)
    form = _form({"adam": people["adam"], "mia": people["olga"]}, guests_section="1", max_guests="2")
    assert olga.post(new_url, data=form).status_code in (200, 302)
    assert _event_type(app).max_guests == 2
    refused = olga.post(new_url, data={**form, "slug": "demo-2", "name": "Demo 2", "max_guests": "99"},
                        headers=HTMX)
    assert 'id="tet-e-max_guests"' in html(refused) and "between 0 and 50" in html(refused)
