"""A Close stand-in on loopback: OAuth, ``GET /api/v1/me/`` and the scheduling-link integration endpoints.

* OAuth at ``/oauth2/authorize/``, ``/oauth2/token/`` (client credentials in the form only; the answer carries
  ``expires_in`` 3600, ``scope`` ``all.full_access offline_access``, ``organization_id`` and ``user_id``; a refresh
  rotates the refresh token) and ``/oauth2/revoke/`` (form ``client_id``, ``client_secret``, ``token``).
* ``/api/v1/me/``: the user with ``organizations`` [{id, name}] (two, so a client must pick the granted one).
* ``POST /api/v1/scheduling_link/integration/``: create or update by ``source_id`` (per OAuth app); the body is
  checked (JSON object, known fields, ``name``/``url``/``source_id`` required strings, an http(s) ``url``, a positive
  integer ``duration_in_minutes``). ``DELETE /api/v1/scheduling_link/integration/{source_id}/``: 404 when unknown.
  Paths without the trailing slash are redirected (308), as Flask does and Close requires the slash.
* Errors in Close's shapes: ``{"error": "<sentence>"}``, validation ``{"errors": [], "field-errors": {...}}``, and a
  429 ``{"error": {"message", "rate_reset", "rate_limit_type"}}`` with ``Retry-After``.

State: ``links`` (source_id -> link), ``organizations``. Knobs: ``fail``/``slow``/``expire_access_tokens``/
``revoke_grants`` of ``FakeOAuthServer`` and ``rate_limit(times, reset)``.
"""
from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import jsonify, request

from tests.fakes.oauth_server import ApiError, FakeOAuthServer, check_keys

ORG_ID = "orga_" + "Q7x2dK9mW3pL5vR8tY1uB4nC6eF0gH2jS4aD6fG8hJ0"
OTHER_ORG_ID = "orga_" + "Z9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k4j3i2h1g0f9e"
USER_ID = "user_" + "N6KhMpzHRCYQHdn4gRNIFNN5JExnsrprKA6ekxM63X"
LINK_FIELDS = {"name", "url", "description", "source_id", "source_type", "duration_in_minutes"}


class CloseFake(FakeOAuthServer):
    name = "close"
    authorize_path = "/oauth2/authorize/"
    token_path = "/oauth2/token/"
    client_auth_methods = ("client_secret_post",)
    rotate_refresh_tokens = True

    def __init__(self, **kwargs) -> None:
        self.links: dict[str, dict[str, Any]] = {}
        self.organizations = [{"id": OTHER_ORG_ID, "name": "Side Project Ltd"},
                              {"id": ORG_ID, "name": "Acme Sales"}]
        kwargs.setdefault("granted_scopes", {"all.full_access", "offline_access"})
        super().__init__(**kwargs)

    def client_config(self, **overrides) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "authorize_url": self.url + self.authorize_path, "token_url": self.url + self.token_path,
                "revoke_url": self.url + "/oauth2/revoke/", "api_url": self.url + "/api/v1", **overrides}

    def token_extra(self) -> dict[str, Any]:
        return {"organization_id": ORG_ID, "user_id": USER_ID}

    def api_error_body(self, status: int, message: str, code: Any) -> dict[str, Any]:
        if status == 401:
            return {"error": "The access token is invalid or has expired."}
        if status == 429:
            return {"error": {"message": "API call count exceeded for this period", "rate_reset": 1.5,
                              "rate_limit_type": "org"}}
        if code == "field_errors":
            return {"errors": [], "field-errors": {"__all__" if not message else message.split(":")[0]: message}}
        return {"error": message if " " in message else f"Request failed: {message}"}

    def rate_limit(self, *, times: int = 1, reset: float = 2.0) -> None:
        self.fail(429, times=times, path="/api/v1/", headers={"Retry-After": str(int(reset))},
                  body={"error": {"message": "API call count exceeded for this period", "rate_reset": reset,
                                  "rate_limit_type": "org"}})

    def add_routes(self, app) -> None:
        app.add_url_rule("/oauth2/revoke/", "revoke", self._revoke, methods=["POST"])
        app.add_url_rule("/api/v1/me/", "me", self._me)
        app.add_url_rule("/api/v1/scheduling_link/integration/", "upsert", self._upsert, methods=["POST"])
        app.add_url_rule("/api/v1/scheduling_link/integration/<source_id>/", "delete", self._delete,
                         methods=["DELETE"])

    def _revoke(self):
        self._authenticate_client()
        if not self.revoke_token(request.form.get("token", "")):
            return jsonify(error="invalid_request", error_description="Invalid token"), 400
        return jsonify({})

    def _me(self):
        self.bearer("all.full_access")
        return jsonify(id=USER_ID, email="lin@acme.example", first_name="Lin", last_name="Example",
                       organizations=self.organizations, date_created="2026-01-05T10:00:00+00:00")

    def _upsert(self):
        self.bearer("all.full_access")
        body = self.json_body()
        try:
            check_keys(body, LINK_FIELDS, "scheduling link")
        except ApiError as exc:
            raise ApiError(400, f"unknown: {exc.message}", code="field_errors") from None
        for key in ("name", "url", "source_id"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise ApiError(400, f"{key}: This field is required.", code="field_errors")
        for key in ("description", "source_type"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ApiError(400, f"{key}: Not a valid string.", code="field_errors")
        parts = urlsplit(body["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(400, "url: Not a valid URL.", code="field_errors")
        duration = body.get("duration_in_minutes")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0):
            raise ApiError(400, "duration_in_minutes: Not a valid positive integer.", code="field_errors")
        now = datetime.now(UTC).isoformat()
        with self.lock:
            link = self.links.get(body["source_id"])
            if link is None:
                link = {"id": "schedlink_" + secrets.token_urlsafe(24), "source": "THIRD_PARTY", "user_id": USER_ID,
                        "organization_id": ORG_ID, "date_created": now, "description": None,
                        "duration_in_minutes": None, "source_type": None}
                self.links[body["source_id"]] = link
            link.update(body, date_updated=now)
            return jsonify(link)

    def _delete(self, source_id: str):
        self.bearer("all.full_access")
        with self.lock:
            if self.links.pop(source_id, None) is None:
                raise ApiError(404, "Empty query: SchedulingLink matching query does not exist.")
        return jsonify({})
