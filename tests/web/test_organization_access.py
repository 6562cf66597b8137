"""Every organization route of the dashboard, found in the app's URL map (a new route fails here until it is listed):
an outsider and an admin of another organization get 404, a MEMBER gets 403 wherever an OWNER or ADMIN is
needed, and ids of another organization's teams, members and event types are 404 even for its own admins."""
from __future__ import annotations

import pytest

from app.db import db
from app.models import Membership
from app.services.account import organizations as service
from tests import factories
from tests.conftest import login

# endpoint -> what a MEMBER of the organization gets, per method (None: the route is open to members)
MEMBER_ANSWER = {
    "organizations.detail": {"GET": None},
    "organizations.audit_log": {"GET": 403},
    "organizations.audit_export": {"GET": 403},
    "organizations.invite": {"POST": 403},
    "organizations.revoke": {"POST": 403},
    "organizations.remove": {"POST": 403},
    "organizations.change_role": {"POST": 403},
    "organizations.create_team": {"POST": 403},
    "organizations.add_team_member": {"POST": 403},
    "organizations.remove_team_member": {"POST": 403},
    "org_members.confirm": {"GET": 403},
    "org_members.remove": {"POST": 403},
    "org_settings.edit": {"GET": 403, "POST": 403},
    "team_event_types.new": {"GET": 403, "POST": 403},
    "team_event_types.edit": {"GET": 403, "POST": 403},
    "team_event_types.delete": {"GET": 403, "POST": 403},
    "team_event_types.questions": {"POST": 403},
    "scim_settings.index": {"GET": 403},
    "scim_settings.generate": {"POST": 403},
    "scim_settings.rotate": {"POST": 403},
    "scim_settings.revoke": {"POST": 403},
}


def _org_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/dashboard/organizations/<org_id>")]


@pytest.fixture
def world(app, make_user):
    """Acme (Olga owns it, Mia is a member, with a team and a team event type) and Globex (Gil owns it)."""
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "mia", "otto", "gil")}
    with app.app_context(), db.connection_context():
        acme_team = factories.team(people["olga"], [people["mia"]], org_slug="acme", slug="sales")
        acme_type = factories.team_event_type(people["olga"], acme_team, [people["mia"]], name="Demo")
        globex_team = factories.team(people["gil"], [], org_slug="globex", slug="globex-sales")
        globex_type = factories.team_event_type(people["gil"], globex_team, [people["gil"]], name="Pitch")
        invitation, _ = service.invite(people["olga"], acme_team.organization_id, email="new@example.com")
    ids = {"acme": {"org_id": acme_team.organization_id, "team_id": acme_team.id, "event_type_id": acme_type.id,
                    "member_id": people["olga"].id, "invitation_id": invitation.id, "token_id": "none"},
           "globex": {"org_id": globex_team.organization_id, "team_id": globex_team.id,
                      "event_type_id": globex_type.id, "member_id": people["gil"].id, "invitation_id": "none",
                      "token_id": "none"}}
    return people, ids


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _url(rule, values) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", values[name])
    return path


def _requests(app):
    for rule in _org_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


FORM = {"email": "x@example.com", "role": "ADMIN", "name": "X", "slug": "xxx", "member": "nobody",
        "bookings": "cancel", "brand_color": "#000000", "duration": "30", "scheduling_type": "collective"}


def test_every_organization_route_is_listed_here(app):
    found = {rule.endpoint: sorted(rule.methods - {"HEAD", "OPTIONS"}) for rule in _org_rules(app)}
    assert found == {endpoint: sorted(methods) for endpoint, methods in MEMBER_ANSWER.items()}


def test_outsiders_and_other_organizations_admins_get_404_everywhere(app, world):
    people, ids = world
    for who in ("otto", "gil"):
        client = _client(app, people[who])
        for rule, method in _requests(app):
            answer = client.open(_url(rule, ids["acme"]), method=method, data=FORM)
            assert answer.status_code == 404, (who, method, rule.rule, answer.status_code)


def test_a_member_gets_403_wherever_an_admin_is_needed(app, world):
    people, ids = world
    client = _client(app, people["mia"])
    for rule, method in _requests(app):
        expected = MEMBER_ANSWER[rule.endpoint][method]
        answer = client.open(_url(rule, ids["acme"]), method=method, data=FORM, headers={"HX-Request": "true"})
        if expected is None:
            assert answer.status_code == 200, (method, rule.rule)
        else:
            assert answer.status_code == expected, (method, rule.rule, answer.status_code)
            assert b"Only an owner or an admin" in answer.data, (method, rule.rule)
    with app.app_context(), db.connection_context():
        assert Membership.select().where(Membership.organization == ids["acme"]["org_id"]).count() == 2


def test_another_organizations_objects_are_404_to_an_owner(app, world):
    people, ids = world
    client = _client(app, people["olga"])
    for rule, method in _requests(app):
        foreign = [name for name in rule.arguments if name != "org_id" and name in ids["globex"]]
        if not foreign:
            continue
        values = {**ids["acme"], **{name: ids["globex"][name] for name in foreign}}
        answer = client.open(_url(rule, values), method=method, data=FORM, headers={"HX-Request": "true"})
        assert answer.status_code == 404, (method, rule.rule, foreign, answer.status_code)
