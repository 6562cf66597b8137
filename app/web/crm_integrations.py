"""Settings → Integrations → CRM: connecting HubSpot, Attio, Salesforce and Close (Pro plan and above).

The same paths as the other OAuth providers (``/settings/integrations/hubspot`` starts, ``.../hubspot/callback``
finishes), served here through ``crm_connections``; the cards are part of the integrations page
(``app/web/integrations.py``), and disconnecting is its generic ``/<integration_id>/disconnect``. Salesforce's
callback is the path of spec page 05, ``/api/integrations/salesforce/callback``, because Salesforce admins paste it
into their Connected App; ``?environment=sandbox`` on its start connects a sandbox org, a choice kept in the
session with the flow's state. A Free plan gets 403 with the plan's message on every step.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, url_for

from app.services.errors import ValidationFailed
from app.services.integrations import crm_connections as crm
from app.services.plans import PlanLimitReached
from app.web.integrations import oauth_failed, pending_flow, send_to_provider
from app.web.session import login_required

bp = Blueprint("crm_integrations", __name__)

# Callback paths other than /settings/integrations/<provider>/callback (the redirect URI sent to the provider).
CALLBACK_PATHS = {"salesforce": "/api/integrations/salesforce/callback"}
_CRM = "<any(" + ", ".join(crm.CRM_PROVIDERS) + "):provider>"


def redirect_uri(provider: str) -> str:
    path = CALLBACK_PATHS.get(provider) or url_for("crm_integrations.callback", provider=provider)
    return current_app.config["BASE_URL"] + path


def _refused(exc: PlanLimitReached):
    response = make_response(render_template("error.html", status=403, message=str(exc)), 403)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"/settings/integrations/{_CRM}")
@login_required
def connect(provider: str):
    """Start the OAuth flow: state, PKCE verifier (encrypted) and the sandbox choice stay in the session."""
    sandbox = request.args.get("environment") == "sandbox"
    try:
        auth = crm.start_connect(g.user, provider, redirect_uri(provider), sandbox=sandbox)
    except PlanLimitReached as exc:
        return _refused(exc)
    except ValidationFailed as exc:
        return oauth_failed(exc.errors[provider])
    return send_to_provider(provider, auth, sandbox=sandbox)


def _finish(provider: str):
    pending, verifier = pending_flow(provider)
    try:
        integration = crm.finish_connect(
            g.user, provider, request.args, expected_state=str(pending.get("state") or ""), code_verifier=verifier,
            redirect_uri=redirect_uri(provider), sandbox=pending.get("sandbox") is True, ip=g.client_ip)
    except PlanLimitReached as exc:
        return _refused(exc)
    except ValidationFailed as exc:
        return oauth_failed(exc.errors[provider])
    name = crm.SERVICES[provider]
    flash(f"Connected {name} “{integration.label}”. New bookings are synced to {name}.", "success")
    response = redirect(url_for("integrations.index"))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"/settings/integrations/{_CRM}/callback")
@login_required
def callback(provider: str):
    return _finish(provider)


@login_required
def provider_callback(provider: str):
    """A provider's own callback path (``CALLBACK_PATHS``): the signed-in user and the session's state, as above."""
    return _finish(provider)


for _provider, _path in CALLBACK_PATHS.items():
    bp.add_url_rule(_path, "provider_callback", provider_callback, defaults={"provider": _provider})
