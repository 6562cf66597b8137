"""CRM connections (issue 19): HubSpot, Attio, Salesforce and Close under Settings → Integrations → CRM, Pro plan
and above.

Connecting is the OAuth redirect flow of ``oauth_connections`` (state and PKCE kept by the caller, here the web
layer's session): ``start_connect`` gives the provider's authorization URL, ``finish_connect`` checks the answer,
exchanges the code, reads what the card shows (``ACCOUNT_LABELS``: the HubSpot portal, the Attio workspace, the
Salesforce org, the Close organization) and stores the one ``Integration`` row of this user and CRM (category "crm";
connecting again replaces its credentials and clears its status and errors), audits ``integration.connected`` and
runs ``crm_hooks.connected`` in the same transaction. Salesforce may be connected to a sandbox org
(``SANDBOX_CONFIGS``): its login host is stored as the row's ``server_url`` and the token is renewed there.

Every step checks the plan (``plans.check_feature``: ``PlanLimitReached``); any other failure is
ValidationFailed({provider: message}) and stores nothing. Disconnecting is ``oauth_connections.disconnect`` (the row
and its credentials deleted, revoked at the provider where it offers that, ``crm_hooks.disconnected``); nothing in
the CRM is deleted. Tokens stay encrypted (``connections.sealed``) and are never logged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from app.db import transaction
from app.integrations import oauth, salesforce
from app.integrations.errors import AuthorizationFailed, IntegrationError, PermanentError
from app.models import Integration, User
from app.models.base import utcnow
from app.services import audit, plans
from app.services.errors import ValidationFailed
from app.services.integrations import crm_hooks
from app.services.integrations import oauth_connections as oauth_service
from app.services.integrations.connections import AUDIT_SERVICES, SERVICES, lock_user, sealed

CRM_PROVIDERS = oauth_service.CRM_PROVIDERS
FEATURE, FEATURE_TEXT = "crm_integrations", "CRM integrations"
LABEL_MAX = 200

# What the card shows next to "Connected", read with the new token right after the code exchange.
ACCOUNT_LABELS: dict[str, Callable[[Any, oauth.TokenSet], str]] = {
    "hubspot": lambda client, token: f"Portal {client.portal_id(token.access_token)}",
    "attio": lambda client, token: client.workspace_name(token.access_token),
    "salesforce": lambda client, token: client.api(token).org_name(),
    "close": lambda client, token: client.api(token).organization_name(),
}
# The CRMs whose grants come with a refresh token (Attio's access tokens are long-lived and have none): a grant
# without one could not be kept connected, so it is refused.
NEEDS_REFRESH_TOKEN = frozenset({"hubspot", "salesforce", "close"})
# The CRMs with a second login host chosen at connect time (a Salesforce sandbox org): its client config.
SANDBOX_CONFIGS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "salesforce": lambda settings: salesforce.config_from_settings(settings, sandbox=True),
}


@dataclass(frozen=True)
class CrmCard:
    """One CRM on the integrations page."""
    provider: str
    name: str                   # "HubSpot"
    hint: str                   # what connecting it does
    row: Integration | None     # the connection, if any (connected or revoked)
    sandbox_offered: bool       # a production / sandbox choice at connect time
    sandbox: bool               # the connection is to a sandbox org
    configured: bool = True     # False: connected before the operator removed its settings (it can only be removed)


def is_crm(provider: str) -> bool:
    return provider in CRM_PROVIDERS


def check_plan(user: User) -> None:
    """PlanLimitReached with the standard message when the user's plan has no CRM integrations (Free)."""
    plans.check_feature(user, FEATURE, FEATURE_TEXT)


def plan_message(user: User) -> str | None:
    """Why the user's plan cannot connect a CRM (the upgrade note of the cards), or None when it can."""
    try:
        check_plan(user)
    except plans.PlanLimitReached as exc:
        return str(exc)
    return None


def _sandbox_login_url(provider: str) -> str | None:
    if provider not in SANDBOX_CONFIGS:
        return None
    return str(SANDBOX_CONFIGS[provider](current_app.config).get("login_url") or "").rstrip("/") or None


def cards(user: User) -> list[CrmCard]:
    """The CRM cards of the page: every CRM this server is set up for (``*_CLIENT_ID`` and ``*_CLIENT_SECRET``),
    plus any the user is connected to (so it can still be disconnected if the operator removed the settings)."""
    rows = {row.provider: row for row in Integration.select().where(
        (Integration.user == user) & (Integration.provider.in_(CRM_PROVIDERS))).order_by(Integration.created_at)}
    shown = []
    for provider in CRM_PROVIDERS:
        row = rows.get(provider)
        configured = oauth_service.oauth_configured(provider)
        if row is None and not configured:
            continue
        sandbox_url = _sandbox_login_url(provider)
        is_sandbox = bool(row is not None and row.server_url and sandbox_url
                          and row.server_url.rstrip("/") == sandbox_url)
        shown.append(CrmCard(provider, SERVICES[provider], oauth.PROVIDERS[provider].connect_hint, row,
                             provider in SANDBOX_CONFIGS, is_sandbox, configured))
    return shown


def card(user: User, provider: str) -> CrmCard | None:
    return next((c for c in cards(user) if c.provider == provider), None)


def _check(provider: str, sandbox: bool) -> None:
    if not is_crm(provider):
        raise ValidationFailed({provider: "This is not a CRM LinkTime can connect."})
    name, _company, prefix = oauth_service.OAUTH_PROVIDERS[provider]
    if not oauth_service.oauth_configured(provider):
        raise ValidationFailed({provider: f"{name} is not set up on this server ({prefix}_CLIENT_ID and "
                                          f"{prefix}_CLIENT_SECRET)."})
    if sandbox and provider not in SANDBOX_CONFIGS:
        raise ValidationFailed({provider: f"{name} has no sandbox to connect to."})


def _client(provider: str, sandbox: bool):
    if sandbox:
        return oauth.client_for(provider, SANDBOX_CONFIGS[provider](current_app.config))
    return oauth_service.oauth_client(provider)


def start_connect(user: User, provider: str, redirect_uri: str, *, sandbox: bool = False) -> oauth.AuthorizationRequest:
    """Where to send the browser to connect ``provider`` (``sandbox``: a Salesforce sandbox org). The caller keeps
    the state, the PKCE verifier and the sandbox choice until the callback."""
    check_plan(user)
    _check(provider, sandbox)
    if not sandbox:
        return oauth_service.oauth_authorization(provider, redirect_uri)
    return _client(provider, sandbox).authorization_request(redirect_uri)


def finish_connect(user: User, provider: str, args, *, expected_state: str, code_verifier: str, redirect_uri: str,
                   sandbox: bool = False, ip: str | None = None) -> Integration:
    """Finish the redirect: check state, exchange the code, read the account, store the connection."""
    check_plan(user)
    _check(provider, sandbox)
    name, company, _prefix = oauth_service.OAUTH_PROVIDERS[provider]
    client = _client(provider, sandbox)
    try:
        code = client.parse_callback(args, expected_state=expected_state)
        token = client.exchange_code(code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        label = ACCOUNT_LABELS[provider](client, token)
        if not isinstance(label, str) or not label.strip():
            raise PermanentError(f"{company} did not name the connected account.", provider=provider)
    except AuthorizationFailed as exc:
        raise ValidationFailed({provider: oauth_service.callback_error(exc, provider)}) from None
    except IntegrationError as exc:
        raise ValidationFailed({provider: f"We could not connect {name}: {exc.message}"}) from None
    if provider in NEEDS_REFRESH_TOKEN and not token.refresh_token:
        raise ValidationFailed({provider: f"{company} did not grant lasting (offline) access, so LinkTime could not "
                                          f"keep {name} connected. Nothing was connected; please try again."})
    label = " ".join(label.split())[:LABEL_MAX]
    secret = sealed({"token": token.to_dict()})
    server_url = getattr(client, "login_url", None)
    with transaction(immediate=True):
        lock_user(user)
        row = (Integration.select().where((Integration.user == user) & (Integration.provider == provider))
               .order_by(Integration.created_at).first())
        if row is None:
            row = Integration.create(user=user, provider=provider, category=oauth.PROVIDERS[provider].category,
                                     label=label, account_email=None, server_url=server_url, credentials=secret)
        else:       # connecting again (after a revocation, or another portal/org): new credentials, a clean slate
            row.label, row.server_url, row.credentials, row.account_email = label, server_url, secret, None
            row.status, row.last_error, row.last_error_at, row.updated_at = "connected", None, None, utcnow()
            row.save()
        audit.record("integration.connected", resource="integration", resource_id=row.id, user=user, ip=ip,
                     details={"service": AUDIT_SERVICES[provider], "account": label})
        crm_hooks.connected(row)
    return row


def disconnect(user: User, integration_id: str, *, ip: str | None = None) -> bool:
    """Remove the connection and its credentials (revoked at the CRM where it offers that; True when it
    confirmed). Records in the CRM stay."""
    return oauth_service.disconnect(user, integration_id, ip=ip)
