"""Page analytics (spec page 22): the numbers the Analytics dashboard, the event type card and
``/api/analytics/page-views`` show, read from the daily rollups ``app/services/insights/page_views.py`` keeps; and the
booking numbers of the dashboard's Bookings tab.

Conversions
    Bookings made through the public booking pages (``source == "page"``) in the period, one per booking
    action (a recurring series counts once), whatever happened to them later. Bookings made inside embedded
    widgets are counted with the embedded views, which are kept separately; API bookings are not page
    conversions. Conversion rate = bookings / unique visitors x 100, one decimal (0.0 without visitors).

Routing forms
    Each form's funnel in the period: views of its page (on the site and in embeds), submissions (responses
    stored), and bookings (those responses that led to a booking). Submissions and bookings are counted by when
    the form was submitted. Conversion rate = bookings / unique visitors of the form x 100.

Periods
    Days are UTC dates; a preset of N days is the N days ending today (UTC), and its previous period the N
    days before that. Presets are capped by the plan's ``analytics_days`` (Free 30, Pro 90, Business 365).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import peewee

from app.models import Booking, EventType, RoutingForm, RoutingResponse
from app.models.analytics import ALL_PAGES, PageViewDaily, PageViewReferrer
from app.services.errors import NotFound, ValidationFailed
from app.services.insights.page_views import FORM_PAGE, as_date, form_page
from app.services.plans import PLAN_LABELS, effective_plan, limits_for

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "year": 365}
PRESET_LABELS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "year": "Last year"}
PRESET_ALIASES = {"1y": "year", "365d": "year"}
DEFAULT_PRESET = "30d"
PERFORMANCE_DAYS = 30          # the event type card
TOP_REFERRERS = 10
CONVERSION_SOURCES = ("page",)
EMBED_SOURCES = ("embed",)
SLUG_RE = re.compile(r"[a-z0-9_-]{1,100}")


# --- periods ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    preset: str
    requested_days: int
    max_days: int
    start: date              # first day, inclusive
    end: date                # last day, inclusive (today)
    plan: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def capped(self) -> bool:
        return self.requested_days > self.max_days

    @property
    def previous(self) -> Period:
        length = timedelta(days=self.days)
        return Period(self.preset, self.requested_days, self.max_days, self.start - length,
                      self.start - timedelta(days=1), self.plan)

    @property
    def label(self) -> str:
        return PRESET_LABELS[self.preset] if not self.capped else f"Last {self.days} days"

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def instants(self) -> tuple[datetime, datetime]:
        """[start, end) as UTC instants."""
        return (datetime.combine(self.start, time(0), UTC),
                datetime.combine(self.end + timedelta(days=1), time(0), UTC))


def normalize_preset(value: str | None) -> str:
    """A known preset name (``7d``, ``30d``, ``90d``, ``year``; ``1y`` means ``year``); empty is the default."""
    raw = (value or "").strip().lower()
    if not raw:
        return DEFAULT_PRESET
    preset = PRESET_ALIASES.get(raw, raw)
    if preset not in PRESETS:
        raise ValidationFailed({"preset": "Choose one of 7d, 30d, 90d or year."})
    return preset


def period_for(user, preset: str | None, today: date | None = None, days: int | None = None) -> Period:
    preset = normalize_preset(preset)
    today = today or datetime.now(UTC).date()
    max_days = limits_for(user).analytics_days
    requested = days or PRESETS[preset]
    length = min(requested, max_days)
    return Period(preset=preset, requested_days=requested, max_days=max_days,
                  start=today - timedelta(days=length - 1), end=today, plan=PLAN_LABELS[effective_plan(user)])


# --- queries ---------------------------------------------------------------------------------------------
def rate(bookings: int, visitors: int) -> float:
    return round(bookings * 100.0 / visitors, 1) if visitors else 0.0


def change(current: float, previous: float) -> float | None:
    """Percent change against the previous period; None when there is nothing to compare with."""
    if not previous:
        return None
    return round((current - previous) * 100.0 / previous, 1)


def _daily(user_id: str, period: Period, page: str = ALL_PAGES, embed: bool = False) -> dict[date, tuple[int, int]]:
    rows = (PageViewDaily.select(PageViewDaily.day, PageViewDaily.views, PageViewDaily.visitors)
            .where((PageViewDaily.user == user_id) & (PageViewDaily.page == page) & (PageViewDaily.embed == embed)
                   & PageViewDaily.day.between(period.start, period.end))
            .tuples())
    return {as_date(d): (v, u) for d, v, u in rows}


def _totals(user_id: str, period: Period, page: str = ALL_PAGES, embed: bool = False) -> tuple[int, int]:
    row = (PageViewDaily.select(peewee.fn.COALESCE(peewee.fn.SUM(PageViewDaily.views), 0),
                                peewee.fn.COALESCE(peewee.fn.SUM(PageViewDaily.visitors), 0))
           .where((PageViewDaily.user == user_id) & (PageViewDaily.page == page) & (PageViewDaily.embed == embed)
                  & PageViewDaily.day.between(period.start, period.end))
           .tuples().first())
    return int(row[0]), int(row[1])


def _per_page(user_id: str, period: Period) -> dict[str, tuple[int, int]]:
    rows = (PageViewDaily.select(PageViewDaily.page, peewee.fn.SUM(PageViewDaily.views),
                                 peewee.fn.SUM(PageViewDaily.visitors))
            .where((PageViewDaily.user == user_id) & (PageViewDaily.page != ALL_PAGES)
                   & (PageViewDaily.embed == False)
                   & PageViewDaily.day.between(period.start, period.end))
            .group_by(PageViewDaily.page).tuples())
    return {page: (int(v), int(u)) for page, v, u in rows}


def _referrers(user_id: str, period: Period) -> list[tuple[str, int]]:
    total = peewee.fn.SUM(PageViewReferrer.views)
    rows = (PageViewReferrer.select(PageViewReferrer.referrer, total)
            .where((PageViewReferrer.user == user_id) & (PageViewReferrer.embed == False)
                   & PageViewReferrer.day.between(period.start, period.end))
            .group_by(PageViewReferrer.referrer).tuples())
    return sorted(((r, int(n)) for r, n in rows), key=lambda item: (-item[1], item[0]))


def _bookings(user_id: str, period: Period, sources: tuple[str, ...],
              event_type_id: str | None = None) -> dict[str | None, int]:
    """Booking actions (a recurring series counts once) made in the period, per event type."""
    start, end = period.instants()
    actions = peewee.fn.COUNT(peewee.fn.COALESCE(Booking.recurring_group_id, Booking.id).distinct())
    where = ((Booking.user == user_id) & (Booking.created_at >= start) & (Booking.created_at < end)
             & Booking.source.in_(sources))
    if event_type_id is not None:
        where &= Booking.event_type == event_type_id
    rows = Booking.select(Booking.event_type, actions).where(where).group_by(Booking.event_type).tuples()
    return {et: int(n) for et, n in rows}


@dataclass
class EventRow:
    event_type_id: str
    slug: str
    name: str
    views: int
    visitors: int
    bookings: int

    @property
    def conversion_rate(self) -> float:
        return rate(self.bookings, self.visitors)

    def to_api(self) -> dict:
        return {"slug": self.slug, "eventName": self.name, "views": self.views, "uniqueVisitors": self.visitors,
                "bookings": self.bookings, "conversionRate": self.conversion_rate}


@dataclass
class FormRow:
    form_id: str
    slug: str
    name: str
    published: bool
    views: int
    visitors: int
    submissions: int
    bookings: int

    @property
    def submission_rate(self) -> float:
        return rate(self.submissions, self.visitors)

    @property
    def conversion_rate(self) -> float:
        return rate(self.bookings, self.visitors)


def _form_views(user_id: str, period: Period) -> dict[str, tuple[int, int]]:
    """Views and unique visitors per routing form (page key ``form:<id>``), embedded views included."""
    rows = (PageViewDaily.select(PageViewDaily.page, peewee.fn.SUM(PageViewDaily.views),
                                 peewee.fn.SUM(PageViewDaily.visitors))
            .where((PageViewDaily.user == user_id) & PageViewDaily.page.startswith(FORM_PAGE)
                   & PageViewDaily.day.between(period.start, period.end))
            .group_by(PageViewDaily.page).tuples())
    return {page: (int(v), int(u)) for page, v, u in rows}


def form_funnels(user, period: Period) -> list[FormRow]:
    """Each of the user's routing forms: views -> submissions -> bookings in ``period``."""
    forms = list(RoutingForm.select(RoutingForm.id, RoutingForm.slug, RoutingForm.name, RoutingForm.published)
                 .where(RoutingForm.user == user.id).order_by(RoutingForm.created_at))
    if not forms:
        return []
    start, end = period.instants()
    booked = peewee.fn.COUNT(RoutingResponse.booking)
    counts = {form_id: (int(n), int(b)) for form_id, n, b in
              RoutingResponse.select(RoutingResponse.form, peewee.fn.COUNT(RoutingResponse.id), booked)
              .where(RoutingResponse.form.in_([f.id for f in forms]) & (RoutingResponse.created_at >= start)
                     & (RoutingResponse.created_at < end))
              .group_by(RoutingResponse.form).tuples()}
    views = _form_views(user.id, period)
    return [FormRow(f.id, f.slug, f.name, f.published, *views.get(form_page(f.id), (0, 0)),
                    *counts.get(f.id, (0, 0))) for f in forms]


@dataclass
class PageAnalytics:
    period: Period
    total_views: int
    unique_visitors: int
    bookings: int
    trend: list[tuple[date, int, int]]
    referrers: list[tuple[str, int]]          # the top ones, most arrivals first
    referrer_total: int                       # arrivals from every referrer (the percentages' base)
    events: list[EventRow]
    previous_views: int
    previous_visitors: int
    previous_bookings: int
    previous_referrers: dict[str, int] = field(default_factory=dict)
    embed_views: int = 0
    embed_visitors: int = 0
    embed_bookings: int = 0
    forms: list[FormRow] = field(default_factory=list)   # the routing forms' funnels

    @property
    def conversion_rate(self) -> float:
        return rate(self.bookings, self.unique_visitors)

    @property
    def previous_conversion_rate(self) -> float:
        return rate(self.previous_bookings, self.previous_visitors)

    @property
    def top_referrer(self) -> tuple[str, int] | None:
        return self.referrers[0] if self.referrers else None

    @property
    def embed_conversion_rate(self) -> float:
        return rate(self.embed_bookings, self.embed_visitors)

    def referrer_share(self, count: int) -> float:
        return round(count * 100.0 / self.referrer_total, 1) if self.referrer_total else 0.0

    @property
    def changes(self) -> dict[str, float | None]:
        top = self.top_referrer
        return {"views": change(self.total_views, self.previous_views),
                "visitors": change(self.unique_visitors, self.previous_visitors),
                "conversion": change(self.conversion_rate, self.previous_conversion_rate),
                "top_referrer": change(top[1], self.previous_referrers.get(top[0], 0)) if top else None}

    @property
    def has_data(self) -> bool:
        return bool(self.total_views or self.previous_views or self.bookings or self.embed_views)

    def to_api(self) -> dict:
        """Exactly the response of ``GET /api/analytics/page-views`` (spec page 22)."""
        return {
            "stats": {"totalViews": self.total_views, "uniqueVisitors": self.unique_visitors},
            "trend": [{"date": d.isoformat(), "views": v, "uniqueVisitors": u} for d, v, u in self.trend],
            "referrers": [{"referrer": r, "count": n} for r, n in self.referrers],
            "conversion": {"visitors": self.unique_visitors, "bookings": self.bookings,
                           "conversionRate": self.conversion_rate},
            "eventConversions": [row.to_api() for row in self.events],
            "previousPeriod": {"totalViews": self.previous_views, "uniqueVisitors": self.previous_visitors,
                               "conversionRate": self.previous_conversion_rate},
            "preset": self.period.preset,
            "maxDays": self.period.max_days,
        }


def page_analytics(user, preset: str | None = None, today: date | None = None) -> PageAnalytics:
    period = period_for(user, preset, today)
    previous = period.previous
    daily = _daily(user.id, period)
    trend = [(d, *daily.get(d, (0, 0))) for d in period.dates()]
    views = sum(v for _d, v, _u in trend)
    visitors = sum(u for _d, _v, u in trend)
    prev_views, prev_visitors = _totals(user.id, previous)
    booked = _bookings(user.id, period, CONVERSION_SOURCES)
    prev_booked = _bookings(user.id, previous, CONVERSION_SOURCES)
    referrers = _referrers(user.id, period)
    top = referrers[:TOP_REFERRERS]
    previous_refs = dict(_referrers(user.id, previous)) if top else {}
    per_page = _per_page(user.id, period)
    event_types = list(EventType.select(EventType.id, EventType.slug, EventType.name, EventType.status,
                                        EventType.position, EventType.created_at)
                       .where((EventType.user == user.id) & EventType.personal())
                       .order_by(EventType.position, EventType.created_at))
    events = [EventRow(et.id, et.slug, et.name, *per_page.get(et.id, (0, 0)), booked.get(et.id, 0))
              for et in event_types
              if et.status == "active" or et.id in per_page or booked.get(et.id)]
    events.sort(key=lambda row: (-row.views, -row.bookings, row.name.lower()))
    embed_views, embed_visitors = _totals(user.id, period, embed=True)
    return PageAnalytics(
        period=period, total_views=views, unique_visitors=visitors, bookings=sum(booked.values()), trend=trend,
        referrers=top, referrer_total=sum(n for _r, n in referrers), events=events,
        previous_views=prev_views, previous_visitors=prev_visitors, previous_bookings=sum(prev_booked.values()),
        previous_referrers=previous_refs, embed_views=embed_views, embed_visitors=embed_visitors,
        embed_bookings=sum(_bookings(user.id, period, EMBED_SOURCES).values()),
        forms=form_funnels(user, period))


@dataclass
class EventStats:
    total_views: int
    unique_visitors: int
    bookings: int

    @property
    def conversion_rate(self) -> float:
        return rate(self.bookings, self.unique_visitors)

    @property
    def has_data(self) -> bool:
        return bool(self.total_views or self.bookings)

    def to_api(self) -> dict:
        """Exactly the response of ``GET /api/analytics/page-views/<slug>`` (spec page 22)."""
        return {"totalViews": self.total_views, "uniqueVisitors": self.unique_visitors, "bookings": self.bookings,
                "conversionRate": self.conversion_rate}


def event_stats(event_type: EventType, period: Period) -> EventStats:
    views, visitors = _totals(event_type.user_id, period, page=event_type.id)
    booked = _bookings(event_type.user_id, period, CONVERSION_SOURCES, event_type_id=event_type.id)
    return EventStats(views, visitors, booked.get(event_type.id, 0))


def event_stats_by_slug(user, slug: str, preset: str | None = None, today: date | None = None) -> EventStats:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.fullmatch(slug):     # what no event type can be called (e.g. a NUL byte) is simply not found
        raise NotFound("Event type not found")
    event_type = EventType.get_or_none((EventType.user == user.id) & (EventType.slug == slug)
                                       & EventType.personal())
    if event_type is None:
        raise NotFound("Event type not found")
    return event_stats(event_type, period_for(user, preset, today))


def event_performance(event_type: EventType, today: date | None = None) -> EventStats:
    """The edit page's card: the last 30 days (within the plan's window)."""
    return event_stats(event_type, period_for(event_type.user, DEFAULT_PRESET, today, days=PERFORMANCE_DAYS))


# --- the Bookings tab ------------------------------------------------------------------------------------
SOURCE_LABELS = {"page": "Booking page", "embed": "Embedded widget", "api": "REST API",
                 "public-api": "Booking API"}


@dataclass
class BookingCounts:
    total: int = 0
    confirmed: int = 0
    cancelled: int = 0
    rescheduled: int = 0

    def add(self, status: str, rescheduled: bool, n: int) -> None:
        self.total += n
        if status == "CANCELLED":
            self.cancelled += n
        else:
            self.confirmed += n
        if rescheduled:
            self.rescheduled += n


@dataclass
class BookingRow:
    event_type_id: str | None
    name: str
    counts: BookingCounts


@dataclass
class NoShowRow:
    """An event type's meetings held in the period (confirmed, started by now) and how many invitees did not come."""
    event_type_id: str | None
    name: str
    held: int
    no_shows: int

    @property
    def rate(self) -> float:
        """No-shows / meetings held x 100, one decimal (0.0 without meetings)."""
        return round(self.no_shows * 100.0 / self.held, 1) if self.held else 0.0


@dataclass
class BookingAnalytics:
    period: Period
    current: BookingCounts
    previous: BookingCounts
    trend: list[tuple[date, int, int]]         # day, bookings made, of which cancelled since
    events: list[BookingRow]
    sources: list[tuple[str, int]]
    no_shows: list[NoShowRow] = field(default_factory=list)

    @property
    def no_show_totals(self) -> NoShowRow:
        return NoShowRow(None, "All event types", sum(r.held for r in self.no_shows),
                         sum(r.no_shows for r in self.no_shows))

    @property
    def changes(self) -> dict[str, float | None]:
        return {key: change(getattr(self.current, key), getattr(self.previous, key))
                for key in ("total", "confirmed", "cancelled", "rescheduled")}


def _booking_groups(user_id: str, period: Period):
    start, end = period.instants()
    return (Booking.select(Booking.event_type, Booking.event_name, Booking.status, Booking.source,
                           Booking.previous_start_at.is_null(False).alias("moved"), peewee.fn.COUNT(Booking.id))
            .where((Booking.user == user_id) & (Booking.created_at >= start) & (Booking.created_at < end))
            .group_by(Booking.event_type, Booking.event_name, Booking.status, Booking.source,
                      Booking.previous_start_at.is_null(False))
            .tuples())


def no_show_rates(user_id: str, period: Period, now: datetime | None = None) -> list[NoShowRow]:
    """Per event type: the confirmed meetings that started in the period (by now) and how many of them the host
    marked as no-shows (issue 23, point 5). Unlike the other booking numbers, these count meetings by their start,
    not bookings by when they were made. Event types without a meeting held are left out; most no-shows first."""
    start, end = period.instants()
    end = min(end, (now or datetime.now(UTC)))
    if end <= start:
        return []
    marked = peewee.fn.SUM(peewee.Case(None, [(Booking.no_show == True, 1)], 0))  # noqa: E712 (SQL)
    rows = (Booking.select(Booking.event_type, Booking.event_name, peewee.fn.COUNT(Booking.id), marked)
            .where((Booking.user == user_id) & (Booking.status == "CONFIRMED") & (Booking.start_at >= start)
                   & (Booking.start_at <= end))
            .group_by(Booking.event_type, Booking.event_name).tuples())
    per_type: dict[str | None, NoShowRow] = {}
    for et_id, name, held, no_shows in rows:
        row = per_type.setdefault(et_id, NoShowRow(et_id, name, 0, 0))
        row.held += int(held)
        row.no_shows += int(no_shows or 0)
    names = dict(EventType.select(EventType.id, EventType.name).where(EventType.user == user_id).tuples())
    for row in per_type.values():
        row.name = names.get(row.event_type_id, row.name) if row.event_type_id else f"{row.name} (deleted)"
    return sorted(per_type.values(), key=lambda r: (-r.rate, -r.held, r.name.lower()))


def booking_analytics(user, preset: str | None = None, today: date | None = None) -> BookingAnalytics:
    """Bookings made in the period (each occurrence of a series counts): how many, how many are still
    confirmed, cancelled since, or were moved; per event type and per source; with the previous period."""
    period = period_for(user, preset, today)
    current, previous = BookingCounts(), BookingCounts()
    per_event: dict[str | None, BookingRow] = {}
    sources: dict[str, int] = defaultdict(int)
    for et_id, name, status, source, moved, n in _booking_groups(user.id, period):
        current.add(status, bool(moved), n)
        row = per_event.setdefault(et_id, BookingRow(et_id, name, BookingCounts()))
        row.counts.add(status, bool(moved), n)
        sources[source] += n
    for _et, _name, status, _source, moved, n in _booking_groups(user.id, period.previous):
        previous.add(status, bool(moved), n)
    names = dict(EventType.select(EventType.id, EventType.name).where(EventType.user == user.id).tuples())
    for row in per_event.values():
        row.name = names.get(row.event_type_id, row.name) if row.event_type_id else f"{row.name} (deleted)"
    start, end = period.instants()
    day = peewee.fn.DATE(Booking.created_at)
    cancelled = peewee.fn.SUM(peewee.Case(None, [(Booking.status == "CANCELLED", 1)], 0))
    by_day = {as_date(d): (int(n), int(c)) for d, n, c in
              Booking.select(day, peewee.fn.COUNT(Booking.id), cancelled)
              .where((Booking.user == user.id) & (Booking.created_at >= start) & (Booking.created_at < end))
              .group_by(day).tuples()}
    trend = [(d, *by_day.get(d, (0, 0))) for d in period.dates()]
    events = sorted(per_event.values(), key=lambda r: (-r.counts.total, r.name.lower()))
    return BookingAnalytics(period=period, current=current, previous=previous, trend=trend, events=events,
                            sources=sorted(sources.items(), key=lambda item: (-item[1], item[0])),
                            no_shows=no_show_rates(user.id, period))
