"""The OpenAPI document describes every JSON endpoint, and /docs/api renders it for people."""
from __future__ import annotations

import re

from app.api.openapi import document

API_BLUEPRINTS = ("api_v1", "public_api", "zapier")


def routes(app) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every JSON API route the app serves, except the document itself."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in API_BLUEPRINTS or rule.endpoint == "api_v1.openapi_document":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method.lower(), path))
    return found


def documented(doc) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def normalize(pairs):
    """Path parameter names may differ between Flask and the document: compare the shapes."""
    return {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in pairs}


def test_every_api_route_is_documented_and_nothing_else(app):
    with app.app_context():
        doc = document()
    assert normalize(routes(app)) == normalize(documented(doc))
    assert len(documented(doc)) >= 14 + 1   # the 14 /api/v1 operations and the public booking endpoint


def test_the_document_is_openapi_3_1_with_bearer_security_and_resolvable_refs(app, client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "lt_live_...",
        "description": "An API key from Settings → API Keys."}
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["servers"] == [{"url": app.config["BASE_URL"]}]
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', client.get("/api/v1/openapi.json").get_data(True)))
    assert refs and refs <= set(schemas)


def test_every_v1_operation_documents_its_errors_and_the_public_one_needs_no_key(app):
    with app.app_context():
        doc = document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"429", "500"} <= codes, (method, path)
            if path.startswith("/api/v1/"):
                assert {"401", "403"} <= codes and "security" not in op, (method, path)
                if op.get("parameters") or op.get("requestBody"):
                    assert "400" in codes or "404" in codes, (method, path)
            if "{" in path and path.startswith("/api/v1/"):
                assert "404" in codes, (method, path)
    assert doc["paths"]["/api/bookings"]["post"]["security"] == []
    assert doc["paths"]["/api/zapier/me"]["get"]["security"] == [{"zapierApiKey": []}]


def test_the_list_limits_match_the_spec(app):
    with app.app_context():
        params = {p["name"]: p["schema"] for p in document()["paths"]["/api/v1/bookings"]["get"]["parameters"]}
    assert (params["limit"]["maximum"], params["limit"]["default"], params["page"]["minimum"]) == (100, 20, 1)
    assert params["status"]["enum"] == ["CONFIRMED", "PENDING_PAYMENT", "PENDING", "CANCELLED", "all"]


def test_the_reference_page_lists_every_operation_with_examples_and_no_inline_script(app, client):
    response = client.get("/docs/api")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with app.app_context():
        doc = document()
    for method, path in documented(doc):
        assert f'<span class="api-method {method}">{method.upper()}</span> <code>{path}</code>' in page
    assert "Authorization: Bearer lt_live_..." in page
    assert "&#34;bookingId&#34;" in page and "&#34;pagination&#34;" in page     # example bodies
    assert "Invalid request data" in page and "Retry-After" in page
    assert "inviteeTimezone" in page and "durationMinutes" in page
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert not re.search(r"<script[^>]*>(?!</script>)", page)                       # no inline code
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
