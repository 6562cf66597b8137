"""Which site a request is for, by its Host: the main site, or a verified custom domain (issue 20, spec page 18).

* BASE_URL's host, loopback names (health checks, a proxy on the same box) and ALLOWED_HOSTS: the main site.
* A verified custom domain: only its owner's profile and booking pages (with their partials, the booking form,
  routing forms, embed script, static files and the voice widget's session for the owner's agent); ``/`` goes to
  the profile. Every other path (dashboard, sign-in, invitee links, the API) is redirected to the same path on
  BASE_URL; another user's pages are 404.
  ``g.site_host`` names the domain (the page cache keys on it), and nobody is signed in there.
* Any other host: 404. Links, redirects and cookies are built from BASE_URL or the verified domain only, never
  from a Host header nobody verified.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request

from app.models.voice import VoiceAgent
from app.services import custom_domains

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_HOST = frozenset({"main.healthz"})
# the owner's pages: served when the URL names the owner
OWNER_PAGES = frozenset({"public.profile", "public.booking_page", "public.calendar", "public.slots", "public.book",
                         "routing_public.form_page", "routing_public.submit", "routing_public.continue_js"})
SHARED = frozenset({"static", "public.embed_js", "public.timezone_options", "main.favicon"})


def hostname_of(host: str) -> str:
    """``"Meet.Example.com:443"`` -> ``"meet.example.com"``; "" for a malformed Host."""
    try:
        return (urlsplit("//" + host).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def main_hosts() -> set[str]:
    cfg = current_app.config
    hosts = set(LOOPBACK) | {h.lower() for h in (cfg.get("ALLOWED_HOSTS") or [])}
    hosts.add(hostname_of(urlsplit(cfg["BASE_URL"]).netloc))
    if cfg.get("HOST") and cfg["HOST"] not in ("0.0.0.0", "::"):
        hosts.add(str(cfg["HOST"]).lower())
    hosts.discard("")
    return hosts


def check_host():
    """A request hook of the whole app (after the user is loaded)."""
    g.site_host = ""
    if request.endpoint in ANY_HOST:
        return None
    host = hostname_of(request.host)
    if host in main_hosts():
        return None
    owner = custom_domains.serving_owner(host) if host else None
    if owner is None:
        abort(404)
    g.site_host, g.site_owner, g.user = host, owner, None
    return _on_custom_domain(owner)


def _on_custom_domain(owner):
    if request.path == "/":
        return redirect("/" + owner.username)
    endpoint = request.endpoint or ""
    if endpoint in SHARED:
        return None
    args = request.view_args or {}
    if endpoint in OWNER_PAGES:
        if str(args.get("username", "")).lower() != owner.username:
            abort(404)
        return None
    if endpoint == "main.logo" and args.get("user_id") == owner.id:
        return None
    if endpoint == "voice_widget.session":          # the voice widget of the owner's pages talks to the owner's agent
        if not VoiceAgent.select().where((VoiceAgent.id == args.get("agent_id"))
                                         & (VoiceAgent.user == owner.id)).exists():
            abort(404)
        return None
    target = current_app.config["BASE_URL"].rstrip("/") + request.full_path.rstrip("?")
    return redirect(target, 302 if request.method in ("GET", "HEAD") else 307)
