"""Routing forms as hosts define them (spec page 02): validation, plan limits, create / update / delete, targets.

A form is edited as a whole: ``FormInput`` holds its name, slug, description, published flag, ordered fields,
ordered rules and default route; ``validate`` checks everything and returns the cleaned values or raises
``ValidationFailed`` with one message per problem (keys ``name``, ``fields-2-label``, ``rules-0-conditions-1-value``,
``rules-0-route``, ``default_route`` ...). A draft may keep routes without a target (a template's rules before the
host points them at event types); publishing needs every route complete.

Limits come from the plan table: forms per account (``routing_forms``), fields (``routing_form_fields``) and rules
(``routing_form_rules``) per form. A downgrade keeps every form as it is and only refuses creating more.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import peewee

from app.db import is_postgres, transaction
from app.models import Booking, EventType, RoutingForm, RoutingResponse, Team, TeamMember, User
from app.models.base import utcnow
from app.models.routing import FIELD_TYPES, ROUTE_KINDS
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import PLAN_LABELS, PlanLimitReached, check_count, effective_plan, limits_for
from app.services.routing.rules import MAX_CONDITIONS, OPERATORS_FOR, parse_number

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FIELD_LABELS = {"text": "Text", "textarea": "Textarea", "select": "Select", "multiselect": "Multi-select",
                "number": "Number", "email": "Email", "phone": "Phone"}
MAX_OPTIONS = 50
MAX_DESCRIPTION = 5000
MAX_MESSAGE = 2000


@dataclass
class FormInput:
    name: str = ""
    slug: str = ""
    description: str = ""
    published: bool = False
    fields: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    default_route: dict | None = None


def new_id() -> str:
    return secrets.token_hex(4)


def input_of(form: RoutingForm) -> FormInput:
    return FormInput(name=form.name, slug=form.slug, description=form.description, published=form.published,
                     fields=[dict(f) for f in form.fields or []], rules=[dict(r) for r in form.rules or []],
                     default_route=dict(form.default_route) if form.default_route else None)


# --- targets ---------------------------------------------------------------------------------------------------
def target_choices(user: User) -> list[EventType]:
    """The event types a route may point at: the user's own and those of the teams they belong to."""
    teams = TeamMember.select(TeamMember.team).where(TeamMember.user == user)
    return list(EventType.select(EventType, Team).join(Team, peewee.JOIN.LEFT_OUTER)
                .where(((EventType.user == user) & EventType.team.is_null()) | EventType.team.in_(teams))
                .order_by(EventType.team.is_null(False), EventType.name))


def target_of(user: User, route: dict | None) -> EventType | None:
    if not route or route.get("kind") != "event_type" or not route.get("eventTypeId"):
        return None
    return next((et for et in target_choices(user) if et.id == route["eventTypeId"]), None)


def bookable(event_type: EventType | None) -> bool:
    """Whether a route to ``event_type`` can be followed by a visitor (published, not secret)."""
    return event_type is not None and event_type.status == "active" and not event_type.is_secret


def warnings(user: User, form: RoutingForm | FormInput) -> list[str]:
    """What the editor warns about: routes whose event type is a draft, secret or gone (visitors would see the
    "No event types available" message), and routes without a target."""
    choices = {et.id: et for et in target_choices(user)}
    out = []
    routes = [(f"Rule {index}", rule.get("route")) for index, rule in enumerate(form.rules or [], start=1)]
    routes.append(("The default route", form.default_route))
    for where, route in routes:
        if not route:
            out.append(f"{where} has no route yet.")
            continue
        if route.get("kind") != "event_type":
            continue
        if not route.get("eventTypeId"):
            out.append(f"{where} has no event type yet.")
            continue
        event_type = choices.get(route["eventTypeId"])
        if event_type is None:
            out.append(f"{where} points at an event type that no longer exists.")
        elif event_type.status != "active":
            out.append(f"{where} points at “{event_type.name}”, which is a draft: visitors would see "
                       "“No event types available”.")
        elif event_type.is_secret:
            out.append(f"{where} points at “{event_type.name}”, which is secret: visitors would see "
                       "“No event types available”.")
    return out


# --- validation -------------------------------------------------------------------------------------------------
def _clean_fields(user: User, raw: list[dict], errors: dict) -> list[dict]:
    limit = limits_for(user).routing_form_fields
    if len(raw) > limit:
        raise PlanLimitReached(f"Your {PLAN_LABELS[effective_plan(user)]} plan allows {limit} fields per routing "
                               "form. Delete one or ask your administrator for a higher plan.")
    cleaned, ids = [], set()
    for index, item in enumerate(raw):
        key = f"fields-{index}-"
        kind = (item.get("type") or "text").strip()
        label = " ".join((item.get("label") or "").split())
        field_id = (item.get("id") or "").strip() or new_id()
        while field_id in ids:
            field_id = new_id()
        ids.add(field_id)
        if kind not in FIELD_TYPES:
            errors[key + "type"] = "Choose a field type."
        if not label or len(label) > 200:
            errors[key + "label"] = "Enter a question of at most 200 characters."
        help_text = (item.get("help") or "").strip()
        if len(help_text) > 300:
            errors[key + "help"] = "Keep the help text under 300 characters."
        options: list[str] = []
        if kind in ("select", "multiselect"):
            raw_options = item.get("options") or []
            if isinstance(raw_options, str):
                raw_options = raw_options.splitlines()
            options = [" ".join(str(o).split()) for o in raw_options if str(o).strip()]
            if len(options) < 2:
                errors[key + "options"] = "Give at least two options, one per line."
            elif len(options) > MAX_OPTIONS:
                errors[key + "options"] = f"At most {MAX_OPTIONS} options."
            elif len({o.casefold() for o in options}) != len(options):
                errors[key + "options"] = "Each option must be different."
            elif any(len(o) > 100 for o in options):
                errors[key + "options"] = "Keep each option under 100 characters."
        cleaned.append({"id": field_id, "label": label, "type": kind, "help": help_text,
                        "required": bool(item.get("required")), "options": options})
    return cleaned


def _clean_route(user: User, route: dict | None, key: str, errors: dict, published: bool) -> dict | None:
    if not route or not route.get("kind"):
        if published:
            errors[key] = "Choose where this route sends visitors."
        return None
    kind = route.get("kind")
    if kind not in ROUTE_KINDS:
        errors[key] = "Choose where this route sends visitors."
        return None
    if kind == "event_type":
        target = route.get("eventTypeId") or None
        if target is None:
            if published:
                errors[key] = "Choose the event type."
            return {"kind": kind, "eventTypeId": None}
        if target_of(user, {"kind": kind, "eventTypeId": target}) is None:
            errors[key] = "Choose one of your event types (or one of your teams')."
        return {"kind": kind, "eventTypeId": target}
    if kind == "url":
        url = (route.get("url") or "").strip()
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc or len(url) > 2000 or any(c.isspace() for c in url):
            errors[key] = "Enter an https:// address."
        return {"kind": kind, "url": url}
    message = (route.get("message") or "").strip()
    if not message or len(message) > MAX_MESSAGE:
        errors[key] = f"Write the message visitors see (at most {MAX_MESSAGE:,} characters)."
    return {"kind": kind, "message": message}


def _clean_value(field_def: dict, operator: str, value) -> tuple[object, str | None]:
    kind = field_def["type"]
    if kind == "number":
        if parse_number(value) is None:
            return value, "Enter a number (a decimal point or comma is fine)."
        return str(value).strip(), None
    if kind in ("select", "multiselect"):
        options = {o.casefold(): o for o in field_def["options"]}
        if kind == "multiselect" and operator in ("equals", "not_equals"):
            items = value if isinstance(value, list) else [v for v in str(value or "").splitlines() if v.strip()]
            chosen = [options.get(" ".join(str(v).split()).casefold()) for v in items]
            if not chosen or None in chosen:
                return items, "Choose options of this field."
            return chosen, None
        choice = options.get(" ".join(str(value or "").split()).casefold())
        if choice is None:
            return value, "Choose one of this field's options."
        return choice, None
    text = " ".join(str(value or "").split())
    if not text or len(text) > 500:
        return text, "Enter the value to compare with (at most 500 characters)."
    return text, None


def _clean_rules(user: User, raw: list[dict], fields: list[dict], errors: dict, published: bool) -> list[dict]:
    limit = limits_for(user).routing_form_rules
    if len(raw) > limit:
        raise PlanLimitReached(f"Your {PLAN_LABELS[effective_plan(user)]} plan allows {limit} rules per routing "
                               "form. Delete one or ask your administrator for a higher plan.")
    by_id = {f["id"]: f for f in fields}
    cleaned, ids = [], set()
    for index, rule in enumerate(raw):
        key = f"rules-{index}-"
        rule_id = (rule.get("id") or "").strip() or new_id()
        while rule_id in ids:
            rule_id = new_id()
        ids.add(rule_id)
        conditions = []
        raw_conditions = rule.get("conditions") or []
        if not raw_conditions:
            errors[key + "conditions"] = "Add a condition."
        elif len(raw_conditions) > MAX_CONDITIONS:
            errors[key + "conditions"] = f"A rule combines at most {MAX_CONDITIONS} conditions."
        for c_index, condition in enumerate(raw_conditions[:MAX_CONDITIONS]):
            c_key = f"{key}conditions-{c_index}-"
            field_def = by_id.get(condition.get("field"))
            operator = condition.get("operator") or ""
            value = condition.get("value")
            if field_def is None:
                errors[c_key + "field"] = "Choose a field of this form."
            elif operator not in OPERATORS_FOR[field_def["type"]]:
                errors[c_key + "operator"] = "Choose a comparison this field's type allows."
            else:
                value, problem = _clean_value(field_def, operator, value)
                if problem:
                    errors[c_key + "value"] = problem
            conditions.append({"field": condition.get("field"), "operator": operator, "value": value})
        route = _clean_route(user, rule.get("route"), key + "route", errors, published)
        cleaned.append({"id": rule_id, "conditions": conditions, "route": route})
    return cleaned


def validate(user: User, data: FormInput, *, exclude_id: str | None = None) -> FormInput:
    """The cleaned form, or ValidationFailed / PlanLimitReached."""
    errors: dict[str, str] = {}
    name = " ".join(data.name.split())
    if not name or len(name) > 100:
        errors["name"] = "Give the form a name of at most 100 characters."
    slug = data.slug.strip().lower()
    if not slug:
        errors["slug"] = "Enter the form's URL."
    elif len(slug) > 100 or not SLUG_RE.match(slug):
        errors["slug"] = "Use lower-case letters, digits and single hyphens (e.g. sales-intake)."
    else:
        taken = RoutingForm.select().where((RoutingForm.user == user) & (RoutingForm.slug == slug))
        if exclude_id:
            taken = taken.where(RoutingForm.id != exclude_id)
        if taken.exists():
            errors["slug"] = "You already have a routing form with this URL."
    if len(data.description) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description under {MAX_DESCRIPTION:,} characters."
    fields = _clean_fields(user, data.fields, errors)
    if data.published and not fields:
        errors["fields"] = "Add at least one question before publishing."
    rules = _clean_rules(user, data.rules, fields, errors, data.published)
    default = _clean_route(user, data.default_route, "default_route", errors, data.published)
    if errors:
        raise ValidationFailed(errors)
    return FormInput(name=name, slug=slug, description=data.description.strip(), published=data.published,
                     fields=fields, rules=rules, default_route=default)


# --- storing ----------------------------------------------------------------------------------------------------
def _lock_user(user: User) -> None:
    if is_postgres():
        list(User.select(User.id).where(User.id == user.id).for_update())


def create_form(user: User, data: FormInput) -> RoutingForm:
    clean = validate(user, data)
    with transaction(immediate=True):
        _lock_user(user)
        check_count(user, "routing_forms", RoutingForm.select().where(RoutingForm.user == user).count(),
                    "routing forms")
        return RoutingForm.create(user=user, name=clean.name, slug=clean.slug, description=clean.description,
                                  published=clean.published, fields=clean.fields, rules=clean.rules,
                                  default_route=clean.default_route)


def get_form(user: User, form_id: str) -> RoutingForm:
    form = RoutingForm.get_or_none((RoutingForm.id == form_id) & (RoutingForm.user == user))
    if form is None:
        raise NotFound("Routing form not found")
    return form


def list_forms(user: User) -> list[RoutingForm]:
    return list(RoutingForm.select().where(RoutingForm.user == user).order_by(RoutingForm.created_at))


def update_form(user: User, form_id: str, data: FormInput) -> RoutingForm:
    form = get_form(user, form_id)
    clean = validate(user, data, exclude_id=form.id)
    with transaction():
        (RoutingForm.update(name=clean.name, slug=clean.slug, description=clean.description,
                            published=clean.published, fields=clean.fields, rules=clean.rules,
                            default_route=clean.default_route, updated_at=utcnow())
         .where(RoutingForm.id == form.id).execute())
    return RoutingForm.get_by_id(form.id)


def delete_form(user: User, form_id: str) -> None:
    """The form and its responses (bookings that followed it stay, without the link)."""
    form = get_form(user, form_id)
    with transaction():
        responses = RoutingResponse.select(RoutingResponse.id).where(RoutingResponse.form == form.id)
        Booking.update(routing_response_id=None).where(Booking.routing_response_id.in_(responses)).execute()
        RoutingResponse.delete().where(RoutingResponse.form == form.id).execute()
        form.delete_instance()


def published_form(username: str, slug: str) -> RoutingForm:
    """The public form at ``/<username>/route/<slug>``; NotFound for a draft, another user's or a disabled host."""
    form = (RoutingForm.select(RoutingForm, User).join(User)
            .where((User.username == username.lower()) & (RoutingForm.slug == slug) & RoutingForm.published
                   & (User.is_disabled == False)).first())  # noqa: E712 (peewee expression)
    if form is None:
        raise NotFound("Routing form not found")
    return form
