"""Page analytics: exact numbers on seeded views and bookings, the rollups, classification and plan caps."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import peewee
import pytest

from app.services.errors import NotFound, ValidationFailed
from app.services.insights import analytics, page_views
from tests import factories

SECRET = "test-secret-key"
TODAY = date(2026, 3, 10)
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Safari/537.36")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
OWN = frozenset({"cal.example.com"})


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def view(host, event_type=None, *, ip="203.0.113.1", ua=CHROME, ref=None, embed=False, when=None):
    """Classify and store one view (no buffer); returns the View or None for a bot."""
    made = page_views.make_view(secret_key=SECRET, host_id=host.id,
                                event_type_id=event_type.id if event_type is not None else None, ip=ip,
                                user_agent=ua, referrer=ref, embed=embed, own_hosts=OWN, now=when or at(TODAY))
    if made is not None:
        page_views.write_views([made])
    return made


def book(host, event_type, created, *, source="page", status="CONFIRMED", group=None, moved=False, n=1):
    rows = []
    for i in range(n):
        start = created + timedelta(days=3 + i * 7)
        rows.append(factories.booking_row(
            event_type, start, name="Ivy", email=f"ivy{i}@example.com", status=status, source=source,
            created_at=created, recurring_group_id=group,
            previous_start_at=start - timedelta(days=1) if moved else None,
            cancelled_at=created if status == "CANCELLED" else None))
    return rows


@pytest.fixture
def host(make_user, db_conn):
    return make_user("alice", plan="PRO")


@pytest.fixture
def types(host):
    from app.models import EventType
    from app.services.scheduling import event_types as et
    thirty = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    coaching = et.create_event_type(host, et.EventTypeInput(name="Coaching", slug="coaching", duration=60))
    return thirty, coaching


@pytest.fixture
def seeded(host, types):
    """Two 7-day periods of traffic and bookings with hand-counted results (see the assertions)."""
    thirty, coaching = types
    # -- this period: TODAY-6 .. TODAY
    view(host, ip="10.0.0.1")                                                      # A arrives on the profile (Direct)
    view(host, thirty, ip="10.0.0.1", ref="https://cal.example.com/alice")         # A moves to 30-min (internal)
    view(host, thirty, ip="10.0.0.1", ref="https://cal.example.com/alice/30-min")  # A reloads (internal)
    view(host, thirty, ip="10.0.0.2", ref="https://www.google.com/search?q=x")     # B from google
    view(host, coaching, ip="10.0.0.1", ref="https://www.linkedin.com/feed/", when=at(ago(1)))  # A again, next day
    view(host, thirty, ip="10.0.0.3", ref="https://google.com/", when=at(ago(2)))  # C from google
    view(host, thirty, ip="10.0.0.3", ref="https://google.com/", when=at(ago(6), 0, 1))  # C, first day of period
    assert view(host, thirty, ip="66.249.66.1",
                ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)") is None
    view(host, thirty, ip="10.0.0.9", ref="https://partner.example.org/", embed=True)  # embedded widget
    # -- previous period: TODAY-13 .. TODAY-7
    view(host, ip="10.0.1.1", ref="https://twitter.com/x", when=at(ago(10)))
    view(host, ip="10.0.1.2", when=at(ago(10)))
    view(host, thirty, ip="10.0.1.3", when=at(ago(7), 23, 59))                    # last day of the previous period
    view(host, thirty, ip="10.0.1.4", when=at(ago(14)))                           # before both periods
    # -- bookings
    book(host, thirty, at(TODAY, 13))                                             # page booking
    book(host, thirty, at(ago(1), 9), status="CANCELLED")                         # cancelled later: still a conversion
    book(host, coaching, at(ago(1), 10), group="series1", n=3)                    # a series of 3: one conversion
    book(host, thirty, at(TODAY, 8), source="api")                                # not a page conversion
    book(host, thirty, at(TODAY, 9), source="embed")                              # an embed conversion
    book(host, thirty, at(ago(8)), moved=True)                                    # previous period
    book(host, thirty, at(ago(7), 0, 0))                                          # previous period (its last day)
    book(host, thirty, at(ago(20)))                                               # outside both
    return thirty, coaching


# --- the Page Views numbers ----------------------------------------------------------------------------
def test_page_analytics_numbers_are_exact_on_seeded_data(host, seeded):
    _thirty, _coaching = seeded
    data = analytics.page_analytics(host, "7d", today=TODAY)
    expected_trend = {ago(6): (1, 1), ago(2): (1, 1), ago(1): (1, 1), TODAY: (4, 2)}
    assert data.to_api() == {
        "stats": {"totalViews": 7, "uniqueVisitors": 5},
        "trend": [{"date": d.isoformat(), "views": expected_trend.get(d, (0, 0))[0],
                   "uniqueVisitors": expected_trend.get(d, (0, 0))[1]} for d in (ago(i) for i in range(6, -1, -1))],
        "referrers": [{"referrer": "google.com", "count": 3}, {"referrer": "Direct", "count": 1},
                      {"referrer": "linkedin.com", "count": 1}],
        "conversion": {"visitors": 5, "bookings": 3, "conversionRate": 60.0},
        "eventConversions": [
            {"slug": "30-min", "eventName": "30 Minute Meeting", "views": 5, "uniqueVisitors": 4, "bookings": 2,
             "conversionRate": 50.0},
            {"slug": "coaching", "eventName": "Coaching", "views": 1, "uniqueVisitors": 1, "bookings": 1,
             "conversionRate": 100.0},
        ],
        "previousPeriod": {"totalViews": 3, "uniqueVisitors": 3, "conversionRate": 66.7},
        "preset": "7d",
        "maxDays": 90,
    }


def test_referrer_shares_top_referrer_and_changes(host, seeded):
    data = analytics.page_analytics(host, "7d", today=TODAY)
    assert data.referrer_total == 5
    assert [(r, n, data.referrer_share(n)) for r, n in data.referrers] == [
        ("google.com", 3, 60.0), ("Direct", 1, 20.0), ("linkedin.com", 1, 20.0)]
    assert data.top_referrer == ("google.com", 3)
    # views 7 vs 3, visitors 5 vs 3, rate 60.0 vs 66.7, google 3 vs 0 (no comparison possible)
    assert data.changes == {"views": 133.3, "visitors": 66.7, "conversion": -10.0, "top_referrer": None}


def test_embedded_views_and_bookings_are_kept_apart(host, seeded):
    data = analytics.page_analytics(host, "7d", today=TODAY)
    assert (data.embed_views, data.embed_visitors, data.embed_bookings, data.embed_conversion_rate) == (1, 1, 1, 100.0)
    assert "partner.example.org" not in dict(data.referrers)


def test_single_event_stats_by_slug(host, seeded):
    assert analytics.event_stats_by_slug(host, "30-min", "7d", today=TODAY).to_api() == {
        "totalViews": 5, "uniqueVisitors": 4, "bookings": 2, "conversionRate": 50.0}
    assert analytics.event_stats_by_slug(host, "COACHING", "7d", today=TODAY).to_api() == {
        "totalViews": 1, "uniqueVisitors": 1, "bookings": 1, "conversionRate": 100.0}
    with pytest.raises(NotFound):
        analytics.event_stats_by_slug(host, "nope", "7d", today=TODAY)


def test_another_hosts_event_type_is_not_found(host, seeded, make_user):
    bob = make_user("bob")
    with pytest.raises(NotFound):
        analytics.event_stats_by_slug(bob, "coaching", today=TODAY)
    assert analytics.page_analytics(bob, "7d", today=TODAY).total_views == 0


def test_event_performance_card_covers_the_last_30_days(host, seeded):
    thirty, _coaching = seeded
    card = analytics.event_performance(thirty, today=TODAY)
    # 30 days: this period's 5 views + ago(7), ago(14) = 7 views by 6 visitors; bookings ago(0), ago(1), ago(7),
    # ago(8), ago(20) made through the page = 5 (the api and embed ones are not page conversions)
    assert card.to_api() == {"totalViews": 7, "uniqueVisitors": 6, "bookings": 5, "conversionRate": 83.3}
    assert card.has_data
    from app.services.scheduling import event_types as et
    quiet = et.create_event_type(host, et.EventTypeInput(name="Quiet", slug="quiet", duration=15))
    assert not analytics.event_performance(quiet, today=TODAY).has_data


def test_deleted_event_types_keep_counting_in_the_totals(host, seeded):
    _thirty, coaching = seeded
    from app.services.scheduling import event_types as et
    et.delete_event_type(coaching)
    data = analytics.page_analytics(host, "7d", today=TODAY)
    assert data.total_views == 7
    assert [row.slug for row in data.events] == ["30-min"]


# --- presets and plan caps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("plan", "preset", "days", "capped"), [
    ("FREE", "7d", 7, False), ("FREE", "30d", 30, False), ("FREE", "90d", 30, True), ("FREE", "year", 30, True),
    ("PRO", "90d", 90, False), ("PRO", "year", 90, True), ("BUSINESS", "year", 365, False),
    ("BUSINESS", "1y", 365, False), ("ORGANIZATION", "year", 365, False),
])
def test_presets_are_capped_by_plan(make_user, db_conn, plan, preset, days, capped):
    user = make_user("carol", plan=plan)
    data = analytics.page_analytics(user, preset, today=TODAY)
    assert (data.period.days, data.period.capped) == (days, capped)
    assert len(data.trend) == days and data.trend[-1][0] == TODAY and data.trend[0][0] == TODAY - timedelta(days - 1)
    assert data.to_api()["maxDays"] == {"FREE": 30, "PRO": 90}.get(plan, 365)
    assert data.to_api()["preset"] == ("year" if preset == "1y" else preset)
    # the previous period has the capped length too
    assert data.period.previous.days == days and data.period.previous.end == data.period.start - timedelta(days=1)


def test_a_view_older_than_the_plan_window_is_not_shown(make_user, db_conn):
    free, business = make_user("fay", plan="FREE"), make_user("bea", plan="BUSINESS")
    for user in (free, business):
        view(user, when=at(ago(45)))
    assert analytics.page_analytics(free, "90d", today=TODAY).total_views == 0
    assert analytics.page_analytics(business, "90d", today=TODAY).total_views == 1
    assert analytics.page_analytics(business, "30d", today=TODAY).total_views == 0


@pytest.mark.parametrize("bad", ["14d", "all", "7", "year2", "<script>"])
def test_an_unknown_preset_is_a_validation_error(host, bad):
    with pytest.raises(ValidationFailed) as info:
        analytics.page_analytics(host, bad, today=TODAY)
    assert "preset" in info.value.errors


def test_default_preset_is_30_days(host):
    assert analytics.page_analytics(host, None, today=TODAY).period.days == 30
    assert analytics.page_analytics(host, "", today=TODAY).period.preset == "30d"


def test_rate_and_change():
    assert analytics.rate(62, 480) == 12.9
    assert analytics.rate(3, 0) == 0.0
    assert analytics.change(1250, 1100) == 13.6
    assert analytics.change(3, 4) == -25.0
    assert analytics.change(5, 0) is None
    assert analytics.change(0, 0) is None


# --- classification ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0", "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3", "Go-http-client/1.1", "okhttp/4.12.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "UptimeRobot/2.0", "", None, "x",
])
def test_obvious_bots_are_not_counted(ua):
    assert page_views.is_bot(ua)
    assert page_views.make_view(secret_key=SECRET, host_id="h", event_type_id=None, ip="1.2.3.4", user_agent=ua,
                                referrer=None, embed=False, own_hosts=OWN) is None


@pytest.mark.parametrize("ua", [
    CHROME, FIREFOX,
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0"),
    ("Mozilla/5.0 (Linux; Android 13; Cubot KingKong Power) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"),
])
def test_browsers_are_counted(ua):
    assert not page_views.is_bot(ua)


@pytest.mark.parametrize(("referrer", "label"), [
    (None, "Direct"), ("", "Direct"), ("https://www.google.com/search?q=cal", "google.com"),
    ("https://www.linkedin.com/in/someone", "linkedin.com"), ("http://t.co/abc", "t.co"),
    ("https://News.Ycombinator.com./item?id=1", "news.ycombinator.com"),
    ("https://cal.example.com/alice", None), ("https://cal.example.com:8443/alice/30-min", None),
    ("android-app://com.google.android.gm/", "com.google.android.gm"),
    ("javascript:alert(1)", "Direct"), ("not a url", "Direct"), ("http://[::1", "Direct"),
    ("https://" + "a" * 300 + ".com/", "Direct"), ("https://" + "a" * 240 + ".com/", "a" * 240 + ".com"),
    ("https://goo\x00gle.com/", "Direct"), ("https://exa mple.com/", "Direct"), ("https://bücher.de/", "Direct"),
    ("https://xn--bcher-kva.de/", "xn--bcher-kva.de"),
])
def test_referrer_is_reduced_to_its_domain(referrer, label):
    assert page_views.referrer_label(referrer, OWN) == label


def test_visitor_id_rotates_daily_and_differs_per_host_and_client():
    day, next_day = date(2026, 3, 10), date(2026, 3, 11)
    a = page_views.visitor_id(SECRET, day, "host1", "10.0.0.1", CHROME)
    assert a == page_views.visitor_id(SECRET, day, "host1", "10.0.0.1", CHROME)
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != page_views.visitor_id(SECRET, next_day, "host1", "10.0.0.1", CHROME)      # rotates at midnight UTC
    assert a != page_views.visitor_id(SECRET, day, "host2", "10.0.0.1", CHROME)           # not linkable across hosts
    assert a != page_views.visitor_id(SECRET, day, "host1", "10.0.0.2", CHROME)
    assert a != page_views.visitor_id(SECRET, day, "host1", "10.0.0.1", FIREFOX)
    assert a != page_views.visitor_id("another-secret", day, "host1", "10.0.0.1", CHROME)  # salted by SECRET_KEY
    assert "10.0.0.1" not in a


def test_the_same_visitor_counts_once_a_day_and_again_the_next_day(host, types):
    thirty, _ = types
    late = datetime.combine(ago(1), time(23, 59, 59), UTC)
    for when in (at(ago(1), 9), at(ago(1), 15), late, at(TODAY, 0, 0)):
        view(host, thirty, ip="10.9.9.9", when=when)
    data = analytics.page_analytics(host, "7d", today=TODAY)
    assert [(d, v, u) for d, v, u in data.trend if v] == [(ago(1), 3, 1), (TODAY, 1, 1)]
    assert (data.total_views, data.unique_visitors) == (4, 2)


# --- writing: buffer, rollups, purge ------------------------------------------------------------------------
def _rollups():
    from app.models import PageViewDaily, PageViewReferrer
    daily = sorted((r.user_id, r.page, r.embed, r.day, r.views, r.visitors) for r in PageViewDaily.select())
    refs = sorted((r.user_id, r.embed, r.day, r.referrer, r.views) for r in PageViewReferrer.select())
    return daily, refs


def test_rollups_written_at_flush_equal_a_rebuild_from_the_raw_views(host, seeded):
    before = _rollups()
    assert before[0] and before[1]
    page_views.rebuild_rollups()
    assert _rollups() == before
    page_views.rebuild_rollups(host.id)
    assert _rollups() == before


def test_a_visitor_seen_in_an_earlier_batch_is_not_counted_twice(host, types):
    thirty, _ = types
    made = [page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=thirty.id, ip="10.1.1.1",
                                 user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN, now=at(TODAY, h))
            for h in (8, 9, 10)]
    page_views.write_views(made[:1])
    page_views.write_views(made[1:])   # a later batch (or another process) sees the same visitor
    stats = analytics.event_stats_by_slug(host, "30-min", "7d", today=TODAY)
    assert (stats.total_views, stats.unique_visitors) == (3, 1)


def test_recorder_buffers_views_and_flush_writes_them(host, types):
    thirty, _ = types
    recorder = page_views.Recorder(batch_size=2, interval=60)
    recorder.close()
    for i in range(5):
        recorder.add(page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=thirty.id,
                                          ip=f"10.2.0.{i % 3}", user_agent=CHROME, referrer=None, embed=False,
                                          own_hosts=OWN, now=at(TODAY, 10 + i)))
    from app.models import PageView
    assert recorder.pending() + PageView.select().count() == 5
    recorder.flush()
    recorder.close()
    assert recorder.pending() == 0
    assert PageView.select().count() == 5
    stats = analytics.event_stats_by_slug(host, "30-min", "7d", today=TODAY)
    assert (stats.total_views, stats.unique_visitors) == (5, 3)


def test_recorder_thread_writes_within_its_interval(host, types, app):
    from app.models import PageView
    thirty, _ = types
    recorder = page_views.Recorder(batch_size=100, interval=0.05)
    recorder.add(page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=thirty.id, ip="10.3.0.1",
                                      user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN))
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while recorder.pending() and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    recorder.flush()   # waits for a write the thread may still be doing
    recorder.close()
    assert recorder.pending() == 0 and PageView.select().count() == 1


def test_recorder_keeps_views_when_the_write_fails(host, types, monkeypatch):
    thirty, _ = types
    recorder = page_views.Recorder(batch_size=10, interval=60)
    recorder.close()   # no background thread: this test drives flush() alone
    recorder.add(page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=thirty.id, ip="10.4.0.1",
                                      user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN))

    def away(_views):
        raise peewee.OperationalError("database away")
    monkeypatch.setattr(page_views, "write_views", away)
    with pytest.raises(peewee.OperationalError):
        recorder.flush()
    assert recorder.pending() == 1
    monkeypatch.undo()
    assert recorder.flush() == 1


def test_a_batch_the_database_refuses_is_dropped_without_blocking_later_views(host, types, monkeypatch):
    from app.models import PageView
    recorder = page_views.Recorder(batch_size=1, interval=60)
    recorder.close()
    for ip in ("10.4.1.1", "10.4.1.2"):
        recorder.add(page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=None, ip=ip,
                                          user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN))
    real = page_views.write_views
    calls = []

    def refuse_first(views):
        calls.append(len(views))
        if len(calls) == 1:
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        real(views)
    monkeypatch.setattr(page_views, "write_views", refuse_first)
    assert recorder.flush() == 1
    assert (recorder.pending(), recorder.dropped, PageView.select().count()) == (0, 1, 1)


def test_views_of_a_host_deleted_before_the_flush_are_dropped(host, types, make_user):
    from app.models import PageView, User
    bob = make_user("bob")
    views = [page_views.make_view(secret_key=SECRET, host_id=user.id, event_type_id=None, ip="10.7.0.1",
                                  user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN)
             for user in (bob, host)]
    User.delete().where(User.id == bob.id).execute()
    page_views.write_views(views)
    assert [v.user_id for v in PageView.select()] == [host.id]


def test_recorder_drops_views_beyond_its_memory_bound(host):
    recorder = page_views.Recorder(batch_size=1000, interval=60, max_buffer=3)
    recorder.close()
    for i in range(5):
        recorder.add(page_views.make_view(secret_key=SECRET, host_id=host.id, event_type_id=None, ip=f"10.5.0.{i}",
                                          user_agent=CHROME, referrer=None, embed=False, own_hosts=OWN))
    assert (recorder.pending(), recorder.dropped) == (3, 2)
    recorder.flush()


def test_purge_drops_finished_visitor_sets_and_views_older_than_two_years(host, types):
    from app.models import PageView, PageViewDaily, PageVisitor
    thirty, _ = types
    view(host, thirty, ip="10.6.0.1", when=at(TODAY))
    view(host, thirty, ip="10.6.0.1", when=at(ago(1)))
    view(host, thirty, ip="10.6.0.1", when=at(ago(2)))
    view(host, thirty, ip="10.6.0.1", when=at(ago(page_views.KEEP_DAYS + 1)))
    counts = page_views.purge(today=TODAY)
    assert counts["views"] == 1 and counts["visitors"] == 2 * 2   # ago(2) and the old day, each for 2 pages
    assert {v.day for v in PageVisitor.select()} == {TODAY, ago(1)}
    assert PageView.select().count() == 3
    # the counts of purged visitor sets stay in the rollups
    assert analytics.page_analytics(host, "7d", today=TODAY).unique_visitors == 3
    assert not PageViewDaily.select().where(PageViewDaily.day < ago(page_views.KEEP_DAYS)).exists()


# --- the Bookings tab -------------------------------------------------------------------------------------
def test_booking_analytics_counts_bookings_made_in_the_period(host, seeded):
    data = analytics.booking_analytics(host, "7d", today=TODAY)
    # made this period: 30-min page (today), cancelled (ago 1), coaching series x3 (ago 1), api, embed = 7 rows
    c = data.current
    assert (c.total, c.confirmed, c.cancelled, c.rescheduled) == (7, 6, 1, 0)
    p = data.previous
    assert (p.total, p.confirmed, p.cancelled, p.rescheduled) == (2, 2, 0, 1)
    assert data.changes == {"total": 250.0, "confirmed": 200.0, "cancelled": None, "rescheduled": -100.0}
    assert [(row.name, row.counts.total, row.counts.cancelled) for row in data.events] == [
        ("30 Minute Meeting", 4, 1), ("Coaching", 3, 0)]
    assert data.sources == [("page", 5), ("api", 1), ("embed", 1)]
    by_day = {d: (n, cancelled) for d, n, cancelled in data.trend if n}
    assert by_day == {TODAY: (3, 0), ago(1): (4, 1)}
    assert len(data.trend) == 7
