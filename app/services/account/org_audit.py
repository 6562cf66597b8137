"""The organization audit log (spec 21): actions of all its members, for its OWNER and ADMIN members.

What it holds: the team and organization actions recorded for the organization (``audit_logs.organization_id``)
and every entry of a current member's own log dated from when they joined (a member's history before joining,
and after leaving, stays theirs). Retention and IP masking follow the organization's plan. Filters, search,
pages and CSV are the personal log's (app.services.audit); each entry also names its member.
"""
from __future__ import annotations

from datetime import datetime

import peewee

from app.models import AuditLog, Membership, Organization, User
from app.services import audit
from app.services.account.organizations import MANAGERS, require_member
from app.services.plans import LIMITS, normalize_plan


def _condition(org: Organization):
    joined = (Membership.select(Membership.id)
              .where((Membership.organization == org.id) & (Membership.user == AuditLog.user_id)
                     & (Membership.created_at <= AuditLog.created_at)))
    return (AuditLog.organization_id == org.id) | peewee.fn.EXISTS(joined)


def _query(org: Organization, category: str, search: str, now: datetime | None):
    limits = LIMITS[normalize_plan(org.plan)]
    return audit.scoped_query(_condition(org), limits.audit_retention_days, category=category, search=search,
                              now=now), limits


def members_of(entries) -> dict[str, User]:
    ids = {entry.user_id for entry in entries if entry.user_id}
    return {user.id: user for user in User.select().where(User.id.in_(list(ids)))} if ids else {}


def user_json(user: User | None, logo_url) -> dict | None:
    """The ``user`` object of an entry: name, email and image (the member's logo, or null)."""
    if user is None:
        return None
    return {"name": user.name, "email": user.email, "image": logo_url(user)}


def list_entries(actor: User, org_id: str, *, category: str = "all", search: str = "", page: int = 1,
                 limit: int = 50, now: datetime | None = None) -> tuple[Organization, audit.AuditPage]:
    org, _ = require_member(org_id, actor, *MANAGERS)
    query, limits = _query(org, category, search, now)
    return org, audit.page_of(query, limits, page=page, limit=limit)


def export_csv(actor: User, org_id: str, *, category: str = "all", search: str = "",
               now: datetime | None = None) -> str:
    org, _ = require_member(org_id, actor, *MANAGERS)
    query, limits = _query(org, category, search, now)
    users: dict[str, User | None] = {}

    def who(entry):
        if entry.user_id not in users:
            users[entry.user_id] = User.get_or_none(User.id == entry.user_id) if entry.user_id else None
        user = users[entry.user_id]
        return (user.name, user.email) if user else ("", "")

    return audit.csv_of(query, full_ip=limits.audit_full_ip, who=who)
