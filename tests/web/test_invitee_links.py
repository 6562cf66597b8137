"""Invitee self-service through the private link: view, .ics, cancel (one or the rest of a series) and
reschedule (same booking id, its own time stays offered)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from app.models import Booking, EventType
from app.services.booking import bookings as booking_service
from app.services.booking.notifications import invitee_links, link_token
from app.services.scheduling import event_types as et_service

BERLIN = ZoneInfo("Europe/Berlin")


def next_week(weekday: int = 1, hour: int = 10, minute: int = 0) -> datetime:
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host")


def book(event_type, start=None, email="ivan@example.com", **kw):
    request = booking_service.BookingRequest(start=start or next_week(), invitee_name="Ivan Invitee",
                                             invitee_email=email, invitee_timezone="America/New_York", **kw)
    return booking_service.create_booking(event_type, request)


@pytest.fixture
def booking(event_type):
    return book(event_type, notes="Agenda: pricing").booking


@pytest.fixture
def token(booking):
    return link_token(booking)


def fresh(booking) -> Booking:
    return Booking.get_by_id(booking.id)


# --- view ---------------------------------------------------------------------------------------------
def test_view_shows_details_in_the_invitee_zone_with_calendar_and_manage_links(client, booking, token):
    response = client.get(f"/booking/{token}")
    page = html(response)
    assert response.status_code == 200
    new_york = booking.start_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{new_york:%H:%M} – " in page and "America/New York" in page
    assert "30 Minute Meeting with Hana Host" in page and "Agenda: pricing" in page
    assert "calendar.google.com" in page and "outlook.live.com" in page and "outlook.office.com" in page
    assert f'href="/booking/{token}/invite.ics"' in page
    for action in ("reschedule", "cancel"):
        assert re.search(rf'href="/booking/{re.escape(token)}/{action}\?[^"]*tz=America(/|%2F)New_York', page)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]


def test_email_links_point_at_these_pages(app, client, booking, token):
    links = invitee_links(booking)
    base = app.config["BASE_URL"]
    for kind, path in (("view", ""), ("cancel", "/cancel"), ("reschedule", "/reschedule")):
        assert links[kind] == f"{base}/booking/{token}{path}"
        assert client.get(links[kind].removeprefix(base)).status_code == 200


@pytest.mark.parametrize("suffix", ["", "/cancel", "/reschedule", "/invite.ics", "/reschedule/slots?date=2030-01-01"])
def test_forged_or_unknown_token_is_404(client, booking, token, suffix):
    uid, _, sig = token.rpartition(".")
    forged = f"{uid}.{'0' * len(sig)}"
    assert client.get(f"/booking/{forged}{suffix}").status_code == 404
    assert client.get(f"/booking/nothing-here{suffix}").status_code == 404
    assert client.get(f"/booking/{uid}{suffix}").status_code == 404


def test_ics_download_is_a_publish_calendar_with_the_booking(client, booking, token):
    response = client.get(f"/booking/{token}/invite.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in response.headers["Content-Disposition"]
    cal = Calendar.from_ical(response.data)
    assert cal["METHOD"] == "PUBLISH"
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == booking.start_at and event["UID"] == f"{booking.id}@linktime"


def test_ics_of_a_series_holds_every_confirmed_occurrence(client, event_type):
    et_service.update_event_type(event_type, et_service.EventTypeInput(
        recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 3}))
    result = book(EventType.get_by_id(event_type.id), occurrences=3)
    booking_service.cancel_booking(result.bookings[2], reason=None, by="host")
    cal = Calendar.from_ical(client.get(f"/booking/{link_token(result.booking)}/invite.ics").data)
    starts = sorted(e.decoded("DTSTART") for e in cal.walk("VEVENT"))
    assert starts == [b.start_at for b in result.bookings[:2]]


# --- cancel -------------------------------------------------------------------------------------------
def test_cancel_page_asks_for_a_reason_and_cancels_as_the_invitee(client, booking, token):
    page = html(client.get(f"/booking/{token}/cancel"))
    assert 'name="reason"' in page and 'name="scope"' not in page
    response = client.post(f"/booking/{token}/cancel", data={"reason": "Sick"})
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/booking/{token}")
    cancelled = fresh(booking)
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == ("CANCELLED", "invitee", "Sick")
    view = client.get(f"/booking/{token}")
    assert view.status_code == 200 and "This meeting was cancelled" in html(view) and "Sick" in html(view)
    assert "/cancel" not in html(view)


def test_cancelled_booking_links_explain_instead_of_failing(client, booking, token):
    booking_service.cancel_booking(booking, reason="Host away", by="host")
    cancel = client.get(f"/booking/{token}/cancel")
    assert cancel.status_code == 200 and "Already cancelled" in html(cancel)
    reschedule = client.get(f"/booking/{token}/reschedule")
    assert reschedule.status_code == 200 and "cannot be rescheduled" in html(reschedule)
    assert "was cancelled" in html(reschedule)
    assert client.post(f"/booking/{token}/cancel", data={}).status_code == 200
    assert client.post(f"/booking/{token}/reschedule", data={"start": "2030-01-01T10:00:00Z"}).status_code == 200


def test_past_booking_links_explain_that_it_took_place(client, booking, token):
    Booking.update(start_at=datetime.now(UTC) - timedelta(days=2),
                   end_at=datetime.now(UTC) - timedelta(days=2) + timedelta(minutes=30)).where(
        Booking.id == booking.id).execute()
    view = client.get(f"/booking/{token}")
    assert view.status_code == 200 and "This meeting has taken place" in html(view)
    assert "/reschedule" not in html(view)
    cancel = client.get(f"/booking/{token}/cancel")
    assert cancel.status_code == 200 and "in the past" in html(cancel)
    assert client.post(f"/booking/{token}/cancel", data={}).status_code == 200
    assert fresh(booking).status == "CONFIRMED"
    reschedule = client.get(f"/booking/{token}/reschedule")
    assert reschedule.status_code == 200 and "in the past" in html(reschedule)


@pytest.fixture
def series(event_type):
    et_service.update_event_type(event_type, et_service.EventTypeInput(
        recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4}))
    return book(EventType.get_by_id(event_type.id), occurrences=3).bookings


def test_series_cancel_offers_this_one_or_this_and_later(client, series):
    token = link_token(series[1])
    page = html(client.get(f"/booking/{token}/cancel"))
    assert 'value="this" checked' in page and 'value="following"' in page
    client.post(f"/booking/{token}/cancel", data={"scope": "this"})
    assert [fresh(b).status for b in series] == ["CONFIRMED", "CANCELLED", "CONFIRMED"]


def test_series_cancel_this_and_all_later(client, series):
    client.post(f"/booking/{link_token(series[1])}/cancel", data={"scope": "following", "reason": "Moving"})
    assert [fresh(b).status for b in series] == ["CONFIRMED", "CANCELLED", "CANCELLED"]


def test_series_view_lists_every_occurrence(client, series):
    page = html(client.get(f"/booking/{link_token(series[0])}"))
    assert "All meetings in this series" in page and page.count("<li") >= 3


def test_cancel_needs_the_csrf_token_when_protection_is_on(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        host = make_user("hana")
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        booking = book(event_type).booking
        token = link_token(booking)
    client = app.test_client()
    assert client.post(f"/booking/{token}/cancel", data={}).status_code == 400
    page = html(client.get(f"/booking/{token}/cancel"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/booking/{token}/cancel", data={"csrf_token": csrf}).status_code == 302
    assert fresh(booking).status == "CANCELLED"


# --- reschedule -----------------------------------------------------------------------------------------
def test_reschedule_calendar_offers_the_bookings_own_time(client, booking, token):
    day = booking.start_at.astimezone(BERLIN).date()
    response = client.get(f"/booking/{token}/reschedule?tz=Europe/Berlin&date={day.isoformat()}")
    page = html(response)
    assert response.status_code == 200 and "Pick a new time" in page
    assert re.search(r'class="slot"[^>]*>10:00<', page), "the booking must not block its own slot"
    slots = html(client.get(f"/booking/{token}/reschedule/slots?tz=Europe/Berlin&date={day.isoformat()}"))
    assert re.search(r'class="slot"[^>]*>10:00<', slots)
    assert f"/booking/{token}/reschedule?" in re.search(r'<a class="slot" href="([^"]+)"', slots).group(1)


def test_reschedule_keeps_the_booking_id_and_records_the_previous_time(client, booking, token):
    new_start = next_week(3, 14)
    local = new_start.astimezone(BERLIN)
    confirm = html(client.get(f"/booking/{token}/reschedule?tz=Europe/Berlin&date={local.date().isoformat()}"
                              f"&time={local:%H:%M}"))
    assert "Confirm the new time" in confirm
    partial = html(client.get(f"/booking/{token}/reschedule?tz=Europe/Berlin&date={local.date().isoformat()}"
                              f"&time={local:%H:%M}", headers={"HX-Request": "true"}))
    assert partial.lstrip().startswith('<section id="step"') and 'name="csrf_token"' in partial
    start = re.search(r'name="start" value="([^"]+)"', confirm).group(1)
    response = client.post(f"/booking/{token}/reschedule", data={"start": start, "tz": "Europe/Berlin",
                                                                 "reason": "Clash"})
    assert response.status_code == 302 and "rescheduled=1" in response.headers["Location"]
    moved = fresh(booking)
    assert moved.id == booking.id and moved.start_at == new_start
    assert moved.previous_start_at == booking.start_at
    assert Booking.select().count() == 1
    view = html(client.get(response.headers["Location"]))
    assert "Your meeting was moved" in view and "14:00" in view


def test_reschedule_to_a_taken_time_shows_the_message_and_slots(client, event_type, booking, token):
    taken = next_week(3, 14)
    book(event_type, start=taken, email="other@example.com")
    response = client.post(f"/booking/{token}/reschedule", data={"start": taken.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                                 "tz": "Europe/Berlin"})
    page = html(response)
    assert response.status_code == 409 and "This time is no longer available" in page
    assert 'id="slots"' in page and not re.search(r'class="slot"[^>]*>14:00<', page)
    assert fresh(booking).start_at == booking.start_at


def test_reschedule_calendar_month_partial(client, booking, token):
    month = booking.start_at.astimezone(BERLIN).strftime("%Y-%m")
    response = client.get(f"/booking/{token}/reschedule/calendar?tz=Europe/Berlin&month={month}",
                          headers={"HX-Request": "true"})
    assert response.status_code == 200 and html(response).lstrip().startswith('<div id="picker-body"')
    assert f"/booking/{token}/reschedule/slots?" in html(response)


def test_confirmation_after_booking_shows_add_to_calendar(client, booking, token):
    page = html(client.get(f"/booking/{token}?booked=1"))
    assert "You are scheduled" in page and "Download .ics" in page
    assert f'data-booking-id="{booking.id}"' in page


# --- the invitee's clock: the one their booking page showed, unless the URL says otherwise ------------------
def _new_york_labels(booking) -> tuple[str, str, str]:
    """The booking's start and range in New York on a 12 h and a 24 h clock: ("8:00am", "8:00am – 8:30am",
    "08:00 – 08:30")."""
    start, end = (moment.astimezone(ZoneInfo("America/New_York")) for moment in (booking.start_at, booking.end_at))
    twelve = [f"{m.hour % 12 or 12}:{m:%M}{'am' if m.hour < 12 else 'pm'}" for m in (start, end)]
    return twelve[0], " – ".join(twelve), f"{start:%H:%M} – {end:%H:%M}"


def test_pages_without_an_hour_parameter_show_the_clock_the_booking_page_showed(client, event_type):
    booking = book(event_type, start=next_week(1, 14), invitee_hour12=True).booking   # morning in New York
    token = link_token(booking)
    first, twelve, twenty_four = _new_york_labels(booking)
    day = booking.start_at.astimezone(ZoneInfo("America/New_York")).date()
    reschedule = html(client.get(f"/booking/{token}/reschedule?date={day.isoformat()}"))
    assert twelve in reschedule and twenty_four not in reschedule   # the current time, on their 12 h clock
    assert re.search(rf'class="slot"[^>]*>{first}<', reschedule)
    slots = html(client.get(f"/booking/{token}/reschedule/slots?date={day.isoformat()}"))
    assert re.search(rf'class="slot"[^>]*>{first}<', slots)
    for path in ("", "/cancel"):
        page = html(client.get(f"/booking/{token}{path}"))
        assert twelve in page and twenty_four not in page
    assert twenty_four in html(client.get(f"/booking/{token}?hour=24"))   # the URL's choice wins


def test_pages_of_a_booking_with_an_unknown_clock_show_24_hours(client, event_type):
    booking = book(event_type, start=next_week(1, 14)).booking          # made through the API: no clock known
    assert booking.invitee_hour12 is None
    assert _new_york_labels(booking)[2] in html(client.get(f"/booking/{link_token(booking)}"))
