"""The time-zone picker's list: canonical zones only, with a friendly name, the current offset and abbreviation,
grouped by region; the booking page holds only the selected zone's region and fetches the rest on demand."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.timezones import all_timezones, canonical, is_valid_timezone, zone_choices, zone_groups
from tests.conftest import login

WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def test_the_list_holds_canonical_zones_only():
    names = set(all_timezones())
    assert {"Africa/Asmera", "US/Eastern", "Asia/Calcutta", "Europe/Kiev", "Etc/GMT+5", "GB"}.isdisjoint(names)
    assert {"Asia/Kolkata", "Europe/Kyiv", "America/New_York", "Europe/Oslo", "Asia/Tokyo", "UTC"} <= names
    assert 350 < len(names) < 460
    # legacy names are still valid, and shown as the listed zone with the same rules
    assert is_valid_timezone("US/Eastern") and canonical("US/Eastern") == "America/New_York"
    assert canonical("Asia/Calcutta") == "Asia/Kolkata" and canonical("Etc/UTC") == "UTC"
    assert canonical("Asia/Tokyo") == "Asia/Tokyo" and canonical("Nowhere/City") == "Nowhere/City"


def test_each_zone_has_a_friendly_name_offset_and_abbreviations():
    winter = {c.id: c for c in zone_choices(WINTER)}
    summer = {c.id: c for c in zone_choices(SUMMER)}
    la = winter["America/Los_Angeles"]
    assert (la.place, la.region, la.offset, la.abbr) == ("Los Angeles, United States", "Americas", "UTC−08:00", "PST")
    assert (summer["America/Los_Angeles"].offset, summer["America/Los_Angeles"].abbr) == ("UTC−07:00", "PDT")
    assert "pst" in la.keywords and "pdt" in la.keywords and "los angeles" in la.keywords
    assert winter["Asia/Kolkata"].label("9:30pm") == "Kolkata, India · UTC+05:30 IST · 9:30pm"
    assert winter["America/Argentina/Buenos_Aires"].label() == "Buenos Aires, Argentina · UTC−03:00"  # no letters
    groups = dict(zone_groups(WINTER))
    assert list(groups)[:3] == ["Africa", "Americas", "Antarctica"] and "UTC" in groups
    cities = [c.city for c in groups["Europe"]]
    assert cities == sorted(cities) and "Berlin" in cities
    assert [r for r, _ in zone_groups(WINTER, only="Asia/Calcutta")] == ["Asia"]
    assert zone_groups(WINTER, include="Etc/GMT+5")[-1][0] == "Other"


@pytest.fixture
def host(make_user, app):
    with app.app_context():
        return make_user("hana", name="Hana Host")


def test_booking_page_holds_only_the_selected_region_and_the_list_comes_on_demand(client, host):
    page = client.get("/hana/30-min?tz=Asia/Tokyo&hour=12").get_data(as_text=True)
    options = re.findall(r"<option value=\"([^\"]+)\"", page)
    assert "Asia/Tokyo" in options and "Europe/Berlin" not in options and len(options) < 100
    assert 'data-tz-options="/timezones.html?hour=12"' in page
    assert re.search(r'<option value="Asia/Tokyo" selected>Tokyo, Japan · UTC\+09:00 JST · \d', page)

    response = client.get("/timezones.html?hour=12")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in response.headers and "<html" not in body
    assert body.count("<optgroup") == len(zone_groups()) and body.count("<option") == len(all_timezones())
    assert re.search(r'<option value="America/Los_Angeles" data-k="[^"]*\bpst\b[^"]*">Los Angeles, United States', body)
    assert re.search(r"(am|pm)</option>", body)
    assert "Africa/Asmera" not in body


def test_a_legacy_zone_in_the_address_shows_as_its_listed_zone(client, host):
    page = client.get("/hana/30-min?tz=Asia/Calcutta&hour=24").get_data(as_text=True)
    assert '<option value="Asia/Kolkata" selected>' in page


def test_dashboard_selects_use_the_same_grouped_picker(client, host):
    login(client, host)
    page = client.get("/dashboard/availability").get_data(as_text=True)
    assert '<optgroup label="Europe">' in page and 'data-tz-filter="f-timezone"' in page
    assert re.search(r'<option value="Europe/Berlin" selected>Berlin, Germany · UTC\+0[12]:00 CES?T', page)
    assert "data-tz-options" not in page                              # the whole list, no fetching
    assert "US/Eastern" not in page


def test_without_javascript_the_whole_list_is_one_link_away_and_never_shared(client, host):
    page = client.get("/hana/30-min?tz=Asia/Tokyo&hour=24").get_data(as_text=True)
    link = re.search(r'<a class="tz-all" href="([^"]+)">Other regions</a>', page).group(1).replace("&amp;", "&")
    assert "zones=all" in link and "tz=Asia%2FTokyo" in link and "month=" in link
    full = client.get(link).get_data(as_text=True)
    assert full.count("<option value=") == len(all_timezones()) and "data-tz-options" not in full
    assert "Other regions" not in full
    again = client.get("/hana/30-min?tz=Asia/Tokyo&hour=24").get_data(as_text=True)   # the cache kept the light page
    assert again.count("<option value=") < 100
