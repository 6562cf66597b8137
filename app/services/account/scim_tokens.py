"""SCIM bearer tokens of an organization (issue 20): generate, rotate with a grace period, revoke, authenticate.

Only OWNER and ADMIN members of an organization whose plan includes SCIM (Business and above) manage tokens. A
token is ``lt_scim_`` + 40 random letters and digits, shown once; the row keeps its SHA-256, so authentication is
one indexed lookup of the hash (no comparison of secrets in Python, nothing that leaks how much of a token matched).
Rotating makes a new token and lets every older live one work ``grace`` more (0: it stops at once); revoking stops
one token at once. Every change is recorded in the organization's audit log.
"""
from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

from app.db import db
from app.models import Organization, User
from app.models.base import utcnow
from app.models.scim import ScimToken
from app.security import sha256_hex
from app.services import audit
from app.services.account.organizations import MANAGERS, require_member
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import LIMITS, PLAN_LABELS, PlanLimitReached, normalize_plan

PREFIX = "lt_scim_"
RANDOM_LENGTH = 40
TOKEN_LENGTH = len(PREFIX) + RANDOM_LENGTH
MAX_GRACE_MINUTES = 30 * 24 * 60
LAST_USED_RESOLUTION_SECONDS = 60
_ALPHABET = string.ascii_letters + string.digits


def check_plan(org: Organization) -> None:
    """PlanLimitReached (the plan's sentence) unless the organization's plan includes SCIM."""
    plan = normalize_plan(org.plan)
    if not LIMITS[plan].scim:
        raise PlanLimitReached(f"Your {PLAN_LABELS[plan]} plan does not include SCIM provisioning. "
                               "Ask your administrator for a higher plan.")


def manageable(actor: User, org_id: str) -> Organization:
    """The organization when ``actor`` is its OWNER or ADMIN and its plan includes SCIM."""
    org, _ = require_member(org_id, actor, *MANAGERS)
    check_plan(org)
    return org


def live(token: ScimToken, now: datetime) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def tokens_of(org: Organization, now: datetime | None = None) -> list[ScimToken]:
    """The organization's tokens that still work, newest first."""
    now = now or utcnow()
    rows = ScimToken.select().where(ScimToken.organization == org).order_by(ScimToken.created_at.desc())
    return [row for row in rows if live(row, now)]


def _new_raw() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_LENGTH))


def _create(org: Organization, actor: User, now: datetime) -> tuple[ScimToken, str]:
    raw = _new_raw()
    row = ScimToken.create(organization=org, token_hash=sha256_hex(raw), prefix=raw[:len(PREFIX) + 4],
                           created_by=actor, created_at=now)
    return row, raw


def generate(actor: User, org_id: str, *, ip: str | None = None,
             now: datetime | None = None) -> tuple[ScimToken, str]:
    """A new token (its raw value is answered once); tokens already made keep working."""
    now = now or utcnow()
    org = manageable(actor, org_id)
    with db.atomic():
        row, raw = _create(org, actor, now)
        audit.record("scim.token_created", resource="organization", resource_id=org.id, user=actor, actor=actor,
                     organization=org, ip=ip, details={"token": row.prefix})
    return row, raw


def parse_grace(amount: str | int | None, unit: str | None) -> int:
    """The grace period in minutes from a form's amount and unit (``minutes`` or ``hours``)."""
    text = str(amount if amount is not None else "0").strip() or "0"
    if not text.isdigit():
        raise ValidationFailed({"grace": "Enter a whole number of minutes or hours (0 or more)."})
    minutes = int(text) * (60 if unit == "hours" else 1)
    if unit not in (None, "", "minutes", "hours"):
        raise ValidationFailed({"grace": "Choose minutes or hours."})
    if minutes > MAX_GRACE_MINUTES:
        raise ValidationFailed({"grace": "The grace period can be at most 30 days."})
    return minutes


def rotate(actor: User, org_id: str, *, grace_minutes: int = 0, ip: str | None = None,
           now: datetime | None = None) -> tuple[ScimToken, str]:
    """A new token; every older live token stops working after ``grace_minutes`` (0: at once)."""
    now = now or utcnow()
    if grace_minutes < 0 or grace_minutes > MAX_GRACE_MINUTES:
        raise ValidationFailed({"grace": "The grace period can be 0 minutes to 30 days."})
    org = manageable(actor, org_id)
    ends = now + timedelta(minutes=grace_minutes)
    with db.atomic():
        older = [row for row in tokens_of(org, now)]
        for row in older:
            if row.expires_at is None or row.expires_at > ends:
                row.expires_at = ends
                row.save()
        row, raw = _create(org, actor, now)
        audit.record("scim.token_rotated", resource="organization", resource_id=org.id, user=actor, actor=actor,
                     organization=org, ip=ip, details={"token": row.prefix, "graceMinutes": grace_minutes,
                                                       "previous": [old.prefix for old in older]})
    return row, raw


def revoke(actor: User, org_id: str, token_id: str, *, ip: str | None = None, now: datetime | None = None) -> None:
    now = now or utcnow()
    org = manageable(actor, org_id)
    with db.atomic():
        row = ScimToken.get_or_none((ScimToken.id == token_id) & (ScimToken.organization == org))
        if row is None or row.revoked_at is not None:
            raise NotFound("Token not found")
        row.revoked_at = now
        row.save()
        audit.record("scim.token_revoked", resource="organization", resource_id=org.id, user=actor, actor=actor,
                     organization=org, ip=ip, details={"token": row.prefix})


def looks_like_token(raw: str | None) -> bool:
    return bool(raw) and len(raw) == TOKEN_LENGTH and raw.startswith(PREFIX) and raw[len(PREFIX):].isalnum()


def authenticate(raw: str | None, now: datetime | None = None) -> ScimToken | None:
    """The live token for a raw bearer value (organization loaded), or None. Its plan is checked by the caller."""
    if not looks_like_token(raw):
        return None
    now = now or utcnow()
    row = (ScimToken.select(ScimToken, Organization).join(Organization)
           .where(ScimToken.token_hash == sha256_hex(raw)).first())
    if row is None or not live(row, now):
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        ScimToken.update(last_used_at=now).where(ScimToken.id == row.id).execute()
        row.last_used_at = now
    return row
