"""Settings → Audit Log: the account's entries with category filter, search, pages and CSV export."""
from __future__ import annotations

from flask import Blueprint, Response, g, request

from app.datetimes import host_clock
from app.services import audit
from app.services.booking import payments
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("audit", __name__, url_prefix="/settings/audit-log")

PAGE_SIZE = 50
# The categories this build records entries in (audit.FILTERS also names Workflows and Voice, which the product does
# not have yet: the filter offers only what can match; Payments where a payment provider is configured). Team:
# organizations and their teams.
SHOWN_FILTERS = ("all", "bookings", "events", "team", "settings", "integrations")


def shown_filters(current: str) -> dict[str, str]:
    """The category choices of the page (Payments where a payment provider is configured); a category asked for by
    address stays selectable."""
    shown = SHOWN_FILTERS + (("payments",) if payments.configured_providers() else ())
    return {key: label for key, label in audit.FILTERS.items() if key in shown or key == current}


@bp.get("")
@login_required
def index():
    values, errors = audit.parse_filters(request.args)
    if "category" in errors:
        values["category"] = "all"
    values["page"] = 1 if "page" in errors else values["page"]
    result = audit.list_entries(g.user, category=values["category"], search=values["search"],
                                page=values["page"], limit=PAGE_SIZE)
    hour12 = host_clock(g.user).hour12
    rows = [{"entry": e, "label": audit.action_label(e.action), "resource": audit.resource_label(e.resource),
             "details": audit.detail_lines(e, hour12=hour12),
             "ip": audit.mask_ip(e.ip_address, full=result.full_ip)} for e in result.entries]
    return render("audit/index.html", block="audit_results", rows=rows, result=result,
                  filters=shown_filters(values["category"]),
                  category=values["category"], search=values["search"],
                  notice=errors.get("category"))


@bp.get("/export.csv")
@login_required
def export():
    values, _errors = audit.parse_filters(request.args)
    category = values["category"] if values["category"] in audit.FILTERS else "all"
    body = audit.export_csv(g.user, category=category, search=values["search"])
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{audit.csv_filename()}"'})
