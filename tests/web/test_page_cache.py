"""The public page cache (app/web/page_cache.py): anonymous visitors share rendered pages until anything that
changes them happens; then no copy from before is served again."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.models import EventType, Schedule, User
from app.services import accounts, schedules
from app.services import bookings as booking_service
from app.services import event_types as et_service
from app.web import page_cache
from tests.conftest import login

BERLIN = ZoneInfo("Europe/Berlin")
HTMX = {"HX-Request": "true"}


def next_week(weekday: int = 1, hour: int = 10) -> datetime:
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour), BERLIN).astimezone(UTC)


@pytest.fixture
def app(app_factory):
    page_cache.clear()
    yield app_factory(PUBLIC_PAGE_CACHE_SECONDS=30)
    page_cache.clear()


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


@pytest.fixture
def renders(monkeypatch):
    """How many times the slot engine ran: a cached answer does not run it."""
    from app.web import public

    calls = []
    real = public.available_slots

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(public, "available_slots", counting)
    return calls


def slots_url(start: datetime) -> str:
    return f"/hana/30-min/slots?tz=Europe/Berlin&date={start.astimezone(BERLIN).date().isoformat()}"


def test_second_anonymous_request_is_served_from_the_cache(client, host, renders):
    url = slots_url(next_week())
    first = client.get(url, headers=HTMX)
    second = client.get(url, headers=HTMX)
    assert first.get_data() == second.get_data() and len(renders) == 1
    assert "HX-Request" in second.headers["Vary"]
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    client.get(url)  # the same URL without HX-Request is another entry
    assert len(renders) == 2


def test_a_booking_retires_the_cached_slots_at_once(client, host, event_type):
    start = next_week(1, 11)
    assert ">11:00<" in client.get(slots_url(start), headers=HTMX).get_data(as_text=True)
    booking = booking_service.create_booking(event_type, booking_service.BookingRequest(
        start=start, invitee_name="Ivan", invitee_email="ivan@example.com", invitee_timezone="UTC")).booking
    assert ">11:00<" not in client.get(slots_url(start), headers=HTMX).get_data(as_text=True)
    booking_service.cancel_booking(booking, reason=None, by="invitee")
    assert ">11:00<" in client.get(slots_url(start), headers=HTMX).get_data(as_text=True)


def test_changes_to_hours_event_type_and_profile_retire_the_cached_pages(client, host, event_type):
    start = next_week(1, 11)
    before = User.get_by_id(host.id).pages_version
    assert ">11:00<" in client.get(slots_url(start), headers=HTMX).get_data(as_text=True)
    schedule = Schedule.get(Schedule.user == host)
    day = start.astimezone(BERLIN).date()
    schedules.set_override(schedule, day, day, [])
    assert ">11:00<" not in client.get(slots_url(start), headers=HTMX).get_data(as_text=True)

    assert "30 Minute Meeting" in client.get("/hana").get_data(as_text=True)
    et_service.update_event_type(event_type, et_service.EventTypeInput(name="Quick chat"))
    assert "Quick chat" in client.get("/hana").get_data(as_text=True)

    accounts.update_profile(User.get_by_id(host.id), name="Hana H. Host", username="hana", timezone="Europe/Berlin",
                            brand_color="#2563eb")
    assert "Hana H. Host" in client.get("/hana/30-min").get_data(as_text=True)
    assert User.get_by_id(host.id).pages_version >= before + 3


def test_entries_expire(client, host, renders, monkeypatch):
    url = slots_url(next_week())
    client.get(url, headers=HTMX)
    now = page_cache.time.monotonic()
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: now + 31)
    client.get(url, headers=HTMX)
    assert len(renders) == 2


def test_signed_in_visitors_neither_read_nor_fill_the_cache(app, host, renders):
    url = slots_url(next_week())
    signed_in = app.test_client()
    login(signed_in, host)
    signed_in.get(url, headers=HTMX)
    signed_in.get(url, headers=HTMX)
    assert len(renders) == 2
    anonymous = app.test_client()
    anonymous.get(url, headers=HTMX)
    assert len(renders) == 3


def test_the_booking_form_step_is_never_shared(client, host):
    start = next_week(1, 11).astimezone(BERLIN)
    url = f"/hana/30-min?tz=Europe/Berlin&date={start.date().isoformat()}&time={start:%H:%M}"
    first = client.get(url).get_data(as_text=True)
    second = client.get(url).get_data(as_text=True)
    token = 'name="form_token" value="'
    assert token in first and first.split(token)[1][:20] != "" and first != second  # fresh idempotency key


def test_shared_pages_carry_no_session_token_and_set_no_cookie(client, host):
    for url in ("/hana", "/hana/30-min"):
        response = client.get(url)
        assert "csrf-token" not in response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers


def test_unknown_or_disabled_host_is_404_even_when_cached(client, host):
    assert client.get("/hana/30-min").status_code == 200
    accounts.set_disabled(User.get_by_id(host.id), True)
    assert client.get("/hana/30-min").status_code == 404
    assert client.get("/hana").status_code == 404
    assert client.get("/nobody/30-min").status_code == 404


def test_pages_version_survives_a_stale_save(host, db_conn):
    """A save() of an object loaded before a booking must not write the old counter back."""
    stale = User.get_by_id(host.id)
    with db.atomic():
        User.update(pages_version=User.pages_version + 1).where(User.id == host.id).execute()
    stale.name = "Renamed"
    stale.save()
    fresh = User.get_by_id(host.id)
    assert (fresh.name, fresh.pages_version) == ("Renamed", stale.pages_version + 1)
