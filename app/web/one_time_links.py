"""Dashboard: single-use links and one-off meetings (issue 23). The list of the host's links that can still book
(copy, revoke with htmx), a form for a single-use link of one event type (with an optional expiry), and the
one-off meeting form (proposed times on the host's clock). Another user's link is a 404."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for

from app.models import EventType
from app.services.booking import one_time_links as links
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import event_types as event_types_service
from app.services.scheduling.event_types import LOCATION_TYPES
from app.timezones import zone
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("one_time_links", __name__, url_prefix="/dashboard/links")

TIME_ROWS = 5          # proposed-time inputs the one-off form shows


def link_url(link) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for("one_time.booking_page", token=link.token)


def _choices() -> list[EventType]:
    """The host's event types a link can book (active, free, personal)."""
    return [et for et in event_types_service.list_event_types(g.user) if et.status == "active" and not et.is_paid]


def _local(value: str | None, errors: dict, key: str) -> datetime | None:
    """A ``datetime-local`` value on the host's clock as an aware datetime; "" is None; junk is an error."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        errors[key] = "Enter a date and time."
        return None
    if naive.tzinfo is not None:
        errors[key] = "Enter a date and time."
        return None
    return naive.replace(tzinfo=zone(g.user.timezone))


def _list_page(**context):
    rows = links.active_links(g.user)
    times = {link.id: links.proposed_times(link) for link in rows if link.kind == "one_off"}
    return render("one_time_links/index.html", rows=rows, times=times, link_url=link_url,
                  created=request.args.get("created", ""), **context)


@bp.get("")
@login_required
def index():
    return _list_page()


@bp.route("/single-use", methods=["GET", "POST"])
@login_required
def single_use():
    choices = _choices()
    if request.method == "GET":
        values = {"event_type_id": request.args.get("event_type", ""), "expires_at": ""}
        return render("one_time_links/single_use.html", choices=choices, values=values, errors={})
    values = {"event_type_id": request.form.get("event_type_id", ""), "expires_at": request.form.get("expires_at", "")}
    errors: dict[str, str] = {}
    expires_at = _local(values["expires_at"], errors, "expires_at")
    if not errors:
        try:
            link = links.create_single_use(g.user, values["event_type_id"], expires_at=expires_at, ip=g.client_ip)
        except NotFound:
            errors["event_type"] = "Choose one of your event types."
        except ValidationFailed as exc:
            errors.update(exc.errors)
        else:
            flash("Your single-use link is ready: copy it below.", "success")
            return redirect(url_for("one_time_links.index", created=link.id))
    return render("one_time_links/single_use.html", choices=choices, values=values, errors=errors, status=422)


@bp.route("/one-off", methods=["GET", "POST"])
@login_required
def one_off():
    choices = _choices()
    if request.method == "GET":
        base = next((et for et in choices if et.id == request.args.get("event_type")), choices[0] if choices else None)
        values = {"event_type_id": base.id if base else "", "name": "", "duration": "", "location_type": "",
                  "location_detail": "", "expires_at": "", "times": [""] * TIME_ROWS}
        return _one_off_form(choices, values, {})
    form = request.form
    values = {k: form.get(k, "") for k in ("event_type_id", "name", "duration", "location_type", "location_detail",
                                           "expires_at")}
    values["times"] = (form.getlist("time") + [""] * TIME_ROWS)[:max(TIME_ROWS, len(form.getlist("time")))]
    errors: dict[str, str] = {}
    data = links.OneOffInput(event_type_id=values["event_type_id"], name=values["name"],
                             location_type=values["location_type"], location_detail=values["location_detail"])
    if values["duration"].strip():
        try:
            data.duration = int(values["duration"])
        except ValueError:
            errors["duration"] = "Enter a number of minutes."
    data.expires_at = _local(values["expires_at"], errors, "expires_at")
    # the filled-in rows, numbered as on the form (an error names the row it belongs to)
    filled = [(n, raw) for n, raw in enumerate(values["times"], start=1) if raw.strip()]
    parsed = [(n, _local(raw, errors, f"time_{n}")) for n, raw in filled]
    if not errors:
        data.times = [start for _, start in parsed]
        try:
            link = links.create_one_off(g.user, data, ip=g.client_ip)
        except NotFound:
            errors["event_type"] = "Choose one of your event types."
        except ValidationFailed as exc:
            # the service numbers the times it was given: map them back to the rows of the form
            for key, message in exc.errors.items():
                if key.startswith("time_") and key[5:].isdigit() and int(key[5:]) <= len(parsed):
                    key = f"time_{parsed[int(key[5:]) - 1][0]}"
                errors[key] = message
        else:
            flash("Your one-off meeting is ready: copy its link below.", "success")
            return redirect(url_for("one_time_links.index", created=link.id))
    return _one_off_form(choices, values, errors, status=422)


def _one_off_form(choices, values, errors, status=200):
    locations = [(key, LOCATION_TYPES[key]) for key in links.ONE_OFF_LOCATIONS]
    return render("one_time_links/one_off.html", choices=choices, values=values, errors=errors,
                  locations=locations, status=status)


@bp.post("/<link_id>/revoke")
@login_required
def revoke(link_id: str):
    try:
        link = links.revoke(g.user, link_id, ip=g.client_ip)
    except NotFound:
        abort(404)
    if is_htmx():
        return render("one_time_links/index.html", block="revoked", link=link)
    flash("The link was revoked: it books nothing any more.", "success")
    return redirect(url_for("one_time_links.index"))
