"""The booking page's view model: what the query string says about presentation (``ViewState``), the host's
branding, and the month calendar with a day's slots (``Picker``), shared by the public booking pages and the
invitee's reschedule page."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from flask import current_app, url_for

from app.datetimes import format_time
from app.models import EventType, User, UserLogo
from app.services import validation
from app.services.booking import seats
from app.services.integrations import calendars
from app.services.plans import limits_for
from app.services.scheduling.availability import group_by_day
from app.services.scheduling.event_types import LOCATION_TYPES, effective_schedule
from app.services.scheduling.out_of_office import Away, away_between, redirect_url_parts
from app.services.scheduling.slots import available_slots, booking_window
from app.timezones import canonical, is_valid_timezone, zone

TRUE = ("true", "1", "yes", "on")


# --- what the query string says about presentation ----------------------------------------------------------
@dataclass
class ViewState:
    tz: str
    hour: str                      # "12" | "24"
    embed: bool = False
    hide_header: bool = False
    name: str = ""
    email: str = ""
    duration: int | None = None    # None: the event type's own length
    detect: bool = False           # tz or hour missing from the URL: the browser may supply its own
    prefill: dict = field(default_factory=dict)   # q_<question id> -> answer(s), from a routing form
    routing: str = ""              # the signed routing-form response the visitor comes from

    def params(self, **changes) -> dict:
        """Query parameters that ride along in every link, with ``changes`` applied (None drops a key)."""
        out = {"tz": self.tz, "hour": self.hour}
        if self.duration:
            out["duration"] = self.duration
        if self.embed:
            out["embed"] = "true"
        if self.hide_header:
            out["hideHeader"] = "true"
        if self.name:
            out["name"] = self.name
        if self.email:
            out["email"] = self.email
        if self.routing:
            out["routing"] = self.routing
        out.update(self.prefill)
        out.update(changes)
        return {k: v for k, v in out.items() if v not in (None, "")}

    @property
    def hour12(self) -> bool:
        return self.hour == "12"


def view_state(args, default_tz: str, durations: list[int] | None = None) -> ViewState:
    tz = (args.get("tz") or "").strip()
    hour = args.get("hour", "")
    duration = None
    if durations:
        try:
            duration = int(args.get("duration", ""))
        except ValueError:
            duration = None
        if duration not in durations or duration == durations[0]:
            duration = None
    return ViewState(tz=canonical(tz) if is_valid_timezone(tz) else default_tz,
                     hour=hour if hour in ("12", "24") else "24",
                     embed=args.get("embed", "").lower() in TRUE,
                     hide_header=args.get("hideHeader", "").lower() in TRUE,
                     name=(args.get("name") or "")[:200], email=(args.get("email") or "")[:254],
                     duration=duration, detect=not is_valid_timezone(tz) or hour not in ("12", "24"),
                     prefill=_prefill(args), routing=(args.get("routing") or "")[:200])


MAX_PREFILL = 10


def _prefill(args) -> dict:
    """The answers a routing form passed on (``q_<question id>``, several values for a multi-select), bounded."""
    getlist = getattr(args, "getlist", lambda key: [args[key]])
    out = {}
    for key in args:
        if key.startswith("q_") and len(key) <= 40 and len(out) < MAX_PREFILL:
            values = [value[:500] for value in getlist(key) if value][:50]
            if values:
                out[key] = values if len(values) > 1 else values[0]
    return out


def text_on(color: str) -> str:
    """Black or white, whichever reads better on ``color`` (#rrggbb)."""
    try:
        r, g_, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    except (ValueError, TypeError):
        return "#ffffff"
    return "#111827" if (0.299 * r + 0.587 * g_ + 0.114 * b) > 160 else "#ffffff"


def color_style(color: str | None) -> str:
    """The CSS variables of a brand colour (#rrggbb; the default blue otherwise)."""
    color = color if color and len(color) == 7 else "#2563eb"
    return f"--brand: {color}; --brand-text: {text_on(color)};"


def brand_style(host: User) -> str:
    return color_style(host.brand_color)


def host_context(host: User, state: ViewState) -> dict:
    """What the public templates need about whose page it is (a team's: app/web/team_pages.team_context)."""
    return {"host": host, "state": state, "embed": state.embed, "brand_style": brand_style(host),
            "has_logo": UserLogo.select(UserLogo.id).where(UserLogo.user == host).exists(),
            "hide_branding": limits_for(host).hide_branding, "base_url": current_app.config["BASE_URL"],
            "profile_url": url_for("public.profile", username=host.username)}


def location_text(event_type: EventType) -> str:
    if event_type.location_type == "none":
        return ""
    if event_type.location_type == "in_person" and event_type.location_detail:
        return f"In person: {event_type.location_detail}"
    return LOCATION_TYPES.get(event_type.location_type, "")


def recurrence_text(event_type: EventType) -> str:
    rec = event_type.recurrence
    if not rec:
        return ""
    unit = "week" if rec["frequency"] == "weekly" else "month"
    every = f"every {unit}" if rec["interval"] == 1 else f"every {rec['interval']} {unit}s"
    return f"Repeats {every}, up to {rec['maxOccurrences']} times"


# --- month calendar and slots ---------------------------------------------------------------------------
def _first_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _prev_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), zone(tz_name)).astimezone(UTC)


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant with a zone or offset, as UTC; None for anything else (a naive time is ambiguous,
    ``0001-01-01T00:00:00+14:00`` is before the first representable instant)."""
    return validation.parse_instant(value)


@dataclass
class Picker:
    """The calendar and slot list of one booking page (or of a reschedule page)."""
    event_type: EventType
    state: ViewState
    page_endpoint: str
    calendar_endpoint: str
    slots_endpoint: str
    route_args: dict
    exclude_booking_id: str | None = None
    length: int | None = None
    month: date | None = None
    min_month: date | None = None
    max_month: date | None = None
    days: dict[date, list[datetime]] = field(default_factory=dict)
    selected: date | None = None
    slots: list[datetime] = field(default_factory=list)
    message: str = ""
    calendar_note: str = ""     # a connected calendar of the host could not be read for these dates
    narrow: Callable[[list[datetime]], list[datetime]] | None = None   # keeps the slots a page offers
    away: list[Away] = field(default_factory=list)  # the host's out-of-office stretches in the dates shown

    # URLs (built often: every day and slot has two; the base paths are resolved once) -----------------------
    def _url(self, endpoint: str, **changes) -> str:
        cache = self.__dict__.setdefault("_paths", {})
        if endpoint not in cache:
            cache[endpoint] = url_for(endpoint, **self.route_args)
        return cache[endpoint] + "?" + urlencode(self.state.params(**changes), doseq=True)

    def page_url(self, **changes) -> str:
        return self._url(self.page_endpoint, **changes)

    def calendar_url(self, month: date) -> str:
        return self._url(self.calendar_endpoint, month=f"{month:%Y-%m}")

    def day_url(self, day: date) -> str:
        return self.page_url(month=f"{day:%Y-%m}", date=day.isoformat())

    def day_partial_url(self, day: date) -> str:
        return self._url(self.slots_endpoint, date=day.isoformat())

    def slot_url(self, slot: datetime) -> str:
        local = slot.astimezone(zone(self.state.tz))
        return self.page_url(date=local.date().isoformat(), time=f"{local:%H:%M}", fold=1 if local.fold else None)

    # display --------------------------------------------------------------------------------------------
    def time_label(self, slot: datetime) -> str:
        return format_time(slot, self.state.tz, self.state.hour12)

    def seats_left(self) -> dict[datetime, int]:
        """Free seats at each slot of the day shown: a seated event type that shows them (issue 23), else empty."""
        if "_seats_left" not in self.__dict__:
            self.__dict__["_seats_left"] = seats.seats_left(self.event_type, self.slots)
        return self.__dict__["_seats_left"]

    def weeks(self) -> list[list[date | None]]:
        first = self.month
        lead = first.weekday()
        days_in = (_next_month(first) - first).days
        cells: list[date | None] = [None] * lead + [first + timedelta(days=i) for i in range(days_in)]
        cells += [None] * (-len(cells) % 7)
        return [cells[i:i + 7] for i in range(0, len(cells), 7)]

    @property
    def prev_month(self) -> date | None:
        return _prev_month(self.month) if self.month > self.min_month else None

    @property
    def next_month(self) -> date | None:
        return _next_month(self.month) if self.month < self.max_month else None

    @property
    def duration(self) -> int:
        return self.length or self.state.duration or self.event_type.duration

    # loading --------------------------------------------------------------------------------------------
    def _bounds(self, now: datetime) -> None:
        schedule = effective_schedule(self.event_type)
        host_tz = schedule.timezone if schedule else self.event_type.user.timezone
        start, end = booking_window(self.event_type, host_tz, now)
        tz = zone(self.state.tz)
        self.min_month = _first_of(max(start, now).astimezone(tz).date())
        self.max_month = max(self.min_month, _first_of((end - timedelta(seconds=1)).astimezone(tz).date()))

    def _slots_between(self, start: datetime, end: datetime, now: datetime) -> list[datetime]:
        found = available_slots(self.event_type, start, end, now=now, duration=self.duration,
                                exclude_booking_id=self.exclude_booking_id)
        if self.narrow is not None:
            found = self.narrow(found)
        # a team event type's hosts are many: their unreadable calendars are not looked up for the note
        if not self.event_type.team_id and calendars.unreadable(self.event_type.user_id, max(start, now), end):
            self.calendar_note = ("Some of the host's calendars could not be checked just now, so a time shown here "
                                  "may already be taken. Your booking is checked again when you confirm it.")
        return found

    def load_month(self, month: date | None, selected: date | None = None, now: datetime | None = None,
                   auto_advance: bool = False) -> Picker:
        """One ``available_slots`` call for the month shown (two when the first month has nothing)."""
        now = now or datetime.now(UTC)
        self._bounds(now)
        if month is None and selected is not None:
            month = _first_of(selected)
        month = min(max(month or self.min_month, self.min_month), self.max_month)
        away_from = _local_midnight(month, self.state.tz)   # an auto-advanced page still says why it moved on
        while True:
            self.month = month
            start, end = _local_midnight(month, self.state.tz), _local_midnight(_next_month(month), self.state.tz)
            self.days = group_by_day(self._slots_between(start, end, now), self.state.tz)
            if self.days or not auto_advance or month >= self.max_month:
                break
            month, auto_advance = _next_month(month), False
        self._load_away(away_from, end)
        if selected is not None and _first_of(selected) == self.month:
            self.selected = selected
        elif self.days:
            self.selected = next(iter(self.days))
        self.slots = self.days.get(self.selected, []) if self.selected else []
        return self

    def load_day(self, day: date, now: datetime | None = None) -> Picker:
        """One ``available_slots`` call for the day's local range."""
        now = now or datetime.now(UTC)
        self.selected = day
        start, end = _local_midnight(day, self.state.tz), _local_midnight(day + timedelta(days=1), self.state.tz)
        self.slots = self._slots_between(start, end, now)
        self._load_away(start, end)
        return self

    # out of office (issue 23, point 8) ------------------------------------------------------------------
    def _load_away(self, start: datetime, end: datetime) -> None:
        if not self.event_type.team_id:     # a team page has many hosts: their absences show as no times
            self.away = away_between(self.event_type.user, start, end)

    def away_on(self, day: date) -> Away | None:
        """The stretch away that covers part of ``day`` (the invitee's date, not over yet), if any."""
        start, end = _local_midnight(day, self.state.tz), _local_midnight(day + timedelta(days=1), self.state.tz)
        if end <= datetime.now(UTC):        # a day gone by has no times anyway
            return None
        return next((away for away in self.away if away.covers(start, end)), None)

    @property
    def away_notice(self) -> Away | None:
        """What the slot list says instead of "no times": the selected day's absence, or the month's."""
        if self.selected is not None:
            return None if self.slots else self.away_on(self.selected)
        return self.away[0] if self.away else None

    @property
    def away_banner(self) -> Away | None:
        """Above the calendar when the slot list does not tell it: the first stretch away in the dates shown."""
        return self.away[0] if self.away and self.away_notice is None else None

    def redirect_url(self, away: Away) -> str | None:
        """The teammate's booking page of the same slug, else their profile (not when rescheduling)."""
        if away.redirect is None or self.exclude_booking_id:
            return None
        username, slug = redirect_url_parts(away, self.event_type.slug)
        keep = {key: value for key, value in self.state.params().items() if key in ("tz", "hour", "embed")}
        path = (url_for("public.booking_page", username=username, slug=slug) if slug
                else url_for("public.profile", username=username))
        return path + "?" + urlencode(keep)

    def resolve(self, day: date | None, hhmm: str | None, fold: str | None) -> datetime | None:
        """The instant a slot link names (``date`` + ``time`` on the invitee's clock), if well-formed."""
        if day is None:
            return None
        try:
            clock = datetime.strptime(hhmm or "", "%H:%M").time()
        except ValueError:
            return None
        local = datetime.combine(day, clock, zone(self.state.tz)).replace(fold=1 if fold == "1" else 0)
        instant = local.astimezone(UTC)
        back = instant.astimezone(zone(self.state.tz))
        return instant if (back.date(), back.hour, back.minute) == (day, clock.hour, clock.minute) else None


# --- lookups ---------------------------------------------------------------------------------------------
