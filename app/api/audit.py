"""GET /api/audit-logs: the signed-in account's audit log as JSON or CSV (spec 21)."""
from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from app.services import audit
from app.web.session import session_json_required

bp = Blueprint("audit_api", __name__, url_prefix="/api")

MAX_LIMIT = 100


def parse_filters(args) -> tuple[dict, dict[str, str]]:
    """Query parameters of the audit log (page and API share them); returns values and per-field errors."""
    errors: dict[str, str] = {}
    values = {"category": (args.get("category") or "all").strip().lower(),
              "search": (args.get("search") or "").strip()[:200]}
    if values["category"] not in audit.FILTERS:
        errors["category"] = "Use one of: " + ", ".join(audit.FILTERS) + "."
    for name, default, top in (("page", 1, None), ("limit", 50, MAX_LIMIT)):
        raw = (args.get(name) or "").strip()
        if not raw:
            values[name] = default
            continue
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1:
            errors[name] = f"{name} must be a whole number of at least 1."
        values[name] = min(number, top) if top else min(number, 1_000_000)
    return values, errors


@bp.get("/audit-logs")
@session_json_required
def audit_logs():
    values, errors = parse_filters(request.args)
    export = (request.args.get("export") or "").strip().lower()
    if export and export != "csv":
        errors["export"] = 'The only export format is "csv".'
    if errors:
        return jsonify({"error": "Invalid request data", "details": errors}), 400
    if export == "csv":
        body = audit.export_csv(g.user, category=values["category"], search=values["search"])
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{audit.csv_filename()}"'})
    result = audit.list_entries(g.user, category=values["category"], search=values["search"],
                                page=values["page"], limit=values["limit"])
    return jsonify({"logs": [audit.entry_json(e, full_ip=result.full_ip) for e in result.entries],
                    "total": result.total, "page": result.page, "limit": result.limit,
                    "hasMore": result.has_more, "retentionDays": result.retention_days})
