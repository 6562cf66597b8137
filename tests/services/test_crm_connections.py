"""CRM connections (app/services/integrations/crm_connections.py) against the local fakes of HubSpot, Attio,
Salesforce and Close: connecting, the plan gate, token renewal ahead of expiry, revoked grants, disconnecting."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.db import db
from app.integrations.errors import GrantRevoked
from app.models import AuditLog, Integration
from app.services import plans
from app.services.errors import ValidationFailed
from app.services.integrations import crm_connections, crm_hooks, oauth_connections
from tests.fakes.salesforce import SalesforceFake
from tests.test_security import _database_bytes
from tests.web.conftest import data
from tests.web.crm_connect_flow import (
    CRMS,
    LABELS,
    NAMES,
    REFRESHING,
    REVOKE_PATHS,
    SANDBOX_ORG,
    TOKEN_PATHS,
    authorize,
    callback,
    connect_service,
    emails,
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


@pytest.fixture
def hooks():
    """What crm_hooks was told: (event, integration id, status, inside a transaction)."""
    calls = []

    def connected(row):
        calls.append(("connected", row.id, row.status, db.in_transaction()))

    def disconnected(row):
        calls.append(("disconnected", row.id, row.status, db.in_transaction()))

    crm_hooks.ON_CONNECTED.append(connected)
    crm_hooks.ON_DISCONNECTED.append(disconnected)
    yield calls
    crm_hooks.ON_CONNECTED.remove(connected)
    crm_hooks.ON_DISCONNECTED.remove(disconnected)


def audit_entries(action: str) -> list[dict]:
    return [json.loads(e.details) for e in AuditLog.select().where(AuditLog.action == action)]


def test_connect_stores_one_encrypted_connection_with_the_account_name(app, pro, crm, fake, hooks):
    with data(app):
        row = connect_service(pro, crm)
        row = Integration.get_by_id(row.id)
        assert (row.provider, row.category, row.status, row.label) == (crm, "crm", "connected", LABELS[crm])
        assert row.account_email is None and row.last_error is None
        assert row.server_url == (fake.url if crm == "salesforce" else None)
        token = stored_token(row.id)
        assert token.access_token and (token.refresh_token is None) == (crm == "attio")
        assert token.access_token not in row.credentials
        raw = _database_bytes()
        assert LABELS[crm].encode() in raw                                   # the check sees what was stored
        assert not [s for s in (token.access_token, token.refresh_token) if s and s.encode() in raw]
        [exchange] = [c for c in fake.calls("POST", TOKEN_PATHS[crm]) if c.form.get("grant_type") ==
                      "authorization_code"]
        assert exchange.form["redirect_uri"] == callback(crm) and exchange.form["code_verifier"]
        assert audit_entries("integration.connected") == [{"service": crm, "account": LABELS[crm]}]
        assert hooks == [("connected", row.id, "connected", True)]


def test_connecting_again_replaces_the_credentials_and_clears_the_errors(app, pro, crm, fake, hooks):
    with data(app):
        first = connect_service(pro, crm)
        old = stored_token(first.id)
        Integration.update(status="revoked", credentials=None, last_error="gone", last_error_at=datetime.now(UTC)) \
            .where(Integration.id == first.id).execute()
        again = connect_service(pro, crm)
        assert again.id == first.id and Integration.select().count() == 1
        row = Integration.get_by_id(first.id)
        assert row.status == "connected" and row.last_error is None and row.last_error_at is None
        assert stored_token(row.id).access_token != old.access_token
        assert [h[0] for h in hooks] == ["connected", "connected"]
        assert len(audit_entries("integration.connected")) == 2


def test_the_free_plan_is_refused_at_every_step_and_nothing_is_stored(app, make_user, crm, fake):
    free = make_user("fred")
    with data(app):
        with pytest.raises(plans.PlanLimitReached, match="Free plan does not include CRM integrations"):
            crm_connections.start_connect(free, crm, callback(crm))
        # a flow started before a downgrade: the callback refuses too, before the code is exchanged
        auth = oauth_connections.oauth_authorization(crm, callback(crm))
        args = dict(parse_qsl(authorize(auth.url, crm)))
        with pytest.raises(plans.PlanLimitReached):
            crm_connections.finish_connect(free, crm, args, expected_state=auth.state,
                                           code_verifier=auth.code_verifier, redirect_uri=callback(crm))
        assert not fake.calls("POST", TOKEN_PATHS[crm]) and Integration.select().count() == 0
        assert crm_connections.plan_message(free).startswith("Your Free plan does not include CRM integrations")


def test_a_foreign_state_or_a_refusal_stores_nothing(app, pro, crm, fake):
    with data(app):
        auth = crm_connections.start_connect(pro, crm, callback(crm))
        args = dict(parse_qsl(authorize(auth.url, crm)))
        with pytest.raises(ValidationFailed) as caught:
            crm_connections.finish_connect(pro, crm, args, expected_state="someone-elses-state",
                                           code_verifier=auth.code_verifier, redirect_uri=callback(crm))
        assert "does not belong to a connection attempt" in caught.value.errors[crm]
        fake.deny = True
        auth = crm_connections.start_connect(pro, crm, callback(crm))
        args = dict(parse_qsl(authorize(auth.url, crm)))
        with pytest.raises(ValidationFailed) as caught:
            crm_connections.finish_connect(pro, crm, args, expected_state=auth.state,
                                           code_verifier=auth.code_verifier, redirect_uri=callback(crm))
        assert caught.value.errors[crm].startswith(f"You did not allow LinkTime to use your {NAMES[crm]}")
        assert Integration.select().count() == 0 and not fake.calls("POST", TOKEN_PATHS[crm])


def test_an_account_read_failure_stores_nothing_and_says_so(app, pro, crm, fake):
    path = {"hubspot": "/oauth/2026-03/token/introspect", "attio": "/v2/self", "salesforce": "/services/data/",
            "close": "/api/v1/me/"}[crm]
    with data(app):
        fake.fail(500, path=path)
        with pytest.raises(ValidationFailed, match=f"We could not connect {NAMES[crm]}"):
            connect_service(pro, crm)
        assert Integration.select().count() == 0


@pytest.mark.parametrize("crm", REFRESHING)
def test_the_token_is_renewed_ahead_of_expiry_once_and_stored_encrypted(app, pro, crm, fake):
    with data(app):
        row = connect_service(pro, crm)
        assert not token_refreshes(fake, crm)
        assert oauth_connections.oauth_token(row.id).access_token == stored_token(row.id).access_token   # fresh
        assert not token_refreshes(fake, crm)
        old = set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=4))          # inside the 5-minute margin
        new = oauth_connections.oauth_token(row.id)
        assert len(token_refreshes(fake, crm)) == 1
        assert token_refreshes(fake, crm)[0].form["refresh_token"] == old.refresh_token
        assert new.access_token != old.access_token and new.expires_at > datetime.now(UTC) + timedelta(minutes=20)
        assert stored_token(row.id).access_token == new.access_token
        assert type(new).__name__ == type(old).__name__                          # Salesforce/Close keep their extras
        assert oauth_connections.oauth_token(row.id).access_token == new.access_token
        assert len(token_refreshes(fake, crm)) == 1                               # once
        assert new.access_token not in Integration.get_by_id(row.id).credentials
        assert new.access_token.encode() not in _database_bytes()


@pytest.mark.parametrize("crm", ["attio"])
def test_attio_tokens_are_long_lived_and_never_renewed(app, pro, crm, fake):
    with data(app):
        row = connect_service(pro, crm)
        token = stored_token(row.id)
        assert token.expires_at is None and token.refresh_token is None
        assert oauth_connections.oauth_token(row.id) == token
        assert [c.form.get("grant_type") for c in fake.calls("POST", TOKEN_PATHS[crm])] == ["authorization_code"]


def _use_after_revocation(crm: str, row: Integration):
    """What a sync does with a connection whose grant was removed at the CRM: renew (the three with refresh
    tokens, whose token is about to expire) or call the API and be refused (Attio's long-lived token)."""
    if crm == "attio":
        client = oauth_connections.oauth_client(crm, row)
        return oauth_connections.oauth_call(row.id, client.workspace_name)
    set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=1))
    return oauth_connections.oauth_token(row.id)


def test_a_revoked_grant_disconnects_audits_and_emails_the_host(app, pro, crm, fake, hooks):
    with data(app):
        row = connect_service(pro, crm)
        fake.revoke_grants()
        with pytest.raises(GrantRevoked):
            _use_after_revocation(crm, row)
        row = Integration.get_by_id(row.id)
        assert row.status == "revoked" and row.credentials is None
        assert row.last_error == oauth_connections.REVOKED_MESSAGES[crm] and row.last_error_at is not None
        assert "New bookings are not synced" in row.last_error
        [entry] = audit_entries("integration.disconnected")
        assert entry["service"] == crm and entry["account"] == LABELS[crm] and "revoked" in entry["reason"]
        [mail] = [m for m in emails() if m["subject"] == f"{NAMES[crm]} was disconnected from LinkTime"]
        assert mail["to"] == [pro.email]
        assert "new bookings are not synced to" in mail["text"] and "Nothing in" in mail["text"]
        assert LABELS[crm] in mail["text"] and "None" not in mail["text"]
        assert "calendars" not in mail["text"]
        assert hooks[-1] == ("disconnected", row.id, "revoked", True)
        with pytest.raises(GrantRevoked):                    # once disconnected, it stays so: no second email
            oauth_connections.oauth_token(row.id)
        assert len([m for m in emails() if "was disconnected" in m["subject"]]) == 1


def _make_record(crm: str, row: Integration, fake) -> None:
    """One record in the CRM, made with the connection's token, and a check that the fake has it."""
    client = oauth_connections.oauth_client(crm, row)
    token = oauth_connections.oauth_token(row.id)
    if crm == "hubspot":
        client.upsert_contact(token.access_token, "ivan@example.com", "Ivan", "Invitee")
    elif crm == "attio":
        client.assert_person(token.access_token, "ivan@example.com", "Ivan", "Invitee")
    elif crm == "salesforce":
        client.api(token).upsert_contact("ivan@example.com", "Ivan", "Invitee")
    else:
        client.api(token).create_link("30 minutes", "https://linktime.test/hana/30-min", None, "et-1", 30)


def _records(crm: str, fake) -> int:
    return len(getattr(fake, {"hubspot": "contacts", "attio": "people", "salesforce": "contacts",
                              "close": "links"}[crm]))


def test_disconnecting_deletes_the_access_revokes_it_and_keeps_the_crm_records(app, pro, crm, fake, hooks):
    with data(app):
        row = connect_service(pro, crm)
        before = _records(crm, fake)        # connecting Close publishes the user's event types as links
        _make_record(crm, row, fake)
        assert _records(crm, fake) == before + 1
        token = stored_token(row.id)
        assert crm_connections.disconnect(pro, row.id) is True            # every CRM offers revocation
        assert Integration.select().count() == 0
        [revoke] = fake.calls("POST", REVOKE_PATHS[crm])
        assert revoke.form["token"] == (token.refresh_token or token.access_token)
        if token.refresh_token:
            assert fake.refresh_token_state(token.refresh_token) == "revoked"
        assert _records(crm, fake) == before + 1                           # nothing deleted in the CRM
        assert audit_entries("integration.disconnected") == [{"service": crm}]
        assert hooks[-1] == ("disconnected", row.id, "connected", True)
        assert token.access_token.encode() not in _database_bytes()


def test_nothing_secret_reaches_the_logs(app, pro, crm, fake, caplog):
    caplog.set_level(logging.DEBUG)
    with data(app):
        row = connect_service(pro, crm)
        if crm in REFRESHING:
            set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=1))
            oauth_connections.oauth_token(row.id)
        fake.fail(500, path=REVOKE_PATHS[crm])                 # a failed revocation is logged: without the token
        crm_connections.disconnect(pro, row.id)
        row = connect_service(pro, crm)
        fake.revoke_grants()
        with pytest.raises(GrantRevoked):
            _use_after_revocation(crm, row)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records
    assert not [s for s in issued_secrets(fake) if s in logged]


class NoOfflineAccess(SalesforceFake):
    """A Connected App whose policy leaves out the refresh token (its scopes lack ``refresh_token``)."""
    def issues_refresh_token(self, grant) -> bool:
        return False


@pytest.mark.parametrize("crm", ["salesforce"])
def test_salesforce_refuses_a_grant_without_a_refresh_token(app_factory, pro, crm):
    with NoOfflineAccess(redirect_uris=(callback(crm),)) as fake:
        app = app_factory(**settings_for(crm, fake))
        with data(app):
            with pytest.raises(ValidationFailed, match="did not grant lasting"):
                connect_service(pro, crm)
            assert Integration.select().count() == 0


@pytest.mark.parametrize("crm", ["salesforce"])
def test_a_salesforce_sandbox_connects_and_renews_at_the_sandbox_host(app_factory, pro, crm, fake, hooks):
    with make_fake(crm, org_name=SANDBOX_ORG) as sandbox:
        app = app_factory(**settings_for(crm, fake, sandbox=sandbox))
        with data(app):
            auth = crm_connections.start_connect(pro, crm, callback(crm), sandbox=True)
            assert auth.url.startswith(sandbox.url + "/services/oauth2/authorize?")
            row = connect_service(pro, crm, sandbox=True)
            assert row.server_url == sandbox.url and row.label == SANDBOX_ORG
            assert crm_connections.card(pro, crm).sandbox is True
            old = set_expiry(row.id, datetime.now(UTC) + timedelta(minutes=2))
            new = oauth_connections.oauth_token(row.id)
            assert new.access_token != old.access_token and new.instance_url == sandbox.url
            assert len(token_refreshes(sandbox, crm)) == 1 and not fake.calls("POST", TOKEN_PATHS[crm])
            crm_connections.disconnect(pro, row.id)
            assert len(sandbox.calls("POST", REVOKE_PATHS[crm])) == 1 and not fake.calls("POST", REVOKE_PATHS[crm])
            # production again: the same row, now at the production host
            row = connect_service(pro, crm)
            assert row.server_url == fake.url and row.label == LABELS[crm]
            assert crm_connections.card(pro, crm).sandbox is False


@pytest.mark.parametrize("crm", ["hubspot"])
def test_a_sandbox_is_refused_where_the_crm_has_none(app, pro, crm, fake):
    with data(app), pytest.raises(ValidationFailed, match="has no sandbox"):
        crm_connections.start_connect(pro, crm, callback(crm), sandbox=True)


def test_several_crms_connect_at_once_each_independent(app_factory, pro):
    fakes = {p: make_fake(p).start() for p in CRMS}
    try:
        settings = {}
        for p, server in fakes.items():
            settings.update(settings_for(p, server))
        app = app_factory(**settings)
        with data(app):
            rows = {p: connect_service(pro, p) for p in CRMS}
            fakes["hubspot"].revoke_grants()
            with pytest.raises(GrantRevoked):
                _use_after_revocation("hubspot", rows["hubspot"])
            statuses = {r.provider: r.status for r in Integration.select()}
            assert statuses == {"hubspot": "revoked", "attio": "connected", "salesforce": "connected",
                                "close": "connected"}
            assert [c.provider for c in crm_connections.cards(pro)] == list(CRMS)
            crm_connections.disconnect(pro, rows["attio"].id)
            assert {r.provider for r in Integration.select()} == {"hubspot", "salesforce", "close"}
    finally:
        for server in fakes.values():
            server.stop()


def test_the_generic_oauth_connect_refuses_a_crm(app, pro, crm, fake):
    with data(app), pytest.raises(ValidationFailed, match="Settings → Integrations → CRM"):
        oauth_connections.connect_oauth(crm, pro, {}, expected_state="", code_verifier="",
                                        redirect_uri=callback(crm))


def test_unconfigured_crms_are_not_offered(app_factory, pro, crm):
    app = app_factory(BASE_URL="http://linktime.test")
    with data(app):
        assert crm_connections.cards(pro) == []
        with pytest.raises(ValidationFailed, match="not set up on this server"):
            crm_connections.start_connect(pro, crm, callback(crm))
    assert urlsplit(callback(crm)).scheme == "http"
