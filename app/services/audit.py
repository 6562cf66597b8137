"""The one helper that records audit entries. It never raises into the caller.

Actions and their detail shapes follow spec page 21. Entries belong to an account (``user``) and name
who acted (``actor``: the user, an administrator, or nobody for invitee/system actions).
"""
from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

CATEGORIES = {
    "booking": "bookings",
    "event_type": "events",
    "schedule": "events",
    "team": "team",
    "org": "team",
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
           ip: str | None = None, user_agent: str | None = None, details: dict | None = None) -> None:
    """Record one audit entry; on any failure log it and carry on (spec 21: fire-and-forget)."""
    try:
        from app.db import db
        from app.models import AuditLog
        from app.services.plans import effective_plan

        owner = user or actor
        with db.atomic():  # a savepoint inside a caller's transaction: a failure here leaves it usable
            AuditLog.create(
                user_id=getattr(owner, "id", None),
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
