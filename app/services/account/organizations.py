"""Organizations: creating one, roles, invitations by email, removing members, and teams (issue 15).

Roles and their rules:
* OWNER and ADMIN manage the organization (invite, change roles, remove members, teams); MEMBER reads only.
* Only an OWNER makes someone an OWNER or changes or removes an OWNER.
* The last OWNER can neither be demoted, nor removed, nor leave: an organization always has an owner.
* A person who is not a member gets ``NotFound`` (another organization is a 404, as every object is); a member
  whose role is too low gets ``Forbidden`` with a sentence saying which role is needed.

Invitations: a random token that only the email carries (the row stores its SHA-256), valid for
``INVITATION_DAYS``, used once. Accepting needs a signed-in account with the invited address, so an invitation
never creates an account or joins one that its owner did not sign in to. Accepting is one conditional UPDATE, so
two clicks on one link join once.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import peewee

from app.db import db
from app.models import EventType, EventTypeHost, Invitation, Membership, Organization, Team, TeamMember, User
from app.models.base import utcnow
from app.services import audit
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.validation import is_email

INVITATION_DAYS = 7
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MANAGERS = ("OWNER", "ADMIN")
ROLES = ("OWNER", "ADMIN", "MEMBER")
NEEDS_ADMIN = "Only an owner or an admin of this organization can do this."
NEEDS_OWNER = "Only an owner of this organization can make, change or remove an owner."
LAST_OWNER = "An organization needs an owner: make another member an owner first."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name_and_slug(name: str, slug: str, *, taken) -> dict[str, str]:
    errors = {}
    if not name.strip() or len(name.strip()) > 100:
        errors["name"] = "Give a name of 1 to 100 characters."
    if not SLUG_RE.match(slug):
        errors["slug"] = "Use 3 to 40 lower-case letters, digits and hyphens, not starting or ending with a hyphen."
    elif taken(slug):
        errors["slug"] = "This address is taken."
    return errors


def create_organization(user: User, *, name: str, slug: str, brand_color: str = "#2563eb") -> Organization:
    """A new organization with ``user`` as its OWNER."""
    slug = (slug or "").strip().lower()
    errors = _check_name_and_slug(name or "", slug,
                                  taken=lambda s: Organization.select().where(Organization.slug == s).exists())
    if not COLOR_RE.match(brand_color or ""):
        errors["brand_color"] = "Use a colour like #2563eb."
    if errors:
        raise ValidationFailed(errors)
    try:
        with db.atomic():
            org = Organization.create(name=name.strip(), slug=slug, brand_color=brand_color.lower())
            Membership.create(organization=org, user=user, role="OWNER")
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "This address is taken."}) from exc
    return org


def membership(org: Organization, user: User) -> Membership | None:
    return Membership.get_or_none((Membership.organization == org) & (Membership.user == user))


def organizations_of(user: User) -> list[tuple[Organization, str]]:
    """The organizations ``user`` belongs to, with their role, by name."""
    rows = (Membership.select(Membership, Organization).join(Organization)
            .where(Membership.user == user).order_by(Organization.name))
    return [(row.organization, row.role) for row in rows]


def managed_organization_ids(user: User):
    """A subquery of the ids of the organizations in which ``user`` is OWNER or ADMIN."""
    return Membership.select(Membership.organization).where(
        (Membership.user == user.id) & Membership.role.in_(MANAGERS))


def managed_organizations(user: User) -> list[Organization]:
    """The organizations in which ``user`` is OWNER or ADMIN (who may create its agents and numbers), by name."""
    return [org for org, role in organizations_of(user) if role in MANAGERS]


def require_member(org_id: str, user: User, *roles: str) -> tuple[Organization, Membership]:
    """The organization and ``user``'s membership; NotFound for an outsider, Forbidden below ``roles``."""
    row = (Membership.select(Membership, Organization).join(Organization)
           .where((Membership.organization == org_id) & (Membership.user == user)).first())
    if row is None:
        raise NotFound("Organization not found")
    if roles and row.role not in roles:
        raise Forbidden(NEEDS_OWNER if roles == ("OWNER",) else NEEDS_ADMIN)
    return row.organization, row


def _owners(org: Organization) -> int:
    return Membership.select().where((Membership.organization == org) & (Membership.role == "OWNER")).count()


def _member_row(org: Organization, member_id: str) -> Membership:
    row = (Membership.select(Membership, User).join(User)
           .where((Membership.organization == org) & (Membership.user == member_id)).first())
    if row is None:
        raise NotFound("Member not found")
    return row


# -- invitations -------------------------------------------------------------------------------------------------

def invite(actor: User, org_id: str, *, email: str, role: str = "MEMBER",
           now: datetime | None = None) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``; answers the invitation and its token (for the link in the email).

    A pending invitation to the same address is replaced (its link stops working)."""
    now = now or utcnow()
    org, mine = require_member(org_id, actor, *MANAGERS)
    email = (email or "").strip().lower()
    errors = {}
    if not is_email(email):
        errors["email"] = "Enter a valid email address."
    if role not in ROLES:
        errors["role"] = "Choose Owner, Admin or Member."
    if errors:
        raise ValidationFailed(errors)
    if role == "OWNER" and mine.role != "OWNER":
        raise Forbidden(NEEDS_OWNER)
    already = (Membership.select().join(User)
               .where((Membership.organization == org) & (peewee.fn.LOWER(User.email) == email)).exists())
    if already:
        raise Conflict(f"{email} is already a member of {org.name}.")
    token = secrets.token_urlsafe(32)
    with db.atomic():
        (Invitation.update(revoked_at=now)
         .where((Invitation.organization == org) & (Invitation.email == email)
                & Invitation.accepted_at.is_null() & Invitation.revoked_at.is_null()).execute())
        invitation = Invitation.create(organization=org, email=email, role=role, token_hash=_hash(token),
                                       invited_by=actor, created_at=now,
                                       expires_at=now + timedelta(days=INVITATION_DAYS))
        audit.record("org.member_invited", resource="organization", resource_id=org.id, user=actor, actor=actor,
                     organization=org, details={"email": email, "role": role})
    return invitation, token


def pending_invitations(org: Organization, now: datetime | None = None) -> list[Invitation]:
    now = now or utcnow()
    return list(Invitation.select().where(
        (Invitation.organization == org) & Invitation.accepted_at.is_null() & Invitation.revoked_at.is_null()
        & (Invitation.expires_at > now)).order_by(Invitation.created_at.desc()))


def revoke_invitation(actor: User, org_id: str, invitation_id: str, now: datetime | None = None) -> None:
    org, _ = require_member(org_id, actor, *MANAGERS)
    updated = (Invitation.update(revoked_at=now or utcnow())
               .where((Invitation.id == invitation_id) & (Invitation.organization == org)
                      & Invitation.accepted_at.is_null() & Invitation.revoked_at.is_null()).execute())
    if not updated:
        raise NotFound("Invitation not found")


def invitation_for(token: str, now: datetime | None = None) -> Invitation:
    """The usable invitation of a link's token; NotFound with the reason a person can act on."""
    now = now or utcnow()
    invitation = (Invitation.select(Invitation, Organization).join(Organization)
                  .where(Invitation.token_hash == _hash(token or "")).first())
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("This invitation link is not valid. Ask for a new invitation.")
    if invitation.accepted_at is not None:
        raise NotFound("This invitation has already been used.")
    if invitation.expires_at <= now:
        raise NotFound("This invitation has expired. Ask for a new invitation.")
    return invitation


def accept(token: str, user: User, now: datetime | None = None) -> Membership:
    """``user`` (signed in) joins with the invitation's role; the link works once."""
    now = now or utcnow()
    invitation = invitation_for(token, now)
    if (user.email or "").lower() != invitation.email:
        raise Forbidden(f"This invitation was sent to {invitation.email}. Sign in with that address to accept it.")
    with db.atomic():
        used = (Invitation.update(accepted_at=now, accepted_by=user)
                .where((Invitation.id == invitation.id) & Invitation.accepted_at.is_null()
                       & Invitation.revoked_at.is_null() & (Invitation.expires_at > now)).execute())
        if not used:
            raise NotFound("This invitation has already been used.")
        existing = membership(invitation.organization, user)
        if existing is not None:
            return existing
        return Membership.create(organization=invitation.organization, user=user, role=invitation.role)


# -- roles and removal ---------------------------------------------------------------------------------------------

def change_role(actor: User, org_id: str, member_id: str, role: str) -> Membership:
    org, mine = require_member(org_id, actor, *MANAGERS)
    if role not in ROLES:
        raise ValidationFailed({"role": "Choose Owner, Admin or Member."})
    with db.atomic():
        row = _member_row(org, member_id)
        previous = row.role
        if previous == role:
            return row
        if "OWNER" in (previous, role) and mine.role != "OWNER":
            raise Forbidden(NEEDS_OWNER)
        if previous == "OWNER" and _owners(org) <= 1:
            raise Conflict(LAST_OWNER)
        row.role = role
        row.save()
        audit.record("org.role_changed", resource="organization", resource_id=org.id, user=actor, actor=actor,
                     organization=org, details={"email": row.user.email, "role": role, "previousRole": previous})
    return row


def remove_member(actor: User, org_id: str, member_id: str) -> None:
    """Remove a member (an OWNER or ADMIN does it; anyone may leave): their team places go with them."""
    leaving = member_id == actor.id
    org, mine = require_member(org_id, actor, *(ROLES if leaving else MANAGERS))
    with db.atomic():
        row = _member_row(org, member_id)
        if row.role == "OWNER" and not leaving and mine.role != "OWNER":
            raise Forbidden(NEEDS_OWNER)
        if row.role == "OWNER" and _owners(org) <= 1:
            raise Conflict(LAST_OWNER)
        remove_row(org, row, actor)


def remove_row(org: Organization, row: Membership, actor: User | None, via: str | None = None) -> None:
    """Remove a membership whose removal was allowed: team seats and hosting go with it. ``actor`` None is the
    organization's identity provider (SCIM, ``via="scim"``)."""
    with db.atomic():
        teams = Team.select(Team.id).where(Team.organization == org)
        TeamMember.delete().where((TeamMember.user == row.user_id) & (TeamMember.team.in_(teams))).execute()
        _stop_hosting(row.user_id, EventType.select(EventType.id).where(EventType.team.in_(teams)))
        row.delete_instance()
        details = {"email": row.user.email, "role": row.role}
        if via:
            details["via"] = via
        audit.record("org.member_removed", resource="organization", resource_id=org.id, user=actor or row.user,
                     actor=actor, organization=org, details=details)


def members(org: Organization) -> list[Membership]:
    return list(Membership.select(Membership, User).join(User)
                .where(Membership.organization == org).order_by(User.name, User.email))


# -- teams ---------------------------------------------------------------------------------------------------------

def create_team(actor: User, org_id: str, *, name: str, slug: str) -> Team:
    org, _ = require_member(org_id, actor, *MANAGERS)
    slug = (slug or "").strip().lower()
    errors = _check_name_and_slug(name or "", slug, taken=lambda s: Team.select().where(Team.slug == s).exists())
    if errors:
        raise ValidationFailed(errors)
    try:
        with db.atomic():
            team = Team.create(organization=org, name=name.strip(), slug=slug)
            audit.record("team.created", resource="team", resource_id=team.id, user=actor, actor=actor,
                         organization=org, details={"name": team.name, "slug": slug})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "This address is taken."}) from exc
    return team


def _team_of(actor: User, team_id: str, *roles: str) -> Team:
    team = Team.get_or_none(Team.id == team_id)
    if team is None:
        raise NotFound("Team not found")
    require_member(team.organization_id, actor, *roles)
    return team


def add_team_member(actor: User, team_id: str, member_id: str) -> TeamMember:
    team = _team_of(actor, team_id, *MANAGERS)
    row = _member_row(team.organization, member_id)
    with db.atomic():
        existing = TeamMember.get_or_none((TeamMember.team == team) & (TeamMember.user == member_id))
        if existing is not None:
            return existing
        added = TeamMember.create(team=team, user=member_id)
        audit.record("team.member_added", resource="team", resource_id=team.id, user=actor, actor=actor,
                     organization=team.organization, details={"team": team.name, "email": row.user.email,
                                                              "role": row.role})
    return added


def remove_team_member(actor: User, team_id: str, member_id: str) -> None:
    team = _team_of(actor, team_id, *MANAGERS)
    with db.atomic():
        row = (TeamMember.select(TeamMember, User).join(User)
               .where((TeamMember.team == team) & (TeamMember.user == member_id)).first())
        if row is None:
            raise NotFound("Member not found")
        row.delete_instance()
        _stop_hosting(member_id, EventType.select(EventType.id).where(EventType.team == team))
        audit.record("team.member_removed", resource="team", resource_id=team.id, user=actor, actor=actor,
                     organization=team.organization, details={"team": team.name, "email": row.user.email})


def _stop_hosting(member_id: str, event_types) -> None:
    """Someone who left a team no longer hosts its event types."""
    (EventTypeHost.delete()
     .where((EventTypeHost.user == member_id) & EventTypeHost.event_type.in_(event_types)).execute())


def plan_source(user: User) -> Organization | None:
    """The organization whose plan gives ``user`` their limits (effectivePlan), when it is above their own."""
    from app.services.plans import effective_plan, normalize_plan

    plan = effective_plan(user)
    if plan == normalize_plan(user.plan):
        return None
    for org, _role in organizations_of(user):
        if normalize_plan(org.plan) == plan:
            return org
    return None
