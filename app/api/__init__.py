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
        openapi,
        payment_webhooks,
        public,
        scim,
        twilio_webhooks,
        v1,
        voice_agents,
        zapier,
    )

    for module in (v1, zapier, audit, analytics, public, payment_webhooks, twilio_webhooks, scim, custom_domains,
                   voice_agents):
        app.register_blueprint(module.bp)
    app.extensions[API_DOCUMENT] = openapi.document
