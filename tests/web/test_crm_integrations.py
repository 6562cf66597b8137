"""Settings → Integrations → CRM through the app's routes, against the local fakes of HubSpot, Attio, Salesforce and
Close: the cards, the OAuth redirect flow (Salesforce on its own callback path, production or sandbox), the plan
gate, the last sync error, revoked connections and disconnecting."""
from __future__ import annotations

import html as html_text
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.integrations.errors import GrantRevoked
from app.models import Integration
from app.services.integrations import oauth_connections
from tests.conftest import login
from tests.web.conftest import data
from tests.web.crm_connect_flow import (
    BASE,
    CRMS,
    LABELS,
    NAMES,
    REFRESHING,
    REVOKE_PATHS,
    SANDBOX_ORG,
    TOKEN_PATHS,
    authorize,
    callback,
    connect_web,
    issued_secrets,
    make_fake,
    set_expiry,
    settings_for,
    stored_token,
    token_refreshes,
)


@pytest.fixture(params=CRMS)
def crm(request):
    return request.param


@pytest.fixture
def fake(crm):
    with make_fake(crm) as server:
        yield server


@pytest.fixture
def app(app_factory, crm, fake):
    return app_factory(**settings_for(crm, fake))


@pytest.fixture
def pro(make_user):
    return make_user("hana", plan="PRO")


def page(client) -> str:
    response = client.get("/settings/integrations")
    assert response.status_code == 200
    return html_text.unescape(response.get_data(as_text=True))


def callback_path(crm: str) -> str:
    return urlsplit(callback(crm)).path


def test_connect_end_to_end_shows_the_account_on_the_card(app, client, pro, crm, fake):
    login(client, pro)
    html = page(client)
    assert 'id="group-crm"' in html and ">CRM</h2>" in html and f'id="crm-{crm}"' in html
    assert f'id="connect-{crm}-button"' in html and 'id="crm-upgrade-' not in html
    assert ('id="connect-salesforce-sandbox-button"' in html) == (crm == "salesforce")

    start = client.get(f"/settings/integrations/{crm}")
    assert start.status_code == 302 and start.headers["Cache-Control"] == "no-store"
    query = dict(parse_qsl(urlsplit(start.headers["Location"]).query))
    assert start.headers["Location"].startswith(fake.url)
    assert query["redirect_uri"] == callback(crm) and query["code_challenge_method"] == "S256" and query["state"]
    back = client.get(callback_path(crm) + "?" + authorize(start.headers["Location"], crm))
    assert back.status_code == 302 and back.headers["Location"].endswith("/settings/integrations")

    html = page(client)
    assert f"Connected {NAMES[crm]} “{LABELS[crm]}”" in html                       # the flash
    assert f'id="crm-status-{crm}"' in html and f'<dd id="crm-label-{crm}">{LABELS[crm]}</dd>' in html
    assert f'id="connect-{crm}-button"' not in html                                  # connected: no Connect
    with data(app):
        row = Integration.get(Integration.provider == crm)
        assert row.user_id == pro.id and row.status == "connected" and row.label == LABELS[crm]
        assert f'id="disconnect-{row.id}"' in html
        [exchange] = [c for c in fake.calls("POST", TOKEN_PATHS[crm])]
        assert exchange.form["redirect_uri"] == callback(crm)


@pytest.mark.parametrize("crm", ["salesforce"])
def test_salesforce_sandbox_is_chosen_at_connect_time_and_renews_at_the_sandbox(app_factory, pro, crm, fake):
    with make_fake(crm, org_name=SANDBOX_ORG) as sandbox:
        app = app_factory(**settings_for(crm, fake, sandbox=sandbox))
        client = app.test_client()
        login(client, pro)
        start = client.get("/settings/integrations/salesforce?environment=sandbox")
        assert start.headers["Location"].startswith(sandbox.url + "/services/oauth2/authorize?")
        back = client.get(callback_path(crm) + "?" + authorize(start.headers["Location"], crm))
        assert back.status_code == 302
        html = page(client)
        assert f'<dd id="crm-label-salesforce">{SANDBOX_ORG}</dd>' in html
        assert '<dd id="crm-org-kind-salesforce">Sandbox</dd>' in html
        with data(app):
            row = Integration.get(Integration.provider == crm)
            assert row.server_url == sandbox.url
            set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=3))
            assert oauth_connections.oauth_token(row.id).instance_url == sandbox.url
            assert len(token_refreshes(sandbox, crm)) == 1 and not fake.calls("POST", TOKEN_PATHS[crm])


def test_the_free_plan_sees_the_cards_with_an_upgrade_note_and_is_refused(app, client, make_user, crm, fake):
    free = make_user("fred")
    login(client, free)
    html = page(client)
    assert f'id="crm-{crm}"' in html and f'id="crm-upgrade-{crm}"' in html
    assert "Free plan does not include CRM integrations" in html
    assert f'id="connect-{crm}-button"' not in html
    refused = client.get(f"/settings/integrations/{crm}")
    assert refused.status_code == 403 and "Free plan does not include CRM integrations" in refused.get_data(True)
    assert not fake.requests
    # a callback (say, of a flow started before a downgrade) is refused too, before any code exchange
    for path in {callback_path(crm), f"/settings/integrations/{crm}/callback"}:
        refused = client.get(path + "?code=abc&state=xyz")
        assert refused.status_code == 403 and "Free plan does not include CRM integrations" in refused.get_data(True)
    assert not fake.calls("POST", TOKEN_PATHS[crm])
    with data(app):
        assert Integration.select().count() == 0


def test_unconfigured_crms_are_hidden_and_their_routes_do_not_fail(app_factory, pro, crm):
    client = app_factory(BASE_URL=BASE).test_client()
    login(client, pro)
    html = page(client)
    assert 'id="group-crm"' not in html and f'id="crm-{crm}"' not in html
    for path in (f"/settings/integrations/{crm}", f"/settings/integrations/{crm}/callback?code=a&state=b",
                 callback_path(crm) + "?code=a&state=b"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/settings/integrations")
    assert "is not set up on this server" in page(client)


def test_the_callback_needs_the_signed_in_user_and_the_flow_s_own_state(app, client, pro, crm, fake):
    start_url = None
    response = client.get(callback_path(crm) + "?code=abc&state=xyz")
    assert response.status_code == 302 and "/login" in response.headers["Location"]       # signed out
    login(client, pro)
    start_url = client.get(f"/settings/integrations/{crm}").headers["Location"]
    args = dict(parse_qsl(authorize(start_url, crm)))
    forged = client.get(callback_path(crm) + f"?code={args['code']}&state=forged")       # another browser's state
    assert forged.status_code == 302
    assert "does not belong to a connection attempt" in page(client)
    replay = client.get(callback_path(crm) + f"?code={args['code']}&state={args['state']}")  # state used up
    assert replay.status_code == 302 and "does not belong to a connection attempt" in page(client)
    assert not fake.calls("POST", TOKEN_PATHS[crm])
    with data(app):
        assert Integration.select().count() == 0


def test_the_card_shows_the_last_sync_error_with_its_time(app, client, pro, crm, fake):
    login(client, pro)
    connect_web(client, crm)
    with data(app):
        Integration.update(last_error=f"{NAMES[crm]} answered 500; LinkTime will try again.",
                           last_error_at=datetime(2030, 1, 4, 8, 30, tzinfo=UTC)).execute()
    html = page(client)
    assert f'id="crm-error-{crm}"' in html and f"{NAMES[crm]} answered 500; LinkTime will try again." in html
    assert "Last sync error (2030-01-04" in html and "08:30" in html
    assert f'id="crm-status-{crm}"' in html and "Access revoked" not in html


def test_a_revoked_grant_shows_the_reason_and_connect_again(app, client, pro, crm, fake):
    login(client, pro)
    connect_web(client, crm)
    with data(app):
        row = Integration.get(Integration.provider == crm)
        fake.revoke_grants()
        with pytest.raises(GrantRevoked):
            if crm == "attio":
                oauth_connections.oauth_call(row.id, oauth_connections.oauth_client(crm, row).workspace_name)
            else:
                set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=1))
                oauth_connections.oauth_token(row.id)
    html = page(client)
    assert "Access revoked" in html and oauth_connections.REVOKED_MESSAGES[crm].split(" (")[0] in html
    assert f'id="connect-{crm}-button"' in html and f'id="disconnect-{row.id}"' in html
    connect_web(client, crm)                                                   # connect again: the same card
    html = page(client)
    assert "Access revoked" not in html and f'id="crm-error-{crm}"' not in html
    with data(app):
        assert Integration.select().count() == 1 and Integration.get_by_id(row.id).status == "connected"


def test_disconnect_with_the_htmx_confirmation(app, client, pro, crm, fake):
    login(client, pro)
    connect_web(client, crm)
    with data(app):
        row = Integration.get(Integration.provider == crm)
        token = stored_token(row.id)
    hx = {"HX-Request": "true"}
    confirm = client.get(f"/settings/integrations/{row.id}/disconnect", headers=hx).get_data(as_text=True)
    assert f'id="integration-{row.id}"' in confirm and "Nothing already in" in confirm
    assert "<html" not in confirm
    cancel = client.get(f"/settings/integrations/{row.id}", headers=hx).get_data(as_text=True)
    assert f'id="integration-{row.id}"' in cancel and f'<dd id="crm-label-{crm}">{LABELS[crm]}</dd>' in cancel
    done = client.post(f"/settings/integrations/{row.id}/disconnect", headers=hx)
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert f"Disconnected {NAMES[crm]} “{LABELS[crm]}”" in text and f"already in {NAMES[crm]} stays there" in text
    assert f"revoked at {NAMES[crm]}" in text and f'id="connect-{crm}-button"' in text
    [revoke] = fake.calls("POST", REVOKE_PATHS[crm])
    assert revoke.form["token"] == (token.refresh_token or token.access_token)
    with data(app):
        assert Integration.select().count() == 0


def test_no_token_reaches_the_logs_or_an_error_page(app, client, pro, crm, fake, caplog):
    caplog.set_level(logging.DEBUG)
    login(client, pro)
    account = {"hubspot": "/oauth/2026-03/token/introspect", "attio": "/v2/self", "salesforce": "/services/data/",
               "close": "/api/v1/me/"}[crm]
    fake.fail(500, path=account)                      # the code was exchanged, then reading the account failed
    failed = connect_web(client, crm)
    assert failed.status_code == 302
    error_page = page(client)
    assert f"We could not connect {NAMES[crm]}" in error_page
    connect_web(client, crm)
    with data(app):
        row = Integration.get(Integration.provider == crm)
        if crm in REFRESHING:
            set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=1))
            oauth_connections.oauth_token(row.id)
    pages = error_page + page(client) + client.get(f"/settings/integrations/{row.id}/disconnect").get_data(True)
    secrets = issued_secrets(fake)
    assert len(secrets) >= 2
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert not [s for s in secrets if s in pages or s in logged]


def test_a_connection_stays_removable_after_the_operator_removes_the_settings(app, app_factory, pro, crm, fake):
    first = app.test_client()
    login(first, pro)
    connect_web(first, crm)
    client = app_factory(BASE_URL=BASE).test_client()
    login(client, pro)
    html = page(client)
    assert f'<dd id="crm-label-{crm}">{LABELS[crm]}</dd>' in html and f'id="connect-{crm}-button"' not in html
    with data(app):
        row = Integration.get(Integration.provider == crm)
    assert f'id="disconnect-{row.id}"' in html
    assert client.post(f"/settings/integrations/{row.id}/disconnect").status_code == 302
    assert 'id="group-crm"' not in page(client)
    with data(app):
        assert Integration.select().count() == 0
