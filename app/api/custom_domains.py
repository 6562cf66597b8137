"""The TLS proxy's question (Caddy's ``on_demand_tls { ask ... }``): may this domain get a certificate?

``GET /api/custom-domains/ask?domain=<host>``: 200 for a verified custom domain that is served, 404 otherwise
(also for the instance's own host: its certificate is configured in the proxy, not obtained on demand).
Rate-limited per client IP (RATELIMIT_DOMAIN_ASK), so the endpoint cannot be used to list domains quickly.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from app.ratelimit import check as rate_check
from app.services import custom_domains

bp = Blueprint("custom_domains_api", __name__, url_prefix="/api/custom-domains")


@bp.get("/ask")
def ask():
    rate_check("custom-domain-ask", g.client_ip or "", current_app.config["RATELIMIT_DOMAIN_ASK"])
    domain = request.args.get("domain", "").strip().rstrip(".").lower()
    allowed = custom_domains.may_get_certificate(domain)
    response = jsonify({"domain": domain, "allowed": allowed})
    response.status_code = 200 if allowed else 404
    response.headers["Cache-Control"] = "no-store"
    return response
