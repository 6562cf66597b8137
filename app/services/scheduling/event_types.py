"""Event types: what an invitee can book. Validation, create/update/duplicate/delete, defaults."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import markdown as markdown_lib
import nh3
import peewee

from app.db import transaction
from app.models import EventType, Schedule, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling.video_connections import LOCATION_NAMES

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
LOCATION_TYPES = {
    "none": "No location",
    **LOCATION_NAMES,     # the video services of the registry (app/integrations/video.py)
    "phone_host_calls": "Phone call (you call the invitee)",
    "phone_invitee_calls": "Phone call (the invitee calls you)",
    "in_person": "In person",
    "custom_link": "Custom link",
}
LOCATIONS_NEEDING_DETAIL = {"phone_invitee_calls": "Enter the phone number invitees should call.",
                            "in_person": "Enter the address.", "custom_link": "Enter the meeting link."}
QUESTION_TYPES = ("text", "textarea", "select", "multiselect", "number", "email", "phone", "checkbox")
RECURRENCE_FREQUENCIES = ("weekly", "monthly")
MIN_DURATION, MAX_DURATION = 5, 720
MAX_BUFFER = 240
MAX_NOTICE = 60 * 24 * 365
MAX_WINDOW_DAYS = 730
MAX_QUESTIONS = 20
MAX_REMINDERS = 5
RESERVED_TEAM_SLUGS = ("calendar", "slots")     # /team/<team>/<slug>/calendar would be ambiguous
RESERVED_SLUGS = ("route",)                     # /<user>/route/<form> is a routing form (issue 18)

# Called as ``hook(event_type, change)`` inside the transaction of each change of a personal event type, once it is
# written: "created", "updated" or "deleted" (announced just before the row goes). Modules above this layer (Close
# scheduling links) register here; this module never imports them.
CHANGE_HOOKS: list[Callable[[EventType, str], None]] = []
# Further options of an event type, each validated by its own module (issue 23's booking controls and the rest):
# ``check(errors, changes, data, current, team)`` reads ``data`` (an EventTypeInput), puts the columns to write into
# ``changes`` and the problems, keyed by form field, into ``errors``. Registered at import by their modules.
OPTION_VALIDATORS: list[Callable[[dict, dict, Any, EventType | None, Any], None]] = []


def resulting(changes: dict, current: EventType | None, field: str):
    """What ``field`` will be once ``changes`` are applied to ``current`` (None for a new event type's unset
    field): how an option's rules read the other fields."""
    return changes[field] if field in changes else (getattr(current, field) if current else None)


def _changed(event_type: EventType, change: str) -> None:
    for hook in CHANGE_HOOKS:
        hook(event_type, change)


def announce_url_change(user: User) -> None:
    """Inside the transaction that changes ``user``'s username: their event types' public URLs changed, so each
    personal one is announced as "updated"."""
    if CHANGE_HOOKS:
        for event_type in EventType.select().where((EventType.user == user) & EventType.personal()):
            _changed(event_type, "updated")


@dataclass
class EventTypeInput:
    """Everything the edit form and the API can set; ``None`` leaves a field unchanged on update."""
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    duration: Any = None
    extra_durations: list | None = None
    location_type: str | None = None
    location_detail: str | None = None
    buffer_before: Any = None
    buffer_after: Any = None
    minimum_notice: Any = None
    window_type: str | None = None
    window_days: Any = None
    window_start: Any = None
    window_end: Any = None
    slot_interval: Any = None
    max_per_day: Any = None
    status: str | None = None
    is_secret: bool | None = None
    color: str | None = None
    questions: list | None = None
    recurrence: dict | None = None
    reminders: list | None = None
    schedule_id: str | None = None
    # paid bookings (issue 16): ``price`` is the text typed ("49.99"; "" = free), never a float
    price: str | None = None
    price_currency: str | None = None
    payment_providers: list | None = None
    payment_window: Any = None
    refund_on_host_cancel: bool | None = None
    refund_invitee_hours: Any = None
    # redirect after booking (issue 23): "" clears it; None leaves it as it is
    redirect_url: str | None = None
    redirect_with_details: bool | None = None
    # cancellation and reschedule policy (issue 23): "anytime" | "until" | "never", hours for "until"
    invitee_cancel: str | None = None
    invitee_cancel_hours: Any = None
    invitee_reschedule: str | None = None
    invitee_reschedule_hours: Any = None
    require_cancel_reason: bool | None = None
    # requires confirmation (issue 23): the threshold "" = always; None leaves it as it is
    requires_confirmation: bool | None = None
    confirmation_threshold_hours: Any = None
    # additional guests (issue 23): how many guest emails an invitee may add (0: none)
    max_guests: Any = None
    # seats (issue 23, event_type_seats.py): "" or 0 = one invitee per slot; None leaves it as it is
    seats: Any = None
    seats_show_remaining: bool | None = None
    # booking limits (issue 23, validated by booking_limits): "" clears one; None leaves it as it is
    max_per_week: Any = None
    max_per_month: Any = None
    max_per_year: Any = None
    max_minutes_per_day: Any = None
    max_minutes_per_week: Any = None


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100] or "event"


def suggest_slug(user: User, name: str, exclude_id: str | None = None, team=None) -> str:
    base = slugify(name)
    candidate, n = base, 2
    while slug_taken(user, candidate, exclude_id, team):
        candidate = f"{base}-{n}"[:100]
        n += 1
    return candidate


def slug_taken(user: User, slug: str, exclude_id: str | None = None, team=None) -> bool:
    """Whether the URL is used: among the host's personal event types, or ``team``'s."""
    query = EventType.select().where(((EventType.team == team) if team is not None
                                      else ((EventType.user == user) & EventType.personal()))
                                     & (EventType.slug == slug))
    if exclude_id:
        query = query.where(EventType.id != exclude_id)
    return query.exists()


def slug_problem(user: User, slug: str, exclude_id: str | None = None, team=None) -> str | None:
    if not slug:
        return "Enter a URL slug."
    if len(slug) > 100 or not SLUG_RE.match(slug):
        return "Use lower-case letters, digits and single hyphens (e.g. 30-min)."
    if slug in (RESERVED_TEAM_SLUGS if team is not None else RESERVED_SLUGS):
        return "This URL is reserved. Choose another."
    if slug_taken(user, slug, exclude_id, team):
        return ("The team already has an event type with this URL." if team is not None
                else "You already have an event type with this URL.")
    return None


def render_description(text: str) -> str:
    """Markdown to sanitized HTML (no scripts, no inline handlers, safe links)."""
    html = markdown_lib.markdown(text or "", extensions=["sane_lists"], output_format="html")
    return nh3.clean(html, tags={"p", "br", "strong", "em", "ul", "ol", "li", "a", "code", "pre", "blockquote",
                                 "h3", "h4"},
                     attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def _int(errors, field, value, low, high, label, *, optional=False):
    if value is None or value == "":
        if optional:
            return None
        errors[field] = f"Enter {label}."
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[field] = f"{label[0].upper() + label[1:]} must be a whole number."
        return None
    if not low <= number <= high:
        errors[field] = f"{label[0].upper() + label[1:]} must be between {low} and {high}."
        return None
    return number


def _date(errors, field, value):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = "Use a date like 2026-03-01."
        return None


def _clean_questions(errors, questions) -> list[dict]:
    cleaned = []
    if len(questions) > MAX_QUESTIONS:
        errors["questions"] = f"At most {MAX_QUESTIONS} questions."
        return []
    seen = set()
    for index, q in enumerate(questions, start=1):
        label = str(q.get("label", "")).strip()
        kind = q.get("type", "text")
        if not label or len(label) > 200:
            errors["questions"] = f"Question {index}: enter a label of at most 200 characters."
            continue
        if kind not in QUESTION_TYPES:
            errors["questions"] = f"Question {index}: unknown type {kind!r}."
            continue
        options = [str(o).strip() for o in q.get("options", []) if str(o).strip()]
        if kind in ("select", "multiselect") and len(options) < 2:
            errors["questions"] = f"Question {index}: a choice needs at least two options."
            continue
        key = q.get("id") or slugify(label)[:40]
        while key in seen:
            key += "-x"
        seen.add(key)
        cleaned.append({"id": key, "label": label, "type": kind, "required": bool(q.get("required")),
                        "options": options if kind in ("select", "multiselect") else []})
    return cleaned


def location_choices(user: User, current: str | None = None) -> dict[str, str]:
    """The locations an event type of ``user`` can have: video services only when connected (the current one
    stays listed so an edit does not change it)."""
    from app.services.scheduling.video_connections import VIDEO_LOCATIONS, available_locations

    usable = available_locations(user)
    return {key: label for key, label in LOCATION_TYPES.items()
            if key not in VIDEO_LOCATIONS or key in usable or key == current}


def _video_location_problem(user: User, location: str, current: EventType | None) -> str | None:
    from app.integrations.video import VIDEO_PROVIDERS
    from app.services.scheduling.video_connections import VIDEO_LOCATIONS, available_locations

    if location not in VIDEO_LOCATIONS or (current is not None and current.location_type == location):
        return None
    if location in available_locations(user):
        return None
    adapter = VIDEO_PROVIDERS[location]
    if adapter.in_calendar_event:       # Google Meet is made in a Google Calendar event
        return f"{adapter.name} needs {adapter.calendar_name}: connect it in Settings → Integrations first."
    return f"Connect {LOCATION_TYPES[location]} in Settings → Integrations first."


def validate(user: User, data: EventTypeInput, current: EventType | None = None, *, team=None) -> dict:
    """Check every given field; returns the changes to apply or raises ValidationFailed with all errors.
    ``team``: a team event type's (its URL is unique within the team; its hosts' own schedules apply)."""
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    exclude = current.id if current else None

    if data.name is not None:
        name = data.name.strip()
        if not name or len(name) > 100:
            errors["name"] = "Enter a name of at most 100 characters."
        changes["name"] = name
    if data.slug is not None or current is None:
        slug = (data.slug or "").strip().lower() or (suggest_slug(user, data.name or "", exclude, team)
                                                     if current is None else "")
        if problem := slug_problem(user, slug, exclude, team):
            errors["slug"] = problem
        changes["slug"] = slug
    if data.description is not None:
        if len(data.description) > 5000:
            errors["description"] = "Use at most 5,000 characters."
        changes["description"] = data.description
    if data.duration is not None or current is None:
        changes["duration"] = _int(errors, "duration", data.duration, MIN_DURATION, MAX_DURATION,
                                   "a duration in minutes")
    if data.extra_durations is not None:
        extras = []
        for value in data.extra_durations:
            number = _int(errors, "extra_durations", value, MIN_DURATION, MAX_DURATION, "each extra duration")
            if number is not None and number not in extras:
                extras.append(number)
        changes["extra_durations"] = sorted(extras)
    if data.location_type is not None:
        if data.location_type not in LOCATION_TYPES:
            errors["location_type"] = "Choose a location from the list."
        elif problem := _video_location_problem(user, data.location_type, current):
            errors["location_type"] = problem
        changes["location_type"] = data.location_type
        detail = (data.location_detail or "").strip()
        if data.location_type in LOCATIONS_NEEDING_DETAIL and not detail:
            errors["location_detail"] = LOCATIONS_NEEDING_DETAIL[data.location_type]
        if data.location_type == "custom_link" and detail and not re.match(r"^https?://\S+$", detail):
            errors["location_detail"] = "Enter a link starting with https://."
        if len(detail) > 500:
            errors["location_detail"] = "Use at most 500 characters."
        changes["location_detail"] = detail
    for field, label in (("buffer_before", "the buffer before"), ("buffer_after", "the buffer after")):
        value = getattr(data, field)
        if value is not None:
            changes[field] = _int(errors, field, value, 0, MAX_BUFFER, label)
    if data.minimum_notice is not None:
        changes["minimum_notice"] = _int(errors, "minimum_notice", data.minimum_notice, 0, MAX_NOTICE,
                                         "the minimum notice")
    if data.window_type is not None:
        if data.window_type not in ("rolling", "range"):
            errors["window_type"] = "Choose a rolling window or a date range."
        changes["window_type"] = data.window_type
        if data.window_type == "rolling":
            changes["window_days"] = _int(errors, "window_days", data.window_days, 1, MAX_WINDOW_DAYS,
                                          "the number of days")
        else:
            start = _date(errors, "window_start", data.window_start)
            end = _date(errors, "window_end", data.window_end)
            if "window_start" not in errors and start is None:
                errors["window_start"] = "Enter the first date."
            if "window_end" not in errors and end is None:
                errors["window_end"] = "Enter the last date."
            if start and end and end < start:
                errors["window_end"] = "The last date must not be before the first."
            changes["window_start"], changes["window_end"] = start, end
    if data.slot_interval is not None:
        changes["slot_interval"] = _int(errors, "slot_interval", data.slot_interval, 5, MAX_DURATION,
                                        "the slot interval", optional=True)
    if data.max_per_day is not None:
        changes["max_per_day"] = _int(errors, "max_per_day", data.max_per_day, 1, 1000,
                                      "the daily maximum", optional=True)
    if data.status is not None:
        if data.status not in ("active", "draft"):
            errors["status"] = "Choose active or draft."
        changes["status"] = data.status
    if data.is_secret is not None:
        changes["is_secret"] = bool(data.is_secret)
    if data.color is not None:
        if not COLOR_RE.match(data.color):
            errors["color"] = "Use a colour like #2563eb."
        changes["color"] = data.color.lower()
    if data.questions is not None:
        changes["questions"] = _clean_questions(errors, data.questions)
    if data.recurrence is not None:
        if data.recurrence == {} or not data.recurrence.get("frequency"):
            changes["recurrence"] = None
        else:
            freq = data.recurrence.get("frequency")
            if freq not in RECURRENCE_FREQUENCIES:
                errors["recurrence"] = "Choose weekly or monthly."
            interval = _int(errors, "recurrence", data.recurrence.get("interval", 1), 1, 12, "the repeat interval")
            most = _int(errors, "recurrence", data.recurrence.get("maxOccurrences", 4), 2, 52,
                        "the maximum number of occurrences")
            changes["recurrence"] = {"frequency": freq, "interval": interval, "maxOccurrences": most}
    if data.reminders is not None:
        reminders = []
        for value in data.reminders:
            number = _int(errors, "reminders", value, 5, 60 * 24 * 30, "each reminder (minutes before)")
            if number is not None and number not in reminders:
                reminders.append(number)
        if len(reminders) > MAX_REMINDERS:
            errors["reminders"] = f"At most {MAX_REMINDERS} reminders."
        changes["reminders"] = sorted(reminders, reverse=True)
    for check in OPTION_VALIDATORS:
        check(errors, changes, data, current, team)
    if data.schedule_id is not None and team is None:
        if data.schedule_id == "":
            changes["schedule"] = None
        else:
            schedule = Schedule.get_or_none((Schedule.id == data.schedule_id) & (Schedule.user == user))
            if schedule is None:
                errors["schedule_id"] = "Choose one of your schedules."
            changes["schedule"] = schedule
    if errors:
        raise ValidationFailed(errors)
    return changes


def create_event_type(user: User, data: EventTypeInput, *, ip: str | None = None) -> EventType:
    changes = validate(user, data)
    try:
        with transaction():
            bump_pages_version(user.id)
            position = (EventType.select(peewee.fn.MAX(EventType.position))
                        .where((EventType.user == user) & EventType.personal()).scalar() or 0) + 1
            event_type = EventType.create(user=user, position=position, **changes)
            _changed(event_type, "created")
            audit.record("event_type.created", resource="event_type", resource_id=event_type.id, user=user,
                         actor=user, ip=ip, details={"name": event_type.name})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "You already have an event type with this URL."}) from exc
    return event_type


def update_event_type(event_type: EventType, data: EventTypeInput, *, ip: str | None = None) -> EventType:
    user = event_type.user
    changes = validate(user, data, current=event_type)
    try:
        with transaction():
            bump_pages_version(user.id)
            for key, value in changes.items():
                setattr(event_type, key, value)
            event_type.updated_at = utcnow()
            event_type.save()
            _changed(event_type, "updated")
            audit.record("event_type.updated", resource="event_type", resource_id=event_type.id, user=user,
                         actor=user, ip=ip, details={"name": event_type.name})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "You already have an event type with this URL."}) from exc
    return event_type


def get_event_type(user: User, event_type_id: str) -> EventType:
    """One of the host's personal event types (a team's are managed in its organization)."""
    event_type = EventType.get_or_none((EventType.id == event_type_id) & (EventType.user == user)
                                       & EventType.personal())
    if event_type is None:
        raise NotFound("Event type not found")
    return event_type


def list_event_types(user: User) -> list[EventType]:
    return list(EventType.select().where((EventType.user == user) & EventType.personal())
                .order_by(EventType.position, EventType.created_at))


def set_status(event_type: EventType, active: bool, *, ip: str | None = None) -> EventType:
    return update_event_type(event_type, EventTypeInput(status="active" if active else "draft"), ip=ip)


COPY_FIELDS = ("description", "duration", "extra_durations", "location_type", "location_detail", "buffer_before",
               "buffer_after", "minimum_notice", "window_type", "window_days", "window_start", "window_end",
               "slot_interval", "max_per_day", "is_secret", "color", "questions", "recurrence", "reminders",
               "schedule", "price_amount", "price_currency", "payment_providers", "payment_window",
               "refund_on_host_cancel", "refund_invitee_hours", "redirect_url", "redirect_with_details",
               "invitee_cancel", "invitee_cancel_hours", "invitee_reschedule", "invitee_reschedule_hours",
               "require_cancel_reason", "requires_confirmation", "confirmation_threshold_hours", "max_guests",
               "seats", "seats_show_remaining",
               "max_per_week", "max_per_month", "max_per_year", "max_minutes_per_day", "max_minutes_per_week")


def duplicate_event_type(event_type: EventType, *, ip: str | None = None) -> EventType:
    user = event_type.user
    name = f"{event_type.name} (copy)"[:100]
    with transaction():
        bump_pages_version(user.id)
        position = (EventType.select(peewee.fn.MAX(EventType.position))
                    .where((EventType.user == user) & EventType.personal()).scalar() or 0) + 1
        copy = EventType.create(user=user, name=name, slug=suggest_slug(user, event_type.slug), status="draft",
                                position=position, **{f: getattr(event_type, f) for f in COPY_FIELDS})
        _changed(copy, "created")
        audit.record("event_type.created", resource="event_type", resource_id=copy.id, user=user, actor=user,
                     ip=ip, details={"name": copy.name, "duplicatedFrom": event_type.id})
    return copy


def delete_event_type(event_type: EventType, *, ip: str | None = None) -> None:
    with transaction():
        bump_pages_version(event_type.user_id)
        audit.record("event_type.deleted", resource="event_type", resource_id=event_type.id,
                     user=event_type.user, actor=event_type.user, ip=ip, details={"name": event_type.name})
        _changed(event_type, "deleted")
        event_type.delete_instance()


def create_defaults(user: User) -> None:
    """Every new account: the "Working hours" schedule and an active "30 Minute Meeting"."""
    from app.services.scheduling.schedules import create_default_schedule

    create_default_schedule(user)
    EventType.create(user=user, name="30 Minute Meeting", slug="30-min", duration=30, location_type="none",
                     position=1)


def effective_schedule(event_type: EventType) -> Schedule | None:
    from app.services.scheduling.schedules import default_schedule_for

    if event_type.schedule_id:
        schedule = Schedule.get_or_none(Schedule.id == event_type.schedule_id)
        if schedule is not None:
            return schedule
    return default_schedule_for(event_type.user)
