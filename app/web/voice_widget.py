"""The voice widget (issue 21, spec page 10 "Web Widget"): a "Talk to AI Assistant" button on a host's profile and
booking pages, in the embed too, while the host has an active voice agent and voice is configured.

* ``prepare(host_id)``: called by the profile and booking page views (app/web/public.py) before the page cache is
  asked. It finds the host's widget agent (active, not deleted, created at ElevenLabs) and keeps it in
  ``g.voice_widget``; ``g.page_variant`` makes the page cache keep pages with and without the button apart, so
  switching an agent on or off shows at once even though it does not raise ``pages_version``.
* Only on a page that shows the button (after-request hook): the Content-Security-Policy's ``connect-src`` gains
  the origins of ELEVENLABS_CONNECT_ORIGINS, and ``Permissions-Policy`` allows the microphone to the page itself
  (``microphone=(self)``). Everything else keeps ``connect-src 'self'`` and ``microphone=()``; ``script-src`` is
  never widened (static/js/voice-widget.js and its audio worklet are served from ``static/``).
* ``POST /api/voice/widget/<agent id>/session`` (public, no session: the page may be an embed in another site's
  frame; rate-limited per client address; a foreign ``Origin`` is refused): a signed conversation URL from
  ElevenLabs (short-lived, ``get-signed-url``) and the dynamic variables the agent's prompt and tools read
  (``user_id``, ``agent_id``, ``host_name``, ``booking_url``, ``host_timezone``, ``agent_name``, ``booking_id``).
  The browser (static/js/voice-widget.js) opens ElevenLabs' conversation WebSocket with them. Nothing here is
  trusted later: the tool webhooks bind the acting account to the agent in their URL, not to these variables.
  An unknown, inactive or deleted agent is 404; with less than a minute left this month, or outside the agent's
  active hours, 409 with what to do instead; ElevenLabs unreachable is 502. The call's CallLog (direction "web")
  is made by the post-call webhook.

Offered on a verified custom domain too (host_routing lets the session of the owner's agent through); not on
team pages.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, g, jsonify, url_for

from app.extensions import csrf
from app.integrations.errors import IntegrationError
from app.models import User
from app.models.voice import VoiceAgent
from app.ratelimit import check as rate_check
from app.services.voice import hours, settings, usage
from app.web.htmx import is_history_restore, is_htmx
from app.web.origin import same_origin_post

log = logging.getLogger(__name__)

bp = Blueprint("voice_widget", __name__)
csrf.exempt(bp)

SESSION_RATE = "10/minute"          # session requests per client address
ORIGIN = re.compile(r"^(https|wss)://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
PAGES = frozenset({"public.profile", "public.booking_page"})
UNAVAILABLE = "The assistant is not available right now. You can still book a time on this page."
UNREACHABLE = "The assistant cannot be reached right now. Please try again later."
FOREIGN = "This request was sent from another site."


@dataclass(frozen=True)
class Widget:
    agent_id: str
    agent_name: str

    @property
    def session_url(self) -> str:
        return url_for("voice_widget.session", agent_id=self.agent_id)


def widget_agent(host_id) -> VoiceAgent | None:
    """The host's agent the widget talks to: active, not deleted, known to ElevenLabs; a personal agent before an
    organization's, then the oldest."""
    return (VoiceAgent.select(VoiceAgent.id, VoiceAgent.name)
            .where((VoiceAgent.user == host_id) & (VoiceAgent.is_active == True)  # noqa: E712
                   & VoiceAgent.deleted_at.is_null() & VoiceAgent.elevenlabs_agent_id.is_null(False)
                   & (VoiceAgent.elevenlabs_agent_id != ""))
            .order_by(VoiceAgent.organization.is_null(False), VoiceAgent.created_at, VoiceAgent.id)
            .first())


def prepare(host_id) -> Widget | None:
    """Decide whether this page shows the button (before the page cache is asked: its key holds the answer)."""
    g.voice_widget = None
    g.page_variant = ""
    if (is_htmx() and not is_history_restore()) or not settings.configured():
        return None
    agent = widget_agent(host_id)
    if agent is None:
        return None
    g.voice_widget = Widget(agent_id=str(agent.id), agent_name=agent.name)
    g.page_variant = "voice:" + str(agent.id)
    return g.voice_widget


def connect_origins() -> list[str]:
    """ELEVENLABS_CONNECT_ORIGINS as CSP sources: https/wss origins only (anything else is left out and logged)."""
    origins = []
    for item in str(current_app.config.get("ELEVENLABS_CONNECT_ORIGINS") or "").split():
        if ORIGIN.fullmatch(item):
            origins.append(item)
        else:
            log.warning("ELEVENLABS_CONNECT_ORIGINS: %r is not an https or wss origin; left out", item[:100])
    return origins


def widen_headers(response: Response) -> Response:
    """The voice page's CSP connect-src and Permissions-Policy (microphone for this page only)."""
    csp = response.headers.get("Content-Security-Policy")
    origins = connect_origins()
    if csp and origins:
        response.headers["Content-Security-Policy"] = csp.replace(
            "connect-src 'self'", "connect-src 'self' " + " ".join(origins), 1)
    policy = response.headers.get("Permissions-Policy")
    if policy is not None:
        if "microphone=()" in policy:
            policy = policy.replace("microphone=()", "microphone=(self)")
        elif "microphone=" not in policy:
            policy += ", microphone=(self)"
        response.headers["Permissions-Policy"] = policy
    return response


@bp.after_app_request
def _voice_headers(response: Response) -> Response:
    # Registered before app.web's security headers and the embed's framing hook: runs after both (after-request
    # hooks run in reverse order), so it widens whichever CSP the page ended with.
    if g.get("voice_widget") is not None and response.status_code == 200 and response.mimetype == "text/html":
        widen_headers(response)
    return response


@bp.app_context_processor
def _widget_context():
    return {"voice_widget": g.get("voice_widget")}


# --- the browser's session ----------------------------------------------------------------------------------
def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/voice/widget/<agent_id>/session")
def session(agent_id: str):
    rate_check("voice-widget-session", g.client_ip or "unknown", SESSION_RATE)
    if not same_origin_post():
        return _error(403, FOREIGN)
    if not settings.configured() or len(agent_id) > 64:
        abort(404)
    agent = (VoiceAgent.select(VoiceAgent, User).join(User, on=(VoiceAgent.user == User.id))
             .where((VoiceAgent.id == agent_id) & (VoiceAgent.is_active == True)  # noqa: E712
                    & VoiceAgent.deleted_at.is_null() & VoiceAgent.elevenlabs_agent_id.is_null(False)
                    & (VoiceAgent.elevenlabs_agent_id != "") & (User.is_disabled == False))  # noqa: E712
             .first())
    if agent is None:
        abort(404)
    host = agent.user
    if usage.usage_for(host).exhausted:
        return _error(409, UNAVAILABLE)
    if not hours.is_open(agent.active_hours):
        return _error(409, f"The assistant answers {hours.opening_text(agent.active_hours)} "
                           f"({(agent.active_hours or {}).get('timezone') or 'UTC'}). "
                           "You can still book a time on this page.")
    try:
        signed_url = settings.client().signed_url(agent.elevenlabs_agent_id)
    except IntegrationError as exc:
        log.warning("voice widget: no signed URL for agent %s: %s", agent.id, exc)
        return _error(502, UNREACHABLE)
    response = jsonify({"signedUrl": signed_url, "agentName": agent.name,
                        "dynamicVariables": dynamic_variables(agent, host)})
    response.headers["Cache-Control"] = "no-store"
    return response


def dynamic_variables(agent: VoiceAgent, host: User) -> dict[str, str]:
    """What the agent's prompt ({{host_name}}, {{host_timezone}}, {{booking_url}}, {{booking_id}}) and tools
    (``user_id``) read, as the personalization webhook gives them for a phone call."""
    return {"user_id": str(host.id), "agent_id": str(agent.id), "host_name": host.name or host.username,
            "booking_url": f"{settings.base_url()}/{host.username}", "host_timezone": host.timezone or "UTC",
            "agent_name": agent.name, "booking_id": ""}
