"""HTML blueprints, shared page helpers and security headers (error answers: app/errors.py)."""
from __future__ import annotations

from flask import Flask, g
from flask_wtf.csrf import generate_csrf

from app.web.rendering import CSP


def register_web(app: Flask) -> None:
    from app.web import (
        admin,
        analytics,
        api_keys,
        approvals,
        audit,
        auth,
        availability,
        booking_guests,
        booking_limits,
        bookings,
        calls,
        contacts,
        conversations,
        crm_integrations,
        custom_domain_settings,
        dashboard,
        docs,
        event_types,
        integrations,
        invitee,
        main,
        messaging_agents,
        one_time_links,
        one_time_pages,
        org_members,
        org_settings,
        organizations,
        out_of_office,
        phone_numbers,
        public,
        routing_forms,
        routing_public,
        scim_settings,
        settings,
        team_event_types,
        team_pages,
        troubleshooter,
        voice_agents,
        voice_widget,
        webhooks,
        whatsapp_senders,
        workflows,
    )
    # public (/<username>/...) stays last: fixed routes win; voice_widget first: its header hook runs last
    for module in (voice_widget, main, auth, dashboard, event_types, availability, bookings, contacts, settings,
                   admin, webhooks, api_keys, crm_integrations, integrations, audit, analytics, docs, invitee,
                   organizations, org_members, org_settings, scim_settings, team_event_types, team_pages, workflows,
                   routing_forms, routing_public, custom_domain_settings, calls, voice_agents, phone_numbers,
                   conversations, messaging_agents, whatsapp_senders, troubleshooter,
                   one_time_links, one_time_pages, out_of_office,
                   approvals,
                   booking_guests, booking_limits,
                   public):
        app.register_blueprint(module.bp)

    from app.web.host_routing import check_host
    app.before_request(check_host)  # after the user is loaded: a custom domain serves its owner's pages only

    @app.context_processor
    def _globals():
        return {"current_user": g.get("user"), "csrf_token": generate_csrf,
                "oidc_providers": auth.enabled_providers()}

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["PRODUCTION"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("user") is not None and "Cache-Control" not in headers:
            headers["Cache-Control"] = "private, no-store"
        return response
