"""GET /api/audit-logs: the signed-in account's audit log as JSON or CSV (spec 21)."""
from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from app.auth import session_json_required
from app.services import audit

bp = Blueprint("audit_api", __name__, url_prefix="/api")


@bp.get("/audit-logs")
@session_json_required
def audit_logs():
    values, errors = audit.parse_filters(request.args)
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
