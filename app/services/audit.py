"""The one helper that records audit entries. It never raises into the caller.

Actions and their detail shapes follow spec page 21. Entries belong to an account (``user``) and name
who acted (``actor``: the user, an administrator, or nobody for invitee/system actions).
"""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

# The display labels of spec 21, plus the actions this product records beyond that list.
ACTION_LABELS = {
    "booking.created": "Booking Created",
    "booking.cancelled": "Booking Cancelled",
    "booking.rescheduled": "Booking Rescheduled",
    "booking.no_show": "Booking No-Show",
    "booking.requested": "Booking Requested",
    "booking.declined": "Booking Declined",
    "event_type.created": "Event Type Created",
    "event_type.updated": "Event Type Updated",
    "event_type.deleted": "Event Type Deleted",
    "team.created": "Team Created",
    "team.member_added": "Team Member Added",
    "team.member_removed": "Team Member Removed",
    "org.member_invited": "Member Invited",
    "org.member_removed": "Member Removed",
    "org.role_changed": "Role Changed",
    "integration.connected": "Integration Connected",
    "integration.disconnected": "Integration Disconnected",
    "api_key.created": "API Key Created",
    "api_key.deleted": "API Key Deleted",
    "workflow.created": "Workflow Created",
    "workflow.updated": "Workflow Updated",
    "workflow.deleted": "Workflow Deleted",
    "voice_agent.created": "Voice Agent Created",
    "voice_agent.updated": "Voice Agent Updated",
    "voice_agent.deleted": "Voice Agent Deleted",
    "payment.received": "Payment Received",
    "payment.refunded": "Payment Refunded",
    "settings.updated": "Settings Updated",
    "auth.login": "Signed In",
    "auth.signup": "Signed Up",
    "auth.password_reset": "Password Reset",
    "auth.session_ended": "Signed Out Sessions",
    "auth.email_verified": "Email Verified",
    "auth.identity_linked": "Sign-in Identity Linked",
    "webhook.created": "Webhook Created",
    "webhook.updated": "Webhook Updated",
    "webhook.deleted": "Webhook Deleted",
    "admin.user_disabled": "Account Disabled",
    "admin.user_enabled": "Account Enabled",
    "scim.token_created": "SCIM Token Created",
    "scim.token_rotated": "SCIM Token Rotated",
    "scim.token_revoked": "SCIM Token Revoked",
    "scim.user_created": "SCIM User Provisioned",
    "scim.user_replaced": "SCIM User Replaced",
    "scim.user_updated": "SCIM User Updated",
    "scim.user_deactivated": "SCIM User Suspended",
    "scim.user_reactivated": "SCIM User Reactivated",
    "scim.user_deleted": "SCIM User Deprovisioned",
    "scim.user_read": "SCIM User Read",
    "scim.users_listed": "SCIM Users Listed",
    "scim.config_read": "SCIM Configuration Read",
    "scim.request_failed": "SCIM Request Failed",
    "one_time_link.created": "Single-use Link Created",
    "one_time_link.revoked": "Single-use Link Revoked",
}

# The category filter of the audit log page and API, in the spec's order ("all" first).
FILTERS = {
    "all": "All Actions",
    "bookings": "Bookings",
    "events": "Events",
    "team": "Team",
    "settings": "Settings",
    "integrations": "Integrations",
    "workflows": "Workflows",
    "payments": "Payments",
    "voice": "Voice",
}

MAX_RETENTION_DAYS = 365  # the longest window of any plan; the daily cleanup removes what is older
CSV_COLUMNS = ["Time", "Action", "Resource", "Resource ID", "Details", "IP Address"]

CATEGORIES = {
    "booking": "bookings",
    "event_type": "events",
    "schedule": "events",
    "team": "team",
    "org": "team",
    "scim": "team",
    "integration": "integrations",
    "api_key": "integrations",
    "webhook": "integrations",
    "workflow": "workflows",
    "voice_agent": "voice",
    "payment": "payments",
    "settings": "settings",
    "auth": "auth",
    "admin": "settings",
}


def category_for(action: str) -> str:
    return CATEGORIES.get(action.split(".", 1)[0], "other")


def record(action: str, *, resource: str, resource_id: str | None = None, user=None, actor=None,
           ip: str | None = None, user_agent: str | None = None, details: dict | None = None,
           organization=None) -> None:
    """Record one audit entry; on any failure log it and carry on (spec 21: fire-and-forget).

    ``organization``: the organization whose log also shows the entry (team and organization actions)."""
    try:
        from app.db import db
        from app.models import AuditLog
        from app.services.plans import effective_plan
        from app.statements import create

        owner = user or actor
        with db.atomic():  # a savepoint inside a caller's transaction: a failure here leaves it usable
            create(
                AuditLog, user_id=getattr(owner, "id", None),
                organization_id=getattr(organization, "id", None),
                actor_id=getattr(actor, "id", None),
                actor_email=getattr(actor, "email", None),
                action=action,
                category=category_for(action),
                resource=resource,
                resource_id=resource_id,
                details=json.dumps(details or {}, default=str, separators=(",", ":")),
                ip_address=ip,
                user_agent=(user_agent or "")[:512] or None,
                plan_at_time=effective_plan(owner) if owner is not None else None,
            )
    except Exception:
        log.exception("audit entry %s for %s %s could not be recorded", action, resource, resource_id)


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action) or action.replace("_", " ").replace(".", " ").title()


def mask_ip(ip: str | None, *, full: bool) -> str | None:
    """Spec 21: Free and Pro see the last IPv4 octet or IPv6 segment as ``xxx``/``xxxx``; Business sees all."""
    if not ip or full:
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None  # not an address we recorded: show nothing rather than something unmasked
    if address.version == 4:
        return str(address).rsplit(".", 1)[0] + ".xxx"
    return str(address).rsplit(":", 1)[0] + ":xxxx"


@dataclass(frozen=True)
class AuditPage:
    entries: list
    total: int
    page: int
    limit: int
    retention_days: int
    full_ip: bool

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def visible_query(user, *, category: str = "all", search: str = "", now: datetime | None = None):
    """The account's entries inside its plan's retention window, newest first, filtered."""
    from app.models import AuditLog
    from app.services.plans import limits_for

    return scoped_query(AuditLog.user_id == user.id, limits_for(user).audit_retention_days, category=category,
                        search=search, now=now)


def scoped_query(condition, retention_days: int, *, category: str = "all", search: str = "",
                 now: datetime | None = None):
    """The entries matching ``condition`` (whose log: an account's, an organization's) inside the retention
    window, newest first, filtered by category and search."""
    from app.models import AuditLog
    from app.models.base import contains_text

    now = now or datetime.now(UTC)
    since = now - timedelta(days=retention_days)
    query = (AuditLog.select()
             .where(condition & (AuditLog.created_at >= since))
             .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()))
    if category and category != "all":
        query = query.where(AuditLog.category == category)
    search = (search or "").strip()
    if search:
        query = query.where(contains_text(AuditLog.action, search) | contains_text(AuditLog.resource, search)
                            | contains_text(AuditLog.resource_id, search))
    return query


def list_entries(user, *, category: str = "all", search: str = "", page: int = 1, limit: int = 50,
                 now: datetime | None = None) -> AuditPage:
    from app.services.plans import limits_for

    return page_of(visible_query(user, category=category, search=search, now=now), limits_for(user),
                   page=page, limit=limit)


def page_of(query, limits, *, page: int, limit: int) -> AuditPage:
    """One page of a scoped query, with the plan facts the page and the API show."""
    from app.models import AuditLog

    # the page's ids come from the covering index alone; only those rows are read in full
    ids = [row.id for row in query.select(AuditLog.id).paginate(page, limit)]
    entries = list(AuditLog.select().where(AuditLog.id.in_(ids)).order_by(AuditLog.created_at.desc(),
                                                                             AuditLog.id.desc())) if ids else []
    return AuditPage(entries=entries, total=query.select(AuditLog.id).count(), page=page, limit=limit,
                     retention_days=limits.audit_retention_days, full_ip=limits.audit_full_ip)


MAX_LIMIT = 100  # entries per page of GET /api/audit-logs


def parse_filters(args) -> tuple[dict, dict[str, str]]:
    """Query parameters of the audit log (page and API share them); returns values and per-field errors."""
    errors: dict[str, str] = {}
    values = {"category": (args.get("category") or "all").strip().lower(),
              "search": (args.get("search") or "").strip()[:200]}
    if values["category"] not in FILTERS:
        errors["category"] = "Use one of: " + ", ".join(FILTERS) + "."
    for name, default, top in (("page", 1, None), ("limit", 50, MAX_LIMIT)):
        raw = (args.get(name) or "").strip()
        if not raw:
            values[name] = default
            continue
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1:
            errors[name] = f"{name} must be a whole number of at least 1."
        values[name] = min(number, top) if top else min(number, 1_000_000)
    return values, errors


def details_of(entry) -> dict:
    try:
        value = json.loads(entry.details or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def entry_json(entry, *, full_ip: bool) -> dict:
    """One entry in the shape of spec 21's response."""
    return {"id": entry.id, "action": entry.action, "actionLabel": action_label(entry.action),
            "resource": entry.resource, "resourceId": entry.resource_id, "details": details_of(entry),
            "ipAddress": mask_ip(entry.ip_address, full=full_ip), "createdAt": iso(entry.created_at)}


def export_csv(user, *, category: str = "all", search: str = "", now: datetime | None = None) -> str:
    """Every visible entry matching the filters, as CSV with spec 21's columns."""
    from app.services.plans import limits_for

    return csv_of(visible_query(user, category=category, search=search, now=now),
                  full_ip=limits_for(user).audit_full_ip)


def csv_of(query, *, full_ip: bool, who=None) -> str:
    """CSV of a scoped query; ``who(entry)`` adds the columns naming the member (the organization's log)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((["User", "User Email"] if who else []) + CSV_COLUMNS)
    for entry in query.iterator():
        writer.writerow((list(who(entry)) if who else [])
                        + [iso(entry.created_at), action_label(entry.action), entry.resource, entry.resource_id or "",
                           json.dumps(details_of(entry), separators=(",", ":")),
                           mask_ip(entry.ip_address, full=full_ip) or ""])
    return out.getvalue()


def csv_filename(now: datetime | None = None) -> str:
    return f"audit-log-{(now or datetime.now(UTC)).date().isoformat()}.csv"


def remove_expired(now: datetime | None = None) -> int:
    """The daily cleanup: delete entries older than the longest retention (the database refuses younger ones)."""
    from app.db import db
    from app.models import AuditLog

    # a minute of margin so the database's own clock (used by its guard trigger) agrees on every row
    cutoff = (now or datetime.now(UTC)) - timedelta(days=MAX_RETENTION_DAYS, minutes=1)
    with db.atomic():
        return AuditLog.delete().where(AuditLog.created_at < cutoff).execute()


# --- display helpers of the audit log page (stored entries stay as they are) -------------------------------
RESOURCE_LABELS = {"booking": "Booking", "event_type": "Event type", "schedule": "Schedule", "user": "Account",
                   "integration": "Integration", "api_key": "API key", "webhook": "Webhook"}
DETAIL_LABELS = {"inviteeEmail": "Invitee", "eventType": "Event type", "startTime": "Start",
                 "previousStartTime": "Previously", "field": "Changed", "oldValue": "Before", "newValue": "After",
                 "service": "Service", "account": "Account", "name": "Name", "url": "URL", "events": "Events",
                 "label": "Label", "active": "Active", "email": "Email", "username": "Username", "method": "Method",
                 "duplicatedFrom": "Copied from"}
FIELD_LABELS = {"schedule": "Schedule", "schedule.name": "Schedule name", "schedule.timezone": "Schedule time zone",
                "schedule.weekly": "Weekly hours", "schedule.override": "Date override", "timezone": "Time zone",
                "hour12": "12-hour clock", "brand_color": "Brand colour", "name": "Name", "email": "Email",
                "username": "Username", "password": "Password", "plan": "Plan"}
WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class DetailLine:
    """One line of an entry's details: a label and either text or an instant (the page formats it on the
    viewer's clock)."""
    label: str
    text: str = ""
    when: datetime | None = None


def resource_label(resource: str | None) -> str:
    return RESOURCE_LABELS.get(resource or "", (resource or "").replace("_", " ").capitalize())


def _words(key: str) -> str:
    spaced = "".join(" " + c.lower() if c.isupper() else c for c in key).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:]


def _instant(value) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plain(value) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{_words(str(k))}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _clock_time(hhmm: str, hour12: bool) -> str:
    from app.datetimes import format_time

    try:
        hours, minutes = (int(part) for part in str(hhmm).split(":", 1))
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(hours=hours, minutes=minutes)
    except (TypeError, ValueError):
        return str(hhmm)
    return format_time(moment, "UTC", hour12)


def _ranges(ranges, hour12: bool) -> str:
    if not ranges:
        return "unavailable"
    try:
        return ", ".join(f"{_clock_time(start, hour12)} – {_clock_time(end, hour12)}" for start, end in ranges)
    except (TypeError, ValueError):
        return _plain(ranges)


def _weekly(value, hour12: bool) -> str:
    if not isinstance(value, dict):
        return _plain(value)
    return "; ".join(f"{WEEKDAY_ABBR[day]} {_ranges(value.get(str(day)), hour12)}" for day in range(7))


def _override(value, hour12: bool) -> str:
    from datetime import date

    from app.datetimes import format_date

    if not isinstance(value, dict):
        return _plain(value)
    try:
        first, last = date.fromisoformat(value["from"]), date.fromisoformat(value["to"])
    except (KeyError, TypeError, ValueError):
        return _plain(value)
    days = format_date(first, style="short") + ("" if last == first else " – " + format_date(last, style="short"))
    return f"{days}: {_ranges(value.get('hours'), hour12)}"


def detail_lines(entry, *, hour12: bool = False) -> list[DetailLine]:
    """An entry's details as labelled lines people read: instants to be shown on the viewer's clock, schedule
    hours as days and times, lists and objects as text (the CSV export and the API keep the stored JSON)."""
    details = details_of(entry)
    field = details.get("field") if isinstance(details.get("field"), str) else ""
    lines = []
    for key, value in details.items():
        label = DETAIL_LABELS.get(key) or _words(str(key))
        when = _instant(value) if str(key).endswith(("Time", "At", "_at")) else None
        if when is not None:
            lines.append(DetailLine(label, when=when))
        elif key == "field":
            lines.append(DetailLine(label, FIELD_LABELS.get(field, _words(field))))
        elif key in ("oldValue", "newValue") and field == "schedule.weekly":
            lines.append(DetailLine(label, _weekly(value, hour12)))
        elif key in ("oldValue", "newValue") and field == "schedule.override":
            lines.append(DetailLine(label, _override(value, hour12)))
        else:
            lines.append(DetailLine(label, _plain(value)))
    return lines
