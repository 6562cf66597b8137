"""Analytics → Bookings: the no-show rate per event type (no-shows among the confirmed meetings that started in the
period, by now)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.services.insights import analytics
from tests import factories

TODAY = date(2026, 3, 10)
NOW = datetime.combine(TODAY, time(15, 0), UTC)


def at(days_ago: int, hour: int = 10) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour), UTC)


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


def meeting(event_type, start, *, no_show=False, status="CONFIRMED", n=1):
    for i in range(n):
        factories.booking_row(event_type, start + timedelta(minutes=90 * i), email=f"i{i}@example.com", status=status,
                              no_show=no_show, no_show_at=start if no_show else None,
                              created_at=start - timedelta(days=20))


def test_rates_per_event_type_count_only_confirmed_meetings_held_in_the_period(host, types, make_user):
    thirty, coaching = types
    meeting(thirty, at(3), n=3)                        # held, came
    meeting(thirty, at(5), no_show=True)               # held, no-show: 1 of 4 = 25.0 %
    meeting(thirty, at(2), status="CANCELLED", n=2)    # cancelled: not a meeting held
    meeting(thirty, at(40), no_show=True)              # before the 30-day period
    meeting(thirty, NOW + timedelta(hours=2))          # later today: not held yet
    meeting(coaching, at(1), no_show=True, n=2)        # 2 of 3 = 66.7 %
    meeting(coaching, at(4))
    other = make_user("otto")
    meeting(factories.event_type(other), at(1), no_show=True)    # another host's
    period = analytics.period_for(host, "30d", TODAY)
    rows = analytics.no_show_rates(host.id, period, now=NOW)
    assert [(r.name, r.held, r.no_shows, r.rate) for r in rows] == [
        ("Coaching", 3, 2, 66.7), ("30 Minute Meeting", 4, 1, 25.0)]
    totals = analytics.BookingAnalytics(period, analytics.BookingCounts(), analytics.BookingCounts(), [], [], [],
                                        no_shows=rows).no_show_totals
    assert (totals.held, totals.no_shows, totals.rate) == (7, 3, 42.9)


def test_a_period_without_meetings_has_no_rows_and_a_zero_rate(host, types):
    period = analytics.period_for(host, "7d", TODAY)
    assert analytics.no_show_rates(host.id, period, now=NOW) == []
    assert analytics.NoShowRow(None, "x", 0, 0).rate == 0.0


def test_the_bookings_tab_data_carries_the_rates(host, types):
    thirty, _ = types
    # booking_analytics counts up to the real clock: meetings days before today (the real one) are held
    today = datetime.now(UTC).date()
    start = datetime.combine(today - timedelta(days=2), time(10), UTC)
    meeting(thirty, start, no_show=True)
    meeting(thirty, start + timedelta(hours=3))
    data = analytics.booking_analytics(host, "7d", today)
    assert [(r.name, r.held, r.no_shows, r.rate) for r in data.no_shows] == [("30 Minute Meeting", 2, 1, 50.0)]
