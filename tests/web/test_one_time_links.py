"""Single-use links and one-off meetings through HTTP (issue 23, point 7): the dashboard (create, list, copy,
revoke), ``/d/<token>`` (calendar, form, booking), its used / expired pages, 404s, secret event types, the embed."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, EventType
from app.models.one_time_links import OneTimeLink
from app.services.booking import one_time_links as links
from app.services.scheduling import event_types as et_service
from tests.conftest import login
from tests.factories import next_week

BERLIN = ZoneInfo("Europe/Berlin")


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host")


@pytest.fixture
def event_type(host):
    return EventType.get((EventType.user == host) & (EventType.slug == "30-min"))


def form_fields(page: str) -> dict[str, str]:
    form = page[page.index('class="booking-form"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))


def book(client, token: str, start: datetime, email: str = "ivan@example.com"):
    moment = start.astimezone(BERLIN)
    page = client.get(f"/d/{token}?tz=Europe/Berlin&hour=24&date={moment.date()}&time={moment:%H:%M}")
    assert page.status_code == 200 and 'class="booking-form"' in html(page), html(page)[:3000]
    data = form_fields(html(page))
    data.update({"name": "Ivan Invitee", "email": email})
    return client.post(f"/d/{token}", data=data)


# --- the dashboard ---------------------------------------------------------------------------------------
def test_host_creates_a_single_use_link_from_the_event_types_list(client, host, event_type):
    login(client, host)
    listing = html(client.get("/dashboard/event-types"))
    assert f'href="/dashboard/links/single-use?event_type={event_type.id}"' in listing
    form = client.get(f"/dashboard/links/single-use?event_type={event_type.id}")
    assert form.status_code == 200 and "Expires (optional)" in html(form)
    created = client.post("/dashboard/links/single-use", data={"event_type_id": event_type.id, "expires_at": ""})
    assert created.status_code == 302
    link = OneTimeLink.get()
    assert f"created={link.id}" in created.headers["Location"] and link.kind == "single_use"
    page = html(client.get(created.headers["Location"]))
    assert f"http://localhost/d/{link.token}" in page or f"/d/{link.token}" in page
    assert 'data-copy="' in page and f'id="revoke-{link.id}"' in page


def test_single_use_form_errors_inline_and_other_hosts_event_types_are_refused(client, host, event_type, make_user):
    other = make_user("otto")
    otto_type = EventType.get(EventType.user == other)
    login(client, host)
    response = client.post("/dashboard/links/single-use", data={"event_type_id": otto_type.id})
    assert response.status_code == 422 and "Choose one of your event types." in html(response)
    response = client.post("/dashboard/links/single-use", data={"event_type_id": event_type.id,
                                                                "expires_at": "2020-01-01T10:00"})
    assert response.status_code == 422 and "Choose an expiry in the future." in html(response)
    response = client.post("/dashboard/links/single-use", data={"event_type_id": event_type.id,
                                                                "expires_at": "soon"})
    assert response.status_code == 422 and "Enter a date and time." in html(response)
    assert OneTimeLink.select().count() == 0


def test_revoke_with_htmx_and_another_users_link_is_404(client, host, event_type, make_user):
    link = links.create_single_use(host, event_type.id)
    other = make_user("otto")
    login(client, other)
    assert client.post(f"/dashboard/links/{link.id}/revoke").status_code == 404
    assert link.token not in html(client.get("/dashboard/links"))
    client.post("/logout")
    login(client, host)
    response = client.post(f"/dashboard/links/{link.id}/revoke", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Revoked" in html(response) and "<html" not in html(response)
    assert OneTimeLink.get_by_id(link.id).revoked_at is not None
    assert client.get(f"/d/{link.token}").status_code == 404
    assert link.token not in html(client.get("/dashboard/links"))


def test_one_off_meeting_form_creates_proposals_on_the_hosts_clock(client, host, event_type):
    login(client, host)
    first, second = next_week(1, 10), next_week(2, 14, 30)
    data = {"event_type_id": event_type.id, "name": "Contract review", "duration": "45", "location_type": "in_person",
            "location_detail": "Main St 1", "expires_at": "",
            "time": [f"{first.astimezone(BERLIN):%Y-%m-%dT%H:%M}", "", f"{second.astimezone(BERLIN):%Y-%m-%dT%H:%M}"]}
    response = client.post("/dashboard/links/one-off", data=data)
    assert response.status_code == 302, html(response)[:2000]
    link = OneTimeLink.get()
    assert (link.kind, link.name, link.duration, link.location_detail) == \
        ("one_off", "Contract review", 45, "Main St 1")
    assert links.proposed_times(link) == [first, second]
    listing = html(client.get("/dashboard/links"))
    assert "Contract review" in listing and "One-off meeting" in listing


def test_one_off_form_names_the_row_of_a_time_that_cannot_be_taken(client, host, event_type):
    login(client, host)
    saturday = next_week(5, 10)
    data = {"event_type_id": event_type.id, "name": "", "duration": "", "location_type": "",
            "time": [f"{next_week(1, 10).astimezone(BERLIN):%Y-%m-%dT%H:%M}", "",
                     f"{saturday.astimezone(BERLIN):%Y-%m-%dT%H:%M}"]}
    response = client.post("/dashboard/links/one-off", data=data)
    page = html(response)
    assert response.status_code == 422 and 'id="e-time_3"' in page and "You are not available then" in page
    assert 'id="e-time_1"' not in page and OneTimeLink.select().count() == 0


# --- /d/<token> --------------------------------------------------------------------------------------------
def test_single_use_link_books_once_then_says_it_was_used(client, host, event_type):
    link = links.create_single_use(host, event_type.id)
    page = client.get(f"/d/{link.token}")
    assert page.status_code == 200 and "30 Minute Meeting" in html(page)
    assert 'noindex' in html(page) and f"/d/{link.token}/calendar" in html(page)
    # a second visitor opens the form of another time before the link is used
    later = next_week(2, 10).astimezone(BERLIN)
    other_tab = form_fields(html(client.get(
        f"/d/{link.token}?tz=Europe/Berlin&date={later.date()}&time={later:%H:%M}")))
    start = next_week(1, 10)
    response = book(client, link.token, start)
    assert response.status_code == 302 and "/booking/" in response.headers["Location"]
    booking = Booking.get()
    assert booking.start_at == start and OneTimeLink.get_by_id(link.id).booking_id == booking.id
    again = client.get(f"/d/{link.token}")
    assert again.status_code == 410 and "This link has already been used" in html(again)
    assert 'id="step"' not in html(again) and "/calendar" not in html(again)
    for path in ("/calendar?month=2030-01", f"/slots?date={start.date()}"):
        assert client.get(f"/d/{link.token}{path}").status_code == 410
    other_tab.update({"name": "Olga", "email": "olga@example.com"})
    late = client.post(f"/d/{link.token}", data=other_tab)
    assert late.status_code == 410 and "This link has already been used" in html(late)
    assert Booking.select().count() == 1


def test_a_used_link_sent_again_by_htmx_is_sent_to_the_used_page(client, host, event_type):
    link = links.create_single_use(host, event_type.id)
    start = next_week(1, 10)
    moment = start.astimezone(BERLIN)
    data = form_fields(html(client.get(f"/d/{link.token}?tz=Europe/Berlin&date={moment.date()}&time={moment:%H:%M}")))
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    assert client.post(f"/d/{link.token}", data=data).status_code == 302
    other = dict(data, idem="another-form", email="other@example.com",
                 start=next_week(2, 10).strftime("%Y-%m-%dT%H:%M:%SZ"))
    response = client.post(f"/d/{link.token}", data=other, headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/d/{link.token}"
    assert Booking.select().count() == 1


def test_expired_link_says_so(client, host, event_type):
    link = links.create_single_use(host, event_type.id, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    assert client.get(f"/d/{link.token}").status_code == 200
    OneTimeLink.update(expires_at=datetime.now(UTC) - timedelta(seconds=1)).where(OneTimeLink.id == link.id).execute()
    response = client.get(f"/d/{link.token}")
    assert response.status_code == 410 and "This link has expired" in html(response)


def test_unknown_revoked_and_unbookable_links_are_404(client, host, event_type):
    assert client.get("/d/" + "x" * 43).status_code == 404
    assert client.get("/d/" + "x" * 100).status_code == 404
    link = links.create_single_use(host, event_type.id)
    et_service.set_status(event_type, False)
    assert client.get(f"/d/{link.token}").status_code == 404
    assert client.post(f"/d/{link.token}", data={}).status_code == 404


def test_secret_event_type_is_booked_through_its_link(client, host):
    secret = et_service.create_event_type(host, et_service.EventTypeInput(name="Secret", slug="secret", duration=30,
                                                                          is_secret=True))
    link = links.create_single_use(host, secret.id)
    assert "Secret" not in html(client.get("/hana"))
    assert book(client, link.token, next_week(1, 11)).status_code == 302
    assert Booking.get().event_type_id == secret.id


def test_one_off_page_opens_on_the_proposals_and_offers_only_them(client, host, event_type):
    times = [next_week(1, 10, 15), next_week(1, 13), next_week(3, 9)]
    link = links.create_one_off(host, links.OneOffInput(event_type_id=event_type.id, name="Contract review",
                                                        duration=45, times=times))
    opened = client.get(f"/d/{link.token}?tz=Europe/Berlin&hour=24")
    assert opened.status_code == 302 and f"date={times[0].astimezone(BERLIN).date()}" in opened.headers["Location"]
    page = html(client.get(opened.headers["Location"]))
    assert "Contract review" in page and "45 min" in page
    day = times[0].astimezone(BERLIN).date()
    slots = html(client.get(f"/d/{link.token}/slots?date={day}&tz=Europe/Berlin&hour=24"))
    assert re.findall(r'data-start="([^"]+)"', slots) == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times[:2]]
    response = book(client, link.token, times[1])
    assert response.status_code == 302
    booking = Booking.get()
    assert booking.event_name == "Contract review" and booking.end_at - booking.start_at == timedelta(minutes=45)
    assert client.get(f"/d/{link.token}").status_code == 410


def test_the_embed_may_frame_a_link_and_the_confirmation_announces_the_booking(client, host, event_type):
    link = links.create_single_use(host, event_type.id)
    framed = client.get(f"/d/{link.token}?embed=true")
    assert framed.status_code == 200 and "frame-ancestors *" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers and "/static/js/embed-child." in html(framed)
    assert client.get(f"/d/{link.token}").headers["X-Frame-Options"] == "DENY"
    start = next_week(1, 10)
    moment = start.astimezone(BERLIN)
    page = html(client.get(f"/d/{link.token}?embed=true&tz=Europe/Berlin&date={moment.date()}&time={moment:%H:%M}"))
    data = form_fields(page)
    assert data.get("embed") == "true"
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    response = client.post(f"/d/{link.token}", data=data)
    assert response.status_code == 302 and "embed=true" in response.headers["Location"]
    done = client.get(urlsplit(response.headers["Location"]).path + "?" + urlsplit(response.headers["Location"]).query)
    assert "data-linktime-booked" in html(done) and "frame-ancestors *" in done.headers["Content-Security-Policy"]
    used = client.get(f"/d/{link.token}?embed=true")
    assert used.status_code == 410 and "frame-ancestors *" in used.headers["Content-Security-Policy"]
