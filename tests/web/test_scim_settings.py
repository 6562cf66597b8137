"""Dashboard → Organizations → SCIM (issue 20): generate a token (shown once), rotate with a grace period in
minutes or hours, revoke; htmx partials and plain posts; CSRF; who may (OWNER/ADMIN on Business and above)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Membership, Organization
from app.models.scim import ScimToken
from app.services.account import scim_tokens
from tests import factories
from tests.conftest import login
from tests.web.conftest import data


@pytest.fixture
def acme(app, make_user):
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto")}
    with data(app):
        org = factories.team(people["olga"], [people["mia"]]).organization
        Membership.create(organization=org, user=people["adam"], role="ADMIN")
        Organization.update(plan="BUSINESS").where(Organization.id == org.id).execute()
    return {"org": org.id, **people}


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _raw(response) -> str:
    found = re.search(rb'value="(lt_scim_[A-Za-z0-9]{40})"', response.data)
    assert found, response.data[:2000]
    return found.group(1).decode()


def _works(app, raw) -> bool:
    with data(app):
        return scim_tokens.authenticate(raw) is not None


def test_generate_shows_the_token_once_and_the_base_url(app, acme):
    admin = _client(app, acme["adam"])
    page = admin.get(f"/dashboard/organizations/{acme['org']}/scim")
    assert page.status_code == 200 and b"Generate SCIM token" in page.data
    assert b"http://localhost/api/scim/v2" in page.data or b"/api/scim/v2" in page.data
    made = admin.post(f"/dashboard/organizations/{acme['org']}/scim/tokens")
    assert made.status_code == 201 and b"shown only this once" in made.data
    raw = _raw(made)
    assert _works(app, raw)
    again = admin.get(f"/dashboard/organizations/{acme['org']}/scim")
    assert raw.encode() not in again.data and raw[:12].encode() in again.data
    with data(app):
        row = ScimToken.get(ScimToken.organization == acme["org"])
        assert row.token_hash != raw and len(row.token_hash) == 64
    linked = admin.get(f"/dashboard/organizations/{acme['org']}")
    assert f"/dashboard/organizations/{acme['org']}/scim".encode() in linked.data


def test_htmx_posts_swap_the_panel(app, acme):
    owner = _client(app, acme["olga"])
    made = owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens", headers={"HX-Request": "true"})
    assert made.status_code == 201 and b'id="scim-panel"' in made.data and b"<html" not in made.data
    assert b'hx-post="/dashboard/organizations/' in made.data


def test_rotating_with_a_grace_period_keeps_the_old_token_that_long(app, acme):
    owner = _client(app, acme["olga"])
    first = _raw(owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens"))
    rotated = owner.post(f"/dashboard/organizations/{acme['org']}/scim/rotate", data={"grace": "2", "unit": "hours"})
    assert rotated.status_code == 201 and b"keep working for 2 hours" in rotated.data
    second = _raw(rotated)
    assert _works(app, first) and _works(app, second)
    with data(app):
        old = ScimToken.get(ScimToken.token_hash == __import__("hashlib").sha256(first.encode()).hexdigest())
        left = old.expires_at - datetime.now(UTC)
        assert timedelta(minutes=119) < left <= timedelta(hours=2)
    at_once = owner.post(f"/dashboard/organizations/{acme['org']}/scim/rotate", data={"grace": "0"})
    third = _raw(at_once)
    assert not _works(app, first) and not _works(app, second) and _works(app, third)
    refused = owner.post(f"/dashboard/organizations/{acme['org']}/scim/rotate", data={"grace": "-5"},
                         headers={"HX-Request": "true"})
    assert refused.status_code == 422 and b"whole number" in refused.data and _works(app, third)
    too_long = owner.post(f"/dashboard/organizations/{acme['org']}/scim/rotate", data={"grace": "9999",
                                                                                       "unit": "hours"})
    assert too_long.status_code == 422 and b"at most 30 days" in too_long.data


def test_revoking_stops_a_token_at_once(app, acme):
    owner = _client(app, acme["olga"])
    raw = _raw(owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens"))
    with data(app):
        token_id = ScimToken.get(ScimToken.organization == acme["org"]).id
    done = owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens/{token_id}/revoke")
    assert done.status_code == 200 and b"Revoked the token" in done.data and b"Generate SCIM token" in done.data
    assert not _works(app, raw)
    assert owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens/{token_id}/revoke").status_code == 404


def test_members_outsiders_and_lower_plans_are_refused(app, acme):
    assert _client(app, acme["mia"]).get(f"/dashboard/organizations/{acme['org']}/scim").status_code == 403
    assert _client(app, acme["mia"]).post(f"/dashboard/organizations/{acme['org']}/scim/tokens").status_code == 403
    assert _client(app, acme["otto"]).get(f"/dashboard/organizations/{acme['org']}/scim").status_code == 404
    with data(app):
        Organization.update(plan="PRO").where(Organization.id == acme["org"]).execute()
    owner = _client(app, acme["olga"])
    page = owner.get(f"/dashboard/organizations/{acme['org']}/scim")
    assert page.status_code == 403 and b"Your Pro plan does not include SCIM provisioning" in page.data
    refused = owner.post(f"/dashboard/organizations/{acme['org']}/scim/tokens")
    assert refused.status_code == 403
    with data(app):
        assert not ScimToken.select().exists()


def test_posts_need_the_csrf_token(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    olga = make_user("olga", email="olga@example.com")
    with data(app):
        org = factories.team(olga, []).organization
        Organization.update(plan="BUSINESS").where(Organization.id == org.id).execute()
    client = app.test_client()
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    client.post("/login", data={"email": "olga@example.com", "password": factories.PASSWORD, "csrf_token": token})
    assert client.post(f"/dashboard/organizations/{org.id}/scim/tokens").status_code == 400
    with data(app):
        assert not ScimToken.select().exists()
    panel = client.get(f"/dashboard/organizations/{org.id}/scim")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', panel.data).group(1).decode()
    assert client.post(f"/dashboard/organizations/{org.id}/scim/tokens", data={"csrf_token": token}).status_code == 201
