"""Dashboard: marking a booking's invitee as a no-show (and undoing it) from the booking's page (issue 23, point 5)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import AuditLog, Booking
from tests import factories
from tests.conftest import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def row(app, event_type, start, **fields):
    with app.app_context(), db.connection_context():
        return factories.booking_row(event_type, start, **fields)


def fetch(app, booking_id):
    with app.app_context(), db.connection_context():
        return Booking.get_by_id(booking_id)


@pytest.fixture
def past(app, event_type):
    return row(app, event_type, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))


def test_a_started_meeting_offers_the_button_with_an_in_page_confirm_and_a_plain_form(signed_in, past):
    page = signed_in.get(f"/dashboard/bookings/{past.id}").get_data(as_text=True)
    assert 'id="no-show-card"' in page and 'id="mark-no-show"' in page
    form = re.search(r'<form method="post" action="(/dashboard/bookings/[^"]+/no-show)"[^>]*hx-post="([^"]+)"', page)
    assert form and form.group(1) == form.group(2) == f"/dashboard/bookings/{past.id}/no-show"
    assert 'data-confirm="Mark Ivan as a no-show?"' in page


def test_a_meeting_not_started_does_not_offer_it_and_a_post_is_refused(app, signed_in, event_type):
    future = row(app, event_type, datetime.now(UTC) + timedelta(days=2))
    page = signed_in.get(f"/dashboard/bookings/{future.id}").get_data(as_text=True)
    assert "no-show-card" not in page and "mark-no-show" not in page
    answer = signed_in.post(f"/dashboard/bookings/{future.id}/no-show", data={"no_show": "1"}, headers=HTMX)
    assert answer.status_code == 409 and "not started" in answer.get_data(as_text=True)
    assert not fetch(app, future.id).no_show


def test_a_cancelled_meeting_does_not_offer_it(app, signed_in, event_type):
    cancelled = row(app, event_type, datetime.now(UTC) - timedelta(hours=2), status="CANCELLED")
    assert "mark-no-show" not in signed_in.get(f"/dashboard/bookings/{cancelled.id}").get_data(as_text=True)


def test_htmx_marks_and_swaps_the_card_then_undo_clears_it(app, signed_in, past):
    answer = signed_in.post(f"/dashboard/bookings/{past.id}/no-show", data={"no_show": "1"}, headers=HTMX)
    assert answer.status_code == 200
    card = answer.get_data(as_text=True)
    assert card.lstrip().startswith("<section") and 'id="undo-no-show"' in card and "Marked as a no-show." in card
    stored = fetch(app, past.id)
    assert stored.no_show and stored.no_show_at is not None
    page = signed_in.get(f"/dashboard/bookings/{past.id}").get_data(as_text=True)
    assert 'id="no-show-badge"' in page
    assert '<span class="badge badge-danger">No-show</span>' in signed_in.get("/dashboard/bookings?tab=past").get_data(
        as_text=True)
    undo = signed_in.post(f"/dashboard/bookings/{past.id}/no-show", data={"no_show": "0"}, headers=HTMX)
    assert undo.status_code == 200 and 'id="mark-no-show"' in undo.get_data(as_text=True)
    assert not fetch(app, past.id).no_show
    with app.app_context(), db.connection_context():
        assert AuditLog.select().where(AuditLog.action == "booking.no_show").count() == 2


def test_the_plain_form_redirects_back_to_the_page_with_a_message(app, signed_in, past):
    answer = signed_in.post(f"/dashboard/bookings/{past.id}/no-show", data={"no_show": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/dashboard/bookings/{past.id}")
    page = signed_in.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Marked as a no-show." in page and 'id="undo-no-show"' in page


def test_a_missing_choice_is_422(app, signed_in, past):
    answer = signed_in.post(f"/dashboard/bookings/{past.id}/no-show", data={}, headers=HTMX)
    assert answer.status_code == 422
    assert not fetch(app, past.id).no_show


def test_another_hosts_booking_is_404(app, client, make_user, past):
    login(client, make_user("otto"))
    assert client.get(f"/dashboard/bookings/{past.id}").status_code == 404
    assert client.post(f"/dashboard/bookings/{past.id}/no-show", data={"no_show": "1"}).status_code == 404
    assert not fetch(app, past.id).no_show


def test_a_post_without_the_csrf_token_is_refused(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context(), db.connection_context():
        user = make_user("carla")
        event_type = factories.event_type(user)
        booking = factories.booking_row(event_type, datetime.now(UTC) - timedelta(hours=1))
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    page = client.get(f"/dashboard/bookings/{booking.id}").get_data(as_text=True)
    form = re.search(r'id="no-show-card".*?name="csrf_token" value="([^"]+)"', page, re.DOTALL)
    assert form, "the no-show form carries a CSRF token"
    assert client.post(f"/dashboard/bookings/{booking.id}/no-show", data={"no_show": "1"}).status_code == 400
    assert not fetch(app, booking.id).no_show
    answer = client.post(f"/dashboard/bookings/{booking.id}/no-show",
                         data={"no_show": "1", "csrf_token": form.group(1)})
    assert answer.status_code == 302 and fetch(app, booking.id).no_show


def test_the_analytics_bookings_tab_shows_the_rate_per_event_type(app, signed_in, event_type, past):
    row(app, event_type, datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))
    signed_in.post(f"/dashboard/bookings/{past.id}/no-show", data={"no_show": "1"})
    page = signed_in.get("/dashboard/analytics?tab=bookings&preset=7d").get_data(as_text=True)
    table = re.search(r'<table class="table" id="no-show-rates">.*?</table>', page, re.DOTALL)
    assert table, page[:2000]
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table.group(0)))
    assert "30 Minute Meeting 2 1 50.0%" in cells


def test_settings_webhooks_offers_the_no_show_event(signed_in):
    page = signed_in.get("/settings/webhooks/new").get_data(as_text=True)
    assert 'value="booking.no_show"' in page and "Invitee marked as no-show" in page
