"""``GET /api/v1/calls`` (spec page 23): the list shape, the status and date filters, paging with a limit of at most
50, the API key (missing, Free plan) and isolation: another account's calls are never listed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.api.openapi import document
from app.models import User, VoiceAgent
from tests.api.conftest import bearer, in_db, new_key
from tests.outbound_fixtures import call_log

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def calls(app, pro_host, make_user):
    """Four calls of the Pro host (newest first: no answer, failed, web completed, inbound completed) and one of
    another account."""
    other = make_user("olga", plan="PRO")

    def seed():
        agent = VoiceAgent.create(user=pro_host, name="Sales Agent", elevenlabs_agent_id="agent_sales")
        rows = [call_log(pro_host, T0, agent=agent, duration=142, outcome="booking_created"),
                call_log(pro_host, T0 + timedelta(days=1), agent=agent, direction="web", caller_phone=None,
                         duration=61),
                call_log(pro_host, T0 + timedelta(days=2, hours=3), agent=agent, status="FAILED", duration=0,
                         outcome=None),
                call_log(pro_host, T0 + timedelta(days=3), agent=agent, status="NO_ANSWER", direction="outbound",
                         duration=0, outcome="no_action", call_type="reminder")]
        theirs = VoiceAgent.create(user=other, name="Olga's Agent", elevenlabs_agent_id="agent_olga")
        call_log(other, T0 + timedelta(hours=1), agent=theirs)
        return [row.id for row in reversed(rows)]
    return in_db(app, seed)


def test_the_list_has_the_spec_shape_newest_first(api, calls):
    response = api.get("/api/v1/calls")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 4, "totalPages": 1}
    assert [item["id"] for item in body["data"]] == calls
    oldest = body["data"][-1]
    assert {key: oldest[key] for key in ("id", "direction", "callerPhone", "durationSeconds", "status", "agentName",
                                         "startedAt")} == {
        "id": calls[-1], "direction": "inbound", "callerPhone": "+14155551234", "durationSeconds": 142,
        "status": "completed", "agentName": "Sales Agent", "startedAt": "2026-03-02T15:00:00.000Z"}
    assert oldest["outcome"] == "booking_created"
    assert body["data"][0]["status"] == "no_answer" and body["data"][0]["callType"] == "reminder"


@pytest.mark.parametrize("status, expected", [("COMPLETED", [2, 3]), ("FAILED", [1]), ("NO_ANSWER", [0]),
                                              ("all", [0, 1, 2, 3])])
def test_status_filters(api, calls, status, expected):
    body = api.get(f"/api/v1/calls?status={status}").json
    assert [item["id"] for item in body["data"]] == [calls[i] for i in expected]
    assert body["pagination"]["total"] == len(expected)


def test_a_status_in_another_case_is_refused(api, calls):
    response = api.get("/api/v1/calls?status=completed")
    assert response.status_code == 400
    assert response.json == {"error": "Invalid request data",
                             "details": {"status": "Use COMPLETED, FAILED, NO_ANSWER or all."}}


def test_dates_filter_the_start(api, calls):
    ids = lambda query: [item["id"] for item in api.get(f"/api/v1/calls?{query}").json["data"]]  # noqa: E731
    assert ids("from=2026-03-03") == calls[:3]
    assert ids("to=2026-03-03") == calls[2:]                       # a date includes its whole day
    assert ids("from=2026-03-03&to=2026-03-04") == calls[1:3]
    assert ids("from=2026-03-04T18:00:00Z") == calls[:2]
    assert ids("from=2026-03-04T18:00:01Z") == calls[:1]
    assert ids("to=2026-03-02T15:00:00Z") == calls[3:]              # a date-time bound includes its instant
    response = api.get("/api/v1/calls?from=2026-03-05&to=2026-03-01")
    assert response.status_code == 400 and "to" in response.json["details"]
    response = api.get("/api/v1/calls?from=yesterday")
    assert response.status_code == 400 and "from" in response.json["details"]


def test_paging_and_the_limit_of_50(api, calls):
    body = api.get("/api/v1/calls?limit=3&page=2").json
    assert [item["id"] for item in body["data"]] == calls[3:]
    assert body["pagination"] == {"page": 2, "limit": 3, "total": 4, "totalPages": 2}
    assert api.get("/api/v1/calls?limit=50").status_code == 200
    for bad in ("51", "0", "ten"):
        response = api.get(f"/api/v1/calls?limit={bad}")
        assert response.status_code == 400 and response.json["error"] == "Invalid request data"
        assert "limit" in response.json["details"]


def test_another_accounts_calls_are_never_listed(app, client, calls, make_user):
    other = in_db(app, User.get, User.username == "olga")
    body = client.get("/api/v1/calls", headers=bearer(new_key(app, other))).json
    assert len(body["data"]) == 1 and body["data"][0]["agentName"] == "Olga's Agent"
    assert not set(calls) & {item["id"] for item in body["data"]}


def test_the_key_is_required_and_free_accounts_are_refused(app, client, make_user):
    response = client.get("/api/v1/calls")
    assert response.status_code == 401 and "error" in response.json
    free = make_user("fred")
    response = client.get("/api/v1/calls", headers=bearer(new_key(app, free)))
    assert response.status_code == 403


def test_no_calls_is_an_empty_page(api):
    assert api.get("/api/v1/calls").json == {"data": [], "pagination": {"page": 1, "limit": 20, "total": 0,
                                                                         "totalPages": 0}}


def test_the_openapi_document_describes_the_endpoint(app):
    with app.app_context():
        operation = document()["paths"]["/api/v1/calls"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["limit"]["maximum"] == 50 and params["status"]["enum"] == ["COMPLETED", "FAILED", "NO_ANSWER", "all"]
    assert {"200", "400", "401", "403", "429"} <= set(operation["responses"])
