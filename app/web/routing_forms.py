"""Dashboard → Routing Forms (issue 18, spec page 02): the list with the six templates, the editor (fields, rules of
up to five AND conditions, routes, the default route, warnings about targets) and each form's responses with
filters and a CSV export.

The editor posts its rows by key, in document order: a hidden ``field`` input per field row (its id) before that
row's ``field-<id>-<part>`` inputs, a hidden ``rule`` per rule row (its id) with ``rule-<id>-cond`` per condition
and ``rule-<id>-c<n>-<part>`` inputs, ``rule-<id>-route-<part>`` for its route and ``default-route-<part>``. So a
row moved in the page (drag-and-drop, the keyboard) is saved where it was dropped, and ids survive every edit.
Every control works as a plain form post (the editor re-renders itself to add, remove or move a row); an htmx
request gets only the part that changed.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, flash, g, make_response, redirect, request, url_for
from jinja2_fragments.flask import render_block

from app.datetimes import host_clock
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached, limits_for
from app.services.routing import forms as service
from app.services.routing import responses as answers
from app.services.routing.rules import MAX_CONDITIONS, OPERATOR_LABELS, OPERATORS_FOR
from app.services.routing.templates import TEMPLATES, template_input
from app.services.scheduling.event_types import render_description, slugify
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("routing_forms", __name__, url_prefix="/dashboard/routing-forms")

CHOICE_TYPES = ("select", "multiselect")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")     # a row's id as the page names its inputs and elements
TABLE_LIMIT = 200                 # responses in the table
EXPORT_LIMIT = 100_000            # responses in the CSV export
ROUTE_LABELS = {"event_type": "Event type", "url": "External URL (https)", "message": "Custom message"}


@bp.context_processor
def _helpers():
    return {"FIELD_LABELS": service.FIELD_LABELS, "OPERATOR_LABELS": OPERATOR_LABELS, "OPERATORS_FOR": OPERATORS_FOR,
            "MAX_CONDITIONS": MAX_CONDITIONS, "ROUTE_LABELS": ROUTE_LABELS, "CHOICE_TYPES": CHOICE_TYPES,
            "form_url": _form_url, "slugify": slugify}


def _form_url(slug: str) -> str:
    return f"{current_app.config['BASE_URL']}/{g.user.username}/route/{slug}"


def _redirect(endpoint: str, **values):
    response = redirect(url_for(endpoint, **values))
    response.vary.add("HX-Request")
    return response


# ---------------------------------------------------------------- the list

def _list(notice=None):
    forms = service.list_forms(g.user)
    counts = answers.response_counts(forms)
    rows = [{"form": form, "responses": counts.get(form.id, 0), "warnings": len(service.warnings(g.user, form))}
            for form in forms]
    return render("routing_forms/index.html", block="form_list", rows=rows, templates=TEMPLATES.values(),
                  notice=notice)


@bp.get("")
@login_required
def index():
    return _list()


@bp.route("/<form_id>/delete", methods=["GET", "POST"])
@login_required
def delete(form_id: str):
    form = service.get_form(g.user, form_id)
    if request.method == "GET":        # the confirmation, for a browser without JavaScript
        return render("routing_forms/delete.html", form=form)
    service.delete_form(g.user, form.id)
    message = f"Deleted “{form.name}”."
    if is_htmx():
        return _list(notice=message)
    flash(message, "success")
    return _redirect("routing_forms.index")


# ---------------------------------------------------------------- the editor's input

def _route(values, prefix: str) -> dict | None:
    kind = (values.get(prefix + "kind") or "").strip()
    if kind == "event_type":
        return {"kind": kind, "eventTypeId": (values.get(prefix + "event_type") or "").strip() or None}
    if kind == "url":
        return {"kind": kind, "url": (values.get(prefix + "url") or "").strip()}
    if kind == "message":
        return {"kind": kind, "message": (values.get(prefix + "message") or "").strip()}
    return {"kind": kind} if kind else None


def _row_key(key: str) -> str:
    """A posted row's id (a new one for an empty or odd one: it names inputs and elements of the page)."""
    key = key.strip()
    return key if _KEY.match(key) else service.new_id()


def parse_form(values) -> service.FormInput:
    """The editor's post as the service's input, rows in the order posted."""
    data = service.FormInput(name=(values.get("name") or "").strip(), slug=(values.get("slug") or "").strip(),
                             description=values.get("description") or "",
                             published=values.get("published") in ("1", "on", "true", "yes"))
    if not data.slug and data.name:                  # without JavaScript: the URL suggested from the name
        data.slug = slugify(data.name)
    for key in values.getlist("field"):
        p = f"field-{key}-"
        data.fields.append({"id": _row_key(key), "type": (values.get(p + "type") or "text").strip(),
                            "label": (values.get(p + "label") or "").strip(), "help": (values.get(p + "help") or ""),
                            "required": values.get(p + "required") in ("1", "on"),
                            "options": [o.strip() for o in (values.get(p + "options") or "").splitlines()
                                        if o.strip()]})
    types = {f["id"]: f["type"] for f in data.fields}
    for key in values.getlist("rule"):
        conditions = []
        for n in values.getlist(f"rule-{key}-cond"):
            p = f"rule-{key}-c{n}-"
            field_id = (values.get(p + "field") or "").strip()
            operator = (values.get(p + "operator") or "").strip()
            chosen = values.getlist(p + "value")
            if types.get(field_id) == "multiselect" and operator in ("equals", "not_equals"):
                value = [line.strip() for item in chosen for line in item.splitlines() if line.strip()]
            else:
                value = chosen[0] if chosen else ""
            conditions.append({"field": field_id, "operator": operator, "value": value})
        data.rules.append({"id": _row_key(key), "conditions": conditions,
                           "route": _route(values, f"rule-{key}-route-")})
    data.default_route = _route(values, "default-route-")
    return data


def _follow_types(data: service.FormInput) -> None:
    """After a field's type or a condition's field changed: a condition keeps its operator only when the field's
    type allows it (else it takes the type's first), as the operator select then shows."""
    types = {f["id"]: f["type"] for f in data.fields}
    for rule in data.rules:
        for condition in rule["conditions"]:
            allowed = OPERATORS_FOR.get(types.get(condition["field"], ""), ())
            if allowed and condition["operator"] not in allowed:
                condition["operator"] = allowed[0]


def _find(rows: list[dict], key: str) -> int | None:
    return next((i for i, row in enumerate(rows) if row["id"] == key), None)


def _move(rows: list[dict], key: str, step: int) -> None:
    index = _find(rows, key)
    if index is None:
        return
    other = index + step
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]


def apply_op(data: service.FormInput) -> tuple[str | None, str]:
    """Add, remove or move a row (nothing is saved). Returns (the id of the control to focus, the part of the
    editor that changed: ``rows`` or ``rules``), or (None, "") when the post is a save."""
    op = request.form.get("op", "")
    kind, _, key = op.partition(":")
    limits = limits_for(g.user)
    if kind == "add-field":
        if len(data.fields) >= limits.routing_form_fields:
            return "add-field", "rows"
        new = service.new_id()
        data.fields.append({"id": new, "type": request.form.get("new_field_type") or "text", "label": "",
                            "help": "", "required": False, "options": []})
        return f"f-{new}-label", "rows"
    if kind == "remove-field":
        data.fields[:] = [f for f in data.fields if f["id"] != key]
        return "add-field", "rows"
    if kind in ("field-up", "field-down"):
        _move(data.fields, key, -1 if kind == "field-up" else 1)
        return f"f-{key}-{kind.split('-')[1]}", "rows"
    if kind == "add-rule":
        if len(data.rules) >= limits.routing_form_rules:
            return "add-rule", "rules"
        new = service.new_id()
        first = data.fields[0] if data.fields else None
        data.rules.append({"id": new, "conditions": [
            {"field": first["id"] if first else "", "operator": OPERATORS_FOR[first["type"]][0] if first else "equals",
             "value": ""}], "route": {"kind": "event_type", "eventTypeId": None}})
        return f"r-{new}-c0-field", "rules"
    if kind == "remove-rule":
        data.rules[:] = [r for r in data.rules if r["id"] != key]
        return "add-rule", "rules"
    if kind in ("rule-up", "rule-down"):
        _move(data.rules, key, -1 if kind == "rule-up" else 1)
        return f"r-{key}-{kind.split('-')[1]}", "rules"
    if kind == "add-cond":
        index = _find(data.rules, key)
        if index is not None and len(data.rules[index]["conditions"]) < MAX_CONDITIONS:
            first = data.fields[0] if data.fields else None
            data.rules[index]["conditions"].append(
                {"field": first["id"] if first else "",
                 "operator": OPERATORS_FOR[first["type"]][0] if first else "equals", "value": ""})
            return f"r-{key}-c{len(data.rules[index]['conditions']) - 1}-field", "rules"
        return f"r-{key}-add-cond", "rules"
    if kind == "remove-cond":
        rule_key, _, n = key.rpartition(":")
        index = _find(data.rules, rule_key)
        if index is not None and n.isdigit() and int(n) < len(data.rules[index]["conditions"]):
            data.rules[index]["conditions"].pop(int(n))
        return f"r-{rule_key}-add-cond", "rules"
    if kind == "cond-field":                     # a condition's field changed: its operators follow
        _follow_types(data)
        return key.replace(":", "-c", 1).join(("r-", "-field")), "rules"
    if kind == "refresh":                        # a type, label or order changed: show the choices that follow
        _follow_types(data)
        return "", key if key in ("rows", "rules", "warnings") else "rows"
    return None, ""


# ---------------------------------------------------------------- the editor

def _targets() -> list[dict]:
    """The event types a route may point at, grouped (own first, then each team's), team ones named with it."""
    return [{"id": et.id, "label": f"{et.name} ({et.team.name})" if et.team_id else et.name,
             "group": f"Team {et.team.name}" if et.team_id else "Your event types",
             "note": "draft" if et.status != "active" else ("secret" if et.is_secret else "")}
            for et in service.target_choices(g.user)]


_PARTS = {"type": "type", "label": "question", "help": "help text", "options": "options", "field": "field",
          "operator": "comparison", "value": "value"}


def error_summary(errors: dict, data: service.FormInput) -> list[tuple[str, str]]:
    """(the anchor of the control, "where: message") for each error but the plan's, in the form's order."""
    out = []
    tops = {"name": ("f-name", "Name"), "slug": ("f-slug", "URL"), "description": ("f-description", "Description"),
            "fields": ("fields", "Questions"), "default_route": ("default-route-kind", "Default route")}
    for key, message in errors.items():
        parts = key.split("-")
        if key in tops:
            anchor, where = tops[key]
        elif parts[0] == "fields" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(data.fields):
            field_id = data.fields[int(parts[1])]["id"]
            anchor = f"f-{field_id}-{parts[2]}"
            where = f"Question {int(parts[1]) + 1}, {_PARTS.get(parts[2], parts[2])}"
        elif parts[0] == "rules" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(data.rules):
            rule_id, number = data.rules[int(parts[1])]["id"], int(parts[1]) + 1
            if parts[2] == "route":
                anchor, where = f"r-{rule_id}-route-kind", f"Rule {number}, route"
            elif len(parts) == 5 and parts[3].isdigit():
                anchor = f"r-{rule_id}-c{parts[3]}-{parts[4]}"
                where = f"Rule {number}, condition {int(parts[3]) + 1}, {_PARTS.get(parts[4], parts[4])}"
            else:
                anchor, where = f"rule-{rule_id}", f"Rule {number}"
        elif key == "plan":
            continue
        else:
            anchor, where = "rf-form", key
        out.append((anchor, f"{where}: {message}"))
    return out


def _editor(form, data, *, errors=None, block="editor", status=200, focus=None):
    limits = limits_for(g.user)
    context = {"form": form, "data": data, "errors": errors or {}, "focus": focus, "targets": _targets(),
               "warnings": service.warnings(g.user, data), "max_fields": limits.routing_form_fields,
               "max_rules": limits.routing_form_rules, "oob": block in ("rows", "rules") and is_htmx(),
               "preview": render_description(data.description) if data.description.strip() else "",
               "summary": error_summary(errors or {}, data)}
    return render("routing_forms/form.html", block=block, status=status, **context)


def _save_errors(exc: Exception) -> dict:
    return exc.errors if isinstance(exc, ValidationFailed) else {"plan": str(exc)}


def _saved(form, message: str):
    flash(message, "success")
    target = url_for("routing_forms.detail", form_id=form.id)
    if is_htmx():       # a whole page load, which shows the flash
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        response.vary.add("HX-Request")
        return response
    return _redirect("routing_forms.detail", form_id=form.id)


def _edit_post(form):
    data = parse_form(request.form)
    focus, _part = apply_op(data)
    if focus is not None:
        return _editor(form, data, focus=focus or None)
    try:
        if form is None:
            saved = service.create_form(g.user, data)
        else:
            saved = service.update_form(g.user, form.id, data)
    except (ValidationFailed, PlanLimitReached) as exc:
        return _editor(form, data, errors=_save_errors(exc), status=422)
    return _saved(saved, f"Created “{saved.name}”." if form is None else "Changes saved.")


@bp.get("/new")
@login_required
def new():
    data = template_input(request.args.get("template", ""))
    if data is None:
        data = service.FormInput(fields=[{"id": service.new_id(), "type": "text", "label": "", "help": "",
                                          "required": True, "options": []}])
    return _editor(None, data)


@bp.post("")
@login_required
def create():
    return _edit_post(None)


@bp.route("/<form_id>", methods=["GET", "POST"])
@login_required
def detail(form_id: str):
    form = service.get_form(g.user, form_id)
    if request.method == "GET":
        return _editor(form, service.input_of(form))
    return _edit_post(form)


@bp.post("/editor")
@login_required
def rows():
    """A part of the form being edited, after a row was added, removed or moved or a choice changed (htmx;
    nothing is saved)."""
    if not is_htmx():      # without JavaScript these buttons post to the form itself
        return _redirect("routing_forms.index")
    data = parse_form(request.form)
    focus, part = apply_op(data)
    part = part or request.args.get("part", "rows")
    block = part if part in ("rules", "warnings") else "rows"
    return _editor(None, data, block=block, focus=focus or None)


@bp.post("/preview")
@login_required
def preview():
    html = render_description(request.form.get("description", ""))
    response = make_response(render_block("routing_forms/form.html", "description_preview", preview=html))
    response.vary.add("HX-Request")
    return response


# ---------------------------------------------------------------- responses

def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _filters(form) -> tuple[dict, dict]:
    """The filters as typed and as the service takes them (days on the host's clock)."""
    args = request.args
    shown = {"route": args.get("route", ""), "booked": args.get("booked", ""), "from": args.get("from", ""),
             "to": args.get("to", "")}
    rule_ids = {rule["id"] for rule in form.rules or []}
    zone = ZoneInfo(host_clock(g.user).tz)
    since, until = _day(shown["from"]), _day(shown["to"])
    query = {"route": shown["route"] if shown["route"] == "default" or shown["route"] in rule_ids else "",
             "booked": shown["booked"] if shown["booked"] in ("yes", "no") else "",
             "since": datetime.combine(since, time(0), zone) if since else None,
             "until": datetime.combine(until + timedelta(days=1), time(0), zone) if until else None}
    return shown, query


@bp.get("/<form_id>/responses")
@login_required
def responses(form_id: str):
    form = service.get_form(g.user, form_id)
    shown, query = _filters(form)
    numbers = {rule["id"]: index for index, rule in enumerate(form.rules or [], start=1)}
    rows = answers.list_responses(form, limit=TABLE_LIMIT, **query)
    return render("routing_forms/responses.html", block="responses", form=form, rows=rows, filters=shown,
                  numbers=numbers, limit=TABLE_LIMIT, export_limit=EXPORT_LIMIT)


@bp.get("/<form_id>/responses.csv")
@login_required
def export(form_id: str):
    form = service.get_form(g.user, form_id)
    _shown, query = _filters(form)
    body = answers.export_csv(form, answers.list_responses(form, limit=EXPORT_LIMIT, **query),
                              tz=g.user.timezone)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="routing-form-{form.slug}-responses.csv"'})
