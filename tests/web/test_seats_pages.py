"""Seats (issue 23) through the pages: the editor's "Seats" section, the booking page's "2 seats left" and the slot
disappearing once full, two invitees booking one slot through the form, and the host's grouped attendee list with
cancelling one seat."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, EventType
from app.services.booking import bookings as booking_service
from tests import factories
from tests.conftest import login
from tests.factories import next_week

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "/dashboard/event-types"


def html(response) -> str:
    return response.get_data(as_text=True)


def editor_form(**changes) -> dict:
    data = {"name": "Yoga class", "slug": "yoga", "description": "", "duration": "60", "extra_durations": "",
            "location_type": "none", "location_detail": "", "buffer_before": "0", "buffer_after": "0",
            "notice_value": "0", "notice_unit": "hours", "window_type": "rolling", "window_days": "60",
            "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
            "color": "#16a34a", "recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4",
            "reminders": ["1440"], "reminder_custom": "", "schedule_id": "", "op": "save",
            "seats_section": "1", "seats": "2", "seats_show_remaining": "1"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def hana(make_user, ctx):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


@pytest.fixture
def yoga(hana):
    return factories.new_event_type(hana, name="Yoga", slug="yoga", duration=60, seats=2, seats_show_remaining=True)


def book(event_type, n, start):
    return booking_service.create_booking(EventType.get_by_id(event_type.id), booking_service.BookingRequest(
        start=start, invitee_name=f"Guest {n}", invitee_email=f"guest{n}@example.com",
        invitee_timezone="Europe/Berlin")).booking


def day_slots(client, start, slug="yoga") -> str:
    day = start.astimezone(BERLIN).date().isoformat()
    return html(client.get(f"/hana/{slug}/slots?tz=Europe/Berlin&date={day}", headers={"HX-Request": "true"}))


# --- the editor -------------------------------------------------------------------------------------------
def test_the_editor_saves_and_shows_the_seats(client, hana):
    login(client, hana)
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-seats"' in page and 'name="seats"' in page
    response = client.post(f"{BASE}/new", data=editor_form(seats="12"))
    assert response.status_code == 302
    made = EventType.get(EventType.slug == "yoga")
    assert (made.seats, made.seats_show_remaining) == (12, True)
    edit = html(client.get(response.headers["Location"]))
    assert re.search(r'name="seats"[^>]*value="12"', edit)
    client.post(response.headers["Location"], data=editor_form(seats="", seats_show_remaining=None))
    assert EventType.get_by_id(made.id).seats is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"seats": "1"}, "between 2 and 1000"),
    ({"recurrence": "weekly"}, "cannot repeat"),
    ({"max_per_day": "3"}, "daily maximum"),
])
def test_the_editor_explains_what_seats_cannot_combine_with(client, hana, changes, message):
    login(client, hana)
    response = client.post(f"{BASE}/new", data=editor_form(**changes))
    assert response.status_code == 422
    page = html(response)
    assert 'id="e-seats"' in page and message in page
    assert not EventType.select().where(EventType.slug == "yoga").exists()


def test_a_form_without_the_section_leaves_the_seats_alone(client, hana, yoga):
    login(client, hana)
    client.post(f"{BASE}/{yoga.id}", data=editor_form(seats_section=None, seats=None, seats_show_remaining=None))
    assert EventType.get_by_id(yoga.id).seats == 2


# --- the booking page -------------------------------------------------------------------------------------
def test_the_page_shows_the_seats_left_and_the_slot_goes_once_full(client, hana, yoga):
    start = next_week(1, 10)
    page = day_slots(client, start)
    assert re.search(r'>10:00 <span class="seats-left">2 seats left</span></a>', page)
    book(yoga, 1, start)
    assert re.search(r'>10:00 <span class="seats-left">1 seat left</span></a>', day_slots(client, start))
    book(yoga, 2, start)
    page = day_slots(client, start)
    assert ">10:00" not in page and ">11:00 <span" in page


def test_the_seats_left_are_hidden_unless_the_host_shows_them(client, hana, yoga):
    EventType.update(seats_show_remaining=False).where(EventType.id == yoga.id).execute()
    from app.models.accounts import bump_pages_version
    bump_pages_version(hana.id)
    page = day_slots(client, next_week(1, 10))
    assert ">10:00</a>" in page and "seats-left" not in page


def test_two_invitees_book_one_slot_through_the_form_each_with_their_own_link(client, hana, yoga):
    start = next_week(1, 10)
    moment = start.astimezone(BERLIN)
    links = []
    for n in (1, 2):
        url = f"/hana/yoga?tz=Europe/Berlin&date={moment.date().isoformat()}&time={moment:%H:%M}"
        page = html(client.get(url))
        form = page[page.index('class="booking-form"'):]
        data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form[:form.index("</form>")]))
        data.update(name=f"Guest {n}", email=f"guest{n}@example.com")
        response = client.post("/hana/yoga", data=data)
        assert response.status_code in (302, 303), html(response)
        links.append(response.headers["Location"])
    assert links[0] != links[1]
    rows = list(Booking.select().where(Booking.start_at == start).order_by(Booking.invitee_email))
    assert [(b.invitee_email, b.seated) for b in rows] == [("guest1@example.com", True), ("guest2@example.com", True)]
    mine = html(client.get(links[1]))
    assert "guest2@example.com" in mine or "Guest 2" in mine
    assert "guest1@example.com" not in mine and "Guest 1" not in mine


# --- the host's list --------------------------------------------------------------------------------------
def test_the_host_sees_one_row_per_slot_with_its_attendees_and_cancels_one_seat(client, hana, yoga):
    start = next_week(1, 10)
    first, second = book(yoga, 1, start), book(yoga, 2, start)
    login(client, hana)
    page = html(client.get("/dashboard/bookings"))
    assert page.count('class="seat-slot"') == 1 and "2 of 2 seats" in page
    assert f'id="seat-{first.id}"' in page and f'id="seat-{second.id}"' in page
    assert f'id="booking-{first.id}"' not in page
    response = client.post(f"/dashboard/bookings/{first.id}/cancel", data={"reason": "Moved away", "scope": "this"})
    assert response.status_code == 302
    assert Booking.get_by_id(first.id).status == "CANCELLED"
    assert Booking.get_by_id(second.id).status == "CONFIRMED"
    page = html(client.get("/dashboard/bookings"))
    assert "1 of 2 seats" in page and f'id="seat-{first.id}"' not in page
    assert re.search(r'>10:00 <span class="seats-left">1 seat left</span>', day_slots(client, start))


def test_another_hosts_seat_is_404(client, hana, yoga, make_user):
    seat = book(yoga, 1, next_week(1, 10))
    other = make_user("olga")
    login(client, other)
    assert client.get(f"/dashboard/bookings/{seat.id}").status_code == 404
    assert client.post(f"/dashboard/bookings/{seat.id}/cancel", data={"reason": "x"}).status_code == 404
    assert Booking.get_by_id(seat.id).status == "CONFIRMED"
