"""Dates and times as people read them: an instant on a viewer's clock, the same way on pages and in emails.

Every function takes an instant (an aware ``datetime``; a naive one counts as UTC), the viewer's IANA zone name
(an unknown name falls back to UTC) and whether the viewer reads a 12-hour clock. Day names and months are
English whatever the process locale. Jinja filters over these functions: ``register_filters`` below.

Which clock a viewer reads (``Clock``):
* Booking pages: the ``hour=12|24`` query parameter (``app.web.booking_view.ViewState``). Without it the page shows
  24 h and ``static/js/booking.js`` asks the browser (``Intl.DateTimeFormat`` hour cycle) and swaps the step in
  again with the browser's choice; every link and form then carries it along, up to the confirmation page.
* Invitee pages (``/booking/<token>``): the same parameter, else 24 h (no browser detection there; the links
  in emails carry no ``hour``).
* Hosts (dashboard and the host's emails): ``host_clock``, the host's zone and the clock chosen in Settings →
  Profile (``users.hour12``; 24 h until chosen).
* Invitees' emails: ``invitee_clock``, the invitee's zone and the clock their booking page showed
  (``bookings.invitee_hour12``; 24 h where unknown, e.g. bookings made through the API).

Date styles (``style=``; each keeps the text its pages and emails have always shown):
  ``long``  Tuesday, 2 June 2026  — booking and invitee pages
  ``full``  Tuesday 2 June 2026   — dashboard headings
  ``short`` Tue 2 Jun 2026        — dashboard lists and stamps
  ``email`` Tuesday, 02 June 2026 — booking emails
  ``iso``   2026-06-02            — settings tables (with a time: 2026-06-02 16:00)
  ``month`` June 2026
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.timezones import is_valid_timezone, zone

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
STYLES = ("long", "full", "short", "email", "iso", "month")


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


def to_local(moment: datetime, tz: str) -> datetime:
    """``moment`` on the wall clock of ``tz`` (UTC for an unknown zone; a naive ``moment`` is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(tz) if is_valid_timezone(tz) else UTC)


def zone_label(tz: str) -> str:
    """A zone name as people read it: ``America/New York``."""
    return tz.replace("_", " ")


def _day(value: date | datetime, tz: str) -> date:
    return to_local(value, tz).date() if isinstance(value, datetime) else value


def format_date(value: date | datetime, tz: str = "UTC", style: str = "long") -> str:
    """A calendar date in one of ``STYLES``; an instant is first put on ``tz``'s clock, a ``date`` is taken as is."""
    day = _day(value, tz)
    weekday, month = DAYS[day.weekday()], MONTHS[day.month - 1]
    if style == "long":
        return f"{weekday}, {day.day} {month} {day.year}"
    if style == "full":
        return f"{weekday} {day.day} {month} {day.year}"
    if style == "short":
        return f"{weekday[:3]} {day.day} {month[:3]} {day.year}"
    if style == "email":
        return f"{weekday}, {day.day:02d} {month} {day.year}"
    if style == "iso":
        return day.isoformat()
    if style == "month":
        return f"{month} {day.year}"
    raise ValueError(f"unknown date style {style!r}; one of {', '.join(STYLES)}")


def format_time(moment: datetime, tz: str = "UTC", hour12: bool = False, *, seconds: bool = False) -> str:
    """``9:05am`` / ``12:00am`` (midnight) / ``12:00pm`` (noon) on a 12-hour clock, ``09:05`` on a 24-hour one."""
    local = to_local(moment, tz)
    tail = f":{local.second:02d}" if seconds else ""
    if hour12:
        return f"{local.hour % 12 or 12}:{local.minute:02d}{tail}{'am' if local.hour < 12 else 'pm'}"
    return f"{local.hour:02d}:{local.minute:02d}{tail}"


def _joiner(style: str) -> str:
    return " " if style == "iso" else ", "


def format_datetime(moment: datetime, tz: str = "UTC", hour12: bool = False, *, style: str = "short",
                    seconds: bool = False, with_zone: bool = False) -> str:
    """Date and time: ``Tue 2 Jun 2026, 16:00``; ``with_zone`` adds `` (Europe/Berlin)``."""
    text = f"{format_date(moment, tz, style)}{_joiner(style)}{format_time(moment, tz, hour12, seconds=seconds)}"
    return f"{text} ({zone_label(tz)})" if with_zone else text


def format_timerange(start: datetime, end: datetime | None, tz: str = "UTC", hour12: bool = False, *,
                     style: str = "long", with_zone: bool = False) -> str:
    """The start's date and both times: ``Tuesday, 2 June 2026 · 9:00am – 9:30am`` (``long``, as booking pages
    write it; other styles join with a comma). An end on a later date shows only its time, as a meeting's end
    is read after its start; without an end, the start alone."""
    joiner = " · " if style == "long" else _joiner(style)
    times = format_time(start, tz, hour12) if end is None else format_times(start, end, tz, hour12)
    text = f"{format_date(start, tz, style)}{joiner}{times}"
    return f"{text} ({zone_label(tz)})" if with_zone else text


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
                                  "timerange": timerange_filter, "times": times_filter, "zone_label": zone_label})
