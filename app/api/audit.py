"""GET /api/audit-logs: the signed-in account's audit log as JSON or CSV (spec 21); GET
/api/organizations/{orgId}/audit-logs: an organization's, for its OWNER and ADMIN members, each entry with its
``user`` (name, email, image)."""
from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request, url_for

from app.auth import session_json_required
from app.models import UserLogo
from app.services import audit
from app.services.account import org_audit

bp = Blueprint("audit_api", __name__, url_prefix="/api")


def _filters():
    values, errors = audit.parse_filters(request.args)
    export = (request.args.get("export") or "").strip().lower()
    if export and export != "csv":
        errors["export"] = 'The only export format is "csv".'
    return values, export, errors


def _csv(body: str) -> Response:
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{audit.csv_filename()}"'})


def _page_json(result, logs: list[dict]):
    return jsonify({"logs": logs, "total": result.total, "page": result.page, "limit": result.limit,
                    "hasMore": result.has_more, "retentionDays": result.retention_days})


@bp.get("/audit-logs")
@session_json_required
def audit_logs():
    values, export, errors = _filters()
    if errors:
        return jsonify({"error": "Invalid request data", "details": errors}), 400
    if export == "csv":
        return _csv(audit.export_csv(g.user, category=values["category"], search=values["search"]))
    result = audit.list_entries(g.user, category=values["category"], search=values["search"],
                                page=values["page"], limit=values["limit"])
    return _page_json(result, [audit.entry_json(e, full_ip=result.full_ip) for e in result.entries])


def _logo_url(user) -> str | None:
    if not UserLogo.select().where(UserLogo.user == user.id).exists():
        return None
    return url_for("main.logo", user_id=user.id, _external=True)


@bp.get("/organizations/<org_id>/audit-logs")
@session_json_required
def organization_audit_logs(org_id: str):
    """403 for a MEMBER, 404 for an organization the caller is not in (the service's errors, JSON shaped)."""
    values, export, errors = _filters()
    if errors:
        return jsonify({"error": "Invalid request data", "details": errors}), 400
    if export == "csv":
        return _csv(org_audit.export_csv(g.user, org_id, category=values["category"], search=values["search"]))
    _org, result = org_audit.list_entries(g.user, org_id, category=values["category"], search=values["search"],
                                          page=values["page"], limit=values["limit"])
    users = org_audit.members_of(result.entries)
    logs = [{**audit.entry_json(e, full_ip=result.full_ip),
             "user": org_audit.user_json(users.get(e.user_id), _logo_url)} for e in result.entries]
    return _page_json(result, logs)
