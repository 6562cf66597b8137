"""Settings → API Keys: list, create (the raw key shown once), delete with confirmation; htmx and plain forms."""
from __future__ import annotations

import re

import pytest

from app.datetimes import format_datetime
from app.db import db
from app.models import ApiKey
from app.security import sha256_hex
from app.services.developer import api_keys
from tests.conftest import login

HTMX = {"HX-Request": "true"}
KEY_RE = re.compile(r"lt_live_[A-Za-z0-9]{64}")


@pytest.fixture
def host(make_user):
    return make_user("hana", plan="FREE")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def keys_of(app, user):
    with app.app_context(), db.connection_context():
        return list(ApiKey.select().where(ApiKey.user == user).order_by(ApiKey.created_at))


def make_key(app, user, name):
    with app.app_context(), db.connection_context():
        return api_keys.create_api_key(user, name)


def test_the_page_needs_a_signed_in_user(client):
    response = client.get("/settings/api-keys")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_settings_tabs_link_to_api_keys(signed_in):
    page = text(signed_in.get("/settings/profile"))
    assert 'href="/settings/api-keys"' in page and ">API Keys<" in page
    keys_page = text(signed_in.get("/settings/api-keys"))
    assert re.search(r'href="/settings/api-keys"\s+aria-current="page"', keys_page)


def test_the_list_shows_name_prefix_created_and_last_used(app, signed_in, host):
    key, raw = make_key(app, host, "CRM sync")
    with app.app_context(), db.connection_context():
        api_keys.authenticate(raw)   # marks it used
    make_key(app, host, "Zapier")
    page = text(signed_in.get("/settings/api-keys"))
    assert "CRM sync" in page and "Zapier" in page
    assert f"{key.prefix}…" in page and raw not in page
    assert format_datetime(key.created_at, host.timezone, style="short") in page   # the host's clock and zone
    assert "Never" in page   # the Zapier key was not used yet


def test_creating_a_key_shows_the_raw_key_once_with_a_copy_button(app, signed_in, host):
    response = signed_in.post("/settings/api-keys", data={"name": "My script"})
    assert response.status_code == 201
    page = text(response)
    [raw] = set(KEY_RE.findall(page))
    assert f'data-copy="{raw}"' in page and "shown only this once" in page
    assert "no-store" in response.headers["Cache-Control"]
    [stored] = keys_of(app, host)
    assert (stored.name, stored.key_hash, stored.prefix) == ("My script", sha256_hex(raw), raw[:12])
    assert raw not in text(signed_in.get("/settings/api-keys"))   # never again


def test_creating_a_key_with_htmx_returns_only_the_panel(signed_in):
    response = signed_in.post("/settings/api-keys", data={"name": "My script"}, headers=HTMX)
    page = text(response)
    assert response.status_code == 201
    assert page.lstrip().startswith('<section id="api-keys-panel"') and "<html" not in page
    assert KEY_RE.search(page) and "My script" in page
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_key_needs_a_name_of_at_most_100_characters(app, signed_in, host, name):
    response = signed_in.post("/settings/api-keys", data={"name": name}, headers=HTMX)
    assert response.status_code == 422
    assert 'id="e-name"' in text(response) and not KEY_RE.search(text(response))
    assert keys_of(app, host) == []


def test_the_free_plan_allows_two_keys_and_says_so_inline(app, signed_in, host):
    for name in ("one", "two"):
        assert signed_in.post("/settings/api-keys", data={"name": name}).status_code == 201
    response = signed_in.post("/settings/api-keys", data={"name": "three"}, headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-limit"' in page and "Free plan allows 2 API keys" in page
    assert not KEY_RE.search(page)
    assert [k.name for k in keys_of(app, host)] == ["one", "two"]
    assert "requires a Pro plan" in text(signed_in.get("/settings/api-keys"))


def test_a_pro_account_may_create_more_than_two_keys(app, client, make_user):
    pro = make_user("paula", plan="PRO")
    login(client, pro)
    for n in range(3):
        assert client.post("/settings/api-keys", data={"name": f"k{n}"}).status_code == 201
    assert len(keys_of(app, pro)) == 3
    assert "requires a Pro plan" not in text(client.get("/settings/api-keys"))


def test_deleting_asks_for_confirmation_first_as_a_page_and_as_a_row(app, signed_in, host):
    key, _raw = make_key(app, host, "Old key")
    page = signed_in.get(f"/settings/api-keys/{key.id}/delete")
    assert page.status_code == 200 and "<html" in text(page) and "Delete the API key “Old key”" in text(page)
    row = signed_in.get(f"/settings/api-keys/{key.id}/delete", headers=HTMX)
    assert text(row).lstrip().startswith(f'<tr id="key-{key.id}"') and 'hx-post=' in text(row)
    assert [k.id for k in keys_of(app, host)] == [key.id]   # asking deletes nothing
    cancel = signed_in.get(f"/settings/api-keys/{key.id}/row", headers=HTMX)
    assert f'id="delete-{key.id}"' in text(cancel)


def test_confirming_deletes_the_key_with_a_plain_form(app, signed_in, host):
    key, raw = make_key(app, host, "Old key")
    response = signed_in.post(f"/settings/api-keys/{key.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/api-keys")
    assert keys_of(app, host) == []
    assert "Deleted the API key “Old key”" in text(signed_in.get("/settings/api-keys"))
    with app.app_context(), db.connection_context():
        assert api_keys.authenticate(raw) is None


def test_confirming_with_htmx_returns_the_updated_panel(app, signed_in, host):
    old, _ = make_key(app, host, "Old key")
    make_key(app, host, "Kept key")
    response = signed_in.post(f"/settings/api-keys/{old.id}/delete", headers=HTMX)
    page = text(response)
    assert response.status_code == 200 and page.lstrip().startswith('<section id="api-keys-panel"')
    assert "Kept key" in page and f'id="key-{old.id}"' not in page and "Deleted the API key" in page


def test_another_users_key_cannot_be_seen_or_deleted(app, signed_in, make_user):
    other = make_user("sam", plan="PRO")
    theirs, _ = make_key(app, other, "Their key")
    assert "Their key" not in text(signed_in.get("/settings/api-keys"))
    assert signed_in.get(f"/settings/api-keys/{theirs.id}/delete").status_code == 404
    assert signed_in.post(f"/settings/api-keys/{theirs.id}/delete").status_code == 404
    assert signed_in.get(f"/settings/api-keys/{theirs.id}/row", headers=HTMX).status_code == 404
    assert [k.id for k in keys_of(app, other)] == [theirs.id]


def test_forms_carry_a_csrf_token_and_a_post_without_it_is_refused(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    user = make_user("hana")
    login_page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(login_page)).group(1)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    page = text(client.get("/settings/api-keys"))
    token = re.search(r'id="api-key-form".*?name="csrf_token" value="([^"]+)"', page, re.DOTALL).group(1)
    assert client.post("/settings/api-keys", data={"name": "no token"}).status_code == 400
    assert client.post("/settings/api-keys", data={"name": "with token", "csrf_token": token}).status_code == 201
    assert [k.name for k in keys_of(app, user)] == ["with token"]
