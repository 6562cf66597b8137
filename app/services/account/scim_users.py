"""SCIM Users of an organization (issue 20): list with filters, read, provision, replace, patch, deprovision.

* **POST** provisions a member: an account with the work email (or a userName that is an email address) that
  exists is linked and joins the organization as a MEMBER, never duplicated; otherwise an account is created
  (no password: its person signs in with Google/Microsoft or sets one through "Forgot password"). 409
  ``uniqueness`` when the organization has that userName already, or when the account already has a SCIM
  identity (in this organization or another: an account is provisioned by one organization at a time).
* **PUT** replaces every attribute (missing optional ones become null); **PATCH** applies operations
  (:mod:`scim_patch`).
* ``active: false`` suspends the account: it is disabled (no sign-in, sessions ended, API keys refused, booking
  pages unavailable) while its bookings stay; ``active: true`` re-enables it when SCIM disabled it.
* **DELETE** deprovisions: upcoming team bookings of the organization are cancelled with the usual emails, the
  membership and team seats go (:func:`member_removal.deprovision`), the account and its history stay; an
  account that existed before provisioning gets back the access SCIM suspended.

Every call is recorded in the organization's audit log (``scim.*`` actions; removal also as ``org.member_removed``).
The account's own email is not changed by SCIM after creation (the SCIM work email is kept on the identity).
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime

import peewee

from app.db import is_postgres, transaction
from app.models import Membership, Organization, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.models.scim import ScimUser
from app.services import audit
from app.services.account import member_removal, sessions
from app.services.account.accounts import RESERVED_USERNAMES
from app.services.account.scim_filter import WORK_EMAIL
from app.services.account.scim_patch import Attributes, ScimError, apply_patch, invalid
from app.services.errors import Conflict, NotFound
from app.services.scheduling.event_types import create_defaults

MAX_RESULTS = 200
DEFAULT_COUNT = 100


def _record(action: str, org: Organization, row: ScimUser | None, ip: str | None, details: dict | None = None):
    audit.record(action, resource="scim_user", resource_id=row.id if row else None, user=None, actor=None,
                 organization=org, ip=ip, details=details or {})


def record_call(action: str, org: Organization, ip: str | None, details: dict | None = None) -> None:
    """Record a read-only SCIM call (list, read, discovery) in the organization's audit log."""
    _record(action, org, None, ip, details)


# -- filters -------------------------------------------------------------------------------------------------------

def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(expr, pattern: str):
    return peewee.NodeList((expr, peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE '\\'")))


def _insensitive(field, op: str, value: str):
    lowered = peewee.fn.LOWER(field)
    value = value.lower()
    if op == "eq":
        return lowered == value
    return _like(lowered, (_escape(value) + "%") if op == "sw" else f"%{_escape(value)}%")


def _exact(field, op: str, value: str):
    if op == "eq":
        return field == value
    if op == "sw":
        return peewee.fn.SUBSTR(field, 1, len(value)) == value
    if is_postgres():
        return peewee.fn.STRPOS(field, value) > 0
    return peewee.fn.INSTR(field, value) > 0


_FIELDS = {"userName": (ScimUser.user_name, False), "externalId": (ScimUser.external_id, True),
           "displayName": (ScimUser.display_name, False), "id": (ScimUser.id, True),
           "emails.value": (ScimUser.email, False), WORK_EMAIL: (ScimUser.email, False)}


def condition(tree):
    """The peewee expression of a parsed filter (:func:`scim_filter.parse`)."""
    kind = tree[0]
    if kind in ("and", "or"):
        left, right = condition(tree[1]), condition(tree[2])
        return (left & right) if kind == "and" else (left | right)
    field, exact = _FIELDS[tree[1]]
    if kind == "pr":
        return field.is_null(False) & (field != "")
    if field is ScimUser.user_name and kind == "eq":
        return ScimUser.user_name_key == tree[2].lower()
    return (_exact if exact else _insensitive)(field, kind, tree[2])


def list_users(org: Organization, tree=None, *, start_index: int = 1,
               count: int = DEFAULT_COUNT) -> tuple[int, list[ScimUser]]:
    """The total number of matches and one page of them (``start_index`` from 1), oldest first."""
    query = ScimUser.select(ScimUser, User).join(User).where(ScimUser.organization == org)
    if tree is not None:
        query = query.where(condition(tree))
    total = query.count()
    count = max(0, min(count, MAX_RESULTS))
    rows = list(query.order_by(ScimUser.created_at, ScimUser.id).offset(max(1, start_index) - 1).limit(count)) \
        if count else []
    return total, rows


def get_user(org: Organization, scim_id: str) -> ScimUser:
    row = (ScimUser.select(ScimUser, User).join(User)
           .where((ScimUser.id == scim_id) & (ScimUser.organization == org)).first())
    if row is None:
        raise ScimError(404, f"User {scim_id} not found.")
    return row


def attributes_of(row: ScimUser) -> Attributes:
    return Attributes(user_name=row.user_name, external_id=row.external_id, active=row.active,
                      given_name=row.given_name, family_name=row.family_name, display_name=row.display_name,
                      email=row.email, email_primary=row.email_primary)


# -- writes --------------------------------------------------------------------------------------------------------

def _check_user_name(org: Organization, user_name: str, exclude: str | None = None) -> None:
    query = ScimUser.select().where((ScimUser.organization == org) & (ScimUser.user_name_key == user_name.lower()))
    if exclude:
        query = query.where(ScimUser.id != exclude)
    if query.exists():
        raise ScimError(409, f"userName {user_name!r} is already provisioned in this organization.", "uniqueness")


def _free_username(email: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", email.split("@")[0].lower()).strip("-")[:24] or "member"
    base = base if len(base) >= 3 else f"{base}-user"
    candidate = base
    for _ in range(20):
        if candidate not in RESERVED_USERNAMES and not User.select().where(User.username == candidate).exists():
            return candidate
        candidate = f"{base}-{secrets.token_hex(2)}"
    return f"member-{secrets.token_hex(6)}"


def _display(attrs: Attributes) -> str:
    name = " ".join(part for part in (attrs.given_name, attrs.family_name) if part)
    return (attrs.display_name or name or attrs.user_name)[:100]


def _write(row: ScimUser, attrs: Attributes, now: datetime) -> None:
    row.user_name, row.user_name_key = attrs.user_name, attrs.user_name.lower()
    row.external_id, row.given_name, row.family_name = attrs.external_id, attrs.given_name, attrs.family_name
    row.display_name, row.email, row.email_primary = attrs.display_name, attrs.email, attrs.email_primary
    row.updated_at = now


def _set_active(row: ScimUser, active: bool | None) -> str | None:
    """Suspend (``False``) or re-enable (``True`` or None: not given) ``row``'s account; answers the audit action
    of a change of suspension, or None."""
    was_suspended, suspend = row.active is False, active is False
    row.active = active
    if suspend == was_suspended:
        return None
    active = not suspend
    user = row.user
    if not active and not user.is_disabled:
        User.update(is_disabled=True).where(User.id == user.id).execute()
        row.disabled_account = True
        sessions.end_all(user)
        bump_pages_version(user.id)
    elif active and row.disabled_account:
        User.update(is_disabled=False).where(User.id == user.id).execute()
        row.disabled_account = False
        bump_pages_version(user.id)
    return "scim.user_reactivated" if active else "scim.user_deactivated"


def create_user(org: Organization, attrs: Attributes, *, ip: str | None = None,
                now: datetime | None = None) -> ScimUser:
    now = now or utcnow()
    email = attrs.contact_email()
    if not email:
        raise invalid("Give a work email (emails) or a userName that is an email address.")
    try:
        with transaction():
            _check_user_name(org, attrs.user_name)
            user = User.get_or_none(peewee.fn.LOWER(User.email) == email)
            created = user is None
            if user is not None:
                owner = ScimUser.get_or_none(ScimUser.user == user)
                if owner is not None:
                    where = "this organization" if owner.organization_id == org.id else "another organization"
                    raise ScimError(409, f"{email} is already provisioned by {where}.", "uniqueness")
            else:
                user = User.create(name=_display(attrs), email=email, username=_free_username(email),
                                   password_hash=None, email_verified_at=now)
                create_defaults(user)
            if not Membership.select().where((Membership.organization == org) & (Membership.user == user)).exists():
                Membership.create(organization=org, user=user, role="MEMBER")
            row = ScimUser(organization=org, user=user, created_account=created, created_at=now)
            _write(row, attrs, now)
            row.save(force_insert=True)
            _set_active(row, attrs.active)
            row.save()
            _record("scim.user_created", org, row, ip, {"userName": attrs.user_name, "email": email,
                                                        "linked": not created, "active": attrs.active})
    except peewee.IntegrityError as exc:       # a concurrent request provisioned the same name or account
        raise ScimError(409, "This user is already provisioned.", "uniqueness") from exc
    return get_user(org, row.id)


def _update(org: Organization, row: ScimUser, attrs: Attributes, action: str, ip: str | None,
            now: datetime | None) -> ScimUser:
    now = now or utcnow()
    try:
        with transaction():
            _check_user_name(org, attrs.user_name, exclude=row.id)
            before = attributes_of(row)
            _write(row, attrs, now)
            change = _set_active(row, attrs.active)
            row.save()
            changed = sorted(k for k, v in vars(attrs).items() if getattr(before, k) != v)
            _record(action, org, row, ip, {"userName": attrs.user_name, "changed": changed})
            if change:
                _record(change, org, row, ip, {"userName": attrs.user_name, "email": row.user.email})
    except peewee.IntegrityError as exc:
        raise ScimError(409, f"userName {attrs.user_name!r} is already provisioned.", "uniqueness") from exc
    return get_user(org, row.id)


def replace_user(org: Organization, scim_id: str, attrs: Attributes, *, ip: str | None = None,
                 now: datetime | None = None) -> ScimUser:
    return _update(org, get_user(org, scim_id), attrs, "scim.user_replaced", ip, now)


def patch_user(org: Organization, scim_id: str, body, *, ip: str | None = None,
               now: datetime | None = None) -> ScimUser:
    row = get_user(org, scim_id)
    return _update(org, row, apply_patch(attributes_of(row), body), "scim.user_updated", ip, now)


def delete_user(org: Organization, scim_id: str, *, ip: str | None = None, now: datetime | None = None) -> dict:
    """Deprovision: cancel the member's upcoming team bookings, remove them from the organization and its
    teams, forget the SCIM identity; the account stays (re-enabled when it existed before provisioning)."""
    row = get_user(org, scim_id)
    counts = {"cancelled": 0}
    with transaction():
        try:
            counts = member_removal.deprovision(org.id, row.user_id, now=now)
        except NotFound:
            pass        # no longer a member (removed on the dashboard): only the identity goes
        except Conflict as exc:
            raise ScimError(409, str(exc), "mutability") from exc
        if row.disabled_account and not row.created_account:
            User.update(is_disabled=False).where(User.id == row.user_id).execute()
            bump_pages_version(row.user_id)
        row.delete_instance()
        _record("scim.user_deleted", org, row, ip, {"userName": row.user_name, "email": row.user.email,
                                                    "cancelledBookings": counts["cancelled"]})
    return counts
