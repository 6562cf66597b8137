"""Out-of-office (issue 23, point 8) over HTTP: the dashboard page (add and delete with htmx or plain forms, inline
errors, another user's entry is 404, CSRF), and the public booking page's "away until" notice with the teammate
link, in the whole page, the month partial and the day's slots partial."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from app.datetimes import format_date
from app.models import OutOfOffice
from app.services.scheduling import out_of_office as ooo
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

URL = "/dashboard/availability/out-of-office"
HX = {"HX-Request": "true"}


def _weekday_after(days: int) -> date:
    day = datetime.now(UTC).date() + timedelta(days=days)
    while day.weekday() != 0:          # a Monday
        day += timedelta(days=1)
    return day


FIRST = _weekday_after(14)             # Monday, two to three weeks ahead (inside the 60-day window)
LAST = FIRST + timedelta(days=4)       # the Friday


@pytest.fixture
def hana(make_user):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


@pytest.fixture
def mate(make_user):
    return make_user("mate", name="Mate Marsh", timezone="Europe/Berlin")


@pytest.fixture
def signed_in(client, hana):
    login(client, hana)
    return client


def _entries(app, user):
    with data(app):
        return list(OutOfOffice.select().where(OutOfOffice.user == user.id))


def _add(app, user, first=FIRST, last=LAST, **fields):
    with data(app):
        return ooo.add_entry(user, ooo.EntryInput(first, last, **fields))


# --- the dashboard ---------------------------------------------------------------------------------------------
def test_availability_links_to_the_page_and_htmx_adds_an_entry(signed_in, app, hana):
    assert f'href="{URL}"' in signed_in.get("/dashboard/availability").get_data(as_text=True)
    page = signed_in.get(URL).get_data(as_text=True)
    assert "No out-of-office days planned." in page and 'name="redirect_to"' not in page   # no team: no teammate
    response = signed_in.post(URL, headers=HX, data={"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(),
                                                     "reason": "travel", "note": "At a conference",
                                                     "show_reason": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="ooo"')    # the block alone
    assert format_date(FIRST, style="short") in body and "Travel" in body and "At a conference" in body
    [entry] = _entries(app, hana)
    assert (entry.start_date, entry.end_date, entry.reason, entry.show_reason, entry.timezone) == \
        (FIRST, LAST, "travel", True, "Europe/Berlin")


def test_a_plain_form_redirects_and_an_unchecked_box_hides_the_reason(signed_in, app, hana):
    response = signed_in.post(URL, data={"start_date": FIRST.isoformat(), "end_date": FIRST.isoformat(),
                                         "reason": "sick"})
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    [entry] = _entries(app, hana)
    assert entry.show_reason is False and entry.note is None
    assert "(reason not shown to invitees)" in signed_in.get(URL).get_data(as_text=True)


def test_overlapping_and_bad_entries_come_back_as_inline_errors(signed_in, app, hana):
    _add(app, hana)
    response = signed_in.post(URL, headers=HX, data={"start_date": LAST.isoformat(),
                                                     "end_date": (LAST + timedelta(days=3)).isoformat(),
                                                     "reason": "vacation", "note": "kept"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="f-start_date"[^>]*aria-invalid="true" aria-describedby="e-start_date"', body)
    assert 'id="e-start_date">These dates overlap your entry' in body and ">kept</textarea>" in body
    response = signed_in.post(URL, headers=HX, data={"start_date": "soon", "end_date": "", "reason": "x"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="e-start_date"' in body and 'id="e-end_date"' in body and 'id="e-reason"' in body
    assert len(_entries(app, hana)) == 1


def test_delete_removes_ones_own_entry_and_another_users_entry_is_404(signed_in, app, hana, mate):
    mine = _add(app, hana)
    theirs = _add(app, mate)
    page = signed_in.get(URL).get_data(as_text=True)
    assert f'action="{URL}/{mine.id}/delete"' in page and theirs.id not in page
    assert signed_in.post(f"{URL}/{theirs.id}/delete", headers=HX).status_code == 404
    assert signed_in.post(f"{URL}/{theirs.id}/delete").status_code == 404
    assert len(_entries(app, mate)) == 1
    response = signed_in.post(f"{URL}/{mine.id}/delete", headers=HX)
    assert response.status_code == 200 and "No out-of-office days planned." in response.get_data(as_text=True)
    assert _entries(app, hana) == []


def test_teammates_are_offered_and_a_stranger_is_refused(signed_in, app, hana, mate, make_user):
    stranger = make_user("stranger")
    with data(app):
        factories.team(hana, [mate])
    page = signed_in.get(URL).get_data(as_text=True)
    assert f'<option value="{mate.id}"' in page and stranger.id not in page
    response = signed_in.post(URL, headers=HX, data={"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(),
                                                     "reason": "vacation", "redirect_to": stranger.id})
    assert response.status_code == 422 and "Choose a member of one of your teams." in response.get_data(as_text=True)
    response = signed_in.post(URL, headers=HX, data={"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(),
                                                     "reason": "vacation", "redirect_to": mate.id})
    assert response.status_code == 200 and "Invitees are sent to Mate Marsh" in response.get_data(as_text=True)


def test_the_page_needs_a_session_and_a_post_needs_the_csrf_token(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert client.get(URL).status_code == 302                    # to the sign-in page
    user = make_user("hana")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    response = client.post(URL, data={"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(),
                                      "reason": "vacation"})
    assert response.status_code == 400
    assert _entries(app, user) == []


# --- the booking page ------------------------------------------------------------------------------------------
def _away_text(host_name: str, until: date) -> str:
    return f"{host_name} is away until {format_date(until)}"


def test_the_days_slots_say_away_until_with_reason_note_and_the_teammates_same_event_type(client, app, hana, mate):
    with data(app):
        factories.team(hana, [mate])
    _add(app, hana, reason="vacation", note="Back with fresh ideas", redirect_to=mate.id)
    response = client.get(f"/hana/30-min/slots?date={FIRST.isoformat()}&tz=Europe/Berlin&hour=24", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-away-until="{LAST.isoformat()}"' in body
    assert _away_text("Hana Host", LAST) in body and "(Vacation)" in body and "Back with fresh ideas" in body
    assert 'role="status"' in body and "No times are available on this day." not in body
    link = re.search(r'<a class="away-redirect btn" href="([^"]+)">Book with Mate Marsh instead</a>', body)
    assert link and link.group(1).startswith("/mate/30-min?") and "tz=Europe%2FBerlin" in link.group(1)
    # a day outside the range has its times and no notice
    after = LAST + timedelta(days=3)                              # the Monday after
    body = client.get(f"/hana/30-min/slots?date={after.isoformat()}", headers=HX).get_data(as_text=True)
    assert "is away until" not in body and 'class="slot"' in body and "data-away-until" not in body


def test_the_whole_page_marks_the_days_away_and_the_link_falls_back_to_the_profile(client, app, hana, mate):
    with data(app):
        factories.team(hana, [mate])
        factories.new_event_type(hana, name="Coaching", slug="coaching")
    _add(app, hana, reason="sick", show_reason=False, redirect_to=mate.id)
    page = client.get(f"/hana/coaching?month={FIRST:%Y-%m}&date={FIRST.isoformat()}").get_data(as_text=True)
    assert _away_text("Hana Host", LAST) in page and "Sick leave" not in page       # the reason is not shown
    assert f'aria-label="{format_date(FIRST)}, host away"' in page
    assert 'href="/mate?' in page and "Book with Mate Marsh instead" in page        # Mate has no "coaching"


def test_a_month_with_no_times_says_away_instead_of_an_empty_calendar(client, app, hana):
    today = datetime.now(UTC).date()
    _add(app, hana, today, today + timedelta(days=120), reason="holiday", note="Sabbatical")
    nxt = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    body = client.get(f"/hana/30-min/calendar?month={nxt:%Y-%m}", headers=HX).get_data(as_text=True)
    assert "No times this month" in body
    assert _away_text("Hana Host", today + timedelta(days=120)) in body and "(Public holiday)" in body
    assert "Sabbatical" in body and "Book with" not in body       # no teammate chosen


def test_the_cached_page_changes_when_an_entry_is_added(client, app, hana):
    url = f"/hana/30-min/slots?date={FIRST.isoformat()}"
    assert 'class="slot"' in client.get(url).get_data(as_text=True)       # cached for anonymous visitors
    _add(app, hana)
    body = client.get(url).get_data(as_text=True)
    assert _away_text("Hana Host", LAST) in body and 'class="slot"' not in body


def test_days_gone_by_are_not_marked_away(client, app, hana):
    today = datetime.now(UTC).date()
    _add(app, hana, today - timedelta(days=10), today + timedelta(days=40))
    page = client.get(f"/hana/30-min?month={today:%Y-%m}&tz=Europe/Berlin").get_data(as_text=True)
    yesterday = today - timedelta(days=1)
    if yesterday.month == today.month:
        assert f'aria-label="{format_date(yesterday)}, no times"' in page
    assert f'aria-label="{format_date(today + timedelta(days=1))}, host away"' in page or \
        (today + timedelta(days=1)).month != today.month
    assert _away_text("Hana Host", today + timedelta(days=40)) in page
