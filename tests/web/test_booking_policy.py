"""Cancellation and reschedule policy (issue 23 point 4) through HTTP: the editor's section, the event type in the
API, the invitee's manage pages (the rule on the invitee's clock, the refusal with a mailto: link to the host, POSTs
refused with 403, a required reason's inline error), the host's dashboard and API unaffected, and the JSON shape of
a refusal under /api."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.datetimes import format_datetime
from app.models import Booking, EventType
from app.services.booking import policy
from app.services.booking.notifications import link_token
from tests import factories
from tests.api.conftest import bearer, new_key
from tests.conftest import login
from tests.web.test_paid_booking_pages import editor_form
from tests.web.test_team_event_types_dashboard import _client as _team_client
from tests.web.test_team_event_types_dashboard import _form as _team_form
from tests.web.test_team_event_types_dashboard import crew  # noqa: F401 - the fixture

BASE = "/dashboard/event-types"
NEW_YORK = "America/New_York"


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin", plan="PRO")


def set_policy(event_type, **fields) -> EventType:
    EventType.update(**fields).where(EventType.id == event_type.id).execute()
    return EventType.get_by_id(event_type.id)


def fresh(booking) -> Booking:
    return Booking.get_by_id(booking.id)


@pytest.fixture
def booking(host, event_type):
    """Ivan's booking (New York clock) about ten days ahead."""
    return factories.booking(event_type, factories.weekday_at(6), timezone=NEW_YORK)


@pytest.fixture
def token(booking):
    return link_token(booking)


def no_editor_payment(**changes) -> dict:
    return editor_form(payment_section=None, payment_providers=None, **changes)


# --- the editor and the API --------------------------------------------------------------------------------------
def test_the_editor_saves_and_shows_the_policy(client, host):
    login(client, host)
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-policy"' in page and re.search(r'name="invitee_cancel" value="anytime" checked', page)
    response = client.post(f"{BASE}/new", data=no_editor_payment(
        policy_section="1", invitee_cancel="until", invitee_cancel_hours="48", invitee_reschedule="never",
        invitee_reschedule_hours="24", require_cancel_reason="1"))
    assert response.status_code == 302, html(response)[:3000]
    et = EventType.get(EventType.slug == "coaching")
    assert (et.invitee_cancel, et.invitee_cancel_hours, et.invitee_reschedule, et.require_cancel_reason) == (
        "until", 48, "never", True)
    edit = html(client.get(f"{BASE}/{et.id}/edit"))
    assert re.search(r'name="invitee_cancel" value="until" checked', edit)
    assert re.search(r'name="invitee_reschedule" value="never" checked', edit)
    assert 'name="invitee_cancel_hours" type="number"' in edit and 'value="48"' in edit
    assert re.search(r'name="require_cancel_reason" value="1" checked', edit)
    # a form without the section (e.g. a team's) leaves the policy as it is
    assert client.post(f"{BASE}/{et.id}/edit", data=no_editor_payment()).status_code == 302
    assert EventType.get_by_id(et.id).invitee_cancel == "until"


def test_the_editor_explains_a_bad_cut_off_inline(client, host):
    login(client, host)
    response = client.post(f"{BASE}/new", data=no_editor_payment(
        policy_section="1", invitee_cancel="until", invitee_cancel_hours="0", invitee_reschedule="anytime",
        invitee_reschedule_hours="24"))
    page = html(response)
    assert response.status_code == 422
    assert 'id="e-invitee_cancel_hours"' in page and "must be between 1 and 8760" in page
    assert not EventType.select().where(EventType.slug == "coaching").exists()


def test_the_api_shows_the_policy(app, client, host, event_type):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=12, invitee_reschedule="never",
               require_cancel_reason=True)
    response = client.get(f"/api/v1/event-types/{event_type.id}", headers=bearer(new_key(app, host)))
    assert response.status_code == 200
    assert response.json["inviteePolicy"] == {"cancel": {"mode": "until", "hours": 12},
                                              "reschedule": {"mode": "never", "hours": None},
                                              "requireCancelReason": True}


# --- the manage page ---------------------------------------------------------------------------------------------
def test_the_manage_page_gives_the_deadline_on_the_invitees_clock(client, event_type, booking, token):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24, invitee_reschedule="until",
               invitee_reschedule_hours=2)
    page = html(client.get(f"/booking/{token}"))
    cancel_by = format_datetime(booking.start_at - timedelta(hours=24), NEW_YORK, style="short")
    move_by = format_datetime(booking.start_at - timedelta(hours=2), NEW_YORK, style="short")
    assert f"You can cancel until <strong>{cancel_by}</strong> (24 hours before the meeting)." in page
    assert f"You can reschedule until <strong>{move_by}</strong> (2 hours before the meeting)." in page
    assert f'href="/booking/{token}/cancel?' in page and f'href="/booking/{token}/reschedule?' in page
    assert "mailto:" not in page


def test_any_time_says_nothing_more(client, booking, token):
    page = html(client.get(f"/booking/{token}"))
    assert "You can cancel until" not in page and "online" not in page
    assert f'href="/booking/{token}/cancel?' in page


def test_past_the_cut_off_the_page_offers_to_email_the_host(client, event_type, booking, token):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24 * 30)
    page = html(client.get(f"/booking/{token}"))
    assert ("This meeting can no longer be cancelled online: Hana Host allows it until 720 hours before the "
            "meeting.") in page
    when = format_datetime(booking.start_at, NEW_YORK, style="short")
    mailto = re.search(r'id="contact-host-cancel" href="([^"]+)"', page).group(1)
    assert mailto == policy.contact_url(fresh(booking), "cancel", when).replace("&", "&amp;")
    assert mailto.startswith("mailto:hana@example.com?subject=Cancel%3A%2030%20Minute%20Meeting%20on%20")
    assert f'href="/booking/{token}/cancel?' not in page          # no Cancel button
    assert f'href="/booking/{token}/reschedule?' in page          # rescheduling is still open

    cancel_page = client.get(f"/booking/{token}/cancel")
    assert cancel_page.status_code == 200
    text = html(cancel_page)
    assert "This meeting can no longer be cancelled online" in text and 'class="cancel-form"' not in text
    assert "mailto:hana@example.com" in text
    deadline = format_datetime(booking.start_at - timedelta(hours=720), NEW_YORK, style="short")
    assert f"Hana Host allows it up to 720 hours before the meeting (until {deadline})." in text
    response = client.post(f"/booking/{token}/cancel", data={"reason": "Ill"})
    assert response.status_code == 403 and "can no longer be cancelled online" in html(response)
    assert fresh(booking).status == "CONFIRMED"


def test_never_reschedule_refuses_the_pages_the_picker_and_the_post(client, event_type, booking, token):
    set_policy(event_type, invitee_reschedule="never")
    page = html(client.get(f"/booking/{token}"))
    assert "This meeting cannot be rescheduled online." in page and 'id="contact-host-reschedule"' in page
    assert f'href="/booking/{token}/reschedule?' not in page and f'href="/booking/{token}/cancel?' in page
    text = html(client.get(f"/booking/{token}/reschedule"))
    assert "This meeting cannot be rescheduled online" in text and "Pick a new time" not in text
    assert "mailto:hana@example.com?subject=Reschedule%3A" in text
    day = booking.start_at.date().isoformat()
    assert client.get(f"/booking/{token}/reschedule/slots?date={day}").status_code == 404
    assert client.get(f"/booking/{token}/reschedule/calendar").status_code == 404
    new_start = factories.weekday_at(7).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.post(f"/booking/{token}/reschedule", data={"start": new_start})
    assert response.status_code == 403 and fresh(booking).start_at == booking.start_at


def test_a_cancelled_booking_keeps_its_own_message(client, event_type, booking, token):
    set_policy(event_type, invitee_cancel="never")
    Booking.update(status="CANCELLED").where(Booking.id == booking.id).execute()
    page = html(client.get(f"/booking/{token}/cancel"))
    assert "Already cancelled" in page and "mailto:" not in page


# --- a required reason ---------------------------------------------------------------------------------------------
def test_a_required_reason_shows_an_inline_error_then_cancels(client, event_type, booking, token):
    set_policy(event_type, require_cancel_reason=True)
    form = html(client.get(f"/booking/{token}/cancel"))
    assert "(required, shared with Hana Host)" in form and 'aria-required="true"' in form
    response = client.post(f"/booking/{token}/cancel", data={"reason": "  "})
    page = html(response)
    assert response.status_code == 422
    assert f'<p class="error" id="e-reason">{policy.REASON_REQUIRED}</p>' in page and 'aria-invalid="true"' in page
    assert fresh(booking).status == "CONFIRMED"
    response = client.post(f"/booking/{token}/cancel", data={"reason": "Double-booked"})
    assert response.status_code == 302
    assert (fresh(booking).status, fresh(booking).cancel_reason) == ("CANCELLED", "Double-booked")


def test_an_optional_reason_stays_optional(client, booking, token):
    assert "(optional, shared with Hana Host)" in html(client.get(f"/booking/{token}/cancel"))
    assert client.post(f"/booking/{token}/cancel", data={}).status_code == 302
    assert fresh(booking).status == "CANCELLED"


# --- the host is not limited ---------------------------------------------------------------------------------------
def test_the_host_cancels_from_the_dashboard_whatever_the_policy(client, host, event_type, booking):
    set_policy(event_type, invitee_cancel="never", invitee_reschedule="never")
    login(client, host)
    response = client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "Ill", "scope": "this"})
    assert response.status_code in (302, 303), html(response)[:2000]
    assert (fresh(booking).status, fresh(booking).cancelled_by) == ("CANCELLED", "host")


def test_the_host_moves_and_cancels_through_the_api_whatever_the_policy(app, client, host, event_type, booking):
    set_policy(event_type, invitee_cancel="never", invitee_reschedule="never", require_cancel_reason=True)
    headers = bearer(new_key(app, host))
    new_start = factories.weekday_at(7)
    response = client.post(f"/api/v1/bookings/{booking.id}/reschedule", headers=headers,
                           json={"newStartTime": new_start.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status_code == 200, response.json
    assert fresh(booking).start_at == new_start
    response = client.post(f"/api/v1/bookings/{booking.id}/cancel", headers=headers, json={})
    assert response.status_code == 200, response.json
    assert fresh(booking).status == "CANCELLED"


# --- the refusal's JSON shape ---------------------------------------------------------------------------------------
def test_a_refusal_under_api_is_a_403_in_the_json_error_shape(app_factory, make_user):
    """No invitee endpoint under /api cancels or moves a booking today; one that calls the service for the invitee
    answers the refusal as every DomainError: its status (403) and ``{"error": message}``."""
    app = app_factory()
    from app.services.booking import bookings as svc

    def invitee_cancel(booking_id):
        svc.cancel_booking(Booking.get_by_id(booking_id), reason=None, by="invitee")
        return {"ok": True}

    app.add_url_rule("/api/test-invitee-cancel/<booking_id>", view_func=invitee_cancel, methods=["POST"])
    with app.app_context():
        user = make_user("hana", name="Hana Host")
        event_type = set_policy(factories.event_type(user), invitee_cancel="never")
        booked = factories.booking(event_type, factories.weekday_at(6))
    response = app.test_client().post(f"/api/test-invitee-cancel/{booked.id}")
    assert response.status_code == 403
    assert response.json == {"error": "This meeting cannot be cancelled online. Please contact Hana Host."}
    with app.app_context():
        assert fresh(booked).status == "CONFIRMED"


def test_the_deadline_follows_the_invitees_zone_choice(client, event_type, booking, token):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24)
    page = html(client.get(f"/booking/{token}?tz=Asia/Tokyo&hour=12"))
    deadline = booking.start_at - timedelta(hours=24)
    tokyo = format_datetime(deadline, "Asia/Tokyo", True, style="short")
    assert f"You can cancel until <strong>{tokyo}</strong>" in page and tokyo[-2:] in ("am", "pm")


# --- team event types -------------------------------------------------------------------------------------------
def test_the_team_form_sets_the_policy_and_team_bookings_follow_it(app, crew):  # noqa: F811 - the fixture
    olga = _team_client(app, crew["olga"])
    new_url = f"/dashboard/organizations/{crew['org_id']}/teams/{crew['team'].id}/event-types/new"
    opened = html(olga.get(new_url))
    assert 'id="tet-s-policy"' in opened and 'id="tet-invitee_cancel_hours"' in opened
    created = olga.post(new_url, data=_team_form(crew, policy_section="1", invitee_cancel="never",
                                                 invitee_cancel_hours="24", invitee_reschedule="until",
                                                 invitee_reschedule_hours="0"))
    assert created.status_code == 422 and 'id="tet-e-invitee_reschedule_hours"' in html(created)
    created = olga.post(new_url, data=_team_form(crew, policy_section="1", invitee_cancel="never",
                                                 invitee_cancel_hours="24", invitee_reschedule="until",
                                                 invitee_reschedule_hours="6"))
    assert created.status_code == 302
    with app.app_context():
        team_type = EventType.get((EventType.slug == "demo") & EventType.team.is_null(False))
        assert (team_type.invitee_cancel, team_type.invitee_reschedule, team_type.invitee_reschedule_hours) == (
            "never", "until", 6)
        start = factories.weekday_at(6, hour=9)
        booked = factories.booking(team_type, start)
        token = link_token(booked)
    page = html(olga.get(f"/booking/{token}"))
    assert "This meeting cannot be cancelled online." in page
    assert olga.post(f"/booking/{token}/cancel", data={"reason": "x"}).status_code == 403
    with app.app_context():
        assert fresh(booked).status == "CONFIRMED"
