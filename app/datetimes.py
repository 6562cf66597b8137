"""Dates and times as people read them: an instant on a viewer's clock, the same way on pages and in emails.

Every function takes an instant (an aware ``datetime``; a naive one counts as UTC), the viewer's IANA zone name
(an unknown name falls back to UTC) and whether the viewer reads a 12-hour clock. Day names and months are
English whatever the process locale. Jinja filters over these functions: ``register_filters`` below.

Which clock a viewer reads (``Clock``):
* Booking pages: the ``hour=12|24`` query parameter (``app.web.booking_view.ViewState``). Without it the page shows
  24 h and ``static/js/booking.js`` asks the browser (``Intl.DateTimeFormat`` hour cycle) and swaps the step in
  again with the browser's choice; every link and form then carries it along, up to the confirmation page.
* Invitee pages (``/booking/<token>``): the same parameter, else the clock their booking page showed
  (``bookings.invitee_hour12``; the links in emails carry no ``hour``).
* Hosts (dashboard, the host's emails, the host's availability errors): ``host_clock``, the host's zone and the
  clock chosen in Settings → Profile (``users.hour12``). At sign-up it starts as the browser's hour cycle (the
  form's hidden ``hour`` field, else the ``Accept-Language`` region), else the zone's country convention
  (``conventional_hour12``).
* Invitees' emails: ``invitee_clock``, the invitee's zone and the clock their booking page showed
  (``bookings.invitee_hour12``; 24 h where unknown, e.g. bookings made through the API).

Country convention (``HOUR12_COUNTRIES``): the countries whose everyday clock is 12 h (the CLDR preferred hour
cycle "h" of their main language): the United States and its territories, Canada, Australia, New Zealand, India,
Pakistan, Bangladesh, the Philippines, Malaysia, Egypt, Saudi Arabia, the United Arab Emirates, Jordan, Korea and
Taiwan; everywhere else 24 h. A zone's country comes from the IANA ``zone.tab`` (the ``tzdata`` package); a zone
it does not list (``UTC``, ``Etc/*``, old aliases) counts as 24 h.

Date styles (``style=``), the same on pages, in emails and in error messages:
  ``long``  Tuesday, 2 June 2026  — booking, invitee pages and emails (a range: ``… · 9:00am – 9:30am``)
  ``full``  Tuesday 2 June 2026   — dashboard headings
  ``short`` Tue 2 Jun 2026        — dashboard lists and log stamps: ``|datetime('short')`` gives
                                    ``Tue 8 Dec 2026, 12:30am`` (audit log, API keys' "Created"), ``seconds=True``
                                    adds seconds; a UTC ISO string (``2026-12-08T15:30:00Z``) is read as an instant
  ``iso``   2026-06-02            — settings tables (with a time: 2026-06-02 16:00)
  ``month`` June 2026

``with_zone=True`` names the zone as people read it after the time: ``(Tokyo time / Asia/Tokyo)``.
A wall-clock time of a weekly schedule (``"13:00"``) on a viewer's clock: ``format_hhmm``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from app.timezones import is_valid_timezone, zone

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
STYLES = ("long", "full", "short", "iso", "month")
HOUR12_COUNTRIES = frozenset("US PR GU VI AS MP UM CA AU NZ IN PK BD PH MY EG SA AE JO KR TW".split())
_LOCALE_REGION = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z]{4})?[-_]([A-Za-z]{2})\b")


@dataclass(frozen=True)
class Clock:
    """How one viewer reads times: their zone and 12 h (``9:00am``) or 24 h (``09:00``)."""
    tz: str = "UTC"
    hour12: bool = False


def host_clock(user: Any) -> Clock:
    """The clock of a host (dashboard pages, the host's emails): their zone and their 12/24 h choice."""
    name = getattr(user, "timezone", None)
    return Clock(tz=name if is_valid_timezone(name) else "UTC", hour12=bool(getattr(user, "hour12", False)))


def invitee_clock(booking: Any) -> Clock:
    """The clock of a booking's invitee (their emails): their zone and the clock their booking page showed."""
    name = getattr(booking, "invitee_timezone", None)
    return Clock(tz=name if is_valid_timezone(name) else "UTC",
                 hour12=bool(getattr(booking, "invitee_hour12", False)))


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone id -> ISO country code, from the ``zone.tab`` that ships with ``tzdata``."""
    try:
        text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return {}
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[2]: row[0] for row in rows if len(row) >= 3}


def conventional_hour12(tz: str | None) -> bool:
    """Whether people in ``tz``'s country read a 12-hour clock (``HOUR12_COUNTRIES``; unknown zones: 24 h)."""
    return _zone_countries().get(tz or "") in HOUR12_COUNTRIES


def locale_hour12(accept_language: str | None) -> bool | None:
    """The hour cycle of a browser's first language with a region (``en-US`` 12 h, ``en-GB`` 24 h), from an
    ``Accept-Language`` header; None when it names no region (``en``) or is empty."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip()
    found = _LOCALE_REGION.match(first)
    return None if found is None else found.group(1).upper() in HOUR12_COUNTRIES


def signup_hour12(choice: str | None, accept_language: str | None, tz: str | None) -> bool:
    """A new host's clock: the sign-up form's ``hour`` field (``"12"``/``"24"``, the browser's hour cycle), else
    the region of the browser's language (``locale_hour12``), else the convention of the zone's country."""
    if choice in ("12", "24"):
        return choice == "12"
    hint = locale_hour12(accept_language)
    return conventional_hour12(tz) if hint is None else hint


def to_local(moment: datetime | str, tz: str) -> datetime:
    """``moment`` on the wall clock of ``tz`` (UTC for an unknown zone; a naive ``moment`` is taken as UTC; an
    ISO 8601 string such as ``2026-12-08T15:30:00Z`` is read first)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(tz) if is_valid_timezone(tz) else UTC)


def zone_label(tz: str) -> str:
    """A zone name as people read it: ``America/New York``."""
    return tz.replace("_", " ")


def zone_text(tz: str) -> str:
    """A zone as an email or a message names it: ``Tokyo time / Asia/Tokyo``; ``UTC`` and ``Etc/*`` as they are."""
    city = tz.rsplit("/", 1)[-1]
    if "/" not in tz or tz.startswith("Etc/") or not city[:1].isalpha():
        return zone_label(tz)
    return f"{zone_label(city)} time / {zone_label(tz)}"


def format_hhmm(hhmm: str, hour12: bool = False) -> str:
    """A schedule's wall-clock ``"13:00"`` as the viewer reads times: ``1:00pm`` or ``13:00`` (``00:00`` and
    ``24:00``: ``12:00am``); text that is no such time is returned as it is."""
    hours, _, mins = (hhmm or "").partition(":")
    if not (hours.isdigit() and mins.isdigit() and len(mins) == 2) or not hour12:
        return hhmm
    hour = int(hours) % 24
    return f"{hour % 12 or 12}:{mins}{'am' if hour < 12 else 'pm'}"


def _day(value: date | datetime | str, tz: str) -> date:
    return to_local(value, tz).date() if isinstance(value, datetime | str) else value


def format_date(value: date | datetime | str, tz: str = "UTC", style: str = "long") -> str:
    """A calendar date in one of ``STYLES``; an instant is first put on ``tz``'s clock, a ``date`` is taken as is."""
    day = _day(value, tz)
    weekday, month = DAYS[day.weekday()], MONTHS[day.month - 1]
    if style == "long":
        return f"{weekday}, {day.day} {month} {day.year}"
    if style == "full":
        return f"{weekday} {day.day} {month} {day.year}"
    if style == "short":
        return f"{weekday[:3]} {day.day} {month[:3]} {day.year}"
    if style == "iso":
        return day.isoformat()
    if style == "month":
        return f"{month} {day.year}"
    raise ValueError(f"unknown date style {style!r}; one of {', '.join(STYLES)}")


def format_time(moment: datetime | str, tz: str = "UTC", hour12: bool = False, *, seconds: bool = False) -> str:
    """``9:05am`` / ``12:00am`` (midnight) / ``12:00pm`` (noon) on a 12-hour clock, ``09:05`` on a 24-hour one."""
    local = to_local(moment, tz)
    tail = f":{local.second:02d}" if seconds else ""
    if hour12:
        return f"{local.hour % 12 or 12}:{local.minute:02d}{tail}{'am' if local.hour < 12 else 'pm'}"
    return f"{local.hour:02d}:{local.minute:02d}{tail}"


def _joiner(style: str) -> str:
    return " " if style == "iso" else ", "


def format_datetime(moment: datetime | str, tz: str = "UTC", hour12: bool = False, *, style: str = "short",
                    seconds: bool = False, with_zone: bool = False) -> str:
    """Date and time: ``Tue 2 Jun 2026, 16:00``; ``with_zone`` adds `` (Berlin time / Europe/Berlin)``."""
    text = f"{format_date(moment, tz, style)}{_joiner(style)}{format_time(moment, tz, hour12, seconds=seconds)}"
    return f"{text} ({zone_text(tz)})" if with_zone else text


def format_timerange(start: datetime, end: datetime | None, tz: str = "UTC", hour12: bool = False, *,
                     style: str = "long", with_zone: bool = False) -> str:
    """The start's date and both times: ``Tuesday, 2 June 2026 · 9:00am – 9:30am`` (``long``, as booking pages
    write it; other styles join with a comma). An end on a later date shows only its time, as a meeting's end
    is read after its start; without an end, the start alone."""
    joiner = " · " if style == "long" else _joiner(style)
    times = format_time(start, tz, hour12) if end is None else format_times(start, end, tz, hour12)
    text = f"{format_date(start, tz, style)}{joiner}{times}"
    return f"{text} ({zone_text(tz)})" if with_zone else text


def format_times(start: datetime, end: datetime, tz: str = "UTC", hour12: bool = False) -> str:
    """Both times alone: ``09:00 – 09:30``."""
    return f"{format_time(start, tz, hour12)} – {format_time(end, tz, hour12)}"


# --- Jinja filters ---------------------------------------------------------------------------------------
# ``{{ booking.start_at|datetime }}`` reads the viewer's clock from the template context: ``clock`` (a Clock,
# given by emails), else ``state`` (the booking pages' ViewState: ``tz`` and ``hour12``), else ``current_user``
# (a signed-in host, through ``host_clock``), else UTC and 24 h. ``tz=`` shows another zone on the viewer's clock
# (the invitee's time on the host's booking page); ``hour12=`` overrides the clock. ``None`` formats as "".
def viewer_clock(context: Any) -> Clock:
    clock = context.get("clock")
    if isinstance(clock, Clock):
        return clock
    state = context.get("state")
    if isinstance(getattr(state, "tz", None), str) and isinstance(getattr(state, "hour12", None), bool):
        return Clock(tz=state.tz, hour12=state.hour12)
    user = context.get("current_user")
    return host_clock(user) if user is not None else Clock()


def _clock(context: Any, tz: str | None, hour12: bool | None) -> Clock:
    clock = viewer_clock(context)
    return Clock(tz=tz if tz is not None else clock.tz, hour12=hour12 if hour12 is not None else clock.hour12)


def register_filters(app: Any) -> None:
    """Add the date and time filters to the app's Jinja environment (pages, partials and emails alike)."""
    from jinja2 import pass_context

    @pass_context
    def date_filter(context, value, style: str = "long", tz: str | None = None) -> str:
        return "" if value is None else format_date(value, _clock(context, tz, None).tz, style)

    @pass_context
    def time_filter(context, value, seconds: bool = False, tz: str | None = None, hour12: bool | None = None) -> str:
        clock = _clock(context, tz, hour12)
        return "" if value is None else format_time(value, clock.tz, clock.hour12, seconds=seconds)

    @pass_context
    def datetime_filter(context, value, style: str = "long", seconds: bool = False, with_zone: bool = False,
                        tz: str | None = None, hour12: bool | None = None) -> str:
        clock = _clock(context, tz, hour12)
        return "" if value is None else format_datetime(value, clock.tz, clock.hour12, style=style, seconds=seconds,
                                                        with_zone=with_zone)

    @pass_context
    def timerange_filter(context, start, end, style: str = "long", with_zone: bool = False, tz: str | None = None,
                         hour12: bool | None = None) -> str:
        clock = _clock(context, tz, hour12)
        return "" if start is None else format_timerange(start, end, clock.tz, clock.hour12, style=style,
                                                         with_zone=with_zone)

    @pass_context
    def times_filter(context, start, end, tz: str | None = None, hour12: bool | None = None) -> str:
        clock = _clock(context, tz, hour12)
        return "" if start is None else format_times(start, end, clock.tz, clock.hour12)

    app.jinja_env.filters.update({"date": date_filter, "time": time_filter, "datetime": datetime_filter,
                                  "timerange": timerange_filter, "times": times_filter, "zone_label": zone_label,
                                  "zone_text": zone_text})
