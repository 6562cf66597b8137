"""The booking page's "CRM sync" card: each CRM's status with the reason of a failure, and "Retry sync"."""
from __future__ import annotations

import re

import pytest

from app.models import BookingCrmSync, User
from tests import factories
from tests.conftest import login
from tests.crm_fixtures import connect_crm, crm_settings

from .conftest import data


@pytest.fixture
def app(app_factory, crm_fakes):
    return app_factory(**crm_settings(crm_fakes, timeout=5))


@pytest.fixture
def pro(make_user):
    return make_user("hana", plan="PRO", timezone="Europe/Berlin")


def _booked(app, user, crm_fakes, *, attio_fails=True) -> str:
    """A booking of ``user`` synced to HubSpot, its Attio sync refused (400) when ``attio_fails``."""
    with data(app):
        connect_crm(app, user, "hubspot")
        connect_crm(app, user, "attio")
        if attio_fails:
            crm_fakes.attio.fail(400, times=1, path="/v2/objects/people")
        event_type = factories.event_type(User.get_by_id(user.id))
        booking = factories.booking(event_type, factories.weekday_at(1), name="Bo Ek", email="bo@example.com")
        return booking.id


def _card(html: str) -> str:
    return re.search(r'<section class="card" aria-labelledby="h-crm" id="crm-card">.*?</section>', html, re.S).group(0)


def test_the_detail_page_shows_each_crm_and_retry_completes_the_failed_one(app, client, pro, crm_fakes):
    booking_id = _booked(app, pro, crm_fakes)
    login(client, pro)
    card = _card(client.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True))
    assert "HubSpot" in card and "Portal 62515" in card and ">Synced<" in card
    assert "Attio" in card and ">Failed<" in card and "Attio" in re.search(r'role="alert">([^<]*)<', card).group(1)
    assert 'id="retry-crm-sync"' in card and 'hx-post="/dashboard/bookings/' in card

    answer = client.post(f"/dashboard/bookings/{booking_id}/crm-sync", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    partial = answer.get_data(as_text=True)
    assert partial.lstrip().startswith('<section class="card" aria-labelledby="h-crm" id="crm-card">')
    assert ">Failed<" not in partial and partial.count(">Synced<") == 2 and "retry-crm-sync" not in partial
    with data(app):
        assert {row.status for row in BookingCrmSync.select()} == {"synced"}
    assert len(crm_fakes.attio.people) == 1 and len(crm_fakes.attio.notes) == 1


def test_retry_without_htmx_redirects_back_with_a_notice(app, client, pro, crm_fakes):
    booking_id = _booked(app, pro, crm_fakes)
    login(client, pro)
    answer = client.post(f"/dashboard/bookings/{booking_id}/crm-sync")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/dashboard/bookings/{booking_id}")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Syncing again" in page and ">Failed<" not in _card(page)
    again = client.post(f"/dashboard/bookings/{booking_id}/crm-sync", follow_redirects=True)
    assert "Nothing to retry" in again.get_data(as_text=True)


def test_a_booking_without_crms_has_no_card(app, client, pro):
    with data(app):
        event_type = factories.event_type(User.get_by_id(pro.id))
        booking_id = factories.booking(event_type, factories.weekday_at(1)).id
    login(client, pro)
    assert 'id="crm-card"' not in client.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)


def test_another_users_booking_is_not_found(app, client, pro, make_user, crm_fakes):
    booking_id = _booked(app, pro, crm_fakes)
    other = make_user("otto", plan="PRO")
    login(client, other)
    assert client.get(f"/dashboard/bookings/{booking_id}").status_code == 404
    assert client.post(f"/dashboard/bookings/{booking_id}/crm-sync").status_code == 404
    with data(app):
        assert BookingCrmSync.get(BookingCrmSync.provider == "attio").status == "failed"


def test_a_plan_without_crm_integrations_cannot_retry(app, client, pro, crm_fakes):
    booking_id = _booked(app, pro, crm_fakes)
    with data(app):
        User.update(plan="FREE").where(User.id == pro.id).execute()
    login(client, pro)
    answer = client.post(f"/dashboard/bookings/{booking_id}/crm-sync")
    assert answer.status_code == 403 and "does not include CRM integrations" in answer.get_data(as_text=True)
    with data(app):
        assert BookingCrmSync.get(BookingCrmSync.provider == "attio").status == "failed"


def test_retry_needs_the_csrf_token(app_factory, make_user, crm_fakes):
    app = app_factory(WTF_CSRF_ENABLED=True, **crm_settings(crm_fakes, timeout=5))
    user = make_user("hana", plan="PRO")
    booking_id = _booked(app, user, crm_fakes)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    page = client.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', _card(page)).group(1)
    assert client.post(f"/dashboard/bookings/{booking_id}/crm-sync").status_code == 400
    with data(app):
        assert BookingCrmSync.get(BookingCrmSync.provider == "attio").status == "failed"
    assert client.post(f"/dashboard/bookings/{booking_id}/crm-sync", data={"csrf_token": token}).status_code == 302
    with data(app):
        assert BookingCrmSync.get(BookingCrmSync.provider == "attio").status == "synced"


def test_a_team_bookings_other_host_sees_the_card_but_only_the_organizer_may_retry(app, client, make_user, crm_fakes):
    olga = make_user("olga", plan="ORGANIZATION", timezone="UTC")
    mia = make_user("mia", plan="PRO", timezone="UTC")
    with data(app):
        olga_row, mia_row = User.get_by_id(olga.id), User.get_by_id(mia.id)
        team = factories.team(olga_row, [mia_row])
        demo = factories.team_event_type(olga_row, team, [olga_row, mia_row], kind="collective", name="Demo")
        for person in (olga_row, mia_row):
            connect_crm(app, person, "attio")
        crm_fakes.attio.fail(400, times=1, path="/v2/objects/people")
        booking = factories.booking(demo, factories.weekday_at(1), name="Bo Ek", email="bo@example.com")
        organizer = olga if booking.user_id == olga.id else mia
        other = mia if organizer is olga else olga
        assert BookingCrmSync.get().status == "failed"
    login(client, other)
    page = client.get(f"/dashboard/bookings/{booking.id}").get_data(as_text=True)
    assert ">Failed<" in _card(page) and "retry-crm-sync" not in _card(page)
    answer = client.post(f"/dashboard/bookings/{booking.id}/crm-sync")
    assert answer.status_code == 403 and "Only the organizer" in answer.get_data(as_text=True)
    with data(app):
        assert BookingCrmSync.get().status == "failed"
    client.post("/logout")
    login(client, organizer)
    assert client.post(f"/dashboard/bookings/{booking.id}/crm-sync").status_code == 302
    with data(app):
        assert BookingCrmSync.get().status == "synced"
