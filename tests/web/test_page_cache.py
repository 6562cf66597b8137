"""The public page cache (app/web/page_cache.py): anonymous visitors share rendered pages until anything that
changes them happens; then no copy from before is served again."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.models import Schedule, User
from app.services.account import accounts
from app.services.booking import bookings as booking_service
from app.services.scheduling import event_types as et_service
from app.services.scheduling import schedules
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
def renders(monkeypatch):
    """How many times the slot engine ran: a cached answer does not run it."""
    from app.web import booking_view

    calls = []
    real = booking_view.available_slots

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(booking_view, "available_slots", counting)
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


# --- the key holds only what a page reads; the cache is bounded in bytes ----------------------------------
def test_unknown_query_parameters_share_one_entry(client, host, renders):
    url = slots_url(next_week())
    first = client.get(url + "&x=1", headers=HTMX)
    second = client.get(url + "&x=2&utm_source=mail", headers=HTMX)
    third = client.get(url, headers=HTMX)
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.get_data() == second.get_data() == third.get_data() and len(renders) == 1
    assert page_cache.stats()[0] == 1


def test_spellings_of_one_value_share_one_entry(client, host, renders):
    day = next_week().astimezone(BERLIN).date()
    client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day.isoformat()}", headers=HTMX)
    client.get(f"/hana/30-min/slots?date={day:%Y%m%d}&tz=%20Europe/Berlin&embed=no&x=1", headers=HTMX)
    assert len(renders) == 1
    client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day.isoformat()}&embed=true", headers=HTMX)
    assert len(renders) == 2  # embed changes the links: another entry


def test_a_shared_page_holds_no_other_visitors_query_string(client, host):
    first = client.get("/hana/30-min?utm_source=alpha-campaign&x=1").get_data(as_text=True)
    second = client.get("/hana/30-min?utm_source=beta-campaign").get_data(as_text=True)
    assert 'data-detect-url="/hana/30-min"' in first
    assert "alpha-campaign" not in first and "alpha-campaign" not in second
    assert 'data-detect-url="/hana/30-min?month=' in client.get("/hana/30-min?month=2031-01&q=z").get_data(
        as_text=True)


def test_pages_that_differ_are_never_merged(app, client, host):
    """Each query string gets the page it would get with the cache off, whichever request filled the entry."""
    day = next_week().astimezone(BERLIN).date()
    queries = ["", "?hour=x", "?hour=12", "?tz=Nowhere/Land", "?tz=Asia/Tokyo", "?tz=", "?month=2031-02",
               "?month=bogus", f"?date={day.isoformat()}", "?date=bogus", "?duration=999", "?embed=1",
               "?hideHeader=yes", "?x=1"]
    pages = {}
    for path in ("/hana", "/hana/30-min"):
        fresh = pages[path] = {}
        for query in queries:
            page_cache.clear()
            fresh[query] = client.get(path + query).get_data()
        page_cache.clear()
        for query in queries:  # every request after the first of its kind is a cache hit
            assert client.get(path + query).get_data() == fresh[query], path + query
        for query in reversed(queries):
            assert client.get(path + query).get_data() == fresh[query], path + query
    assert pages["/hana"]["?hour=x"] != pages["/hana"][""]  # on the profile a bad value is not the same as none


def test_personal_pages_are_not_stored(client, host, renders):
    client.get("/hana/30-min?name=Ann&email=ann@example.com")
    client.get("/hana/30-min?name=Ann&email=ann@example.com")
    assert len(renders) == 2 and page_cache.stats() == (0, 0)


def test_the_cache_stays_within_its_byte_budget(app, client, host, renders):
    first = next_week()
    urls = [slots_url(first + timedelta(days=n)) for n in range(14)]
    client.get(urls[0], headers=HTMX)
    one = page_cache.stats()[1]
    page_cache.clear()
    app.config["PUBLIC_PAGE_CACHE_BYTES"] = budget = one * 10  # ten entries of about this size
    for url in urls:
        client.get(url, headers=HTMX)
        assert page_cache.stats()[1] <= budget
    entries, size = page_cache.stats()
    assert entries < len(urls) and size > budget // 2  # some went (weekend days without slots are smaller)
    renders.clear()
    client.get(urls[-1], headers=HTMX)  # the newest is kept ...
    assert len(renders) == 0
    client.get(urls[0], headers=HTMX)   # ... the least recently used went first
    assert len(renders) == 1


def test_a_page_larger_than_an_eighth_of_the_budget_is_not_kept(app, client, host):
    url = slots_url(next_week())
    client.get(url, headers=HTMX)
    one = page_cache.stats()[1]
    page_cache.clear()
    app.config["PUBLIC_PAGE_CACHE_BYTES"] = one * 8 - 1
    client.get(url, headers=HTMX)
    assert page_cache.stats() == (0, 0)
    app.config["PUBLIC_PAGE_CACHE_BYTES"] = one * 8
    client.get(url, headers=HTMX)
    assert page_cache.stats() == (1, one)


def test_a_time_parameter_does_not_bypass_the_cache_of_the_partials(client, host, renders):
    url = slots_url(next_week())
    client.get(url, headers=HTMX)
    client.get(url + "&time=10:00", headers=HTMX)  # only the booking page's form step reads it
    assert len(renders) == 1
