"""``POST /api/v1/single-use-links`` (issue 23, point 7): a link that books one of the key user's personal event
types exactly once (secret ones too), optionally until ``expiresAt``.

Added to the ``/api/v1`` blueprint (``app.api.v1.bp``) like ``v1_no_shows``, so it shares its API-key
authentication, rate limits, plan check, error shape and ``Cache-Control: no-store``. Answers 201 with ``{id, url,
eventTypeId, expiresAt, createdAt}``; 400 for a missing ``eventTypeId``, a malformed or past ``expiresAt``, or an
event type that is a draft or priced; 404 for an event type that is not the user's own. Rules:
``services.booking.one_time_links``.
"""
from __future__ import annotations

from flask import current_app, g, jsonify, url_for

from app.api.v1 import bp
from app.api.v1_input import body_fields, invalid, json_body, parse_instant
from app.services import events
from app.services.booking import one_time_links as links
from app.services.errors import NotFound, ValidationFailed

FIELDS = {"event_type": "eventTypeId", "expires_at": "expiresAt"}


@bp.post("/single-use-links")
def single_use_links_create():
    values = body_fields(json_body(), required=("eventTypeId",), strings=("expiresAt",))
    errors: dict[str, str] = {}
    expires_at = parse_instant(values["expiresAt"], "expiresAt", errors)
    if errors:
        raise invalid(errors)
    try:
        link = links.create_single_use(g.api_user, values["eventTypeId"], expires_at=expires_at, ip=g.client_ip)
    except ValidationFailed as exc:
        raise invalid({FIELDS.get(k, k): v for k, v in exc.errors.items()}) from None
    except NotFound:
        raise NotFound("Event type not found") from None
    url = current_app.config["BASE_URL"].rstrip("/") + url_for("one_time.booking_page", token=link.token)
    return jsonify({"id": link.id, "url": url, "eventTypeId": link.event_type_id,
                    "expiresAt": events.iso(link.expires_at),
                    "createdAt": events.iso(link.created_at)}), 201
