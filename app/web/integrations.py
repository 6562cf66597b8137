"""Settings → Integrations: connect calendars (Google, Outlook, iCloud, CalDAV, ICS feeds), choose calendars,
connect video conferencing (Zoom, Microsoft Teams, Webex; Google Meet comes with Google Calendar), disconnect. The
CRM cards are shown here too; their connect routes are in app/web/crm_integrations.py.

Google Calendar and Outlook Calendar connect through an OAuth redirect: ``/google`` (``/microsoft``) keeps the
state and the PKCE verifier in the session and sends the browser to the provider; ``/google/callback``
(``/microsoft/callback``) checks them, and success or the reason it
failed shows on this page (nothing is stored on failure).

Every interaction is an htmx partial (the ``panel`` / ``confirm`` blocks) and also a plain form post.
Another user's connection is a 404. Passwords are never echoed back into a form.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)

from app.integrations import oauth as oauth_clients
from app.integrations.caldav import ICLOUD_URL
from app.models import Integration
from app.security import DecryptionError
from app.services.errors import ValidationFailed
from app.services.integrations import calendars, connections, crm_connections
from app.services.integrations import oauth_connections as oauth_service
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("integrations", __name__, url_prefix="/settings/integrations")

# Categories shown on the page, each with the providers that can be connected.
CATEGORIES = [("calendar", "Calendars", ("google", "microsoft", "caldav", "ics")),
              ("video", "Video Conferencing", oauth_service.VIDEO_PROVIDERS)]


# Video services and the settings (app/config.py, README "Configuration") the operator sets to offer them.
VIDEO_SETUP = (("google", "Google Meet (with Google Calendar)"), ("zoom", "Zoom"), ("teams", "Microsoft Teams"),
               ("webex", "Webex"))


def video_setup() -> list[tuple[str, str, str]]:
    """Each video service with the two settings that enable it: (service, client id, client secret)."""
    return [(title, f"{oauth_service.OAUTH_PROVIDERS[p][2]}_CLIENT_ID", f"{oauth_service.OAUTH_PROVIDERS[p][2]}"
             "_CLIENT_SECRET") for p, title in VIDEO_SETUP]


def video_offered(user) -> bool:
    """Whether this server lets ``user`` have meeting links: a video service is configured by the operator,
    or the host has a video connection already."""
    if any(oauth_service.oauth_configured(p) for p, _title in VIDEO_SETUP):
        return True
    return (Integration.select().where((Integration.user == user) & (Integration.category == "video")
                                       & (Integration.status != "revoked")).exists())


def session_key(provider: str) -> str:
    """Where an OAuth flow's state and verifier wait in the session."""
    return f"connect_{provider}_oauth"
EMPTY_FORMS = {"icloud": {"username": ""}, "caldav": {"server_url": "", "username": ""},
               "ics": {"feed_url": "", "feed_name": ""}}


def _own(integration_id: str) -> Integration:
    return connections.get_integration(g.user, integration_id)


def _panel(status: int = 200, *, errors: dict | None = None, form: str | None = None, values: dict | None = None,
           notice: str | None = None):
    user = g.user
    integrations = connections.list_integrations(user)
    forms = {k: dict(v) for k, v in EMPTY_FORMS.items()}
    if form and values:
        forms[form].update(values)
    groups = [(key, title, [i for i in integrations if i.category == key]) for key, title, _p in CATEGORIES]
    user_calendars = calendars.calendars_of(user)
    connected = {i.provider for i in integrations if i.status != "revoked"}
    has_destination = any(c.is_destination for cals in user_calendars.values() for c in cals)
    response = render("integrations/index.html", block="panel", status=status, groups=groups,
                      calendars=user_calendars, has_destination=has_destination, cache=calendars.cache_state(user),
                      service_name=connections.service_name, errors=errors or {}, form=form, forms=forms,
                      notice=notice, icloud_url=ICLOUD_URL, google_enabled=oauth_service.oauth_configured("google"),
                      microsoft_enabled=oauth_service.oauth_configured("microsoft"),
                      video_connect=[(p, connections.SERVICES[p], oauth_clients.PROVIDERS[p].connect_hint)
                                     for p in oauth_service.VIDEO_PROVIDERS
                                     if oauth_service.oauth_configured(p) and p not in connected],
                      google_connected="google" in connected,
                      video_offered=video_offered(user), video_setup=video_setup(), is_admin=user.is_admin,
                      crm_cards=crm_connections.cards(user), crm_plan_message=crm_connections.plan_message(user))
    response.headers["Cache-Control"] = "no-store"
    return response


def _done(message: str):
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("integrations.index"))
    return _panel(notice=message)


@bp.get("")
@login_required
def index():
    return _panel()


@bp.post("/icloud")
@login_required
def connect_icloud():
    username = request.form.get("username", "").strip()
    try:
        calendars.connect_caldav(g.user, server_url=ICLOUD_URL, username=username,
                               password=request.form.get("password", ""), ip=g.client_ip)
    except ValidationFailed as exc:
        return _panel(422, errors=exc.errors, form="icloud", values={"username": username})
    return _done("Connected iCloud Calendar. Your calendars are listed below.")


def _without_userinfo(url: str) -> str:
    """The address as typed, less a ``user:password@`` part: a refused form never shows a password again."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@bp.post("/caldav")
@login_required
def connect_caldav():
    values = {"server_url": request.form.get("server_url", "").strip(),
              "username": request.form.get("username", "").strip()}
    try:
        calendars.connect_caldav(g.user, server_url=values["server_url"], username=values["username"],
                               password=request.form.get("password", ""), ip=g.client_ip)
    except ValidationFailed as exc:
        return _panel(422, errors=exc.errors, form="caldav",
                      values={**values, "server_url": _without_userinfo(values["server_url"])})
    return _done("Connected the CalDAV account. Your calendars are listed below.")


@bp.post("/ics")
@login_required
def connect_ics():
    values = {"feed_url": request.form.get("feed_url", "").strip(),
              "feed_name": request.form.get("feed_name", "").strip()}
    try:
        integration = calendars.connect_ics(g.user, url=values["feed_url"], name=values["feed_name"], ip=g.client_ip)
    except ValidationFailed as exc:
        return _panel(422, errors=exc.errors, form="ics",
                      values={**values, "feed_url": _without_userinfo(values["feed_url"])})
    return _done(f"Connected the calendar feed “{integration.label}”. It is checked for conflicts.")


def encryptor():
    return current_app.extensions["linktime_encryptor"]


def _redirect_uri(provider: str) -> str:
    return current_app.config["BASE_URL"] + url_for("integrations.callback", provider=provider)


def oauth_failed(message: str):
    flash(message, "error")
    return redirect(url_for("integrations.index"))


def send_to_provider(provider: str, auth, **extra):
    """Keep an OAuth flow's state and PKCE verifier (and ``extra``) in the session and send the browser to the
    provider. The session is a signed cookie: the verifier goes in encrypted, so it never reaches the browser
    readable."""
    session[session_key(provider)] = {"state": auth.state, "verifier": encryptor().encrypt(auth.code_verifier),
                                      **extra}
    response = redirect(auth.url)
    response.headers["Cache-Control"] = "no-store"
    return response


def pending_flow(provider: str) -> tuple[dict, str]:
    """The flow ``send_to_provider`` kept for ``provider`` (taken out of the session) and its PKCE verifier; both
    empty when there is none or it cannot be read (a session from before a key change: start again)."""
    pending = session.pop(session_key(provider), None)
    pending = pending if isinstance(pending, dict) else {}
    try:
        verifier = encryptor().decrypt(str(pending["verifier"])) if pending.get("verifier") else ""
    except DecryptionError:
        return {}, ""
    return pending, verifier


def _start_oauth(provider: str):
    """Start the OAuth flow: state and PKCE verifier stay in the (signed) session, the browser goes to the
    provider."""
    try:
        auth = oauth_service.oauth_authorization(provider, _redirect_uri(provider))
    except ValidationFailed as exc:
        return oauth_failed(exc.errors[provider])
    return send_to_provider(provider, auth)


def _finish_oauth(provider: str):
    pending, verifier = pending_flow(provider)
    try:
        integration = oauth_service.connect_oauth(
            provider, g.user, request.args, expected_state=str(pending.get("state") or ""),
            code_verifier=verifier, redirect_uri=_redirect_uri(provider), ip=g.client_ip)
    except ValidationFailed as exc:
        return oauth_failed(exc.errors[provider])
    name = connections.service_name(integration)
    if provider in oauth_service.VIDEO_PROVIDERS:
        flash(f"Connected {name} “{integration.label}”. You can now choose {name} as the location of an event "
              "type.", "success")
    else:
        flash(f"Connected {name} “{integration.label}”. Your calendars are listed below.", "success")
    return redirect(url_for("integrations.index"))


# One pair of routes for every OAuth provider of the registry (app/integrations/oauth.py PROVIDERS): the same
# paths as ever (/settings/integrations/zoom, /settings/integrations/zoom/callback), so the redirect URIs
# registered with the providers stay valid; ``any(...)`` keeps them apart from /<integration_id>.
# The CRMs have their own routes on the same paths (app/web/crm_integrations.py).
_OAUTH = "<any(" + ", ".join(p for p in oauth_clients.PROVIDERS if p not in oauth_service.CRM_PROVIDERS) + "):provider>"


@bp.get(f"/{_OAUTH}")
@login_required
def connect(provider: str):
    return _start_oauth(provider)


@bp.get(f"/{_OAUTH}/callback")
@login_required
def callback(provider: str):
    return _finish_oauth(provider)


@bp.post("/calendars")
@login_required
def choose():
    try:
        calendars.save_selection(g.user, conflict_ids=request.form.getlist("conflict"),
                               destination_id=request.form.get("destination") or None)
    except ValidationFailed as exc:
        return _panel(422, errors=exc.errors)
    return _done("Saved your calendar choices.")


@bp.route("/<integration_id>/disconnect", methods=["GET", "POST"])
@login_required
def disconnect(integration_id: str):
    integration = _own(integration_id)
    if request.method == "GET":
        return render("integrations/disconnect.html", block="confirm", integration=integration,
                      service_name=connections.service_name)
    name = connections.service_name(integration)
    revoked = oauth_service.disconnect(g.user, integration.id, ip=g.client_ip)
    if crm_connections.is_crm(integration.provider):
        company = oauth_service.OAUTH_PROVIDERS[integration.provider][1]
        revoked_text = f" and revoked at {company}" if revoked else ""
        return _done(f"Disconnected {name} “{integration.label}”. Its stored access was deleted{revoked_text}; new "
                     f"bookings are no longer synced, and everything already in {name} stays there.")
    if integration.provider in oauth_service.VIDEO_PROVIDERS:
        return _done(f"Disconnected {name} “{integration.label}”. Its stored access was deleted; existing bookings "
                     f"keep their {name} links, new bookings get none.")
    if integration.provider in oauth_service.OAUTH_PROVIDERS:    # Google and Outlook; only Google revokes
        company = oauth_service.OAUTH_PROVIDERS[integration.provider][1]
        revoked_text = f" and revoked at {company}" if revoked else ""
        return _done(f"Disconnected {name} “{integration.label}”. Its stored access was deleted{revoked_text}; "
                     "events already in the calendar stay there.")
    return _done(f"Disconnected {name} “{integration.label}”. Its stored password was deleted; events already in "
                 "the calendar stay there.")


@bp.get("/<integration_id>")
@login_required
def card(integration_id: str):
    """One connection's card (the Cancel of a disconnect confirmation)."""
    integration = _own(integration_id)
    if not is_htmx():
        return redirect(url_for("integrations.index"))
    if crm_connections.is_crm(integration.provider):
        return render("integrations/crm_card.html", card=crm_connections.card(g.user, integration.provider),
                      crm_plan_message=crm_connections.plan_message(g.user))
    return render("integrations/index.html", block="card", integration=integration,
                  calendars=calendars.calendars_of(g.user), service_name=connections.service_name)
