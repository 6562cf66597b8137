"""Dashboard → Organizations through the test client: creating one, inviting by email (the real email's link),
roles, teams, and every route's answer to an outsider (404) and to a MEMBER where an ADMIN is needed (403)."""
from __future__ import annotations

import re

import pytest

from app.db import db
from app.models import Membership, Organization, Team
from app.services.account import organizations as service
from tests.conftest import login


@pytest.fixture
def people(make_user):
    return {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "mia", "otto")}


@pytest.fixture
def org(app, people):
    """Acme: Olga owns it, Mia is a member, Otto is an outsider; one team, Sales."""
    with app.app_context(), db.connection_context():
        org = service.create_organization(people["olga"], name="Acme", slug="acme")
        _, token = service.invite(people["olga"], org.id, email="mia@example.com")
        service.accept(token, people["mia"])
        service.create_team(people["olga"], org.id, name="Sales", slug="sales")
        return org


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _team(app):
    with app.app_context(), db.connection_context():
        return Team.get(Team.slug == "sales")


def _role(app, org, user):
    with app.app_context(), db.connection_context():
        row = Membership.get_or_none((Membership.organization == org.id) & (Membership.user == user.id))
        return row and row.role


def test_a_host_creates_an_organization_and_owns_it(app, people):
    client = _client(app, people["otto"])
    refused = client.post("/dashboard/organizations", data={"name": "", "slug": "X"})
    assert refused.status_code == 422 and b"Give a name" in refused.data
    created = client.post("/dashboard/organizations", data={"name": "Otto & Co", "slug": "otto-co"})
    assert created.status_code == 302
    with app.app_context(), db.connection_context():
        org = Organization.get(Organization.slug == "otto-co")
    assert _role(app, org, people["otto"]) == "OWNER"
    assert b"Otto &amp; Co" in client.get("/dashboard/organizations").data


def test_an_invitation_email_lets_only_the_invited_account_join(app_factory, people, org, smtp_server, make_user):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    nora = make_user("nora", email="nora@example.com")
    owner = _client(app, people["olga"])
    answer = owner.post(f"/dashboard/organizations/{org.id}/invitations", data={"email": "nora@example.com",
                                                                                "role": "ADMIN"})
    assert answer.status_code == 302
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "nora@example.com" and "invited you to Acme" in msg["Subject"]
    link = re.search(r"http://\S+(/invitations/\S+)", msg.get_body(("plain",)).get_content()).group(1)

    assert b"Sign in to accept" in app.test_client().get(link).data          # signed out: nothing happens
    otto = _client(app, people["otto"])
    assert b"This invitation is for nora@example.com" in otto.get(link).data
    assert otto.post(link).status_code == 403 and _role(app, org, people["otto"]) is None
    joined = _client(app, nora).post(link)
    assert joined.status_code == 302 and _role(app, org, nora) == "ADMIN"
    again = _client(app, nora).post(link)
    assert again.status_code == 404 and b"already been used" in again.data
    assert b"not valid" in app.test_client().get("/invitations/forged-token").data


@pytest.mark.parametrize("method,path", [
    ("get", "/dashboard/organizations/{org}"),
    ("post", "/dashboard/organizations/{org}/invitations"),
    ("post", "/dashboard/organizations/{org}/members/{mia}/role"),
    ("post", "/dashboard/organizations/{org}/members/{mia}/remove"),
    ("post", "/dashboard/organizations/{org}/teams"),
    ("post", "/dashboard/organizations/{org}/teams/{team}/members"),
    ("post", "/dashboard/organizations/{org}/teams/{team}/members/{mia}/remove"),
    ("post", "/dashboard/organizations/{org}/invitations/none/revoke"),
])
def test_every_route_is_not_found_for_an_outsider(app, people, org, method, path):
    url = path.format(org=org.id, mia=people["mia"].id, team=_team(app).id)
    answer = getattr(_client(app, people["otto"]), method)(url, data={"email": "x@example.com", "role": "ADMIN",
                                                                      "name": "X", "slug": "xxx",
                                                                      "member": people["mia"].id})
    assert answer.status_code == 404


@pytest.mark.parametrize("path,data", [
    ("/dashboard/organizations/{org}/invitations", {"email": "x@example.com", "role": "MEMBER"}),
    ("/dashboard/organizations/{org}/members/{olga}/role", {"role": "MEMBER"}),
    ("/dashboard/organizations/{org}/members/{olga}/remove", {}),
    ("/dashboard/organizations/{org}/teams", {"name": "Support", "slug": "support"}),
    ("/dashboard/organizations/{org}/teams/{team}/members", {"member": "{mia}"}),
])
def test_a_member_is_refused_what_needs_an_admin(app, people, org, path, data):
    ids = {"org": org.id, "olga": people["olga"].id, "mia": people["mia"].id, "team": _team(app).id}
    mia = _client(app, people["mia"])
    answer = mia.post(path.format(**ids), data={k: v.format(**ids) for k, v in data.items()},
                      headers={"HX-Request": "true"})
    assert answer.status_code == 403 and b"Only an owner or an admin" in answer.data
    assert _role(app, org, people["olga"]) == "OWNER"


def test_a_member_sees_the_organization_without_management_controls(app, people, org):
    page = _client(app, people["mia"]).get(f"/dashboard/organizations/{org.id}")
    assert page.status_code == 200 and b"Sales" in page.data and b"olga@example.com" in page.data
    assert b'id="invite-form"' not in page.data and b"Leave Acme" in page.data


def test_the_last_owner_can_neither_leave_nor_be_demoted(app, people, org):
    olga = _client(app, people["olga"])
    demoted = olga.post(f"/dashboard/organizations/{org.id}/members/{people['olga'].id}/role",
                        data={"role": "ADMIN"}, headers={"HX-Request": "true"})
    assert demoted.status_code == 409 and b"needs an owner" in demoted.data
    left = olga.post(f"/dashboard/organizations/{org.id}/members/{people['olga'].id}/remove")
    assert left.status_code == 302 and _role(app, org, people["olga"]) == "OWNER"


def test_an_admin_manages_teams_in_place(app, people, org):
    olga = _client(app, people["olga"])
    team = _team(app)
    added = olga.post(f"/dashboard/organizations/{org.id}/teams/{team.id}/members",
                      data={"member": people["mia"].id}, headers={"HX-Request": "true"})
    assert added.status_code == 200 and b'id="org-panel"' in added.data and b"Added the member" in added.data
    assert b"<html" not in added.data                                   # the panel only, swapped in place
    made = olga.post(f"/dashboard/organizations/{org.id}/teams", data={"name": "Support", "slug": "sales"},
                     headers={"HX-Request": "true"})
    assert made.status_code == 422 and b"This address is taken." in made.data


def test_the_organization_audit_log_api_names_each_member_and_is_for_admins(app, people, org):
    from datetime import UTC, datetime, timedelta

    from app.models import AuditLog
    with app.app_context(), db.connection_context():   # Mia's own entry from before she joined stays hers
        AuditLog.create(user_id=people["mia"].id, actor_id=people["mia"].id, action="booking.created",
                        category="bookings", resource="booking", resource_id="old",
                        created_at=datetime.now(UTC) - timedelta(days=3))
        AuditLog.create(user_id=people["mia"].id, actor_id=people["mia"].id, action="booking.created",
                        category="bookings", resource="booking", resource_id="new")
    olga = _client(app, people["olga"])
    answer = olga.get(f"/api/organizations/{org.id}/audit-logs?limit=10")
    assert answer.status_code == 200
    body = answer.get_json()
    actions = {(log["action"], log["resourceId"]): log["user"] for log in body["logs"]}
    assert ("booking.created", "old") not in actions
    assert actions[("booking.created", "new")] == {"name": people["mia"].name, "email": "mia@example.com",
                                                   "image": None}
    assert actions[("org.member_invited", org.id)]["email"] == "olga@example.com"
    assert actions[("team.created", _team(app).id)]["email"] == "olga@example.com"
    assert set(body) == {"logs", "total", "page", "limit", "hasMore", "retentionDays"}
    teams = olga.get(f"/api/organizations/{org.id}/audit-logs?category=team").get_json()["logs"]
    assert {log["action"] for log in teams} == {"team.created", "org.member_invited"}
    csv_text = olga.get(f"/api/organizations/{org.id}/audit-logs?export=csv").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("User,User Email,Time,Action") and "mia@example.com" in csv_text

    refused = _client(app, people["mia"]).get(f"/api/organizations/{org.id}/audit-logs")
    assert refused.status_code == 403 and refused.get_json() == {"error": service.NEEDS_ADMIN}
    assert _client(app, people["otto"]).get(f"/api/organizations/{org.id}/audit-logs").status_code == 404
    assert app.test_client().get(f"/api/organizations/{org.id}/audit-logs").status_code == 401


def test_the_organization_audit_log_page_has_a_member_column_filters_and_csv(app, people, org):
    olga = _client(app, people["olga"])
    page = olga.get(f"/dashboard/organizations/{org.id}")
    assert f'href="/dashboard/organizations/{org.id}/audit-log"'.encode() in page.data
    log = olga.get(f"/dashboard/organizations/{org.id}/audit-log")
    text = log.get_data(as_text=True)
    assert log.status_code == 200 and '<th scope="col">Member</th>' in text
    assert "Team Created" in text and "olga@example.com" in text and 'value="team"' in text
    part = olga.get(f"/dashboard/organizations/{org.id}/audit-log?category=team&search=member_invited",
                    headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in part and "Member Invited" in part and "Team Created" not in part
    assert f"/dashboard/organizations/{org.id}/audit-log/export.csv?category=team" in part
    csv_text = olga.get(f"/dashboard/organizations/{org.id}/audit-log/export.csv").get_data(as_text=True)
    assert csv_text.startswith("User,User Email,Time")
    mia = _client(app, people["mia"])
    assert b'/audit-log"' not in mia.get(f"/dashboard/organizations/{org.id}").data
    assert mia.get(f"/dashboard/organizations/{org.id}/audit-log").status_code == 403
    assert mia.get(f"/dashboard/organizations/{org.id}/audit-log/export.csv").status_code == 403
    assert _client(app, people["otto"]).get(f"/dashboard/organizations/{org.id}/audit-log").status_code == 404


def test_a_member_s_settings_show_the_plan_the_organization_gives(app, people, org):
    page = _client(app, people["mia"]).get("/settings/profile").get_data(as_text=True)
    assert "the <strong>Organization</strong> plan" in page and "(your own plan: Free)" in page
    alone = _client(app, people["otto"]).get("/settings/profile").get_data(as_text=True)
    assert "the <strong>Free</strong> plan." in alone
