"""Page analytics over HTTP: what a public page view records, the Analytics dashboard, the event type card and
``/api/analytics/page-views`` (shapes of spec page 22, session auth, 401 / 404 / 400)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.services.insights import page_views
from tests import factories
from tests.conftest import login

CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Safari/537.36")
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.6 Mobile/15E148 Safari/604.1")
PAGE_KEYS = {"stats", "trend", "referrers", "conversion", "eventConversions", "previousPeriod", "preset", "maxDays"}


@pytest.fixture
def visitor(app):
    """A separate client (no session) that browses the public pages like a browser from ``ip``."""
    def visit(path, *, ip="198.51.100.7", ua=CHROME, referrer=None, **headers):
        headers = {"User-Agent": ua, **headers}
        if referrer:
            headers["Referer"] = referrer
        return app.test_client().get(path, headers=headers, environ_base={"REMOTE_ADDR": ip})
    return visit


@pytest.fixture
def host(make_user):
    return make_user("alice", plan="PRO")


def stored_views():
    page_views.flush()
    from app.db import db
    from app.models import PageView
    with db.connection_context():
        return [(v.event_type_id is not None, v.referrer, v.embed) for v in PageView.select().order_by(PageView.id)]


def api(client, path="/api/analytics/page-views", **params):
    response = client.get(path, query_string=params)
    return response.status_code, response.get_json()


def _event_type(host, slug="30-min"):
    from app.db import db
    from app.models import EventType
    with db.connection_context():
        return EventType.get((EventType.user == host.id) & (EventType.slug == slug))


def _book(host, event_type, *, created, status="CONFIRMED", source="page", n=0):
    from app.db import db
    start = created + timedelta(days=3 + n)
    with db.connection_context():
        factories.booking_row(event_type, start, name="Ivy", email=f"ivy{n}-{source}@example.com", status=status,
                              source=source, created_at=created)


# --- recording -------------------------------------------------------------------------------------------
def test_public_page_views_are_recorded_with_referrer_domain_and_embed_flag(app, host, visitor):
    assert visitor("/alice", referrer="https://www.google.com/search?q=alice").status_code == 200
    assert visitor("/alice/30-min", referrer="http://localhost/alice").status_code == 200   # from her own profile
    assert visitor("/alice/30-min?embed=true", referrer="https://blog.example.org/post").status_code == 200
    assert visitor("/alice/30-min", ip="198.51.100.8", ua=SAFARI).status_code == 200
    assert stored_views() == [(False, "google.com", False), (True, None, False), (True, "blog.example.org", True),
                              (True, "Direct", False)]


def test_bots_partials_prefetches_errors_and_the_hosts_own_visits_are_not_recorded(app, client, host, visitor):
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert visitor("/alice", ua=googlebot).status_code == 200
    assert visitor("/alice/30-min", ua="curl/8.5.0").status_code == 200
    assert visitor("/alice/30-min", ua="").status_code == 200
    assert visitor("/alice/30-min", **{"HX-Request": "true"}).status_code == 200          # an htmx partial
    assert visitor("/alice/30-min", **{"Sec-Purpose": "prefetch"}).status_code == 200     # a prefetch
    month = datetime.now(UTC).strftime("%Y-%m")
    assert visitor(f"/alice/30-min/calendar?month={month}").status_code == 200          # the picker's partials
    assert visitor("/alice/no-such-event").status_code == 404
    assert visitor("/nobody").status_code == 404
    assert app.test_client().head("/alice", headers={"User-Agent": CHROME}).status_code == 200
    login(client, host)
    assert client.get("/alice", headers={"User-Agent": CHROME}).status_code == 200       # the host herself
    assert client.get("/dashboard", headers={"User-Agent": CHROME}).status_code == 200
    assert stored_views() == []


def test_recording_only_buffers_the_view_in_memory(app, host, monkeypatch):
    """The request pays for classifying the view and appending it to a buffer, never for a database write
    (its cost per view is measured by bench/analytics.py, not here)."""
    from app.web.analytics import track_view
    quiet = page_views.Recorder(interval=3600)
    quiet.close()
    monkeypatch.setattr(page_views, "recorder", quiet)
    with app.test_request_context("/alice/30-min", headers={"User-Agent": CHROME,
                                                            "Referer": "https://www.google.com/"}):
        from flask import g
        g.user, g.client_ip = None, "198.51.100.9"
        for _ in range(200):
            track_view(host.id, "event-id")
    assert quiet.pending() == 200
    from app.db import db
    from app.models import PageView
    with db.connection_context():
        assert PageView.select().count() == 0   # nothing written while the requests ran


def test_a_view_is_in_the_numbers_right_after_a_flush(client, host, visitor):
    visitor("/alice/30-min", referrer="https://www.linkedin.com/feed/")
    visitor("/alice/30-min", referrer="https://www.linkedin.com/feed/")
    visitor("/alice/30-min", ip="198.51.100.99")
    page_views.flush()
    login(client, host)
    status, body = api(client, preset="7d")
    assert status == 200
    assert body["stats"] == {"totalViews": 3, "uniqueVisitors": 2}
    assert body["referrers"] == [{"referrer": "linkedin.com", "count": 2}, {"referrer": "Direct", "count": 1}]
    assert body["trend"][-1] == {"date": datetime.now(UTC).date().isoformat(), "views": 3, "uniqueVisitors": 2}
    status, one = api(client, "/api/analytics/page-views/30-min")
    assert (status, one) == (200, {"totalViews": 3, "uniqueVisitors": 2, "bookings": 0, "conversionRate": 0.0})


# --- the API -------------------------------------------------------------------------------------------
def test_api_requires_a_signed_in_session(client, host):
    for path in ("/api/analytics/page-views", "/api/analytics/page-views?preset=7d",
                 "/api/analytics/page-views/30-min"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.is_json and set(response.get_json()) == {"error"}
        assert "sign in" in response.get_json()["error"].lower()


def test_api_returns_the_spec_shape(client, host):
    login(client, host)
    status, body = api(client)
    assert status == 200
    assert set(body) == PAGE_KEYS
    assert body["stats"] == {"totalViews": 0, "uniqueVisitors": 0}
    assert body["preset"] == "30d" and body["maxDays"] == 90
    assert len(body["trend"]) == 30 and set(body["trend"][0]) == {"date", "views", "uniqueVisitors"}
    assert body["conversion"] == {"visitors": 0, "bookings": 0, "conversionRate": 0.0}
    assert body["previousPeriod"] == {"totalViews": 0, "uniqueVisitors": 0, "conversionRate": 0.0}
    assert body["referrers"] == []
    assert body["eventConversions"] == [{"slug": "30-min", "eventName": "30 Minute Meeting", "views": 0,
                                         "uniqueVisitors": 0, "bookings": 0, "conversionRate": 0.0}]
    dates = [row["date"] for row in body["trend"]]
    assert dates == sorted(dates) and dates[-1] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(("plan", "preset", "days", "max_days"), [
    ("FREE", "7d", 7, 30), ("FREE", "year", 30, 30), ("PRO", "year", 90, 90), ("PRO", "90d", 90, 90),
    ("BUSINESS", "year", 365, 365),
])
def test_api_presets_are_capped_by_plan(client, make_user, plan, preset, days, max_days):
    user = make_user("pat", plan=plan)
    login(client, user)
    status, body = api(client, preset=preset)
    assert status == 200
    assert (body["preset"], body["maxDays"], len(body["trend"])) == (preset, max_days, days)


@pytest.mark.parametrize("bad", ["14d", "forever", "'; DROP TABLE page_views; --", "x" * 500])
def test_api_rejects_an_unknown_preset_with_a_clear_400(client, host, bad):
    login(client, host)
    for path in ("/api/analytics/page-views", "/api/analytics/page-views/30-min"):
        status, body = api(client, path, preset=bad)
        assert status == 400
        assert body["error"] == "Invalid request data" and "preset" in body["details"]


def test_api_single_event_of_another_user_or_unknown_is_404(client, host, make_user):
    make_user("bob")   # bob has a 30-min and alice does too; only alice's is hers
    from app.db import db
    with db.connection_context():
        from app.models import User
        from app.services.scheduling import event_types as et
        bob = User.get(User.username == "bob")
        et.create_event_type(bob, et.EventTypeInput(name="Bob only", slug="bob-only", duration=15))
    login(client, host)
    for slug in ("bob-only", "nope", "%00", "a" * 300):
        status, body = api(client, f"/api/analytics/page-views/{slug}")
        assert status == 404 and set(body) == {"error"}
    assert api(client, "/api/analytics/page-views/30-min")[0] == 200


def test_api_counts_bookings_made_through_the_booking_page(app, client, host, visitor):
    visitor("/alice/30-min", ip="198.51.100.1")
    visitor("/alice/30-min", ip="198.51.100.2")
    visitor("/alice/30-min", ip="198.51.100.3")
    thirty = _event_type(host)
    for source in ("page", "api"):
        _book(host, thirty, created=datetime.now(UTC), source=source)
    page_views.flush()
    login(client, host)
    _, body = api(client, preset="7d")
    assert body["conversion"] == {"visitors": 3, "bookings": 1, "conversionRate": 33.3}
    assert body["eventConversions"][0] == {"slug": "30-min", "eventName": "30 Minute Meeting", "views": 3,
                                           "uniqueVisitors": 3, "bookings": 1, "conversionRate": 33.3}


# --- the dashboard -------------------------------------------------------------------------------------
def test_dashboard_needs_sign_in_and_is_in_the_navigation(client, host):
    response = client.get("/dashboard/analytics")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, host)
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/dashboard/analytics"' in html and ">Analytics</a>" in html


def test_page_views_tab_shows_cards_chart_and_tables(client, host, visitor):
    visitor("/alice", referrer="https://www.google.com/")
    visitor("/alice/30-min", referrer="http://localhost/alice")
    visitor("/alice/30-min", ip="198.51.100.50", referrer="https://news.ycombinator.com/item?id=1")
    page_views.flush()
    login(client, host)
    response = client.get("/dashboard/analytics?tab=page-views&preset=7d")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<svg class="trend"' in html and html.count('<g class="day">') == 7
    today = datetime.now(UTC).date()
    assert f"{today:%a} {today.day} {today:%b %Y} — Views: 3, Unique visitors: 2</title>" in html
    stats = re.search(r'id="stat-views".*?<p class="stat-value">([^<]+)</p>', html, re.DOTALL).group(1)
    assert stats == "3"
    assert re.search(r'id="stat-visitors".*?<p class="stat-value">2</p>', html, re.DOTALL)
    assert re.search(r'id="stat-referrer".*?<p class="stat-value">google.com</p>', html, re.DOTALL)
    conversions = html[html.index('id="event-conversions"'):html.index('id="referrers-h"')]
    assert re.search(r'href="[^"]*/alice/30-min">30 Minute Meeting</a>', conversions)
    assert re.findall(r'<td class="num">([^<]+)</td>', conversions) == ["2", "2", "0", "0.0%"]
    referrers = html[html.index('id="top-referrers"'):]
    assert "google.com" in referrers and "news.ycombinator.com" in referrers and "50.0%" in referrers
    assert 'aria-current="true">Last 7 days' in html
    assert "plan-banner" not in html


def test_bookings_tab_is_the_default(client, host):
    thirty = _event_type(host)
    now = datetime.now(UTC)
    for i, status in enumerate(("CONFIRMED", "CONFIRMED", "CANCELLED")):
        _book(host, thirty, created=now - timedelta(minutes=i), status=status, n=i)
    login(client, host)
    html = client.get("/dashboard/analytics").get_data(as_text=True)
    assert re.search(r'aria-current="page">Bookings</a>', html)
    assert re.search(r'id="stat-bookings".*?<p class="stat-value">3</p>', html, re.DOTALL)
    assert re.search(r'id="stat-cancelled".*?<p class="stat-value">1</p>', html, re.DOTALL)
    assert 'id="bookings-chart"' in html and 'id="bookings-by-event"' in html
    assert "30 Minute Meeting" in html


def test_preset_switch_as_htmx_returns_only_the_panel(client, host):
    login(client, host)
    response = client.get("/dashboard/analytics?tab=page-views&preset=90d", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="analytics-panel"') and "<html" not in html
    assert 'aria-current="true">Last 90 days' in html and "HX-Request" in response.headers.get("Vary", "")
    full = client.get("/dashboard/analytics?tab=page-views&preset=90d").get_data(as_text=True)
    assert "<html" in full and 'id="analytics-panel"' in full


def test_free_plan_sees_a_banner_and_30_days_for_longer_presets(client, make_user):
    user = make_user("fred", plan="FREE")
    login(client, user)
    html = client.get("/dashboard/analytics?tab=page-views&preset=year").get_data(as_text=True)
    assert 'id="plan-banner"' in html
    assert "Your Free plan keeps 30 days of analytics." in html
    assert "Showing the last 30 days instead of last year" in html
    assert "30 days (UTC)" in html
    assert 'id="plan-banner"' not in client.get("/dashboard/analytics?tab=page-views&preset=30d").get_data(as_text=True)


@pytest.mark.parametrize("query", ["tab=nope", "preset=14d", "tab=page-views&preset=%3Cscript%3E"])
def test_dashboard_bad_input_is_a_clear_400(client, host, query):
    login(client, host)
    response = client.get(f"/dashboard/analytics?{query}")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Unknown" in text and "<script>" not in text


# --- the event type card -------------------------------------------------------------------------------
def test_event_type_edit_page_shows_the_card_only_with_data(client, host, visitor):
    thirty = _event_type(host)
    login(client, host)
    url = f"/dashboard/event-types/{thirty.id}/edit"
    assert 'id="event-performance"' not in client.get(url).get_data(as_text=True)
    visitor("/alice/30-min")
    visitor("/alice/30-min")
    visitor("/alice", ip="198.51.100.70")            # the profile does not count for the event
    page_views.flush()
    html = client.get(url).get_data(as_text=True)
    card = html[html.index('id="event-performance"'):]
    card = card[:card.index("</section>")]
    assert re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", card) == [
        ("Views", "2"), ("Visitors", "1"), ("Bookings", "0"), ("Conversion rate", "0.0%")]
    assert html.index('id="event-performance"') < html.index('id="s-basics"')
