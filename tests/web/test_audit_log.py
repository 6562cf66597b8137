"""Settings → Audit Log page and GET /api/audit-logs (spec 21) through the test client."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def signed_in(app, alice):
    client = app.test_client()
    login(client, alice)
    return client


def add(app, user, action, *, resource="booking", resource_id=None, ip=None, details=None, minutes_ago=0):
    from app.db import db
    from app.models import AuditLog
    from app.services.audit import category_for

    with app.app_context(), db.connection_context():
        return AuditLog.create(user_id=user.id, action=action, category=category_for(action), resource=resource,
                               resource_id=resource_id, ip_address=ip, details=json.dumps(details or {}),
                               created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))


def test_page_needs_sign_in(client):
    response = client.get("/settings/audit-log")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_page_lists_entries_newest_first_with_labels_details_and_masked_ip(app, signed_in, alice, make_user):
    add(app, alice, "booking.created", resource_id="bk_old", minutes_ago=10, ip="192.168.1.42",
        details={"inviteeEmail": "client@acme.com"})
    add(app, alice, "integration.connected", resource="integration", resource_id="int_new", minutes_ago=1,
        details={"service": "zoom"})
    add(app, make_user("mallory"), "booking.created", resource_id="bk_mallory")
    html = signed_in.get("/settings/audit-log").get_data(as_text=True)
    assert "Audit Log" in html and 'aria-current="page">Audit Log' in html
    assert html.index("int_new") < html.index("bk_old")
    assert "Booking Created" in html and "Integration Connected" in html and "client@acme.com" in html
    assert "192.168.1.xxx" in html and "192.168.1.42" not in html
    assert "bk_mallory" not in html
    assert "last 7 days" in html


def test_htmx_filter_returns_only_the_results_part(app, signed_in, alice):
    add(app, alice, "booking.created", resource_id="bk_1")
    add(app, alice, "api_key.created", resource="api_key", resource_id="key_1")
    response = signed_in.get("/settings/audit-log?category=integrations", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="audit-results">') and "<html" not in html
    assert "key_1" in html and "bk_1" not in html
    assert "category=integrations" in html  # the export link keeps the filter
    search = signed_in.get("/settings/audit-log?search=KEY_", headers=HTMX).get_data(as_text=True)
    assert "key_1" in search and "bk_1" not in search and "matching “KEY_”" in search


def test_pages_of_fifty_with_links_that_keep_the_filters(app, signed_in, alice):
    for i in range(55):
        add(app, alice, "booking.created", resource_id=f"bk_{i:02d}", minutes_ago=i)
    first = signed_in.get("/settings/audit-log?category=bookings").get_data(as_text=True)
    assert "Page 1 of 2" in first and "bk_00" in first and "bk_50" not in first
    assert 'href="/settings/audit-log?page=2&amp;category=bookings"' in first
    second = signed_in.get("/settings/audit-log?category=bookings&page=2", headers=HTMX).get_data(as_text=True)
    assert "bk_50" in second and "bk_54" in second and "bk_49" not in second and 'rel="prev"' in second


def test_bad_filter_values_show_a_message_not_an_error(app, signed_in, alice):
    add(app, alice, "booking.created", resource_id="bk_1")
    response = signed_in.get("/settings/audit-log?category=nonsense&page=abc")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Use one of: all, bookings" in html and "bk_1" in html


def test_csv_export_of_the_current_filter(app, signed_in, alice):
    add(app, alice, "booking.created", resource_id="bk_1", ip="10.1.2.3", details={"eventType": "Intro"})
    add(app, alice, "api_key.created", resource="api_key", resource_id="key_1")
    response = signed_in.get("/settings/audit-log/export.csv?category=bookings")
    today = datetime.now(UTC).date().isoformat()
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="audit-log-{today}.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Time", "Action", "Resource", "Resource ID", "Details", "IP Address"]
    assert rows[1][1:] == ["Booking Created", "booking", "bk_1", '{"eventType":"Intro"}', "10.1.2.xxx"]
    assert len(rows) == 2


# --- API --------------------------------------------------------------------------------------------------
def test_api_needs_a_session(client):
    response = client.get("/api/audit-logs")
    assert response.status_code == 401 and "error" in response.get_json()


def test_api_response_shape_and_pagination(app, signed_in, alice, make_user):
    for i in range(3):
        add(app, alice, "booking.created", resource_id=f"bk_{i}", minutes_ago=i, ip="2001:db8::1234:5678")
    add(app, make_user("mallory"), "booking.created", resource_id="bk_mallory")
    body = signed_in.get("/api/audit-logs?category=bookings&limit=2").get_json()
    assert {k: body[k] for k in ("total", "page", "limit", "hasMore", "retentionDays")} == {
        "total": 3, "page": 1, "limit": 2, "hasMore": True, "retentionDays": 7}
    assert [log["resourceId"] for log in body["logs"]] == ["bk_0", "bk_1"]
    log = body["logs"][0]
    assert set(log) == {"id", "action", "actionLabel", "resource", "resourceId", "details", "ipAddress",
                        "createdAt"}
    assert (log["action"], log["actionLabel"], log["ipAddress"]) == (
        "booking.created", "Booking Created", "2001:db8::1234:xxxx")
    page2 = signed_in.get("/api/audit-logs?category=bookings&limit=2&page=2").get_json()
    assert [log["resourceId"] for log in page2["logs"]] == ["bk_2"] and page2["hasMore"] is False
    assert signed_in.get("/api/audit-logs?search=mallory").get_json()["total"] == 0


def test_api_limit_is_capped_at_100(signed_in):
    assert signed_in.get("/api/audit-logs?limit=500").get_json()["limit"] == 100


@pytest.mark.parametrize("query,field", [("page=0", "page"), ("limit=abc", "limit"), ("category=pizza", "category"),
                                         ("export=pdf", "export")])
def test_api_rejects_bad_parameters_with_details(signed_in, query, field):
    response = signed_in.get(f"/api/audit-logs?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid request data" and field in body["details"]


def test_api_csv_export(app, signed_in, alice):
    add(app, alice, "integration.connected", resource="integration", resource_id="zoom_1", details={"service": "zoom"})
    response = signed_in.get("/api/audit-logs?export=csv&search=zoom")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [r[3] for r in rows[1:]] == ["zoom_1"]


def test_business_plan_sees_full_ip_addresses(app, signed_in, alice):
    from app.db import db
    from app.models import User

    with app.app_context(), db.connection_context():
        User.update(plan="BUSINESS").where(User.id == alice.id).execute()
    add(app, alice, "booking.created", resource_id="bk_1", ip="192.168.1.42")
    body = signed_in.get("/api/audit-logs?search=bk_1").get_json()
    assert body["logs"][0]["ipAddress"] == "192.168.1.42" and body["retentionDays"] == 365
