"""``GET/POST /api/v1/out-of-office`` and ``DELETE /api/v1/out-of-office/{entryId}`` (issue 23, point 8): the API-key
holder's out-of-office entries.

Added to the ``/api/v1`` blueprint (``app.api.v1.bp``) like ``v1_no_shows``, so it shares its API-key
authentication, rate limits, plan check, error shape and ``Cache-Control: no-store``. GET lists the entries not over
yet (``includePast=true``: all), first day first; POST answers 201 with the new entry, 400 with ``details`` for bad
input or dates overlapping another entry; DELETE answers 200, 404 for an entry that is not the key's user's.
Rules: ``services.scheduling.out_of_office``.
"""
from __future__ import annotations

from flask import g, jsonify, request

from app.api.v1 import bp
from app.api.v1_input import invalid, json_body, valid_id
from app.models.out_of_office import REASONS, OutOfOffice
from app.services.errors import ValidationFailed
from app.services.events import iso
from app.services.scheduling import out_of_office as service

FIELDS = {"start_date": "startDate", "end_date": "endDate", "reason": "reason", "note": "note",
          "redirect_to": "redirectToUserId", "show_reason": "showReason"}


def entry_json(entry: OutOfOffice) -> dict:
    mate = entry.redirect_to if entry.redirect_to_id else None
    return {"id": entry.id, "startDate": entry.start_date.isoformat(), "endDate": entry.end_date.isoformat(),
            "timezone": entry.timezone, "reason": entry.reason, "reasonLabel": entry.reason_label,
            "showReason": entry.show_reason, "note": entry.note,
            "redirectTo": {"id": mate.id, "name": mate.name, "username": mate.username} if mate else None,
            "createdAt": iso(entry.created_at)}


@bp.get("/out-of-office")
def out_of_office_list():
    include_past = request.args.get("includePast", "false").lower()
    if include_past not in ("true", "false"):
        raise invalid({"includePast": "Use true or false."})
    rows = service.entries(g.api_user, include_past=include_past == "true")
    return jsonify({"data": [entry_json(row) for row in rows]})


@bp.post("/out-of-office")
def out_of_office_create():
    body = json_body()
    errors: dict[str, str] = {}
    for key in ("startDate", "endDate"):
        if not isinstance(body.get(key), str):
            errors[key] = "Required: a date (YYYY-MM-DD)."
    for key in ("reason", "note", "redirectToUserId"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors[key] = "Must be a string."
    if body.get("showReason") is not None and not isinstance(body["showReason"], bool):
        errors["showReason"] = "Must be true or false."
    if errors:
        raise invalid(errors)
    data = service.EntryInput(body["startDate"], body["endDate"], reason=body.get("reason") or "vacation",
                              note=body.get("note") or "", show_reason=body.get("showReason", True) is not False,
                              redirect_to=body.get("redirectToUserId"))
    if data.reason not in REASONS:
        raise invalid({"reason": "One of: " + ", ".join(REASONS) + "."})
    try:
        entry = service.add_entry(g.api_user, data, ip=g.client_ip)
    except ValidationFailed as exc:
        raise invalid({FIELDS.get(key, key): message for key, message in exc.errors.items()}) from None
    return jsonify(entry_json(OutOfOffice.get_by_id(entry.id))), 201


@bp.delete("/out-of-office/<entry_id>")
def out_of_office_delete(entry_id: str):
    valid_id(entry_id, "Out-of-office entry not found")
    service.delete_entry(g.api_user, entry_id, ip=g.client_ip)
    return jsonify({"success": True})
