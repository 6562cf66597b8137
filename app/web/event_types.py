"""Dashboard: event types — list (copy link, toggle, duplicate, delete) and the create/edit form.

Every action is a plain form post that redirects (or re-renders the page with inline errors); an htmx
request gets only the part of the page that changed (a row, the list, the form or one of its sections).
"""
from __future__ import annotations

import re

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from jinja2_fragments.flask import render_block
from werkzeug.datastructures import MultiDict

from app import money
from app.models import Schedule
from app.services.booking import payments
from app.services.booking.payment_providers import PAYMENT_PROVIDERS
from app.services.errors import ValidationFailed
from app.services.insights import analytics
from app.services.scheduling import event_types as service
from app.services.scheduling.booking_limits import EVENT_TYPE_FIELDS as LIMIT_FIELDS
from app.web import booking_limits
from app.web.htmx import is_htmx
from app.web.integrations import video_offered
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("event_types", __name__, url_prefix="/dashboard/event-types")

NOTICE_UNITS = {"minutes": 1, "hours": 60, "days": 1440}
QUESTION_LABELS = {"text": "Short text", "textarea": "Long text", "select": "Choice (one)",
                   "multiselect": "Choice (several)", "number": "Number", "email": "Email", "phone": "Phone number",
                   "checkbox": "Checkbox"}
REMINDER_PRESETS = (10080, 2880, 1440, 720, 120, 60, 30, 15)
MAX_QUESTION_ROWS = 50
FIELD_LABELS = {"name": "Name", "slug": "URL", "description": "Description", "duration": "Duration",
                "extra_durations": "Other durations", "location_type": "Location",
                "location_detail": "Location details",
                "buffer_before": "Buffer before", "buffer_after": "Buffer after", "minimum_notice": "Minimum notice",
                "window_type": "Booking window", "window_days": "Booking window", "window_start": "First date",
                "window_end": "Last date", "slot_interval": "Slot interval", "max_per_day": "Bookings per day",
                "status": "Status", "color": "Colour", "questions": "Questions", "recurrence": "Recurring",
                "reminders": "Reminders", "schedule_id": "Schedule", "price": "Price", "price_currency": "Currency",
                "payment_providers": "Payment methods", "payment_window": "Payment window",
                "refund_invitee_hours": "Refunds to invitees", "redirect_url": "Redirect after booking",
                "invitee_cancel": "Cancellation policy", "invitee_cancel_hours": "Cancellation policy",
                "invitee_reschedule": "Reschedule policy", "invitee_reschedule_hours": "Reschedule policy",
                "requires_confirmation": "Requires confirmation",
                "confirmation_threshold_hours": "Requires confirmation", "max_guests": "Guests"}
FIELD_LABELS.update(booking_limits.LABELS)
# The editor's optional sections (issue 23 and the redirect): each posts a hidden marker; a form without it (a
# team's, an older page) leaves the section's fields as they are. marker -> (text fields, checkboxes)
OPTIONAL_SECTIONS = {
    "redirect_section": (("redirect_url",), ("redirect_with_details",)),
    "policy_section": (("invitee_cancel", "invitee_cancel_hours", "invitee_reschedule", "invitee_reschedule_hours"),
                       ("require_cancel_reason",)),
    "approval_section": (("confirmation_threshold_hours",), ("requires_confirmation",)),   # personal only
    "guests_section": (("max_guests",), ()),
    "seats_section": (("seats",), ("seats_show_remaining",)),
    "limits_section": (LIMIT_FIELDS, ()),
}
FIELD_ANCHORS = {"window_type": "f-window_days", "questions": "questions", "recurrence": "f-recurrence",
                 "reminders": "reminders", "minimum_notice": "f-notice_value", "payment_providers": "payment"}


def _redirect(endpoint: str, **values):
    response = redirect(url_for(endpoint, **values))
    response.vary.add("HX-Request")
    return response


def _fragment(template: str, block: str, **context):
    """Only ``block``, whatever the request: for the helpers that exist for as-you-type checks."""
    response = make_response(render_block(template, block, **context))
    response.vary.add("HX-Request")
    return response


def human_minutes(total: int) -> str:
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour")):
        if total >= size and total % size == 0:
            n = total // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{total} min"


def public_url(event_type=None) -> str:
    url = f"{current_app.config['BASE_URL']}/{g.user.username}"
    return f"{url}/{event_type.slug}" if event_type is not None else url


@bp.context_processor
def _helpers():
    return {"human_minutes": human_minutes, "public_url": public_url, "LOCATION_TYPES": service.LOCATION_TYPES,
            "location_choices": lambda current=None: service.location_choices(g.user, current),
            "QUESTION_LABELS": QUESTION_LABELS, "NOTICE_UNITS": NOTICE_UNITS, "FIELD_LABELS": FIELD_LABELS,
            "FIELD_ANCHORS": FIELD_ANCHORS, "REMINDER_PRESETS": REMINDER_PRESETS,
            "base_url": current_app.config["BASE_URL"], "video_offered": lambda: video_offered(g.user),
            "payment_choices": _payment_choices, "currency_choices": money.choices}


def _payment_choices() -> list[tuple[str, str]]:
    """(name, label) of the payment providers configured here; empty: the form has no Payment section."""
    return [(name, PAYMENT_PROVIDERS[name].label) for name in payments.configured_providers()]


def _payment_values(event_type) -> dict:
    if event_type is None or not event_type.price_amount:
        price = ""
    else:
        price = money.to_decimal_string(event_type.price_amount, event_type.price_currency)
    chosen = list(event_type.payment_providers or []) if event_type is not None else []
    return {"price": price, "price_currency": (event_type.price_currency if event_type is not None else None) or "usd",
            "payment_providers": chosen or list(payments.configured_providers()),
            "payment_window": str(event_type.payment_window if event_type is not None else 15),
            "refund_on_host_cancel": event_type.refund_on_host_cancel if event_type is not None else True,
            "refund_invitee_hours": str(event_type.refund_invitee_hours if event_type is not None else 24)}


def _policy_values(event_type) -> dict:
    """The "Cancellation and rescheduling" section (issue 23): the stored policy, or the defaults."""
    defaults = {"invitee_cancel": "anytime", "invitee_cancel_hours": 24, "invitee_reschedule": "anytime",
                "invitee_reschedule_hours": 24}
    values = {n: str(getattr(event_type, n) if event_type is not None else d) for n, d in defaults.items()}
    return {**values, "require_cancel_reason": bool(event_type is not None and event_type.require_cancel_reason)}


def _own(event_type_id: str):
    return service.get_event_type(g.user, event_type_id)


# ---------------------------------------------------------------- form values <-> EventTypeInput
# (shared with the team event type form, app/web/team_event_types.py, which adds its scheduling type and hosts)

def _split_minutes(total: int) -> tuple[int, str]:
    for unit in ("days", "hours"):
        if total and total % NOTICE_UNITS[unit] == 0:
            return total // NOTICE_UNITS[unit], unit
    return total, "minutes"


def _recurrence_values(recurrence: dict | None) -> dict:
    if not recurrence:
        return {"recurrence": "none", "recurrence_interval": "2", "recurrence_max": "4"}
    interval = int(recurrence.get("interval") or 1)
    if recurrence.get("frequency") == "monthly":
        kind = "monthly"
    else:
        kind = "weekly" if interval == 1 else "weeks"
    return {"recurrence": kind, "recurrence_interval": str(max(interval, 2) if kind == "weeks" else 2),
            "recurrence_max": str(recurrence.get("maxOccurrences", 4))}


def values_from_model(event_type) -> dict:
    """The form's values (strings, as the inputs hold them) for a stored or a new event type."""
    et = event_type
    if et is None:
        return {"name": "", "slug": "", "description": "", "duration": "30", "extra_durations": "",
                "location_type": "none", "location_detail": "", "buffer_before": "0", "buffer_after": "0",
                "notice_value": "4", "notice_unit": "hours", "window_type": "rolling", "window_days": "60",
                "window_start": "", "window_end": "", "slot_interval": "", "max_per_day": "", "status": "active",
                "is_secret": False, "color": "#2563eb", "questions": [], **_recurrence_values(None),
                "reminders": ["1440"], "reminder_custom": "", "schedule_id": "", **_payment_values(None),
                "redirect_url": "", "redirect_with_details": False, "requires_confirmation": False,
                "confirmation_threshold_hours": "", "max_guests": "10", "seats": "", "seats_show_remaining": False,
                **_policy_values(None), **booking_limits.event_type_values(None)}
    notice_value, notice_unit = _split_minutes(et.minimum_notice or 0)
    return {
        "name": et.name, "slug": et.slug, "description": et.description or "", "duration": str(et.duration),
        "extra_durations": ", ".join(str(d) for d in et.extra_durations or []),
        "location_type": et.location_type, "location_detail": et.location_detail or "",
        "buffer_before": str(et.buffer_before), "buffer_after": str(et.buffer_after),
        "notice_value": str(notice_value), "notice_unit": notice_unit, "window_type": et.window_type,
        "window_days": str(et.window_days or 60),
        "window_start": et.window_start.isoformat() if et.window_start else "",
        "window_end": et.window_end.isoformat() if et.window_end else "",
        "slot_interval": str(et.slot_interval or ""), "max_per_day": str(et.max_per_day or ""),
        "status": et.status, "is_secret": bool(et.is_secret), "color": et.color,
        "questions": [{"id": q.get("id", ""), "label": q.get("label", ""), "type": q.get("type", "text"),
                       "required": bool(q.get("required")), "options_text": "\n".join(q.get("options") or [])}
                      for q in et.questions or []],
        **_recurrence_values(et.recurrence),
        "reminders": [str(m) for m in et.reminders or []], "reminder_custom": "",
        "schedule_id": et.schedule_id or "", **_payment_values(et),
        "redirect_url": et.redirect_url or "", "redirect_with_details": bool(et.redirect_with_details),
        **_policy_values(et),
        "requires_confirmation": bool(et.requires_confirmation),
        "confirmation_threshold_hours": str(et.confirmation_threshold_hours or ""),
        "max_guests": str(et.max_guests if et.max_guests is not None else 10),
        "seats": str(et.seats or ""), "seats_show_remaining": bool(et.seats_show_remaining),
        **booking_limits.event_type_values(et),
    }


def questions_from_form(form: MultiDict) -> list[dict]:
    indices = sorted({int(m.group(1)) for key in form if (m := re.fullmatch(r"questions-(\d{1,3})-label", key))})
    rows = []
    for i in indices[:MAX_QUESTION_ROWS]:
        prefix = f"questions-{i}-"
        rows.append({"id": form.get(prefix + "id", "")[:40], "label": form.get(prefix + "label", ""),
                     "type": form.get(prefix + "type", "text"), "required": bool(form.get(prefix + "required")),
                     "options_text": form.get(prefix + "options", "")})
    return rows


def values_from_form(form: MultiDict) -> dict:
    text = {k: form.get(k, "").strip() for k in (
        "name", "slug", "duration", "extra_durations", "location_type", "location_detail", "buffer_before",
        "buffer_after", "notice_value", "notice_unit", "window_type", "window_days", "window_start", "window_end",
        "slot_interval", "max_per_day", "status", "color", "recurrence", "recurrence_interval", "recurrence_max",
        "reminder_custom", "schedule_id")}
    values = {**text, "description": form.get("description", ""), "is_secret": bool(form.get("is_secret")),
              "questions": questions_from_form(form), "reminders": form.getlist("reminders")}
    if form.get("payment_section"):        # the Payment section was on the form (providers are configured)
        values.update({k: form.get(k, "").strip() for k in ("price", "price_currency", "payment_window",
                                                                 "refund_invitee_hours")},
                      payment_section=True, payment_providers=form.getlist("payment_providers"),
                      refund_on_host_cancel=bool(form.get("refund_on_host_cancel")))
    else:
        values.update(_payment_values(None), payment_section=False)
    for marker, (texts, boxes) in OPTIONAL_SECTIONS.items():
        values[marker] = bool(form.get(marker))
        values.update({k: form.get(k, "").strip() for k in texts}, **{k: bool(form.get(k)) for k in boxes})
    return values


def input_from_values(values: dict) -> service.EventTypeInput:
    notice: object = values["notice_value"]
    try:
        notice = int(values["notice_value"]) * NOTICE_UNITS.get(values["notice_unit"], 1)
    except ValueError:
        pass  # the service explains what is wrong with it
    recurrence = {"none": {}, "weekly": {"frequency": "weekly", "interval": 1},
                  "weeks": {"frequency": "weekly", "interval": values["recurrence_interval"]},
                  "monthly": {"frequency": "monthly", "interval": 1}}.get(values["recurrence"],
                                                                        {"frequency": values["recurrence"]})
    if recurrence:
        recurrence["maxOccurrences"] = values["recurrence_max"]
    reminders = list(values["reminders"]) + ([values["reminder_custom"]] if values["reminder_custom"] else [])
    questions = [{"id": q["id"] or None, "label": q["label"], "type": q["type"], "required": q["required"],
                  "options": [line.strip() for line in q["options_text"].splitlines() if line.strip()]}
                 for q in values["questions"] if q["label"].strip() or q["options_text"].strip()]
    payment = {}
    if values.get("payment_section"):
        payment = {"price": values["price"], "price_currency": values["price_currency"],
                   "payment_providers": values["payment_providers"], "payment_window": values["payment_window"],
                   "refund_on_host_cancel": values["refund_on_host_cancel"],
                   "refund_invitee_hours": values["refund_invitee_hours"]}
    for marker, (texts, boxes) in OPTIONAL_SECTIONS.items():
        if values.get(marker):
            payment.update({k: values[k] for k in (*texts, *boxes)})
    return service.EventTypeInput(
        **payment, name=values["name"], slug=values["slug"], description=values["description"],
        duration=values["duration"],
        extra_durations=[d for d in re.split(r"[\s,;]+", values["extra_durations"]) if d],
        location_type=values["location_type"], location_detail=values["location_detail"],
        buffer_before=values["buffer_before"], buffer_after=values["buffer_after"], minimum_notice=notice,
        window_type=values["window_type"], window_days=values["window_days"], window_start=values["window_start"],
        window_end=values["window_end"], slot_interval=values["slot_interval"], max_per_day=values["max_per_day"],
        status=values["status"], is_secret=values["is_secret"], color=values["color"], questions=questions,
        recurrence=recurrence, reminders=reminders, schedule_id=values["schedule_id"])


def apply_question_op(values: dict, op: str) -> str | None:
    """Add, remove or move a question row (nothing is saved); returns the id of the control to focus."""
    rows = values["questions"]
    if op == "add-question":
        if len(rows) < MAX_QUESTION_ROWS:
            rows.append({"id": "", "label": "", "type": "text", "required": False, "options_text": ""})
        return f"q-{len(rows) - 1}-label"
    match = re.fullmatch(r"(remove|up|down)-question:(\d{1,3})", op)
    if not match or int(match.group(2)) >= len(rows):
        return None
    kind, i = match.group(1), int(match.group(2))
    if kind == "remove":
        rows.pop(i)
        return "q-add"
    j = i - 1 if kind == "up" else i + 1
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
    else:
        j = i
    return f"q-{j}-up" if j > 0 else f"q-{j}-down"


def _schedules():
    return list(Schedule.select().where(Schedule.user == g.user).order_by(Schedule.created_at))


def notice_in_unit(errors: dict, values: dict) -> dict:
    """The service checks the minimum notice in minutes; the form says the range in the unit chosen."""
    factor = NOTICE_UNITS.get(values.get("notice_unit", ""))
    if "minimum_notice" not in errors or not factor:
        return errors
    try:
        int(values.get("notice_value", ""))
    except ValueError:
        return errors       # not a number: the service's message says so
    unit = values["notice_unit"]
    return {**errors, "minimum_notice": f"The minimum notice must be between 0 and {service.MAX_NOTICE // factor} "
                                        f"{unit}."}


def _form_page(event_type, values, errors=None, *, block="event_type_form", status=200, notice=None,
               focus=None):
    errors = notice_in_unit(errors or {}, values)
    # a new form re-rendered after a post keeps a hand-edited slug from following the name
    slug_edited = (event_type is None and bool(values["slug"])
                   and values["slug"] != service.suggest_slug(g.user, values["name"]))
    return render("event_types/form.html", block=block, event_type=event_type, values=values,
                  errors=errors or {}, schedules=_schedules(), notice=notice, focus=focus, slug_edited=slug_edited,
                  preview=service.render_description(values["description"]), status=status,
                  performance=analytics.event_performance(event_type) if event_type is not None else None)


# ---------------------------------------------------------------- list and row actions

def _list(notice=None, status=200, team_section=None):
    return render("event_types/index.html", block="event_type_list", event_types=service.list_event_types(g.user),
                  notice=notice, status=status, team_section=team_section)


def _team_section() -> dict:
    """The teams the host is in and their event types, each saying whether the host may edit it (OWNER or
    ADMIN of the organization) and its public address."""
    from app.models import Membership, Team, TeamMember
    from app.models.scheduling import SCHEDULING_TYPES
    from app.services.account.organizations import MANAGERS
    from app.services.scheduling.team_event_types import for_member

    teams = list(Team.select().join(TeamMember).where(TeamMember.user == g.user).order_by(Team.name))
    if not teams:
        return {"teams": [], "rows": []}
    roles = {row.organization_id: row.role for row in Membership.select().where(Membership.user == g.user)}
    rows = [{"et": et, "team": et.team, "manager": roles.get(et.team.organization_id) in MANAGERS,
             "kind": SCHEDULING_TYPES.get(et.scheduling_type or "", ""),
             "url": f"{current_app.config['BASE_URL']}/team/{et.team.slug}/{et.slug}"} for et in for_member(g.user)]
    return {"teams": teams, "rows": rows}


@bp.get("")
@login_required
def index():
    return _list(team_section=_team_section())


@bp.get("/<event_type_id>/row")
@login_required
def row(event_type_id: str):
    event_type = _own(event_type_id)
    if not is_htmx():
        return _redirect("event_types.index")
    return render("event_types/index.html", block="row", et=event_type)


@bp.post("/<event_type_id>/toggle")
@login_required
def toggle(event_type_id: str):
    event_type = _own(event_type_id)
    active = request.form.get("active", "1" if not event_type.is_active else "0") == "1"
    service.set_status(event_type, active, ip=g.client_ip)
    if not is_htmx():
        flash(f"“{event_type.name}” is {'active' if active else 'off (draft)'}.", "success")
        return _redirect("event_types.index")
    return render("event_types/index.html", block="row", et=event_type)


@bp.post("/<event_type_id>/duplicate")
@login_required
def duplicate(event_type_id: str):
    copy = service.duplicate_event_type(_own(event_type_id), ip=g.client_ip)
    message = f"Created “{copy.name}” as a draft."
    if not is_htmx():
        flash(message, "success")
        return _redirect("event_types.index")
    return _list(notice=message)


@bp.route("/<event_type_id>/delete", methods=["GET", "POST"])
@login_required
def delete(event_type_id: str):
    event_type = _own(event_type_id)
    if request.method == "GET":  # the confirmation (a row for htmx, a page otherwise)
        return render("event_types/delete.html", block="confirm", et=event_type)
    name = event_type.name
    service.delete_event_type(event_type, ip=g.client_ip)
    message = f"Deleted “{name}”."
    if not is_htmx():
        flash(message, "success")
        return _redirect("event_types.index")
    return _list(notice=message)


# ---------------------------------------------------------------- create / edit form

@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if request.method == "GET":
        return _form_page(None, values_from_model(None))
    values = values_from_form(request.form)
    op = request.form.get("op", "save")
    if op != "save":
        return _form_page(None, values, focus=apply_question_op(values, op))
    try:
        event_type = service.create_event_type(g.user, input_from_values(values), ip=g.client_ip)
    except ValidationFailed as exc:
        return _form_page(None, values, exc.errors, status=422)
    if not is_htmx():
        flash(f"Created “{event_type.name}”.", "success")
        return _redirect("event_types.edit", event_type_id=event_type.id)
    response = _form_page(event_type, values_from_model(event_type), notice=f"Created “{event_type.name}”.")
    response.headers["HX-Push-Url"] = url_for("event_types.edit", event_type_id=event_type.id)
    return response


@bp.route("/<event_type_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_type_id: str):
    event_type = _own(event_type_id)
    if request.method == "GET":
        return _form_page(event_type, values_from_model(event_type))
    values = values_from_form(request.form)
    op = request.form.get("op", "save")
    if op != "save":
        return _form_page(event_type, values, focus=apply_question_op(values, op))
    try:
        service.update_event_type(event_type, input_from_values(values), ip=g.client_ip)
    except ValidationFailed as exc:
        return _form_page(_own(event_type_id), values, exc.errors, status=422)
    if not is_htmx():
        flash("Changes saved.", "success")
        return _redirect("event_types.edit", event_type_id=event_type.id)
    return _form_page(event_type, values_from_model(event_type), notice="Changes saved.")


@bp.post("/questions")
@login_required
def questions():
    """Add/remove/reorder question rows of the form being edited (htmx); nothing is saved."""
    values = values_from_form(request.form)
    focus = apply_question_op(values, request.form.get("op", ""))
    if not is_htmx():  # without JS these buttons post to the form itself; nothing to do here
        return _redirect("event_types.index")
    return _form_page(None, values, block="questions", focus=focus)


@bp.post("/preview")
@login_required
def preview():
    html = service.render_description(request.form.get("description", ""))
    return _fragment("event_types/form.html", "description_preview", preview=html)


@bp.get("/slug-check")
@login_required
def slug_check():
    slug = request.args.get("slug", "").strip().lower()
    problem = service.slug_problem(g.user, slug, exclude_id=request.args.get("exclude") or None)
    return _fragment("event_types/form.html", "slug_check", slug_problem=problem, slug=slug)


@bp.get("/slug-suggestion")
@login_required
def slug_suggestion():
    name = request.args.get("name", "").strip()
    slug = service.suggest_slug(g.user, name) if name else ""
    return _fragment("event_types/form.html", "slug_field", values={"slug": slug}, errors={}, event_type=None,
                     slug=slug, slug_problem=None)
