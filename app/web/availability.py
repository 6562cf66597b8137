"""Dashboard: availability schedules — weekly hours, date overrides on a month calendar, name and zone.

Like the rest of the dashboard, every control is a plain form (add/remove/copy hours re-render the form
unsaved, Save stores it); an htmx request gets back only the section it changed.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from app.datetimes import format_date
from app.models import Schedule
from app.services.errors import ValidationFailed
from app.services.scheduling import schedules as service
from app.timezones import all_timezones, zone
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("availability", __name__, url_prefix="/dashboard/availability")

WEEKDAYS = service.WEEKDAYS
SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _redirect(url: str):
    response = redirect(url)
    response.vary.add("HX-Request")
    return response


def _own(schedule_id: str) -> Schedule:
    return service.get_schedule(g.user, schedule_id)


def _to_min(hhmm: str) -> int | None:
    return service.minutes(hhmm) if re.fullmatch(r"\d{1,2}:\d{2}", hhmm or "") else None


def _hhmm(total: int) -> str:
    total = max(0, min(total, 1439))
    return f"{total // 60:02d}:{total % 60:02d}"


def summarize_weekly(weekly: dict) -> list[str]:
    """["Mon–Fri 09:00–17:00", "Sat 10:00–12:00"]: consecutive days with the same hours together."""
    lines, day = [], 0
    while day < 7:
        ranges = (weekly or {}).get(str(day)) or []
        last = day
        while last + 1 < 7 and ((weekly or {}).get(str(last + 1)) or []) == ranges:
            last += 1
        if ranges:
            days = SHORT_DAYS[day] if last == day else f"{SHORT_DAYS[day]}–{SHORT_DAYS[last]}"
            lines.append(f"{days} " + ", ".join(f"{a}–{b}" for a, b in ranges))
        day = last + 1
    return lines


def nice_date(value) -> str:
    day = value if isinstance(value, date) else _parse_date(value)
    return format_date(day, style="short") if day else str(value)


def today_in(schedule: Schedule) -> date:
    try:
        return datetime.now(zone(schedule.timezone)).date()
    except Exception:
        return date.today()


@bp.context_processor
def _helpers():
    return {"WEEKDAYS": WEEKDAYS, "SHORT_DAYS": SHORT_DAYS, "summarize_weekly": summarize_weekly,
            "nice_date": nice_date}


# ---------------------------------------------------------------- schedule list

def _list_page(values=None, errors=None, notice=None, status=200):
    schedules = list(Schedule.select().where(Schedule.user == g.user)
                     .order_by(Schedule.is_default.desc(), Schedule.created_at))
    return render("availability/index.html", block="schedules", schedules=schedules,
                  values=values or {"name": "", "timezone": g.user.timezone}, errors=errors or {},
                  timezones=all_timezones(), notice=notice, status=status)


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    if request.method == "GET":
        return _list_page()
    values = {"name": request.form.get("name", "").strip(), "timezone": request.form.get("timezone", "").strip()}
    try:
        schedule = service.create_schedule(g.user, values["name"], values["timezone"], ip=g.client_ip)
    except ValidationFailed as exc:
        return _list_page(values, exc.errors, status=422)
    if not is_htmx():
        flash(f"Created “{schedule.name}”. Set its hours below.", "success")
        return _redirect(url_for("availability.detail", schedule_id=schedule.id))
    return _list_page(notice=f"Created “{schedule.name}”.")


@bp.post("/<schedule_id>/default")
@login_required
def make_default(schedule_id: str):
    schedule = _own(schedule_id)
    service.make_default(schedule)
    message = f"“{schedule.name}” is now your default schedule."
    if not is_htmx():
        flash(message, "success")
        return _redirect(url_for("availability.index"))
    return _list_page(notice=message)


@bp.route("/<schedule_id>/delete", methods=["GET", "POST"])
@login_required
def delete(schedule_id: str):
    schedule = _own(schedule_id)
    if request.method == "GET":
        return render("availability/delete.html", block="confirm", schedule=schedule)
    try:
        service.delete_schedule(schedule)
    except ValidationFailed as exc:
        message = next(iter(exc.errors.values()))
        if not is_htmx():
            flash(message, "error")
            return _redirect(url_for("availability.index"))
        return _list_page(errors={"list": message}, status=409)
    message = f"Deleted “{schedule.name}”."
    if not is_htmx():
        flash(message, "success")
        return _redirect(url_for("availability.index"))
    return _list_page(notice=message)


@bp.get("/<schedule_id>/row")
@login_required
def row(schedule_id: str):
    schedule = _own(schedule_id)
    if not is_htmx():
        return _redirect(url_for("availability.index"))
    return render("availability/index.html", block="row", s=schedule)


# ---------------------------------------------------------------- one schedule: page and sections

def _weekly_from_form(form) -> dict[str, list[list[str]]]:
    weekly = {}
    for day in range(7):
        starts, ends = form.getlist(f"day-{day}-start"), form.getlist(f"day-{day}-end")
        weekly[str(day)] = [[s.strip(), e.strip()] for s, e in zip(starts, ends, strict=False)][:24]
    return weekly


def _next_range(ranges: list[list[str]]) -> list[str]:
    if not ranges:
        return ["09:00", "17:00"]
    end = _to_min(ranges[-1][1])
    start = 17 * 60 if end is None else (1440 if end == 0 else end) + 60
    start = min(start, 22 * 60)
    return [_hhmm(start), _hhmm(start + 60)]


def _apply_weekly_op(weekly: dict, op: str, form) -> str | None:
    """Add/remove a range or copy a day's hours (unsaved); returns the id of the control to focus."""
    if match := re.fullmatch(r"add:([0-6])", op):
        ranges = weekly[match.group(1)]
        ranges.append(_next_range(ranges))
        return f"day-{match.group(1)}-start-{len(ranges) - 1}"
    if match := re.fullmatch(r"remove:([0-6]):(\d{1,2})", op):
        ranges = weekly[match.group(1)]
        if int(match.group(2)) < len(ranges):
            ranges.pop(int(match.group(2)))
        return f"add-{match.group(1)}"
    if match := re.fullmatch(r"copy:([0-6])", op):
        source = match.group(1)
        for target in form.getlist(f"copy-{source}-to"):
            if target in weekly and target != source:
                weekly[target] = [list(r) for r in weekly[source]]
        return f"copy-{source}-summary"
    return None


def _month_from(text: str | None, fallback: date) -> date:
    if text and re.fullmatch(r"\d{4}-\d{2}", text):
        year, month = int(text[:4]), int(text[5:])
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return date(year, month, 1)
    return fallback.replace(day=1)


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _override_groups(schedule: Schedule, today: date) -> list[dict]:
    """Upcoming overrides, consecutive dates with the same hours shown as one line."""
    groups: list[dict] = []
    for key in sorted(schedule.overrides or {}):
        day = _parse_date(key)
        if day is None or day < today:
            continue
        ranges = schedule.overrides[key]
        last = groups[-1] if groups else None
        if last and last["last"] + timedelta(days=1) == day and last["ranges"] == ranges:
            last["last"] = day
        else:
            groups.append({"first": day, "last": day, "ranges": ranges})
    return groups


def _calendar(schedule: Schedule, month: date, today: date, panel: dict | None) -> list[list[dict]]:
    overrides = schedule.overrides or {}
    selected = set()
    if panel:
        first = _parse_date(panel["start"])
        last = _parse_date(panel["end"]) or first
        if first and last and 0 <= (last - first).days < 400:
            selected = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month):
        weeks.append([{"date": day, "in_month": day.month == month.month, "past": day < today,
                       "today": day == today, "override": overrides.get(day.isoformat()),
                       "weekly": (schedule.weekly or {}).get(str(day.weekday())) or [],
                       "selected": day in selected} for day in week])
    return weeks


def _panel_for(schedule: Schedule, first: date, last: date | None = None) -> dict:
    ranges = (schedule.overrides or {}).get(first.isoformat())
    if ranges is None:
        ranges = (schedule.weekly or {}).get(str(first.weekday())) or [["09:00", "17:00"]]
        unavailable = False
    else:
        unavailable = ranges == []
    return {"start": first.isoformat(), "end": last.isoformat() if last and last != first else "",
            "unavailable": unavailable, "ranges": [list(r) for r in ranges] or [["09:00", "17:00"]]}


def _page(schedule: Schedule, *, block: str | None = None, status: int = 200, month: date | None = None,
          weekly: dict | None = None, weekly_errors=None, weekly_dirty=False, weekly_notice=None, weekly_focus=None,
          settings: dict | None = None, settings_errors=None, settings_notice=None,
          panel: dict | None = None, override_errors=None, override_notice=None, panel_focus=None):
    today = today_in(schedule)
    if month is None:
        month = _month_from(request.args.get("month"), today)
    prev_month = (month - timedelta(days=1)).replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return render(
        "availability/detail.html", block=block, status=status, schedule=schedule, timezones=all_timezones(),
        weekly=weekly if weekly is not None else {str(d): [list(r) for r in (schedule.weekly or {}).get(str(d), [])]
                                                  for d in range(7)},
        weekly_errors=weekly_errors or {}, weekly_dirty=weekly_dirty, weekly_notice=weekly_notice,
        weekly_focus=weekly_focus,
        settings=settings or {"name": schedule.name, "timezone": schedule.timezone},
        settings_errors=settings_errors or {}, settings_notice=settings_notice,
        month=month, prev_month=prev_month, next_month=next_month, today=today,
        weeks=_calendar(schedule, month, today, panel), groups=_override_groups(schedule, today),
        panel=panel, override_errors=override_errors or {}, override_notice=override_notice, panel_focus=panel_focus)


@bp.get("/<schedule_id>")
@login_required
def detail(schedule_id: str):
    return _page(_own(schedule_id))


@bp.post("/<schedule_id>/settings")
@login_required
def settings(schedule_id: str):
    schedule = _own(schedule_id)
    values = {"name": request.form.get("name", "").strip(), "timezone": request.form.get("timezone", "").strip()}
    try:
        service.update_schedule(schedule, name=values["name"], timezone=values["timezone"], ip=g.client_ip)
    except ValidationFailed as exc:
        return _page(_own(schedule_id), block="schedule_settings", settings=values, settings_errors=exc.errors,
                     status=422)
    if not is_htmx():
        flash("Schedule saved.", "success")
        return _redirect(url_for("availability.detail", schedule_id=schedule.id))
    return _page(schedule, block="schedule_settings", settings_notice="Saved.")


@bp.post("/<schedule_id>/weekly")
@login_required
def weekly(schedule_id: str):
    schedule = _own(schedule_id)
    hours = _weekly_from_form(request.form)
    op = request.form.get("op", "save")
    if op != "save":
        focus = _apply_weekly_op(hours, op, request.form)
        return _page(schedule, block="weekly", weekly=hours, weekly_dirty=True, weekly_focus=focus)
    try:
        service.update_schedule(schedule, weekly=hours, ip=g.client_ip)
    except ValidationFailed as exc:
        return _page(_own(schedule_id), block="weekly", weekly=hours, weekly_errors=exc.errors, weekly_dirty=True,
                     status=422)
    if not is_htmx():
        flash("Weekly hours saved.", "success")
        return _redirect(url_for("availability.detail", schedule_id=schedule.id))
    return _page(schedule, block="weekly", weekly_notice="Weekly hours saved.")


@bp.get("/<schedule_id>/overrides")
@login_required
def overrides(schedule_id: str):
    """The calendar section for another month (htmx); a plain request gets the page."""
    schedule = _own(schedule_id)
    if not is_htmx():
        return _redirect(url_for("availability.detail", schedule_id=schedule.id, month=request.args.get("month")))
    return _page(schedule, block="overrides")


@bp.get("/<schedule_id>/override")
@login_required
def override_form(schedule_id: str):
    """Open the override form for a date (clicked on the calendar) or a run of dates."""
    schedule = _own(schedule_id)
    first = _parse_date(request.args.get("date"))
    if first is None:
        abort(404)
    last = _parse_date(request.args.get("end"))
    return _page(schedule, block="overrides", month=first.replace(day=1), panel=_panel_for(schedule, first, last),
                 panel_focus="f-override_start")


def _panel_from_form(form) -> dict:
    return {"start": form.get("override_start", "").strip(), "end": form.get("override_end", "").strip(),
            "unavailable": bool(form.get("unavailable")),
            "ranges": [[s.strip(), e.strip()] for s, e in zip(form.getlist("override-start"),
                                                              form.getlist("override-end"), strict=False)][:24]}


@bp.post("/<schedule_id>/overrides")
@login_required
def save_override(schedule_id: str):
    schedule = _own(schedule_id)
    panel = _panel_from_form(request.form)
    first, last = _parse_date(panel["start"]), _parse_date(panel["end"])
    month = (first or today_in(schedule)).replace(day=1)
    op = request.form.get("op", "save")
    if op != "save":
        focus = None
        if op == "add-range":
            panel["ranges"].append(_next_range(panel["ranges"]))
            focus = f"override-start-{len(panel['ranges']) - 1}"
        elif match := re.fullmatch(r"remove-range:(\d{1,2})", op):
            if int(match.group(1)) < len(panel["ranges"]):
                panel["ranges"].pop(int(match.group(1)))
            focus = "add-range"
        return _page(schedule, block="overrides", month=month, panel=panel, panel_focus=focus)
    errors = {}
    if first is None:
        errors["override_start"] = "Choose the date (like 2026-03-01)."
    if panel["end"] and last is None:
        errors["override_end"] = "Use a date like 2026-03-01, or leave it empty for one day."
    if not errors:
        try:
            service.set_override(schedule, first, last, [] if panel["unavailable"] else panel["ranges"],
                                 ip=g.client_ip)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return _page(_own(schedule_id), block="overrides", month=month, panel=panel, override_errors=errors,
                     status=422)
    span = nice_date(first) if not last or last == first else f"{nice_date(first)} – {nice_date(last)}"
    message = f"Saved the hours for {span}."
    if not is_htmx():
        flash(message, "success")
        return _redirect(url_for("availability.detail", schedule_id=schedule.id, month=month.strftime("%Y-%m"))
                         + "#overrides")
    return _page(schedule, block="overrides", month=month, override_notice=message)


@bp.post("/<schedule_id>/overrides/remove")
@login_required
def remove_override(schedule_id: str):
    schedule = _own(schedule_id)
    first = _parse_date(request.form.get("first"))
    last = _parse_date(request.form.get("last")) or first
    if first is None or last < first or (last - first).days > service.MAX_OVERRIDE_SPAN_DAYS:
        abort(400)
    day = first
    while day <= last:
        service.remove_override(schedule, day)
        day += timedelta(days=1)
    span = nice_date(first) if last == first else f"{nice_date(first)} – {nice_date(last)}"
    message = f"Removed the override for {span}; the weekly hours apply again."
    month = _month_from(request.form.get("month"), first)
    if not is_htmx():
        flash(message, "success")
        return _redirect(url_for("availability.detail", schedule_id=schedule.id, month=month.strftime("%Y-%m"))
                         + "#overrides")
    return _page(schedule, block="overrides", month=month, override_notice=message)

