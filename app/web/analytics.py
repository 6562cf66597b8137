"""The Analytics dashboard (Bookings and Page Views tabs), the trend charts as server-rendered SVG, and
recording a view of a public booking page.

``GET /dashboard/analytics?tab=bookings|page-views&preset=7d|30d|90d|year`` renders the page; tabs and
presets are links that htmx follows into ``#analytics-panel`` (the ``panel`` block), pushing the URL, so
every state is also a plain, shareable page. ``flask analytics rebuild|purge`` maintain the rollups.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import click
from flask import Blueprint, current_app, g, make_response, render_template, request
from markupsafe import Markup, escape

from app.datetimes import format_date
from app.db import db
from app.services.errors import ValidationFailed
from app.services.insights import analytics as service
from app.services.insights import page_views
from app.services.plans import PLAN_LABELS, effective_plan
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

log = logging.getLogger("linktime.analytics")

bp = Blueprint("analytics", __name__, url_prefix="/dashboard/analytics")

TABS = {"bookings": "Bookings", "page-views": "Page Views"}
DEFAULT_TAB = "bookings"
NEXT_PLAN = {"FREE": ("Pro", 90), "PRO": ("Business", 365)}


# --- recording a public page view ------------------------------------------------------------------------
def _own_hosts() -> frozenset[str]:
    hosts = set()
    for url in ("//" + request.host, current_app.config.get("BASE_URL") or ""):
        try:
            name = urlsplit(url).hostname
        except ValueError:
            name = None
        if name:
            hosts.add(name.lower())
    return frozenset(hosts)


def track_view(host_id: str, event_type_id: str | None = None, *, embed: bool = False) -> None:
    """Count this request as a view of a public page: a plain GET page load (not an htmx partial, not a
    prefetch, not a bot, not the host looking at their own page). Never raises, never touches the database."""
    try:
        headers = request.headers
        if request.method != "GET" or is_htmx():
            return
        purpose = (headers.get("Sec-Purpose") or headers.get("Purpose") or headers.get("X-Moz") or "").lower()
        if "prefetch" in purpose or "prerender" in purpose:
            return
        user = g.get("user")
        if user is not None and user.id == host_id:
            return
        page_views.record(page_views.make_view(
            secret_key=current_app.secret_key, host_id=host_id, event_type_id=event_type_id,
            ip=g.get("client_ip") or request.remote_addr, user_agent=headers.get("User-Agent"),
            referrer=headers.get("Referer"), embed=embed, own_hosts=_own_hosts()))
    except Exception:  # analytics must never break a booking page
        log.exception("could not record a page view")


def track_form_view(form, *, embed: bool = False) -> None:
    """Count a view of a routing form's public page, under the form's own page key."""
    track_view(form.user_id, page_views.form_page(form.id), embed=embed)


# --- the SVG trend chart -----------------------------------------------------------------------------------
@dataclass
class Column:
    x: float
    width: float
    cx: float
    tip_x: float
    anchor: str
    title: str
    lines: list[str]


NICE_STEPS = sorted({int(m * 10 ** k) for k in range(10) for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)
                     if m * 10 ** k == int(m * 10 ** k)})


def _nice_max(value: int) -> int:
    """The top of the y axis: four equal whole-number grid steps reaching at least ``value``."""
    return 4 * next((step for step in NICE_STEPS if step * 4 >= value), NICE_STEPS[-1])


def short_day(day: date) -> str:
    return f"{day.day} {day:%b}"


def long_day(day: date) -> str:
    return format_date(day, style="short")


def chart(days: list[date], series: list[tuple[str, str, list[int]]], width: int = 760, height: int = 240) -> dict:
    """Geometry of an area chart: ``series`` is (label, css class, values per day), drawn back to front."""
    left, right, top, bottom = 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(days)
    peak = max([max(values) if values else 0 for _l, _c, values in series] + [0])
    y_max = _nice_max(peak)
    step = plot_w / (n - 1) if n > 1 else plot_w
    base = top + plot_h

    def x_of(i: int) -> float:
        return round(left + (i * step if n > 1 else plot_w / 2), 2)

    def y_of(v: int) -> float:
        return round(base - v * plot_h / y_max, 2)

    areas = []
    for label, css, values in series:
        points = " ".join(f"L{x_of(i)},{y_of(v)}" for i, v in enumerate(values))
        line = "M" + points[1:] if points else ""
        area = f"M{x_of(0)},{base} {points} L{x_of(n - 1)},{base} Z" if n else ""
        areas.append({"label": label, "css": css, "area": area, "line": line,
                      "dots": [(x_of(i), y_of(v)) for i, v in enumerate(values)] if n <= 31 else []})
    columns = []
    for i, day in enumerate(days):
        cx = x_of(i)
        col_w = step if n > 1 else plot_w
        lines = [f"{label}: {values[i]:,}" for label, _css, values in series]
        anchor = "start" if cx < left + plot_w * 0.2 else ("end" if cx > left + plot_w * 0.8 else "middle")
        columns.append(Column(x=round(max(left, cx - col_w / 2), 2),
                              width=round(min(col_w, left + plot_w - max(left, cx - col_w / 2)), 2),
                              cx=cx, tip_x=cx, anchor=anchor, title=f"{long_day(day)} — " + ", ".join(lines),
                              lines=[long_day(day), *lines]))
    ticks = [{"y": y_of(y_max * k // 4), "label": f"{y_max * k // 4:,}"} for k in range(5)]
    every = max(1, round(n / 6))
    labels = [{"x": x_of(i), "label": short_day(d),
               "anchor": "start" if i == 0 else ("end" if i == n - 1 else "middle")}
              for i, d in enumerate(days) if i % every == 0 or i == n - 1]
    if len(labels) >= 2 and labels[-1]["x"] - labels[-2]["x"] < 48:   # keep the last date readable
        labels.pop(-2)
    return {"width": width, "height": height, "left": left, "right": width - right, "top": top, "base": base,
            "areas": areas, "columns": columns, "ticks": ticks, "labels": labels, "tip_y": top + 4,
            "days_svg": _days_svg(columns, top, base, top + 4)}


def _days_svg(columns: list, top: float, base: float, tip_y: float) -> Markup:
    """The hover targets of every day, one ``<g class="day">`` each (its tooltip and cursor line). Built here
    rather than in the template: a year has 365 of them, and a Jinja loop over them cost ~70 ms a page."""
    parts = []
    for col in columns:
        tspans = "".join(f'<tspan x="{col.tip_x}" dy="{0 if i == 0 else 15}" dominant-baseline="hanging">'
                         f"{escape(line)}</tspan>" for i, line in enumerate(col.lines))
        parts.append(f'<g class="day"><title>{escape(col.title)}</title>'
                     f'<rect class="hit" x="{col.x}" y="{top}" width="{col.width}" height="{base - top}"></rect>'
                     f'<line class="cursor" x1="{col.cx}" x2="{col.cx}" y1="{top}" y2="{base}"></line>'
                     f'<text class="tip" x="{col.tip_x}" y="{tip_y}" text-anchor="{col.anchor}">{tspans}</text></g>')
    return Markup("\n".join(parts))


# --- the dashboard ---------------------------------------------------------------------------------------
def _bad_request(message: str):
    response = make_response(render_template("error.html", status=400, message=message), 400)
    response.vary.add("HX-Request")
    return response


def fmt_change(value: float | None) -> str:
    if value is None:
        return "no data for the previous period"
    if value == 0:
        return "no change"
    return f"{'+' if value > 0 else '−'}{abs(value):g}% vs previous period"


def fmt_rate(value: float) -> str:
    return f"{value:.1f}%"


@bp.context_processor
def _helpers():
    return {"fmt_change": fmt_change, "fmt_rate": fmt_rate, "TABS": TABS, "PRESETS": service.PRESET_LABELS,
            "SOURCE_LABELS": service.SOURCE_LABELS}


@bp.get("")
@login_required
def index():
    tab = (request.args.get("tab") or DEFAULT_TAB).strip().lower()
    if tab not in TABS:
        return _bad_request("Unknown analytics tab: choose Bookings or Page Views.")
    try:
        preset = service.normalize_preset(request.args.get("preset"))
    except ValidationFailed as exc:
        return _bad_request(f"Unknown date range. {exc.errors['preset']}")
    user = g.user
    context = {"tab": tab, "preset": preset, "plan_key": effective_plan(user),
               "base_url": current_app.config["BASE_URL"]}
    if tab == "page-views":
        data = service.page_analytics(user, preset)
        context["views_chart"] = chart([d for d, _v, _u in data.trend],
                                       [("Views", "series-views", [v for _d, v, _u in data.trend]),
                                        ("Unique visitors", "series-visitors", [u for _d, _v, u in data.trend])])
    else:
        data = service.booking_analytics(user, preset)
        context["bookings_chart"] = chart([d for d, _n, _c in data.trend],
                                          [("Bookings", "series-views", [n for _d, n, _c in data.trend]),
                                           ("Cancelled", "series-cancelled", [c for _d, _n, c in data.trend])])
    period = data.period
    context.update(data=data, period=period, plan_label=PLAN_LABELS[context["plan_key"]],
                   next_plan=NEXT_PLAN.get(context["plan_key"]))
    return render("analytics/index.html", block="panel", **context)


# --- maintenance commands ------------------------------------------------------------------------------
@bp.cli.command("rebuild")
@click.option("--user", "username", default=None, help="Only this username's rollups.")
def rebuild_command(username: str | None):
    """Recompute the daily page-view rollups from the raw views."""
    from app.models import User
    with db.connection_context():
        user_id = None
        if username:
            user = User.get_or_none(User.username == username.lower())
            if user is None:
                raise click.ClickException(f"no user with username {username!r}")
            user_id = user.id
        page_views.rebuild_rollups(user_id)
    click.echo("page-view rollups rebuilt")


@bp.cli.command("purge")
def purge_command():
    """Delete finished days' visitor sets and page views older than two years."""
    with db.connection_context():
        counts = page_views.purge()
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()) + " deleted")
