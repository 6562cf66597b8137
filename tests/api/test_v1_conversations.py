"""``GET /api/v1/conversations`` (spec page 23): the list shape with up to 50 messages per conversation (the latest,
in time order), the phone, date and paging filters with a limit of at most 50, the API key (missing, Free plan),
isolation (another account's conversations are never listed), and the live answers matching the OpenAPI document
(Schemathesis against seeded conversations: the suite-wide run sees only an empty list)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.api.openapi import document
from app.models import User
from tests.api.conftest import bearer, in_db, new_key
from tests.conversation_fixtures import conversation, messaging_agent

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def convos(app, pro_host, make_user):
    """Four conversations of the Pro host (latest first: WhatsApp +44, SMS with 60 messages, SMS +1 415 555 9876,
    SMS +1 415 555 1234) and one of another account with the same customer number."""
    other = make_user("olga", plan="PRO")

    def seed():
        sarah = messaging_agent(pro_host, "Sarah")
        walt = messaging_agent(pro_host, "Walt", channel="whatsapp")
        rows = [conversation(pro_host, T0, agent=sarah, messages=[
                    ("inbound", "Hi, can I book a consultation?", T0 - timedelta(minutes=1)),
                    ("outbound", "Of course! Which day suits you?", T0)]),
                conversation(pro_host, T0 + timedelta(days=1), agent=sarah, contact_phone="+14155559876"),
                conversation(pro_host, T0 + timedelta(days=2, hours=3), agent=sarah, contact_phone="+14155550001",
                             messages=60),
                conversation(pro_host, T0 + timedelta(days=3), agent=walt, channel="whatsapp",
                             contact_phone="+447911123456")]
        conversation(other, T0 + timedelta(hours=1), agent=messaging_agent(other, "Olga's Agent"),
                     messages=[("inbound", "Olga's customer", T0 + timedelta(hours=1))])
        return [row.id for row in reversed(rows)]
    return in_db(app, seed)


def ids(api, query: str = "") -> list[str]:
    response = api.get(f"/api/v1/conversations?{query}")
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["data"]]


def test_the_list_has_the_spec_shape_latest_first(api, convos):
    response = api.get("/api/v1/conversations")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 4, "totalPages": 1}
    assert [item["id"] for item in body["data"]] == convos
    assert body["data"][-1] == {
        "id": convos[-1], "contactPhone": "+14155551234", "channel": "sms", "messages": [
            {"content": "Hi, can I book a consultation?", "direction": "inbound",
             "timestamp": "2026-03-02T14:59:00.000Z"},
            {"content": "Of course! Which day suits you?", "direction": "outbound",
             "timestamp": "2026-03-02T15:00:00.000Z"}]}
    assert body["data"][0]["channel"] == "whatsapp" and body["data"][0]["contactPhone"] == "+447911123456"
    assert all(set(item) == {"id", "contactPhone", "channel", "messages"} for item in body["data"])


def test_at_most_the_latest_50_messages_in_time_order(api, convos):
    [item] = api.get("/api/v1/conversations?phone=%2B14155550001").json["data"]
    assert [m["content"] for m in item["messages"]] == [f"Message {n}" for n in range(11, 61)]
    stamps = [m["timestamp"] for m in item["messages"]]
    assert stamps == sorted(stamps) and stamps[-1] == "2026-03-04T18:00:00.000Z"
    assert {m["direction"] for m in item["messages"]} == {"inbound", "outbound"}


@pytest.mark.parametrize("phone", ["%2B14155551234", "+14155551234", "(415)%20555-1234", "%2B1%20415%20555%201234",
                                   "4155551234"])
def test_the_phone_filter_reads_e164_and_other_spellings(api, convos, phone):
    assert ids(api, f"phone={phone}") == convos[3:]


def test_an_unencoded_plus_of_an_international_number_is_understood(api, convos):
    assert ids(api, "phone=+447911123456") == convos[:1]
    assert ids(api, "phone=%2B447911123456") == convos[:1]
    assert ids(api, "phone=%2B14155550199") == []                       # valid, nobody wrote from it


@pytest.mark.parametrize("phone", ["12", "call-me", "%2B999123"])
def test_an_invalid_phone_is_a_400(api, convos, phone):
    response = api.get(f"/api/v1/conversations?phone={phone}")
    assert response.status_code == 400
    assert response.json == {"error": "Invalid request data",
                             "details": {"phone": "Give a phone number in E.164, e.g. +14155551234."}}


def test_dates_filter_the_last_message(api, convos):
    assert ids(api, "from=2026-03-03") == convos[:3]
    assert ids(api, "to=2026-03-03") == convos[2:]                       # a date includes its whole day
    assert ids(api, "from=2026-03-03&to=2026-03-04") == convos[1:3]
    assert ids(api, "from=2026-03-04T18:00:00Z") == convos[:2]
    assert ids(api, "from=2026-03-04T18:00:01Z") == convos[:1]
    assert ids(api, "to=2026-03-02T15:00:00Z") == convos[3:]              # a date-time bound includes its instant
    assert ids(api, "phone=%2B14155559876&from=2026-03-03") == convos[2:3]
    response = api.get("/api/v1/conversations?from=2026-03-05&to=2026-03-01")
    assert response.status_code == 400 and "to" in response.json["details"]
    response = api.get("/api/v1/conversations?from=yesterday")
    assert response.status_code == 400 and "from" in response.json["details"]


def test_paging_and_the_limit_of_50(api, convos):
    body = api.get("/api/v1/conversations?limit=3&page=2").json
    assert [item["id"] for item in body["data"]] == convos[3:]
    assert body["pagination"] == {"page": 2, "limit": 3, "total": 4, "totalPages": 2}
    assert api.get("/api/v1/conversations?page=3&limit=3").json["data"] == []
    assert api.get("/api/v1/conversations?limit=50").status_code == 200
    for bad in ("51", "0", "ten"):
        response = api.get(f"/api/v1/conversations?limit={bad}")
        assert response.status_code == 400 and response.json["error"] == "Invalid request data"
        assert "limit" in response.json["details"]
    response = api.get("/api/v1/conversations?page=0")
    assert response.status_code == 400 and "page" in response.json["details"]


def test_deleted_messages_are_not_listed(app, api, pro_host):
    def seed():
        return conversation(pro_host, T0, messages=[("inbound", None, T0 - timedelta(days=100)),
                                                    ("outbound", None, T0 - timedelta(days=100)),
                                                    ("inbound", "Hello again", T0)]).id
    cid = in_db(app, seed)
    [item] = api.get("/api/v1/conversations").json["data"]
    assert item["id"] == cid and item["messages"] == [
        {"content": "Hello again", "direction": "inbound", "timestamp": "2026-03-02T15:00:00.000Z"}]


def test_another_accounts_conversations_are_never_listed(app, client, convos):
    other = in_db(app, User.get, User.username == "olga")
    body = client.get("/api/v1/conversations", headers=bearer(new_key(app, other))).json
    assert len(body["data"]) == 1 and body["data"][0]["messages"][0]["content"] == "Olga's customer"
    assert not set(convos) & {item["id"] for item in body["data"]}
    mine = client.get("/api/v1/conversations?phone=%2B14155551234",
                      headers=bearer(new_key(app, in_db(app, User.get, User.username == "hana")))).json
    assert [item["id"] for item in mine["data"]] == convos[3:]             # same customer, only the host's thread


def test_the_key_is_required_and_free_accounts_are_refused(app, client, make_user):
    response = client.get("/api/v1/conversations")
    assert response.status_code == 401 and "error" in response.json
    free = make_user("fred")
    response = client.get("/api/v1/conversations", headers=bearer(new_key(app, free)))
    assert response.status_code == 403


def test_no_conversations_is_an_empty_page(api):
    assert api.get("/api/v1/conversations").json == {
        "data": [], "pagination": {"page": 1, "limit": 20, "total": 0, "totalPages": 0}}


def test_the_openapi_document_describes_the_endpoint(app):
    with app.app_context():
        doc = document()
    operation = doc["paths"]["/api/v1/conversations"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(params) == {"phone", "from", "to", "limit", "page"}
    assert params["limit"]["maximum"] == 50 and params["limit"]["default"] == 20 and params["page"]["minimum"] == 1
    assert {"200", "400", "401", "403", "429", "500"} <= set(operation["responses"])
    item = doc["components"]["schemas"]["Conversation"]
    assert set(item["required"]) == {"id", "contactPhone", "channel", "messages"}
    assert set(item["properties"]["messages"]["items"]["required"]) == {"content", "direction", "timestamp"}


def test_live_answers_match_the_document(app_factory, make_user):
    """Schemathesis generates valid and invalid queries for this one operation against seeded conversations."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    app = app_factory(RATELIMIT_API_KEY="100000/minute", RATELIMIT_API_PREAUTH="100000/minute")
    host = make_user("hana", plan="PRO")
    in_db(app, lambda: [conversation(host, datetime.now(UTC) - timedelta(days=n), messages=n * 20,
                                     contact_phone=f"+1415555{n:04d}") for n in range(4)])
    key = new_key(app, host)
    with app.app_context():
        doc = document()
    doc["paths"] = {"/api/v1/conversations": doc["paths"]["/api/v1/conversations"]}
    config = schemathesis.Config.from_dict({"headers": {"Authorization": f"Bearer {key}",
                                                        "Accept-Encoding": "identity"}})
    schema = schemathesis.openapi.from_dict(doc, config=config)
    schema.app = app
    [operation] = [result.ok() for result in schema.get_all_operations()]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case):
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
        run()
