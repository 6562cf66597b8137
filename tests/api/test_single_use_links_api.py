"""``POST /api/v1/single-use-links`` (issue 23, point 7): 201 with the link, which books once; 400 for bad input;
404 for another user's event type; 401 without a key; documented in the OpenAPI document."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from app.models.one_time_links import OneTimeLink
from app.services.scheduling import event_types as et_service
from tests.api.conftest import event_type_of, in_db


def test_without_a_key_it_is_401(client, app, pro_host):
    answer = client.post("/api/v1/single-use-links", json={"eventTypeId": event_type_of(app, pro_host).id})
    assert answer.status_code == 401


def test_creates_a_link_with_an_optional_expiry(app, api, client, pro_host):
    event_type = event_type_of(app, pro_host)
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type.id})
    assert answer.status_code == 201, answer.json
    body = answer.json
    link = in_db(app, OneTimeLink.get_by_id, body["id"])
    path = urlsplit(body["url"]).path
    assert path == f"/d/{link.token}" and body["url"].startswith("http")
    assert body["eventTypeId"] == event_type.id and body["expiresAt"] is None and body["createdAt"].endswith("Z")
    assert client.get(path).status_code == 200
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type.id,
                                                        "expiresAt": until.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert answer.status_code == 201 and answer.json["expiresAt"] == until.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert in_db(app, OneTimeLink.get_by_id, answer.json["id"]).expires_at == until


def test_bad_input_is_400_with_details(app, api, pro_host):
    event_type = event_type_of(app, pro_host)
    assert api.post("/api/v1/single-use-links", json={}).json["details"] == {"eventTypeId": "Required."}
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type.id, "expiresAt": "tomorrow"})
    assert answer.status_code == 400 and "expiresAt" in answer.json["details"]
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type.id,
                                                        "expiresAt": "2020-01-01T00:00:00Z"})
    assert answer.status_code == 400 and answer.json["details"] == {"expiresAt": "Choose an expiry in the future."}
    in_db(app, et_service.set_status, event_type, False)
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type.id})
    assert answer.status_code == 400 and "eventTypeId" in answer.json["details"]
    assert in_db(app, OneTimeLink.select().count) == 0


def test_another_users_event_type_is_404(app, api, make_user):
    other = make_user("otto")
    answer = api.post("/api/v1/single-use-links", json={"eventTypeId": event_type_of(app, other).id})
    assert answer.status_code == 404 and answer.json == {"error": "Event type not found"}


def test_documented_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/single-use-links"]["post"]
    assert operation["operationId"] == "createSingleUseLink" and "201" in operation["responses"]
    assert "SingleUseLink" in doc["components"]["schemas"]
