"""JSON blueprints: the public booking endpoint, /api/v1, hooks, and the signed-in session's JSON endpoints."""
from __future__ import annotations

from flask import Flask

API_DOCUMENT = "linktime_api_document"  # app.extensions key: a function returning the OpenAPI document


def register_api(app: Flask) -> None:
    """Register the /api blueprints; the OpenAPI document is offered to other parts through ``app.extensions``
    (the /docs/api page reads it there), so nothing outside app.api imports it."""
    from app.api import (
        analytics,
        audit,
        custom_domains,
        messaging_admin,
        messaging_agents,
        openapi,
        payment_webhooks,
        phone_numbers,
        public,
        scim,
        twilio_webhooks,
        v1,
        v1_calls,  # noqa: F401 (adds GET /api/v1/calls to v1's blueprint before it is registered)
        v1_conversations,  # noqa: F401 (adds GET /api/v1/conversations to v1's blueprint likewise)
        v1_no_shows,  # noqa: F401 (adds POST /api/v1/bookings/<id>/no-show to v1's blueprint likewise)
        v1_out_of_office,  # noqa: F401 (adds /api/v1/out-of-office to v1's blueprint likewise)
        v1_single_use_links,  # noqa: F401 (adds POST /api/v1/single-use-links to v1's blueprint likewise)
        voice_agents,
        voice_webhooks,
        whatsapp_senders,
        zapier,
    )

    for module in (v1, zapier, audit, analytics, public, payment_webhooks, twilio_webhooks, scim, custom_domains,
                   voice_webhooks, voice_agents, phone_numbers, messaging_admin,
                   messaging_agents, whatsapp_senders):
        app.register_blueprint(module.bp)
    app.extensions[API_DOCUMENT] = openapi.document
