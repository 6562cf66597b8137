"""The voice-agent JSON API (spec page 10, "Agent API" and "Usage API") with the session cookie, against the
ElevenLabs and Twilio fakes: shapes, 404 for another's agent, 403 at the limit, 400 details, 502, 503, the legacy
singular endpoint, usage, CSRF."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

import tests.agent_fixtures as voice_fixtures
from app.db import db
from app.models.base import utcnow
from app.models.voice import CallLog, PhoneNumber
from tests import factories
from tests.conftest import login

SPEC_KEYS = {"id", "agentName", "voiceId", "greeting", "businessContext", "language", "phoneNumber", "isActive",
             "elevenlabsAgentId", "createdAt"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def fakes():
    with voice_fixtures.servers() as both:
        yield both


@pytest.fixture
def app(app_factory, fakes):
    return app_factory(**voice_fixtures.voice_settings(fakes))


def signed_in(app, client, name="hana", plan="PRO"):
    with app.app_context(), db.connection_context():
        person = factories.user(name, plan=plan, timezone="America/New_York")
    login(client, person)
    return person


def make_agent(client, **body):
    response = client.post("/api/voice/agents", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["agent"]


def test_the_list_shows_agents_usage_and_plan(app, client):
    signed_in(app, client)
    assert client.get("/api/voice/agents").get_json() == {
        "agents": [], "usage": {"minutesUsed": 0, "minuteLimit": 60, "remaining": 60},
        "plan": {"name": "PRO", "hasPhoneNumber": True, "maxMinutes": 60, "maxAgents": 2}}
    created = make_agent(client, agentName="Sarah", greeting="Hi! I'm Sarah, an AI assistant.",
                         businessContext="I run a design consultancy.", language="en")
    assert created["phoneNumber"] == "+14155550100" and created["isActive"] is True
    assert created["activeHours"] == {"enabled": False} and created["eventTypeIds"] == []
    [listed] = client.get("/api/voice/agents").get_json()["agents"]
    assert set(listed) == SPEC_KEYS
    assert listed["agentName"] == "Sarah" and listed["voiceId"] == "21m00Tcm4TlvDq8ikWAM"
    assert listed["elevenlabsAgentId"] == created["elevenlabsAgentId"] and ISO.match(listed["createdAt"])
    one = client.get(f"/api/voice/agents/{listed['id']}").get_json()["agent"]
    assert SPEC_KEYS <= set(one) and one["template"] == "scheduling"


def test_a_free_account_has_one_agent_and_no_number(app, client):
    signed_in(app, client, plan="FREE")
    created = make_agent(client)
    assert created["agentName"] == "Scheduling Assistant" and created["greeting"] is None
    assert created["phoneNumber"] is None
    refused = client.post("/api/voice/agents", json={"agentName": "Second"})
    assert refused.status_code == 403 and "Free plan allows 1 voice agents" in refused.get_json()["error"]
    assert client.get("/api/voice/agents").get_json()["plan"] == {
        "name": "FREE", "hasPhoneNumber": False, "maxMinutes": 5, "maxAgents": 1}
    phone = client.post(f"/api/voice/agents/{created['id']}/phone", json={"countryCode": "US"})
    assert phone.status_code == 403


def test_invalid_data_answers_400_with_details(app, client, fakes):
    signed_in(app, client)
    response = client.post("/api/voice/agents", json={"agentName": "x" * 101, "businessContext": "b" * 5001})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request data"
    assert set(response.get_json()["details"]) == {"agentName", "businessContext"}
    not_json = client.post("/api/voice/agents", data="{", content_type="application/json")
    assert not_json.status_code == 400 and not_json.get_json()["error"] == "Invalid request data"
    assert client.post("/api/voice/agents", json=[1]).status_code == 400
    assert fakes.eleven.requests == []


def test_another_accounts_agent_is_404(app, client):
    signed_in(app, client)
    agent = make_agent(client)
    client.post("/logout")
    signed_in(app, client, "omar")
    url = f"/api/voice/agents/{agent['id']}"
    assert client.get(url).status_code == 404
    assert client.patch(url, json={"agentName": "Mine"}).status_code == 404
    assert client.delete(url).status_code == 404
    assert client.put(url + "/event-types", json={"eventTypeIds": []}).status_code == 404
    assert client.patch(url + "/active-hours", json={"enabled": False}).status_code == 404
    assert client.post(url + "/phone", json={}).status_code == 404
    assert client.get("/api/voice/agents").get_json()["agents"] == []


def test_patch_and_delete(app, client, fakes):
    signed_in(app, client)
    agent = make_agent(client)
    url = f"/api/voice/agents/{agent['id']}"
    changed = client.patch(url, json={"agentName": "Alex", "businessContext": "We are a law firm."})
    assert changed.status_code == 200 and changed.get_json()["agent"]["agentName"] == "Alex"
    assert fakes.eleven.agents[agent["elevenlabsAgentId"]]["name"] == "Alex"
    assert client.patch(url, json={"agentName": ""}).get_json()["details"] == {"agentName": "Give 1 to 100 characters."}
    fakes.eleven.fail(500)
    refused = client.patch(url, json={"agentName": "Bo"})
    assert refused.status_code == 502 and refused.get_json()["error"].startswith("Failed to update AI agent: ")
    deleted = client.delete(url)
    assert deleted.status_code == 200 and deleted.get_json()["success"] is True
    assert client.get(url).status_code == 404 and client.get("/api/voice/agents").get_json()["agents"] == []
    with app.app_context(), db.connection_context():
        assert PhoneNumber.get().status == "held"


def test_provider_refusals_answer_502_with_the_reason(app, client, fakes):
    signed_in(app, client)
    fakes.eleven.fail(500)
    failed = client.post("/api/voice/agents", json={})
    assert failed.status_code == 502 and failed.get_json()["error"].startswith("Failed to create AI agent: ")
    fakes.twilio.fail(400)
    failed = client.post("/api/voice/agents", json={})
    assert failed.status_code == 502
    assert failed.get_json()["error"].startswith("Failed to provision phone number: ")
    assert client.get("/api/voice/agents").get_json()["agents"] == [] and fakes.eleven.agents == {}


def test_without_elevenlabs_settings_the_api_says_what_is_missing(app_factory, client):
    app = app_factory(ELEVENLABS_API_KEY="", ELEVENLABS_WEBHOOK_SECRET="", ELEVENLABS_SIGNING_SECRET="")
    client = app.test_client()
    signed_in(app, client)
    response = client.post("/api/voice/agents", json={})
    assert response.status_code == 503
    assert response.get_json()["missing"] == ["ELEVENLABS_API_KEY", "ELEVENLABS_WEBHOOK_SECRET",
                                              "ELEVENLABS_SIGNING_SECRET"]
    assert "ELEVENLABS_API_KEY" in response.get_json()["error"]
    assert client.get("/api/voice/agents").status_code == 200


def test_the_legacy_endpoint_acts_on_the_first_agent(app, client):
    signed_in(app, client, plan="BUSINESS")
    empty = client.get("/api/voice/agent").get_json()
    assert empty["agent"] is None and empty["plan"]["maxAgents"] == 20
    assert client.patch("/api/voice/agent", json={"agentName": "X"}).status_code == 404
    first = client.post("/api/voice/agent", json={"agentName": "First"})
    assert first.status_code == 201
    make_agent(client, agentName="Second")
    assert client.get("/api/voice/agent").get_json()["agent"]["agentName"] == "First"
    assert client.patch("/api/voice/agent", json={"language": "de"}).get_json()["agent"]["language"] == "de"
    assert client.delete("/api/voice/agent").status_code == 200
    assert client.get("/api/voice/agent").get_json()["agent"]["agentName"] == "Second"


def test_event_types_active_hours_and_phone(app, client):
    host = signed_in(app, client)
    agent = make_agent(client, withPhoneNumber=False)
    url = f"/api/voice/agents/{agent['id']}"
    with app.app_context(), db.connection_context():
        own = factories.event_type(host)
    linked = client.put(url + "/event-types", json={"eventTypeIds": [own.id]})
    assert linked.get_json() == {"eventTypeIds": [own.id], "eventTypes": [{"id": own.id, "name": own.name,
                                                                           "slug": "30-min"}]}
    bad = client.put(url + "/event-types", json={"eventTypeIds": "all"})
    assert bad.status_code == 400 and "eventTypeIds" in bad.get_json()["details"]
    assert client.put(url + "/event-types", json={"eventTypeIds": []}).get_json()["eventTypeIds"] == []

    wrong = client.patch(url + "/active-hours", json={"enabled": True, "timezone": "Mars/Base",
                                                      "schedule": [{"day": "monday", "start": "9", "end": "18:00"}]})
    assert wrong.status_code == 400 and set(wrong.get_json()["details"]) == {"timezone", "schedule[0]"}
    body = {"enabled": True, "timezone": "America/New_York", "afterHoursBehavior": "voicemail",
            "schedule": [{"day": "monday", "start": "09:00", "end": "18:00"},
                         {"day": "saturday", "start": "10:00", "end": "14:00"}]}
    stored = client.patch(url + "/active-hours", json=body).get_json()["activeHours"]
    assert stored["schedule"] == body["schedule"] and stored["enabled"] is True
    assert client.get(url).get_json()["agent"]["activeHours"] == stored

    assert client.delete(url + "/phone").status_code == 404
    bad_country = client.post(url + "/phone", json={"countryCode": "ZZ"})
    assert bad_country.status_code == 400 and "countryCode" in bad_country.get_json()["details"]
    added = client.post(url + "/phone", json={"countryCode": "GB"})
    assert added.status_code == 200 and added.get_json()["agent"]["phoneNumber"] == "+442071838750"
    assert client.post(url + "/phone", json={"countryCode": "GB"}).status_code == 409
    removed = client.delete(url + "/phone")
    assert removed.status_code == 200 and removed.get_json()["agent"]["phoneNumber"] is None


def test_usage_of_this_month(app, client):
    host = signed_in(app, client)
    now = utcnow()
    with app.app_context(), db.connection_context():
        for seconds, outcome in ((120, "booking_created"), (60, "booking_created"), (90, "info_provided"),
                                 (30, "no_action")):
            CallLog.create(user=host, duration_seconds=seconds, status="COMPLETED", outcome=outcome, started_at=now)
        CallLog.create(user=host, status="IN_PROGRESS", started_at=now)
        CallLog.create(user=host, duration_seconds=600, status="COMPLETED", outcome="no_action",
                       started_at=now.replace(day=1) - timedelta(days=3))          # last month
    assert client.get("/api/voice/usage").get_json() == {
        "minutesUsed": 5, "minuteLimit": 60, "remaining": 55, "callsThisMonth": 5, "avgDurationSeconds": 75,
        "topOutcomes": [{"outcome": "booking_created", "count": 2}, {"outcome": "info_provided", "count": 1},
                        {"outcome": "no_action", "count": 1}]}


def test_signed_out_is_401(client):
    assert client.get("/api/voice/agents").status_code == 401
    assert client.post("/api/voice/agents", json={}).status_code == 401
    assert client.get("/api/voice/usage").status_code == 401


def test_mutations_need_the_csrf_token(app_factory, fakes):
    app = app_factory(WTF_CSRF_ENABLED=True, **voice_fixtures.voice_settings(fakes))
    client = app.test_client()
    with app.app_context(), db.connection_context():
        person = factories.user("hana", plan="PRO")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": person.email, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 302
    page = client.get("/dashboard/voice-agents").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/api/voice/agents", json={}).status_code == 400
    assert fakes.eleven.requests == []
    created = client.post("/api/voice/agents", json={"withPhoneNumber": False}, headers={"X-CSRFToken": token})
    assert created.status_code == 201
