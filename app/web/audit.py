"""Settings → Audit Log: the account's entries with category filter, search, pages and CSV export."""
from __future__ import annotations

from flask import Blueprint, Response, g, request

from app.api.audit import parse_filters
from app.services import audit
from app.web import render
from app.web.session import login_required

bp = Blueprint("audit", __name__, url_prefix="/settings/audit-log")

PAGE_SIZE = 50


@bp.get("")
@login_required
def index():
    values, errors = parse_filters(request.args)
    if "category" in errors:
        values["category"] = "all"
    values["page"] = 1 if "page" in errors else values["page"]
    result = audit.list_entries(g.user, category=values["category"], search=values["search"],
                                page=values["page"], limit=PAGE_SIZE)
    rows = [{"entry": e, "label": audit.action_label(e.action), "details": audit.details_of(e),
             "ip": audit.mask_ip(e.ip_address, full=result.full_ip)} for e in result.entries]
    return render("audit/index.html", block="audit_results", rows=rows, result=result, filters=audit.FILTERS,
                  category=values["category"], search=values["search"],
                  notice=errors.get("category"))


@bp.get("/export.csv")
@login_required
def export():
    values, _errors = parse_filters(request.args)
    category = values["category"] if values["category"] in audit.FILTERS else "all"
    body = audit.export_csv(g.user, category=category, search=values["search"])
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{audit.csv_filename()}"'})
