"""Public booking pages: profile, calendar and slots (htmx partials and plain links), the booking form,
confirmation, embeds, /embed.js and the share dialog.

The pages use the real clock, so every time here is computed from today: "next week's Tuesday 10:00 in
Berlin" is always inside the default 60-day window and the default Monday-Friday 09:00-17:00 hours.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.models import Booking, Contact, EventType, User
from app.services.account import accounts
from app.services.booking import bookings as booking_service
from app.services.scheduling import event_types as et_service
from tests.conftest import login

BERLIN = ZoneInfo("Europe/Berlin")


def next_week(weekday: int = 1, hour: int = 10, minute: int = 0, tz: ZoneInfo = BERLIN) -> datetime:
    """``weekday`` (0 = Monday) of next week at ``hour:minute`` in ``tz``, as UTC."""
    today = datetime.now(tz).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour, minute), tz).astimezone(UTC)


def local(moment: datetime, tz: ZoneInfo = BERLIN) -> datetime:
    return moment.astimezone(tz)


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ctx(app):
    """An app context for service calls; the database connection opens on demand (each request closes it)."""
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host")


def update(event_type, **fields):
    et_service.update_event_type(event_type, et_service.EventTypeInput(**fields))
    return EventType.get_by_id(event_type.id)


def new_type(host, **fields):
    fields.setdefault("duration", 30)
    return et_service.create_event_type(host, et_service.EventTypeInput(**fields))


def slot_url(start: datetime, tz: str = "Europe/Berlin", slug: str = "30-min", **extra) -> str:
    moment = start.astimezone(ZoneInfo(tz))
    query = "&".join(f"{k}={v}" for k, v in {"tz": tz, "date": moment.date().isoformat(),
                                               "time": f"{moment:%H:%M}", **extra}.items())
    return f"/hana/{slug}?{query}"


def form_fields(page: str) -> dict[str, str]:
    """The hidden and prefilled inputs of the booking form on ``page``."""
    form = page[page.index('class="booking-form"'):]
    form = form[:form.index("</form>")]
    return {name: value for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)}


def open_form(client, start: datetime, **extra) -> dict[str, str]:
    response = client.get(slot_url(start, **extra))
    assert response.status_code == 200 and 'class="booking-form"' in html(response)
    return form_fields(html(response))


def submit(client, at: datetime, headers=None, **values):
    data = open_form(client, at)
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    data.update(values)
    return client.post("/hana/30-min", data=data, headers=headers or {})


# --- profile --------------------------------------------------------------------------------------------
def test_profile_lists_active_public_event_types_with_details(client, host, event_type):
    update(event_type, description="We talk about **plans**.", location_type="in_person",
           location_detail="Main St 1")
    new_type(host, name="Secret chat", slug="secret", is_secret=True)
    new_type(host, name="Draft idea", slug="draft", status="draft")
    page = html(client.get("/hana"))
    assert "Hana Host" in page and "30 Minute Meeting" in page and "30 min" in page
    assert "In person: Main St 1" in page and "<strong>plans</strong>" in page
    assert 'href="/hana/30-min"' in page
    assert "Secret chat" not in page and "Draft idea" not in page


def test_profile_shows_logo_and_brand_colour(client, host):
    accounts.set_logo(User.get_by_id(host.id), "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    User.update(brand_color="#ffcc00").where(User.id == host.id).execute()
    page = html(client.get("/hana"))
    assert f'src="/logo/{host.id}"' in page
    assert "--brand: #ffcc00; --brand-text: #111827;" in page


def test_profile_without_logo_has_no_logo_image(client, host):
    assert "/logo/" not in html(client.get("/hana"))


@pytest.mark.parametrize("path", ["/nobody", "/nobody/30-min", "/hana/no-such-type"])
def test_unknown_user_or_event_type_is_404(client, host, path):
    assert client.get(path).status_code == 404


def test_disabled_host_pages_are_404(client, host):
    User.update(is_disabled=True).where(User.id == host.id).execute()
    assert client.get("/hana").status_code == 404
    assert client.get("/hana/30-min").status_code == 404


def test_draft_event_type_is_404_and_secret_one_is_bookable_by_link(client, host, event_type):
    update(event_type, status="draft")
    assert client.get("/hana/30-min").status_code == 404
    new_type(host, name="Secret chat", slug="secret", is_secret=True)
    response = client.get("/hana/secret")
    assert response.status_code == 200 and "Secret chat" in html(response)
    assert 'content="noindex, nofollow"' in html(response)


# --- calendar and slots -----------------------------------------------------------------------------------
def test_calendar_marks_bookable_days_as_links_and_weekends_not(client, host):
    tuesday = local(next_week(1)).date()
    saturday = tuesday + timedelta(days=4)
    page = html(client.get(f"/hana/30-min?tz=Europe/Berlin&month={tuesday:%Y-%m}"))
    assert re.search(rf'<a class="day is-available[^"]*" href="[^"]*date={tuesday.isoformat()}"', page)
    if saturday.month == tuesday.month:
        assert f'<span class="day" data-date="{saturday.isoformat()}"' in page
    assert tuesday.strftime("%B %Y") in page


def test_next_month_is_an_htmx_partial_with_only_the_calendar(client, host):
    today = datetime.now(BERLIN).date()
    following = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    url = f"/hana/30-min/calendar?tz=Europe/Berlin&month={following:%Y-%m}"
    response = client.get(url, headers={"HX-Request": "true"})
    body = html(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="picker-body"') and following.strftime("%B %Y") in body
    assert 'id="slots"' in body


def test_months_before_today_or_beyond_the_window_are_not_offered(client, host, event_type):
    today = datetime.now(BERLIN).date()
    page = html(client.get("/hana/30-min?tz=Europe/Berlin&month=2000-01"))
    assert today.strftime("%B %Y") in page and 'aria-label="Previous month"' not in page
    update(event_type, window_type="rolling", window_days=3)
    far = (today + timedelta(days=200)).strftime("%Y-%m")
    page = html(client.get(f"/hana/30-min?tz=Europe/Berlin&month={far}"))
    assert (today + timedelta(days=200)).strftime("%B %Y") not in page


def test_day_slots_partial_lists_times_in_the_invitee_zone(client, host):
    start = next_week(1, 10)
    day = local(start).date().isoformat()
    berlin = html(client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day}", headers={"HX-Request": "true"}))
    assert berlin.lstrip().startswith('<section id="slots"')
    assert ">09:00<" in berlin and ">16:30<" in berlin and ">17:00<" not in berlin
    # The same working day seen from Tokyo (8 hours ahead in winter, 7 in summer) starts in the afternoon
    # and the slots of the Tokyo date only include the part of the Berlin day that falls on it.
    tokyo_day = start.astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    tokyo = html(client.get(f"/hana/30-min/slots?tz=Asia/Tokyo&date={tokyo_day}"))
    tokyo_label = start.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    assert f">{tokyo_label}<" in tokyo and ">09:00<" not in tokyo


def test_twelve_hour_clock_is_kept_in_the_links(client, host):
    day = local(next_week(1)).date().isoformat()
    page = html(client.get(f"/hana/30-min/slots?tz=Europe/Berlin&hour=12&date={day}"))
    assert ">9:00am<" in page and ">1:30pm<" in page and ">13:30<" not in page
    assert "hour=12" in re.search(r'<a class="slot" href="([^"]+)"', page).group(1)


def test_day_slots_endpoint_makes_one_availability_call(client, host, monkeypatch):
    from app.web import booking_view

    calls = []
    real = booking_view.available_slots

    def counting(*args, **kwargs):
        calls.append((args[1], args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(booking_view, "available_slots", counting)
    day = local(next_week(1)).date()
    assert client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={day.isoformat()}").status_code == 200
    assert len(calls) == 1
    start, end = calls[0]
    assert local(start).date() == day and end - start == timedelta(hours=24)


def test_booked_time_disappears_from_the_slots(client, host, event_type):
    start = next_week(1, 11)
    booking_service.create_booking(event_type, booking_service.BookingRequest(
        start=start, invitee_name="First", invitee_email="first@example.com", invitee_timezone="Europe/Berlin"))
    page = html(client.get(f"/hana/30-min/slots?tz=Europe/Berlin&date={local(start).date().isoformat()}"))
    assert ">10:30<" in page and ">11:00<" not in page and ">11:30<" in page


def test_invalid_time_zone_falls_back_to_the_host_zone(client, host):
    page = html(client.get("/hana/30-min?tz=Mars/Olympus"))
    assert '<option value="Europe/Berlin" selected>' in page


def test_htmx_request_for_the_page_gets_only_the_step(client, host):
    response = client.get("/hana/30-min?tz=Asia/Tokyo&hour=24", headers={"HX-Request": "true"})
    body = html(response)
    assert body.lstrip().startswith('<section id="step"') and "<html" not in body
    assert '<option value="Asia/Tokyo" selected>' in body
    assert "HX-Request" in response.headers["Vary"]


def test_first_visit_asks_the_browser_for_its_zone_and_later_links_do_not(client, host):
    assert "data-detect-url" in html(client.get("/hana/30-min"))
    assert "data-detect-url" not in html(client.get("/hana/30-min?tz=Europe/Berlin&hour=24"))


# --- the booking form --------------------------------------------------------------------------------------
def test_slot_link_opens_the_form_with_the_chosen_time(client, host):
    start = next_week(1, 10)
    page = html(client.get(slot_url(start)))
    assert 'name="name"' in page and 'name="email"' in page and 'name="notes"' in page
    assert 'name="phone"' not in page and 'name="occurrences"' not in page and 'id="f-duration"' not in page
    assert f"{local(start):%A}, {local(start).day} {local(start):%B %Y} · 10:00 – 10:30" in page
    assert form_fields(page)["start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_form_asks_for_phone_questions_duration_and_occurrences_when_configured(client, host, event_type):
    update(event_type, location_type="phone_host_calls", extra_durations=[60],
           recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4},
           questions=[{"label": "Company", "type": "text", "required": True},
                      {"label": "About", "type": "textarea"},
                      {"label": "Size", "type": "select", "options": ["1-10", "11-50"]},
                      {"label": "Topics", "type": "multiselect", "options": ["Sales", "Support"]},
                      {"label": "Seats", "type": "number"},
                      {"label": "Work email", "type": "email"},
                      {"label": "Mobile", "type": "phone"},
                      {"label": "I agree", "type": "checkbox", "required": True}])
    page = html(client.get(slot_url(next_week(1, 10))))
    assert 'name="phone" type="tel"' in page
    assert '<select id="f-duration" name="duration"' in page and '<option value="60"' in page
    assert '<select id="f-occurrences" name="occurrences"' in page and '<option value="4"' in page
    assert '<input id="f-q_company" name="q_company"' in page
    assert '<textarea id="f-q_about" name="q_about"' in page
    assert '<select id="f-q_size" name="q_size"' in page
    assert page.count('name="q_topics"') == 2
    assert re.search(r'name="q_seats"[^>]*type="number"', page)
    assert re.search(r'name="q_work-email"[^>]*type="email"', page)
    assert re.search(r'name="q_mobile"[^>]*type="tel"', page)
    assert re.search(r'type="checkbox" name="q_i-agree"', page)


def test_embed_name_and_email_prefill_the_form(client, host):
    page = html(client.get(slot_url(next_week(1, 10), embed="true", name="Ann%20Lee", email="ann@example.com")))
    fields = form_fields(page)
    assert fields["name"] == "Ann Lee" and fields["email"] == "ann@example.com" and fields["embed"] == "true"


def test_booking_is_made_and_confirmed_with_calendar_links(client, host):
    start = next_week(1, 10)
    response = submit(client, start, notes="See you")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/booking/") and "booked=1" in location
    booking = Booking.get()
    assert (booking.start_at, booking.invitee_email, booking.notes, booking.source) == (
        start, "ivan@example.com", "See you", "page")
    page = html(client.get(location))
    assert "You are scheduled" in page and "Ivan Invitee" in page and "10:00 – 10:30" in page
    assert "calendar.google.com/calendar/render?action=TEMPLATE" in page
    assert "outlook.live.com/calendar/0/deeplink/compose" in page
    assert f"/booking/{location.split('/')[2].split('?')[0]}/invite.ics" in page
    stamp = f"{start:%Y%m%dT%H%M%SZ}"
    assert f"dates={stamp}%2F" in page


def test_the_booking_keeps_the_clock_the_page_showed_for_the_invitees_emails(client, host):
    submit(client, next_week(1, 10), hour="12")
    submit(client, next_week(2, 10), email="una@example.com")             # the form's own hour: 24 by default
    stored = {b.invitee_email: b.invitee_hour12 for b in Booking.select()}
    assert stored == {"ivan@example.com": True, "una@example.com": False}


def test_booking_with_answers_duration_and_occurrences_stores_them(client, host, event_type):
    update(event_type, extra_durations=[60], recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 3},
           questions=[{"label": "Topics", "type": "multiselect", "options": ["Sales", "Support"]},
                      {"label": "I agree", "type": "checkbox", "required": True}])
    start = next_week(1, 10)
    data = open_form(client, start)
    data.update({"name": "Ivan", "email": "ivan@example.com", "duration": "60", "occurrences": "2",
                 "q_i-agree": "on"})
    response = client.post("/hana/30-min", data={**data, "q_topics": ["Sales", "Support"]})
    assert response.status_code == 302, html(response)
    first, second = Booking.select().order_by(Booking.start_at)
    assert first.end_at - first.start_at == timedelta(minutes=60)
    assert second.start_at == start + timedelta(weeks=1) and first.recurring_group_id == second.recurring_group_id
    assert first.answers == {"topics": ["Sales", "Support"], "i-agree": True}


@pytest.mark.parametrize("values,field,message", [
    ({"name": ""}, "name", "Enter your name."),
    ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ({"notes": "x" * 5001}, "notes", "Use at most 5000 characters."),
])
def test_invalid_form_shows_inline_errors_and_stores_nothing(client, host, values, field, message):
    response = submit(client, next_week(1, 10), **values)
    page = html(response)
    assert response.status_code == 422
    assert f'<p class="error" id="e-{field}">{message}</p>' in page
    assert f'aria-describedby="e-{field}"' in page and 'role="alert"' in page
    assert Booking.select().count() == 0 and Contact.select().count() == 0


def test_missing_required_phone_and_answer_are_reported(client, host, event_type):
    update(event_type, location_type="phone_host_calls",
           questions=[{"label": "Company", "type": "text", "required": True}])
    response = submit(client, next_week(1, 10))
    page = html(response)
    assert response.status_code == 422
    assert 'id="e-phone">Enter the phone number the host should call.' in page
    assert 'id="e-q_company">This question is required.' in page
    assert Booking.select().count() == 0


def test_htmx_form_errors_return_only_the_step(client, host):
    data = open_form(client, next_week(1, 10))
    data.update({"name": "", "email": "ivan@example.com"})
    response = client.post("/hana/30-min", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 422 and html(response).lstrip().startswith('<section id="step"')


def test_htmx_success_redirects_with_hx_redirect(client, host):
    data = open_form(client, next_week(1, 10))
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    response = client.post("/hana/30-min", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/booking/")


def test_taken_slot_shows_message_and_the_days_slots_again(client, host, event_type):
    start = next_week(1, 10)
    data = open_form(client, start)
    booking_service.create_booking(event_type, booking_service.BookingRequest(
        start=start, invitee_name="Quick", invitee_email="quick@example.com", invitee_timezone="Europe/Berlin"))
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    response = client.post("/hana/30-min", data=data)
    page = html(response)
    assert response.status_code == 409
    assert "This time is no longer available" in page
    assert f'data-date="{local(start).date().isoformat()}"' in page and ">10:30<" in page
    assert not re.search(r'class="slot"[^>]*>10:00<', page)
    assert Booking.select().count() == 1


def test_stale_slot_link_shows_the_calendar_with_a_message(client, host):
    sunday = next_week(6, 10)
    response = client.get(slot_url(sunday))
    assert response.status_code == 200
    page = html(response)
    assert "That time is not available any more" in page and 'class="booking-form"' not in page


def test_double_submission_of_one_form_gives_the_same_booking(client, host):
    start = next_week(1, 10)
    data = open_form(client, start)
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    first = client.post("/hana/30-min", data=data)
    second = client.post("/hana/30-min", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert Booking.select().count() == 1


def test_rebooking_someone_elses_time_and_email_does_not_reveal_their_private_link(client, host):
    start = next_week(1, 10)
    theirs, mine = open_form(client, start), open_form(client, start)
    for data in (theirs, mine):
        data.update({"name": "Ivan", "email": "ivan@example.com"})
    assert client.post("/hana/30-min", data=theirs).status_code == 302
    response = client.post("/hana/30-min", data=mine)   # another form, same email and time
    page = html(response)
    assert response.status_code == 200 and "You are already booked" in page
    assert "/booking/" not in page
    assert Booking.select().count() == 1


def test_form_without_a_valid_form_token_stores_nothing(client, host):
    response = submit(client, next_week(1, 10), form_token="forged")
    assert response.status_code == 400 and "This form expired" in html(response)
    assert Booking.select().count() == 0


def test_form_token_of_another_event_type_is_refused(client, host):
    new_type(host, name="Other", slug="other")
    start = next_week(1, 10)
    data = open_form(client, start, slug="other")
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    assert client.post("/hana/30-min", data=data).status_code == 400
    assert Booking.select().count() == 0


@pytest.mark.parametrize("bad_start", ["", "soon", "2030-01-01T10:00:00"])
def test_form_without_a_usable_start_shows_the_calendar(client, host, bad_start):
    response = submit(client, next_week(1, 10), start=bad_start)
    assert response.status_code == 400 and "Choose a time first." in html(response)
    assert Booking.select().count() == 0


def test_form_posted_from_another_site_stores_nothing(client, host):
    response = submit(client, next_week(1, 10), headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert Booking.select().count() == 0
    ok = submit(client, next_week(1, 10), headers={"Origin": "http://localhost"})
    assert ok.status_code == 302


def test_booking_form_is_rate_limited_per_ip(client, host):
    start = next_week(1, 10)
    data = open_form(client, start)
    data.update({"name": "", "email": "ivan@example.com"})
    for _ in range(10):
        assert client.post("/hana/30-min", data=data).status_code == 422
    limited = client.post("/hana/30-min", data=data)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other_ip = client.post("/hana/30-min", data=data, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_ip.status_code == 422


def test_booking_form_works_with_csrf_protection_on_and_no_session(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    from app.db import db
    with app.app_context(), db.connection_context():
        from app.services.account.accounts import SignupData, signup
        signup(SignupData(name="Hana", email="hana@example.com", username="hana", password="correct horse battery",
                          timezone="Europe/Berlin"), default_plan="FREE")
    page_client = app.test_client()
    data = open_form(page_client, next_week(1, 10))
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    cookieless = app.test_client()   # e.g. a third-party iframe, where the session cookie is not sent
    assert cookieless.post("/hana/30-min", data=data).status_code == 302


# --- embeds ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/hana?embed=true", "/hana/30-min?embed=true",
                                  "/hana/30-min/slots?embed=true&date=2030-01-01"])
def test_embed_responses_alone_may_be_framed(client, host, path):
    framed = client.get(path)
    assert "frame-ancestors *" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers
    plain = client.get(path.replace("embed=true", "embed=false"))
    assert "frame-ancestors 'none'" in plain.headers["Content-Security-Policy"]
    assert plain.headers["X-Frame-Options"] == "DENY"


def test_embed_error_pages_may_be_framed_but_other_pages_never(client, host, event_type):
    missing = client.get("/hana/no-such-type?embed=true")
    assert missing.status_code == 404 and "X-Frame-Options" not in missing.headers
    login(client, host)
    share = client.get(f"/dashboard/event-types/{event_type.id}/share?embed=true")
    assert share.status_code == 200 and share.headers["X-Frame-Options"] == "DENY"
    assert client.get("/dashboard?embed=true").headers["X-Frame-Options"] == "DENY"


def test_embed_hides_navigation_and_loads_the_child_script(client, host):
    plain = html(client.get("/hana/30-min"))
    assert 'class="topbar"' not in plain and "embed-child." not in plain  # the host's branding only
    embedded = html(client.get("/hana/30-min?embed=true"))
    assert 'class="topbar"' not in embedded and "/static/js/embed-child." in embedded
    assert "embed=true" in re.search(r'<a class="slot" href="([^"]+)"', embedded).group(1)


def test_hide_header_hides_the_profile_header(client, host):
    assert 'class="host-header"' in html(client.get("/hana/30-min?embed=true"))
    assert 'class="host-header"' not in html(client.get("/hana/30-min?embed=true&hideHeader=true"))


def test_embedded_booking_confirmation_announces_the_booking(client, host):
    start = next_week(1, 10)
    data = open_form(client, start, embed="true")
    data.update({"name": "Ivan", "email": "ivan@example.com"})
    response = client.post("/hana/30-min", data=data)
    assert "embed=true" in response.headers["Location"]
    booking = Booking.get()
    assert booking.source == "embed"
    confirmation = client.get(response.headers["Location"])
    page = html(confirmation)
    assert f'data-booking-id="{booking.id}"' in page and f'data-start-time="{start:%Y-%m-%dT%H:%M:%SZ}"' in page
    assert "X-Frame-Options" not in confirmation.headers


def test_powered_by_badge_is_hidden_on_plans_that_remove_branding(client, host, make_user):
    assert "Powered by" in html(client.get("/hana/30-min"))
    make_user("piet", plan="PRO")
    assert "Powered by" not in html(client.get("/piet/30-min"))


def test_embed_script_is_served_as_javascript(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"linktime:booked" in response.data


# --- share dialog -------------------------------------------------------------------------------------------
def test_share_dialog_gives_link_and_embed_snippets_to_the_owner(app, client, host, event_type):
    login(client, host)
    response = client.get(f"/dashboard/event-types/{event_type.id}/share", headers={"HX-Request": "true"})
    page = html(response)
    base = app.config["BASE_URL"]
    assert response.status_code == 200 and page.lstrip().startswith('<section class="card share-dialog"')
    assert f"{base}/hana/30-min" in page
    assert f'data-linktime-inline=&#34;{base}/hana/30-min&#34;' in page
    assert f'data-linktime-popup=&#34;{base}/hana/30-min&#34;' in page
    assert f"{base}/embed.js" in page


def test_share_dialog_of_someone_elses_event_type_is_404(client, host, event_type, make_user):
    other = make_user("otto")
    login(client, other)
    assert client.get(f"/dashboard/event-types/{event_type.id}/share").status_code == 404
    assert client.get("/dashboard/event-types/nope/share").status_code == 404


def test_share_dialog_needs_sign_in(client, event_type):
    response = client.get(f"/dashboard/event-types/{event_type.id}/share")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- without JavaScript -----------------------------------------------------------------------------------
def test_plain_links_lead_from_profile_to_form(client, host):
    profile = html(client.get("/hana"))
    link = re.search(r'<a class="event-link" href="([^"]+)"', profile).group(1)
    page = html(client.get(link + "?tz=Europe/Berlin"))
    tuesday = local(next_week(1)).date()
    month_page = html(client.get(f"/hana/30-min?tz=Europe/Berlin&month={tuesday:%Y-%m}"))
    day_href = re.search(rf'<a class="day[^"]*" href="([^"]+date={tuesday.isoformat()})"', month_page).group(1)
    day_page = html(client.get(day_href.replace("&amp;", "&")))
    slot_href = re.search(r'<a class="slot" href="([^"]+)"', day_page).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(slot_href).query)
    assert query["date"] == [tuesday.isoformat()] and query["time"] == ["09:00"]
    assert 'class="booking-form"' in html(client.get(slot_href))
    assert "Select a date" in page


def test_a_routing_forms_answers_prefill_the_booking_form_and_the_booking_links_to_it(client, host):
    from app.models import RoutingResponse
    from app.services.routing import forms, responses

    target = new_type(host, name="Demo", slug="demo", questions=[{"label": "Team size", "type": "number"},
                                                                  {"label": "Topics", "type": "multiselect",
                                                                   "options": ["Pricing", "Security", "API"]}])
    [size, topics] = [q["id"] for q in target.questions]
    form = forms.create_form(host, forms.FormInput(name="Intake", slug="intake", published=True, fields=[
        {"id": "size", "label": "Team size", "type": "number"}], rules=[],
        default_route={"kind": "event_type", "eventTypeId": target.id}))
    response = RoutingResponse.create(form=form.id, answers={"size": "40"}, route=form.default_route)
    token = responses.link_token(response)
    page = html(client.get(slot_url(next_week(1, 10), slug="demo", name="Ann", email="ann@example.com",
                                    routing=token, **{f"q_{size}": "40", f"q_{topics}": "Pricing"})))
    fields = form_fields(page)
    assert fields["name"] == "Ann" and fields[f"q_{size}"] == "40" and fields["routing"] == token
    assert re.search(rf'name="q_{topics}" value="Pricing" checked', page)
    # the calendar step carries the prefill and the response along (a personal page: never from the cache)
    calendar = html(client.get(f"/hana/demo?name=Ann&routing={token}&q_{size}=40"))
    assert f"routing={token}" in calendar and f"q_{size}=40" in calendar
    data = {**fields, "email": "ann@example.com", f"q_{topics}": "Pricing"}
    assert client.post("/hana/demo", data=data).status_code == 302
    assert RoutingResponse.get_by_id(response.id).booking_id == Booking.get().id
