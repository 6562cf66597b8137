"""app.datetimes: an instant on a viewer's clock (zone and 12/24 h), and the Jinja filters over it."""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from jinja2 import Environment

from app.datetimes import (
    Clock,
    format_date,
    format_datetime,
    format_time,
    format_timerange,
    format_times,
    host_clock,
    invitee_clock,
    register_filters,
    to_local,
    viewer_clock,
)

NY, BERLIN = "America/New_York", "Europe/Berlin"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- times ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hour, minute, twelve, twenty_four", [
    (0, 0, "12:00am", "00:00"),      # midnight
    (0, 30, "12:30am", "00:30"),
    (9, 5, "9:05am", "09:05"),
    (11, 59, "11:59am", "11:59"),
    (12, 0, "12:00pm", "12:00"),     # noon
    (12, 30, "12:30pm", "12:30"),
    (13, 30, "1:30pm", "13:30"),
    (23, 59, "11:59pm", "23:59"),
])
def test_time_on_a_12_and_a_24_hour_clock(hour, minute, twelve, twenty_four):
    moment = utc(2026, 6, 2, hour, minute)
    assert format_time(moment, "UTC", hour12=True) == twelve
    assert format_time(moment, "UTC", hour12=False) == twenty_four


def test_time_with_seconds():
    moment = utc(2026, 6, 2, 14, 3, 7)
    assert format_time(moment, BERLIN, seconds=True) == "16:03:07"
    assert format_time(moment, BERLIN, True, seconds=True) == "4:03:07pm"


def test_time_is_on_the_viewers_wall_clock():
    moment = utc(2026, 6, 2, 14, 0)
    assert (format_time(moment, BERLIN), format_time(moment, NY), format_time(moment, "Asia/Kolkata")) == \
        ("16:00", "10:00", "19:30")


def test_spring_forward_skips_the_hour_in_new_york():
    # 2026-03-08: 02:00 EST becomes 03:00 EDT, so one minute apart in UTC reads 01:59 then 03:00
    assert format_time(utc(2026, 3, 8, 6, 59), NY) == "01:59"
    assert format_time(utc(2026, 3, 8, 7, 0), NY, hour12=True) == "3:00am"


def test_fall_back_shows_the_repeated_hour_twice():
    # 2026-11-01: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST)
    first, second = utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)
    assert format_time(first, NY) == format_time(second, NY) == "01:30"
    assert format_timerange(first, second, NY, hour12=True) == "Sunday, 1 November 2026 · 1:30am – 1:30am"


def test_lord_howe_half_hour_shift():
    # Australia/Lord_Howe moves its clock by 30 minutes: 2026-04-05 02:00 (+11) becomes 01:30 (+10:30)
    assert format_time(utc(2026, 4, 4, 14, 59), "Australia/Lord_Howe") == "01:59"
    assert format_time(utc(2026, 4, 4, 15, 0), "Australia/Lord_Howe") == "01:30"


def test_unknown_zone_is_utc_and_naive_is_utc():
    assert format_time(utc(2026, 6, 2, 14, 0), "Mars/Olympus") == "14:00"
    assert to_local(datetime(2026, 6, 2, 14, 0), BERLIN).hour == 16


# --- dates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("style, text", [
    ("long", "Tuesday, 2 June 2026"),
    ("full", "Tuesday 2 June 2026"),
    ("short", "Tue 2 Jun 2026"),
    ("iso", "2026-06-02"),
    ("month", "June 2026"),
])
def test_date_styles(style, text):
    assert format_date(date(2026, 6, 2), style=style) == text
    assert format_date(utc(2026, 6, 2, 12), BERLIN, style) == text


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown date style"):
        format_date(date(2026, 6, 2), style="fancy")


def test_the_date_is_the_viewers_date_around_midnight():
    moment = utc(2026, 6, 2, 2, 30)                      # 22:30 the evening before in New York
    assert format_date(moment, NY, "short") == "Mon 1 Jun 2026"
    assert format_date(moment, BERLIN, "short") == "Tue 2 Jun 2026"
    assert format_date(utc(2026, 6, 1, 22, 0), BERLIN, "short") == "Tue 2 Jun 2026"   # 00:00 in Berlin


def test_date_names_are_english_for_every_weekday_and_month():
    assert [format_date(date(2026, 6, d), style="short")[:3] for d in range(1, 8)] == \
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert format_date(date(2026, 12, 31), style="month") == "December 2026"
    assert format_date(date(2026, 1, 1), style="full") == "Thursday 1 January 2026"


# --- date and time, ranges ----------------------------------------------------------------------------------
def test_datetime_as_dashboard_email_and_settings_write_it():
    moment = utc(2026, 6, 2, 14, 0, 5)
    assert format_datetime(moment, NY) == "Tue 2 Jun 2026, 10:00"
    assert format_datetime(moment, NY, True) == "Tue 2 Jun 2026, 10:00am"
    assert format_datetime(moment, NY, seconds=True) == "Tue 2 Jun 2026, 10:00:05"
    assert format_datetime(moment, NY, style="long", with_zone=True) == \
        "Tuesday, 2 June 2026, 10:00 (New York time / America/New York)"
    assert format_datetime(moment, "UTC", style="iso") == "2026-06-02 14:00"


def test_timerange_as_booking_pages_and_emails_write_it():
    start, end = utc(2026, 6, 2, 14), utc(2026, 6, 2, 14, 30)
    assert format_timerange(start, end, BERLIN) == "Tuesday, 2 June 2026 · 16:00 – 16:30"
    assert format_timerange(start, end, NY, hour12=True) == "Tuesday, 2 June 2026 · 10:00am – 10:30am"
    assert format_timerange(start, end, BERLIN, with_zone=True) == \
        "Tuesday, 2 June 2026 · 16:00 – 16:30 (Berlin time / Europe/Berlin)"
    assert format_times(start, end, NY, True) == "10:00am – 10:30am"
    assert format_timerange(start, None, BERLIN, with_zone=True) == \
        "Tuesday, 2 June 2026 · 16:00 (Berlin time / Europe/Berlin)"


def test_timerange_over_midnight_takes_the_starts_date():
    start, end = utc(2026, 6, 2, 3, 30), utc(2026, 6, 2, 4, 30)     # 23:30 - 00:30 in New York
    assert format_timerange(start, end, NY, hour12=True) == "Monday, 1 June 2026 · 11:30pm – 12:30am"


# --- whose clock ------------------------------------------------------------------------------------------
def test_host_clock_is_the_hosts_zone_and_chosen_clock():
    assert host_clock(SimpleNamespace(timezone=NY, hour12=False)) == Clock(NY, False)
    assert host_clock(SimpleNamespace(timezone=NY, hour12=True)) == Clock(NY, True)
    assert host_clock(SimpleNamespace(timezone="Mars/Olympus", hour12=False)) == Clock("UTC", False)


def test_invitee_clock_is_the_invitees_zone_and_the_clock_their_page_showed():
    assert invitee_clock(SimpleNamespace(invitee_timezone=NY, invitee_hour12=True)) == Clock(NY, True)
    assert invitee_clock(SimpleNamespace(invitee_timezone=NY, invitee_hour12=None)) == Clock(NY, False)  # unknown


def test_viewer_clock_prefers_clock_then_page_state_then_signed_in_host():
    host = SimpleNamespace(timezone=NY)
    state = SimpleNamespace(tz="Asia/Tokyo", hour12=True)
    assert viewer_clock({"clock": Clock(BERLIN, True), "state": state, "current_user": host}) == Clock(BERLIN, True)
    assert viewer_clock({"state": state, "current_user": host}) == Clock("Asia/Tokyo", True)
    assert viewer_clock({"state": "pending", "current_user": host}) == Clock(NY, False)   # another kind of state
    assert viewer_clock({"current_user": None}) == Clock("UTC", False)


@pytest.fixture
def env():
    environment = Environment(autoescape=True)
    register_filters(SimpleNamespace(jinja_env=environment))
    return environment


def render(env, source, **context):
    return env.from_string(source).render(**context)


def test_filters_read_the_viewers_clock_from_the_context(env):
    start, end = utc(2026, 6, 2, 14), utc(2026, 6, 2, 14, 30)
    page = SimpleNamespace(tz=NY, hour12=True)
    assert render(env, "{{ s|timerange(e) }}", s=start, e=end, state=page) == "Tuesday, 2 June 2026 · 10:00am – 10:30am"
    assert render(env, "{{ s|time }}", s=start, clock=Clock(BERLIN, False)) == "16:00"
    assert render(env, "{{ s|datetime('short') }}", s=start, current_user=SimpleNamespace(timezone=NY)) == \
        "Tue 2 Jun 2026, 10:00"
    assert render(env, "{{ s|times(e) }}", s=start, e=end, state=page) == "10:00am – 10:30am"
    assert render(env, "{{ s|date('full') }}", s=start, state=page) == "Tuesday 2 June 2026"
    assert render(env, "{{ d|date('short') }}", d=date(2026, 6, 2)) == "Tue 2 Jun 2026"


def test_filter_overrides_and_empty_values(env):
    start = utc(2026, 6, 2, 14)
    host = SimpleNamespace(timezone=NY)
    # the invitee's time, on the host's (24 h) clock
    assert render(env, "{{ s|datetime('short', tz='Europe/Berlin') }}", s=start, current_user=host) == \
        "Tue 2 Jun 2026, 16:00"
    assert render(env, "{{ s|time(hour12=True) }}", s=start, current_user=host) == "10:00am"
    assert render(env, "{{ s|datetime(with_zone=True) }}", s=start, clock=Clock(NY, False)) == \
        "Tuesday, 2 June 2026, 10:00 (New York time / America/New York)"
    empty = "[{{ none|datetime }}{{ none|time }}{{ none|date }}{{ none|timerange(none) }}]"
    assert render(env, empty, none=None) == "[]"
    assert render(env, "{{ 'America/Port_of_Spain'|zone_label }}") == "America/Port of Spain"


# --- the filters in the app: emails on the recipient's clock ----------------------------------------------------
def test_booking_email_shows_the_recipients_clock_even_when_sent_during_a_hosts_request(app):
    from flask import g, render_template

    booking = SimpleNamespace(event_name="Intro", start_at=utc(2026, 6, 2, 14), end_at=utc(2026, 6, 2, 14, 30),
                              previous_start_at=utc(2026, 6, 1, 14), previous_end_at=utc(2026, 6, 1, 14, 30),
                              invitee_name="Ivan", invitee_email="ivan@example.com", meeting_link=None, notes="")
    context = {"booking": booking, "host": SimpleNamespace(name="Hana"), "minutes": 30, "location": "",
               "previous": (booking.previous_start_at, booking.previous_end_at)}
    with app.test_request_context("/dashboard"):
        g.user = SimpleNamespace(timezone="Asia/Tokyo")          # a signed-in host's request queues the email
        text = render_template("email/_booking_details.txt", clock=Clock(NY, False), **context)
        html = render_template("email/_booking_details.html", clock=Clock(BERLIN, True), **context)
    assert "When: Tuesday, 2 June 2026 · 10:00 – 10:30 (New York time / America/New York)\n" in text
    assert "Previously: Monday, 1 June 2026 · 10:00 – 10:30 (New York time / America/New York)\n" in text
    assert "<td>Tuesday, 2 June 2026 · 4:00pm – 4:30pm (Berlin time / Europe/Berlin)</td>" in html


# --- zones named for people, schedule times, log stamps, the country convention ------------------------------
def test_zone_text_names_the_city_and_the_zone():
    from app.datetimes import zone_text
    assert zone_text("Asia/Tokyo") == "Tokyo time / Asia/Tokyo"
    assert zone_text("America/Argentina/Buenos_Aires") == "Buenos Aires time / America/Argentina/Buenos Aires"
    assert (zone_text("UTC"), zone_text("Etc/GMT+5")) == ("UTC", "Etc/GMT+5")


def test_the_issues_tokyo_email_time_reads_as_people_write_it():
    start = utc(2026, 12, 7, 15, 30)                     # 00:30 on Tuesday in Tokyo
    assert format_timerange(start, start.replace(hour=16, minute=0), "Asia/Tokyo", True, with_zone=True) == \
        "Tuesday, 8 December 2026 · 12:30am – 1:00am (Tokyo time / Asia/Tokyo)"


@pytest.mark.parametrize("hhmm, twelve", [("13:00", "1:00pm"), ("09:30", "9:30am"), ("00:00", "12:00am"),
                                          ("12:00", "12:00pm"), ("24:00", "12:00am"), ("9am", "9am")])
def test_schedule_times_on_the_viewers_clock(hhmm, twelve):
    from app.datetimes import format_hhmm
    assert format_hhmm(hhmm, hour12=True) == twelve
    assert format_hhmm(hhmm, hour12=False) == hhmm


def test_log_stamp_from_a_utc_iso_string_on_the_hosts_clock(env):
    host = SimpleNamespace(timezone="Asia/Tokyo", hour12=True)
    assert render(env, "{{ s|datetime('short') }}", s="2026-12-07T15:30:00Z", current_user=host) == \
        "Tue 8 Dec 2026, 12:30am"
    assert format_datetime("2026-12-07T15:30:05+00:00", "Asia/Tokyo", seconds=True) == "Tue 8 Dec 2026, 00:30:05"


@pytest.mark.parametrize("tz, hour12", [
    ("America/New_York", True), ("America/Los_Angeles", True), ("America/Toronto", True),
    ("Australia/Sydney", True), ("Asia/Kolkata", True), ("Asia/Manila", True),
    ("Europe/Paris", False), ("Europe/London", False), ("Asia/Tokyo", False), ("America/Sao_Paulo", False),
    ("UTC", False), ("Mars/Olympus", False), (None, False),
])
def test_country_convention_of_a_zone(tz, hour12):
    from app.datetimes import conventional_hour12
    assert conventional_hour12(tz) is hour12


@pytest.mark.parametrize("header, hour12", [
    ("en-US,en;q=0.9", True), ("en-GB,en;q=0.8", False), ("de-DE", False), ("en-CA", True),
    ("zh-Hant-TW,zh;q=0.9", True), ("en", None), ("", None), (None, None), ("es-419", None),
])
def test_browser_language_region_gives_an_hour_cycle(header, hour12):
    from app.datetimes import locale_hour12
    assert locale_hour12(header) is hour12
