"""Host dashboard: booking lists (tabs, search, pages, htmx partials), detail with history, cancel, reschedule."""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.models import Booking, BookingActivity, EventType
from app.services.booking import bookings as svc
from app.services.scheduling import event_types as et
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.conftest import login

NEW_YORK = ZoneInfo("America/New_York")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def future_slots(app, event_type, days_ahead=2):
    """Bookable starts from the start of the host's day a couple of days ahead of the real clock (the dashboard
    uses the real time): whole host days, so that what a test looks for in one day does not depend on the hour."""
    with app.app_context(), db.connection_context():
        day = (datetime.now(NEW_YORK) + timedelta(days=days_ahead)).date()
        start = datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)
        return available_slots(event_type, start, start + timedelta(days=14))


def book(app, event_type, start, *, email="ivan@example.com", name="Ivan Invitee", now=None, **kw):
    with app.app_context(), db.connection_context():
        fresh = EventType.get_by_id(event_type.id)
        return factories.booking(fresh, start, email=email, name=name, now=now or datetime.now(UTC), **kw)


def book_in_the_past(app, event_type, days_back=10, **kw):
    then = datetime.now(UTC) - timedelta(days=days_back)
    with app.app_context(), db.connection_context():
        start = available_slots(event_type, then, then + timedelta(days=7), now=then)[0]
    return book(app, event_type, start, now=then, **kw)


def fetch(app, booking_id):
    with app.app_context(), db.connection_context():
        return Booking.get_by_id(booking_id)


def text(response):
    return response.get_data(as_text=True)


def hhmm(dt, tz=NEW_YORK):
    return dt.astimezone(tz).strftime("%H:%M")


# --- lists -------------------------------------------------------------------------------------------
def test_bookings_page_requires_sign_in(client):
    response = client.get("/dashboard/bookings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_upcoming_tab_lists_future_bookings_in_the_hosts_time_zone(app, signed_in, event_type):
    start = future_slots(app, event_type)[0]
    book(app, event_type, start)
    html = text(signed_in.get("/dashboard/bookings"))
    assert "Ivan Invitee" in html and "ivan@example.com" in html and "30 Minute Meeting" in html
    local_start = start.astimezone(NEW_YORK)
    assert f"{hhmm(start)} – {hhmm(start + timedelta(minutes=30))}" in html
    assert f"{local_start.day} {local_start:%b %Y}" in html
    assert start.strftime("%H:%M") not in html          # not the UTC wall clock


def test_a_host_who_reads_a_12_hour_clock_sees_the_list_on_it(app, signed_in, host, event_type):
    from app.models import User

    with app.app_context(), db.connection_context():
        User.update(hour12=True).where(User.id == host.id).execute()
    start = future_slots(app, event_type)[0]
    book(app, event_type, start)
    html = text(signed_in.get("/dashboard/bookings"))

    def twelve(dt):
        local = dt.astimezone(NEW_YORK)
        return f"{local.hour % 12 or 12}:{local:%M}{'am' if local.hour < 12 else 'pm'}"
    assert f"{twelve(start)} – {twelve(start + timedelta(minutes=30))}" in html
    assert f"{hhmm(start)} – " not in html


def test_each_tab_shows_only_its_bookings(app, signed_in, event_type):
    slots = future_slots(app, event_type)
    book(app, event_type, slots[0], name="Una Upcoming", email="una@example.com")
    gone = book(app, event_type, slots[1], name="Cara Cancelled", email="cara@example.com")
    with app.app_context(), db.connection_context():
        svc.cancel_booking(gone, reason="Ill", by="invitee")
    book_in_the_past(app, event_type, name="Pat Past", email="pat@example.com")
    tabs = {tab: text(signed_in.get(f"/dashboard/bookings?tab={tab}")) for tab in ("upcoming", "past", "cancelled")}
    assert "Una Upcoming" in tabs["upcoming"] and "Cara" not in tabs["upcoming"] and "Pat" not in tabs["upcoming"]
    assert "Pat Past" in tabs["past"] and "Una" not in tabs["past"] and "Cara" not in tabs["past"]
    assert "Cara Cancelled" in tabs["cancelled"] and "Ill" in tabs["cancelled"] and "Una" not in tabs["cancelled"]
    assert re.search(r'aria-current="page"[^>]*>Past<', tabs["past"]) or 'aria-current="page">Past' in tabs["past"]


def test_unknown_tab_falls_back_to_upcoming(app, signed_in, event_type):
    book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.get("/dashboard/bookings?tab=everything")
    assert response.status_code == 200 and "Ivan Invitee" in text(response)


@pytest.mark.parametrize("query", ["ivan inv", "IVAN@EXAMPLE", "30 minute"])
def test_search_matches_invitee_name_email_or_event_name(app, signed_in, event_type, query):
    slots = future_slots(app, event_type)
    book(app, event_type, slots[0])
    other = et.EventTypeInput(name="Strategy review", duration=30)
    with app.app_context(), db.connection_context():
        review = et.create_event_type(EventType.get_by_id(event_type.id).user, other)
    book(app, review, slots[2], name="Olga Other", email="olga@other.org")
    html = text(signed_in.get("/dashboard/bookings", query_string={"q": query}))
    assert "Ivan Invitee" in html and "Olga Other" not in html


def test_search_without_match_says_so(app, signed_in, event_type):
    book(app, event_type, future_slots(app, event_type)[0])
    html = text(signed_in.get("/dashboard/bookings?q=nobody-like-this"))
    assert "Ivan Invitee" not in html and "No upcoming bookings match" in html


def test_list_is_paginated_with_links_keeping_tab_and_search(app, signed_in, event_type, monkeypatch):
    import app.web.bookings as view
    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    slots = future_slots(app, event_type)
    for n in range(5):
        book(app, event_type, slots[n * 2], name=f"Guest {n}", email=f"guest{n}@example.com")
    first = text(signed_in.get("/dashboard/bookings?q=guest"))
    assert "Guest 0" in first and "Guest 1" in first and "Guest 2" not in first
    assert "Page 1 of 3" in first and "page=2" in first and "q=guest" in first
    third = text(signed_in.get("/dashboard/bookings?q=guest&page=3"))
    assert "Guest 4" in third and "Guest 3" not in third and "Page 3 of 3" in third
    beyond = text(signed_in.get("/dashboard/bookings?q=guest&page=99"))
    assert "Guest 4" in beyond


def test_search_box_request_gets_only_the_results_with_vary(app, signed_in, event_type):
    book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.get("/dashboard/bookings?q=ivan", headers={**HTMX, "HX-Target": "booking-results"})
    html = text(response)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="booking-results">') and "Ivan Invitee" in html
    assert "<html" not in html and 'class="tabs"' not in html and 'id="booking-q"' not in html


def test_tab_request_gets_the_panel_with_tabs_and_search(app, signed_in, event_type):
    response = signed_in.get("/dashboard/bookings?tab=past", headers={**HTMX, "HX-Target": "bookings-panel"})
    html = text(response)
    assert html.lstrip().startswith('<div id="bookings-panel">') and 'class="tabs"' in html
    assert 'name="tab" value="past"' in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_plain_and_history_restore_requests_get_the_full_page(app, signed_in):
    for headers in ({}, {**HTMX, "HX-History-Restore-Request": "true"}):
        response = signed_in.get("/dashboard/bookings", headers=headers)
        assert "<html" in text(response) and "HX-Request" in response.headers["Vary"]


def test_upcoming_card_shows_the_next_five_bookings(app, signed_in, event_type):
    slots = future_slots(app, event_type)
    for n in range(6):
        book(app, event_type, slots[n], name=f"Guest {n}", email=f"guest{n}@example.com")
    html = text(signed_in.get("/dashboard/bookings/upcoming-card", headers=HTMX))
    assert all(f"Guest {n}" in html for n in range(5)) and "Guest 5" not in html
    assert "<html" not in html
    home = text(signed_in.get("/dashboard"))
    assert 'hx-get="/dashboard/bookings/upcoming-card"' in home


def test_nav_links_to_bookings_and_contacts(signed_in):
    html = text(signed_in.get("/dashboard/bookings"))
    assert re.search(r'href="/dashboard/bookings"\s+aria-current="page"\s*>Bookings<', html)
    assert 'href="/dashboard/contacts"' in html


# --- detail ------------------------------------------------------------------------------------------
def test_detail_shows_invitee_answers_location_link_and_history_newest_first(app, signed_in, event_type):
    with app.app_context(), db.connection_context():
        et.update_event_type(EventType.get_by_id(event_type.id), et.EventTypeInput(
            location_type="in_person", location_detail="12 Main Street",
            questions=[{"label": "Company", "type": "text", "required": False},
                       {"label": "Topics", "type": "multiselect", "options": ["Pricing", "Support"]}]))
    booking = book(app, event_type, future_slots(app, event_type)[0], invitee_phone="+1 212 555 0100",
                   notes="Bring the numbers", answers={"company": "Acme", "topics": ["Pricing", "Support"]})
    with app.app_context(), db.connection_context():
        Booking.update(meeting_link="https://meet.example.com/abc").where(Booking.id == booking.id).execute()
        svc.add_activity(booking.id, "email_sent", "Confirmation sent to ivan@example.com")
        svc.add_activity(booking.id, "webhook_delivered", "Webhook delivered to https://hooks.example.com")
    html = text(signed_in.get(f"/dashboard/bookings/{booking.id}"))
    for expected in ("Ivan Invitee", "ivan@example.com", "+1 212 555 0100", "Europe/Berlin", "Bring the numbers",
                     "Company", "Acme", "Topics", "Pricing, Support", "12 Main Street",
                     'href="https://meet.example.com/abc"'):
        assert expected in html, expected
    assert html.index("Webhook delivered") < html.index("Confirmation sent") < html.index("Booked by")
    assert hhmm(booking.start_at) in html


def test_meeting_link_that_is_not_http_is_not_made_a_link(app, signed_in, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    with app.app_context(), db.connection_context():
        Booking.update(meeting_link="javascript:alert(1)").where(Booking.id == booking.id).execute()
    html = text(signed_in.get(f"/dashboard/bookings/{booking.id}"))
    assert "javascript:alert(1)" in html and 'href="javascript:' not in html


def test_another_hosts_booking_is_not_found_and_cannot_be_changed(app, client, make_user, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    login(client, make_user("mallory"))
    assert client.get(f"/dashboard/bookings/{booking.id}").status_code == 404
    assert client.get(f"/dashboard/bookings/{booking.id}/reschedule").status_code == 404
    assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "x"}).status_code == 404
    later = booking.start_at + timedelta(hours=2)
    assert client.post(f"/dashboard/bookings/{booking.id}/reschedule",
                       data={"start": later.isoformat(), "date": later.date().isoformat()}).status_code == 404
    fresh = fetch(app, booking.id)
    assert fresh.status == "CONFIRMED" and fresh.start_at == booking.start_at
    assert client.get("/dashboard/bookings/does-not-exist").status_code == 404


# --- cancel ------------------------------------------------------------------------------------------
def test_host_cancels_with_a_reason(app, signed_in, event_type, host):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "I am travelling"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dashboard/bookings/{booking.id}")
    fresh = fetch(app, booking.id)
    assert (fresh.status, fresh.cancel_reason, fresh.cancelled_by) == ("CANCELLED", "I am travelling", "host")
    html = text(signed_in.get(response.headers["Location"]))
    assert "Booking cancelled" in html and "I am travelling" in html and "Cancelled by the host" in html
    assert "I am travelling" in text(signed_in.get("/dashboard/bookings?tab=cancelled"))


def test_htmx_cancel_redirects_the_page(app, signed_in, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "Sick"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/dashboard/bookings/{booking.id}"
    assert fetch(app, booking.id).status == "CANCELLED"


@pytest.mark.parametrize("data,message", [
    ({"reason": ""}, "Give a reason"),
    ({"reason": "   "}, "Give a reason"),
    ({"reason": "x" * 1001}, "Use at most 1000 characters"),
    ({"reason": "ok", "scope": "following"}, "Choose which meetings to cancel"),
    ({"reason": "ok", "scope": "everything"}, "Choose which meetings to cancel"),
])
def test_invalid_cancel_shows_inline_errors_and_changes_nothing(app, signed_in, event_type, data, message):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/cancel", data=data)
    assert response.status_code == 422 and message in text(response) and "<html" in text(response)
    partial = signed_in.post(f"/dashboard/bookings/{booking.id}/cancel", data=data, headers=HTMX)
    assert partial.status_code == 422 and text(partial).lstrip().startswith('<form id="cancel-form"')
    assert message in text(partial)
    assert fetch(app, booking.id).status == "CONFIRMED"


def test_past_booking_cannot_be_cancelled(app, signed_in, event_type):
    booking = book_in_the_past(app, event_type)
    page = text(signed_in.get(f"/dashboard/bookings/{booking.id}"))
    assert 'id="cancel-form"' not in page
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/cancel", data={"reason": "late"}, headers=HTMX)
    assert response.status_code == 422 and "already over" in text(response)
    assert fetch(app, booking.id).status == "CONFIRMED"


def _series(app, event_type, count=4):
    with app.app_context(), db.connection_context():
        et.update_event_type(EventType.get_by_id(event_type.id), et.EventTypeInput(
            recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4}))
    first = future_slots(app, event_type)[0]
    booking = book(app, event_type, first, occurrences=count)
    with app.app_context(), db.connection_context():
        return list(Booking.select().where(Booking.recurring_group_id == booking.recurring_group_id)
                    .order_by(Booking.start_at))


def test_series_offers_this_one_or_this_and_later(app, signed_in, event_type):
    series = _series(app, event_type)
    html = text(signed_in.get(f"/dashboard/bookings/{series[1].id}"))
    assert 'value="this"' in html and 'value="following"' in html and "(2 more)" in html
    signed_in.post(f"/dashboard/bookings/{series[1].id}/cancel", data={"reason": "Moving", "scope": "following"})
    assert [fetch(app, b.id).status for b in series] == ["CONFIRMED", "CANCELLED", "CANCELLED", "CANCELLED"]


def test_series_cancel_of_only_this_one_leaves_the_rest(app, signed_in, event_type):
    series = _series(app, event_type)
    signed_in.post(f"/dashboard/bookings/{series[1].id}/cancel", data={"reason": "Holiday", "scope": "this"})
    assert [fetch(app, b.id).status for b in series] == ["CONFIRMED", "CANCELLED", "CONFIRMED", "CONFIRMED"]


def test_single_booking_has_no_series_choice(app, signed_in, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    html = text(signed_in.get(f"/dashboard/bookings/{booking.id}"))
    assert 'id="cancel-form"' in html and 'value="following"' not in html


# --- reschedule --------------------------------------------------------------------------------------
def _same_day_slots(app, event_type):
    """Two bookable starts on one host day, at least two hours apart."""
    slots = future_slots(app, event_type)
    first = slots[0]
    day = first.astimezone(NEW_YORK).date()
    later = [s for s in slots if s.astimezone(NEW_YORK).date() == day and s - first >= timedelta(hours=2)]
    return first, later[0]


def test_reschedule_page_offers_free_times_of_the_chosen_day_in_host_time(app, signed_in, event_type):
    first, second = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    book(app, event_type, second, email="blocker@example.com", name="Blocker")
    day = first.astimezone(NEW_YORK).date().isoformat()
    html = text(signed_in.get(f"/dashboard/bookings/{booking.id}/reschedule?date={day}"))
    assert "<html" in html and 'type="date"' in html
    offered = re.findall(r'name="start" value="([^"]+)"', html)
    own = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert own in offered                                             # its own time is not busy ...
    assert f'value="{own}" disabled> {hhmm(first)} <span class="muted">(now)</span>' in html   # ... but marked
    assert second.strftime("%Y-%m-%dT%H:%M:%SZ") not in offered      # another booking's is
    assert f"> {hhmm(first + timedelta(minutes=30))}</label>" in html


def test_date_picker_gets_only_the_slot_list(app, signed_in, event_type):
    first, _ = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    next_day = (first.astimezone(NEW_YORK) + timedelta(days=1)).date().isoformat()
    response = signed_in.get(f"/dashboard/bookings/{booking.id}/reschedule?date={next_day}", headers=HTMX)
    html = text(response)
    assert html.lstrip().startswith('<fieldset id="slot-list"') and "<html" not in html
    assert f'name="date" value="{next_day}"' in html and "HX-Request" in response.headers["Vary"]


def test_invalid_date_shows_an_inline_error(app, signed_in, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.get(f"/dashboard/bookings/{booking.id}/reschedule?date=tomorrow", headers=HTMX)
    assert response.status_code == 422 and "Enter a date as YYYY-MM-DD" in text(response)


def test_host_reschedules_to_an_offered_time(app, signed_in, event_type):
    first, second = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule",
                              data={"start": second.strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": "Clash",
                                    "date": second.astimezone(NEW_YORK).date().isoformat()})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dashboard/bookings/{booking.id}")
    fresh = fetch(app, booking.id)
    assert fresh.start_at == second and fresh.previous_start_at == first and fresh.status == "CONFIRMED"
    with app.app_context(), db.connection_context():
        [activity] = BookingActivity.select().where((BookingActivity.booking == booking.id)
                                                    & (BookingActivity.kind == "rescheduled"))
    assert "by the host" in activity.message and "Clash" in activity.message
    html = text(signed_in.get(response.headers["Location"]))
    assert "Booking moved to" in html and "Previously" in html


def test_htmx_reschedule_redirects_the_page(app, signed_in, event_type):
    first, second = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule", headers=HTMX,
                              data={"start": second.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.headers["HX-Redirect"] == f"/dashboard/bookings/{booking.id}"
    assert fetch(app, booking.id).start_at == second


def test_reschedule_into_a_taken_time_shows_slot_unavailable_inline(app, signed_in, event_type):
    first, second = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    book(app, event_type, second, email="blocker@example.com", name="Blocker")
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule", headers=HTMX,
                              data={"start": second.strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": "Try",
                                    "date": second.astimezone(NEW_YORK).date().isoformat()})
    html = text(response)
    assert response.status_code == 422 and html.lstrip().startswith('<form id="reschedule-form"')
    assert "This time is no longer available" in html and ">Try</textarea>" in html
    assert fetch(app, booking.id).start_at == first


@pytest.mark.parametrize("start", ["", "tomorrow at ten", "2026-12-01T10:00:00"])
def test_reschedule_without_a_valid_time_shows_an_inline_error(app, signed_in, event_type, start):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule", data={"start": start})
    assert response.status_code == 422 and "Choose one of the offered times" in text(response)
    assert "<html" in text(response)
    assert fetch(app, booking.id).start_at == booking.start_at


def test_reschedule_to_the_current_time_is_refused_inline(app, signed_in, event_type):
    booking = book(app, event_type, future_slots(app, event_type)[0])
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule",
                              data={"start": booking.start_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status_code == 422 and "current time" in text(response)
    assert fetch(app, booking.id).sequence == 0


def test_cancelled_booking_cannot_be_rescheduled(app, signed_in, event_type):
    first, second = _same_day_slots(app, event_type)
    booking = book(app, event_type, first)
    with app.app_context(), db.connection_context():
        svc.cancel_booking(booking, reason=None, by="invitee")
    page = text(signed_in.get(f"/dashboard/bookings/{booking.id}/reschedule"))
    assert "was cancelled and cannot be rescheduled" in page and 'id="reschedule-form"' not in page
    response = signed_in.post(f"/dashboard/bookings/{booking.id}/reschedule", headers=HTMX,
                              data={"start": second.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status_code == 422 and "cannot be rescheduled" in text(response)
    assert fetch(app, booking.id).start_at == first
