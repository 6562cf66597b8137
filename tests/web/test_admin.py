"""Instance administration: who may see it, plans, disabling accounts (plain posts and htmx rows)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import PASSWORD, login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(make_user):
    user = make_user("root-admin", email="admin@example.com")  # the first account administers the instance
    assert user.is_admin
    return user


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    login(client, admin)
    return client


def _reload(app, user):
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.get_by_id(user.id)


def _audit(app, action):
    from app.db import db
    from app.models import AuditLog
    with app.app_context(), db.connection_context():
        return list(AuditLog.select().where(AuditLog.action == action))


def test_users_page_lists_accounts_for_the_admin(admin_client, make_user):
    make_user("bob")
    page = admin_client.get("/admin/users")
    assert page.status_code == 200
    assert b"bob@example.com" in page.data and b"admin@example.com" in page.data and b"2 accounts" in page.data


def test_users_page_search_filters_and_htmx_gets_only_the_table(admin_client, make_user):
    make_user("bob")
    make_user("carol")
    page = admin_client.get("/admin/users?q=car", headers=HTMX)
    assert page.status_code == 200
    assert b"carol@example.com" in page.data and b"bob@example.com" not in page.data
    assert page.data.lstrip().startswith(b'<div id="user-table">') and b"<html" not in page.data
    assert "HX-Request" in page.headers["Vary"]


def test_non_admin_gets_not_found_for_every_admin_page(app, admin, make_user):
    bob = make_user("bob")
    client = app.test_client()
    login(client, bob)
    assert client.get("/admin/users").status_code == 404
    assert client.post(f"/admin/users/{admin.id}/plan", data={"plan": "PRO"}).status_code == 404
    assert client.post(f"/admin/users/{admin.id}/disable", data={"disabled": "1"}).status_code == 404
    assert _reload(app, admin).plan == "FREE" and not _reload(app, admin).is_disabled
    assert b'href="/admin/users"' not in client.get("/dashboard").data


def test_visitor_is_sent_to_sign_in(client, admin):
    response = client.get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_admin_sets_a_plan_with_a_plain_post(app, admin_client, admin, make_user):
    bob = make_user("bob")
    response = admin_client.post(f"/admin/users/{bob.id}/plan", data={"plan": "BUSINESS"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert _reload(app, bob).plan == "BUSINESS"
    page = admin_client.get("/admin/users")
    assert b"bob@example.com is now on the Business plan." in page.data
    [entry] = [e for e in _audit(app, "settings.updated") if e.resource_id == bob.id]
    assert json.loads(entry.details) == {"field": "plan", "oldValue": "FREE", "newValue": "BUSINESS"}
    assert entry.actor_id == admin.id and entry.user_id == bob.id


def test_admin_sets_a_plan_with_htmx_and_gets_just_the_row(app, admin_client, make_user):
    bob = make_user("bob")
    response = admin_client.post(f"/admin/users/{bob.id}/plan", data={"plan": "PRO"}, headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith(f'<tr id="user-{bob.id}">') and html.endswith("</tr>")
    assert "<table" not in html and "<html" not in html
    assert '<option value="PRO" selected>' in html
    assert _reload(app, bob).plan == "PRO"


def test_unknown_plan_is_refused_with_a_message(app, admin_client, make_user):
    bob = make_user("bob")
    admin_client.post(f"/admin/users/{bob.id}/plan", data={"plan": "GOLD"})
    assert _reload(app, bob).plan == "FREE"
    assert b"unknown plan" in admin_client.get("/admin/users").data


def test_admin_action_on_unknown_user_is_not_found(admin_client):
    assert admin_client.post("/admin/users/nope/plan", data={"plan": "PRO"}).status_code == 404
    assert admin_client.post("/admin/users/nope/disable", data={"disabled": "1"}).status_code == 404


def test_admin_disables_a_user_who_is_signed_out_and_cannot_sign_in(app, admin_client, admin, make_user):
    bob = make_user("bob")
    bobs_browser = app.test_client()
    login(bobs_browser, bob)
    assert bobs_browser.get("/dashboard").status_code == 200

    response = admin_client.post(f"/admin/users/{bob.id}/disable", data={"disabled": "1"})
    assert response.status_code == 302
    assert _reload(app, bob).is_disabled
    [entry] = _audit(app, "admin.user_disabled")
    assert entry.user_id == bob.id and entry.actor_id == admin.id

    signed_out = bobs_browser.get("/dashboard")
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/login")
    again = bobs_browser.post("/login", data={"email": bob.email, "password": PASSWORD})
    assert again.status_code == 401


def test_admin_disables_and_enables_with_htmx_getting_just_the_row(app, admin_client, make_user):
    bob = make_user("bob")
    disabled = admin_client.post(f"/admin/users/{bob.id}/disable", data={"disabled": "1"}, headers=HTMX)
    html = disabled.get_data(as_text=True).strip()
    assert disabled.status_code == 200 and html.startswith(f'<tr id="user-{bob.id}">') and "<html" not in html
    assert "badge-warn" in html and ">Enable</button>" in html and 'name="disabled" value="0"' in html
    assert _reload(app, bob).is_disabled

    enabled = admin_client.post(f"/admin/users/{bob.id}/disable", data={"disabled": "0"}, headers=HTMX)
    assert ">Disable</button>" in enabled.get_data(as_text=True)
    assert not _reload(app, bob).is_disabled
    assert _audit(app, "admin.user_enabled")


def test_admin_cannot_disable_their_own_account(app, admin_client, admin):
    response = admin_client.post(f"/admin/users/{admin.id}/disable", data={"disabled": "1"})
    assert response.status_code == 302
    assert not _reload(app, admin).is_disabled
    page = admin_client.get("/admin/users")
    assert page.status_code == 200 and b"You cannot disable your own account." in page.data
    row = page.get_data(as_text=True).split(f'id="user-{admin.id}"', 1)[1].split("</tr>", 1)[0]
    assert ">Disable</button>" not in row  # no button offered either
