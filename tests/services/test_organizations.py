"""Organizations (issue 15): roles and their rules, invitations (expired, reused, forged, wrong account), teams,
the audit entries of page 21 and the organization plan reaching its members (effectivePlan)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Membership, TeamMember
from app.services import plans
from app.services.account import organizations as orgs
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(make_user, db_conn):
    return {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto")}


@pytest.fixture
def org(people):
    return orgs.create_organization(people["olga"], name="Acme", slug="acme")


def join(org, owner, person, role="MEMBER"):
    _, token = orgs.invite(owner, org.id, email=person.email, role=role, now=NOW)
    return orgs.accept(token, person, now=NOW)


def role_of(org, person):
    return Membership.get((Membership.organization == org) & (Membership.user == person)).role


def test_the_creator_is_the_owner_and_slugs_are_checked(people, org):
    assert role_of(org, people["olga"]) == "OWNER"
    with pytest.raises(ValidationFailed) as taken:
        orgs.create_organization(people["adam"], name="Acme 2", slug="acme")
    assert taken.value.errors == {"slug": "This address is taken."}
    with pytest.raises(ValidationFailed) as bad:
        orgs.create_organization(people["adam"], name="", slug="-x", brand_color="blue")
    assert set(bad.value.errors) == {"name", "slug", "brand_color"}


def test_an_invitation_joins_the_invited_account_once(people, org):
    invitation, token = orgs.invite(people["olga"], org.id, email="ADAM@example.com", role="ADMIN", now=NOW)
    assert invitation.email == "adam@example.com" and token not in invitation.token_hash
    with pytest.raises(Forbidden, match="sent to adam@example.com"):
        orgs.accept(token, people["mia"], now=NOW)          # another signed-in account cannot use it
    assert orgs.accept(token, people["adam"], now=NOW).role == "ADMIN"
    with pytest.raises(NotFound, match="already been used"):
        orgs.accept(token, people["adam"], now=NOW)
    entry = AuditLog.get(AuditLog.action == "org.member_invited")
    assert (entry.organization_id, json.loads(entry.details)) == (org.id, {"email": "adam@example.com",
                                                                           "role": "ADMIN"})


def test_expired_forged_and_replaced_invitations_are_refused(people, org):
    _, token = orgs.invite(people["olga"], org.id, email=people["adam"].email, now=NOW)
    with pytest.raises(NotFound, match="expired"):
        orgs.accept(token, people["adam"], now=NOW + timedelta(days=orgs.INVITATION_DAYS, seconds=1))
    with pytest.raises(NotFound, match="not valid"):
        orgs.accept(token[:-2] + "xx", people["adam"], now=NOW)
    _, newer = orgs.invite(people["olga"], org.id, email=people["adam"].email, now=NOW)
    with pytest.raises(NotFound, match="not valid"):                  # the first link was replaced
        orgs.accept(token, people["adam"], now=NOW)
    assert orgs.accept(newer, people["adam"], now=NOW).role == "MEMBER"
    with pytest.raises(Conflict, match="already a member"):
        orgs.invite(people["olga"], org.id, email=people["adam"].email, now=NOW)


def test_outsiders_get_not_found_and_members_forbidden(people, org):
    join(org, people["olga"], people["mia"])
    with pytest.raises(NotFound):
        orgs.invite(people["otto"], org.id, email="x@example.com")
    with pytest.raises(Forbidden, match="owner or an admin"):
        orgs.invite(people["mia"], org.id, email="x@example.com")
    with pytest.raises(Forbidden):
        orgs.create_team(people["mia"], org.id, name="Sales", slug="sales")


def test_only_owners_make_or_touch_owners_and_the_last_owner_stays(people, org):
    olga, adam, mia = people["olga"], people["adam"], people["mia"]
    join(org, olga, adam, "ADMIN")
    join(org, olga, mia)
    with pytest.raises(Forbidden, match="Only an owner"):
        orgs.invite(adam, org.id, email="new@example.com", role="OWNER")
    with pytest.raises(Forbidden, match="Only an owner"):
        orgs.change_role(adam, org.id, mia.id, "OWNER")
    with pytest.raises(Forbidden, match="Only an owner"):
        orgs.remove_member(adam, org.id, olga.id)
    assert orgs.change_role(adam, org.id, mia.id, "ADMIN").role == "ADMIN"
    with pytest.raises(Conflict, match="needs an owner"):
        orgs.change_role(olga, org.id, olga.id, "ADMIN")
    with pytest.raises(Conflict, match="needs an owner"):
        orgs.remove_member(olga, org.id, olga.id)             # the last owner cannot leave
    orgs.change_role(olga, org.id, adam.id, "OWNER")
    orgs.remove_member(olga, org.id, olga.id)                 # now she can
    assert [m.user.username for m in orgs.members(org)] == ["adam", "mia"]
    changed = AuditLog.get((AuditLog.action == "org.role_changed") & (AuditLog.details.contains("OWNER")))
    assert json.loads(changed.details) == {"email": "adam@example.com", "role": "OWNER", "previousRole": "ADMIN"}


def test_teams_hold_organization_members_only_and_lose_removed_ones(people, org):
    olga, mia, otto = people["olga"], people["mia"], people["otto"]
    join(org, olga, mia)
    team = orgs.create_team(olga, org.id, name="Sales", slug="sales")
    orgs.add_team_member(olga, team.id, mia.id)
    with pytest.raises(NotFound):
        orgs.add_team_member(olga, team.id, otto.id)           # not in the organization
    orgs.remove_member(olga, org.id, mia.id)
    assert TeamMember.select().where(TeamMember.team == team).count() == 0
    actions = [e.action for e in AuditLog.select().where(AuditLog.organization_id == org.id)
               .order_by(AuditLog.created_at)]
    assert actions[-3:] == ["team.created", "team.member_added", "org.member_removed"]


def test_members_of_an_organization_plan_get_its_limits(people, org):
    mia = people["mia"]
    assert plans.effective_plan(mia) == "FREE"
    join(org, people["olga"], mia)
    assert plans.effective_plan(mia) == "ORGANIZATION"
    org.plan = "PRO"
    org.save()
    assert plans.effective_plan(mia) == "PRO"
