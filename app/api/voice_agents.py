"""The signed-in account's voice agents as JSON (spec page 10, "Agent API" and "Usage API").

``/api/voice/agents`` GET (agents, shared usage, plan) and POST (201 ``{"agent"}``; 403 at the plan's agent
limit; besides the spec's fields the body may hold ``template``, ``countryCode`` of the number (default US),
``withPhoneNumber`` (default true) and ``organizationId`` for an organization's agent);
``/api/voice/agents/<id>`` GET (the full configuration), PATCH (synced to ElevenLabs; also ``isActive``), DELETE
(deactivate; the number goes on hold); ``PUT …/event-types`` ``{"eventTypeIds"}``; ``PATCH …/active-hours``; ``POST`` /
``DELETE …/phone`` (Pro and above; POST ``{"countryCode"}`` buys a number, ``{"phoneNumberId"}`` binds one of
the account's active numbers); the legacy ``/api/voice/agent`` acting on the first agent; ``GET
/api/voice/usage``. Session cookie; mutations carry the CSRF token (``X-CSRFToken``) as the dashboard's other calls.

Errors: 400 ``{"error": "Invalid request data", "details"}``; 403 with the plan's sentence; 404 for an agent that
is not the caller's; 502 with "Failed to create AI agent: ..." or "Failed to provision phone number: ..." when a
provider refuses; 503 naming the settings the operator must set when voice agents are not configured.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api.json_input import BadJson, request_json
from app.auth import session_json_required
from app.integrations.errors import IntegrationError
from app.services.errors import NotFound
from app.services.plans import PlanLimitReached
from app.services.voice import agents, numbers, settings
from app.services.voice.agents import AgentFailed, NotConfigured

bp = Blueprint("voice_agents_api", __name__, url_prefix="/api/voice")


def _error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@bp.errorhandler(PlanLimitReached)
def _plan(exc):
    return _error(403, str(exc))


@bp.errorhandler(AgentFailed)
@bp.errorhandler(numbers.NumberFailed)
def _provider(exc):
    return _error(502, str(exc))


@bp.errorhandler(IntegrationError)
def _integration(exc):                    # a provider failure the services did not word (e.g. a hold that failed)
    return _error(502, f"The voice provider refused: {exc}")


@bp.errorhandler(NotConfigured)
def _not_configured(exc):
    return _error(503, str(exc), missing=exc.missing)


@bp.errorhandler(BadJson)
def _bad_json(exc):
    return _error(400, "Invalid request data", details={"body": str(exc)})


def _body() -> dict:
    body = request_json()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadJson("Send a JSON object.")
    return body


def _configured() -> None:
    missing = settings.missing()
    if missing:
        raise NotConfigured(missing)


def _usage() -> dict:
    from app.services.voice import usage

    return usage.usage_json(usage.usage_for(g.user))


def _listing():
    return {"agents": [agents.agent_json(agent) for agent in agents.agents_of(g.user)], "usage": _usage(),
            "plan": agents.plan_json(g.user)}


def _create():
    _configured()
    body = _body()
    phone = body.get("withPhoneNumber", True)
    if not isinstance(phone, bool):
        return _error(400, "Invalid request data", details={"withPhoneNumber": "Must be true or false."})
    agent = agents.create_agent(g.user, body, phone=phone, country=body.get("countryCode") or "US", ip=g.client_ip)
    return jsonify({"agent": agents.agent_json(agent, full=True)}), 201


@bp.get("/agents")
@session_json_required
def list_agents():
    return jsonify(_listing())


@bp.post("/agents")
@session_json_required
def create_agent():
    return _create()


@bp.get("/agents/<agent_id>")
@session_json_required
def get_agent(agent_id: str):
    return jsonify({"agent": agents.agent_json(agents.get_agent(g.user, agent_id), full=True)})


@bp.patch("/agents/<agent_id>")
@session_json_required
def update_agent(agent_id: str):
    agents.get_agent(g.user, agent_id)            # 404 before anything else
    _configured()
    agent = agents.update_agent(g.user, agent_id, _body(), ip=g.client_ip)
    return jsonify({"agent": agents.agent_json(agent, full=True)})


@bp.delete("/agents/<agent_id>")
@session_json_required
def delete_agent(agent_id: str):
    agents.get_agent(g.user, agent_id)
    _configured()
    agent = agents.delete_agent(g.user, agent_id, ip=g.client_ip)
    return jsonify({"success": True, "agent": agents.agent_json(agent)})


@bp.put("/agents/<agent_id>/event-types")
@session_json_required
def set_event_types(agent_id: str):
    agents.get_agent(g.user, agent_id)
    body = _body()
    linked = agents.set_event_types(g.user, agent_id, body.get("eventTypeIds", None), ip=g.client_ip)
    return jsonify({"eventTypeIds": [et.id for et in linked],
                    "eventTypes": [{"id": et.id, "name": et.name, "slug": et.slug} for et in linked]})


@bp.patch("/agents/<agent_id>/active-hours")
@session_json_required
def set_active_hours(agent_id: str):
    agents.get_agent(g.user, agent_id)
    agent = agents.set_active_hours(g.user, agent_id, _body(), ip=g.client_ip)
    return jsonify({"activeHours": agent.active_hours})


@bp.post("/agents/<agent_id>/phone")
@session_json_required
def add_phone(agent_id: str):
    agents.get_agent(g.user, agent_id)
    body = _body()
    agent = agents.add_phone(g.user, agent_id, country=body.get("countryCode") or "US",
                             phone_number_id=body.get("phoneNumberId") or None, ip=g.client_ip)
    return jsonify({"agent": agents.agent_json(agent, full=True)})


@bp.delete("/agents/<agent_id>/phone")
@session_json_required
def remove_phone(agent_id: str):
    agents.get_agent(g.user, agent_id)
    agent = agents.remove_phone(g.user, agent_id, ip=g.client_ip)
    return jsonify({"agent": agents.agent_json(agent, full=True)})


# --- the legacy singular endpoint: the first (default) agent -----------------------------------------------------
def _first_id() -> str:
    agent = agents.first_agent(g.user)
    if agent is None:
        raise NotFound("You have no voice agent yet: create one first.")
    return agent.id


@bp.get("/agent")
@session_json_required
def legacy_get():
    agent = agents.first_agent(g.user)
    return jsonify({"agent": agents.agent_json(agent, full=True) if agent else None, "usage": _usage(),
                    "plan": agents.plan_json(g.user)})


@bp.post("/agent")
@session_json_required
def legacy_create():
    return _create()


@bp.patch("/agent")
@session_json_required
def legacy_update():
    return update_agent(_first_id())


@bp.delete("/agent")
@session_json_required
def legacy_delete():
    return delete_agent(_first_id())


@bp.get("/usage")
@session_json_required
def usage_report():
    return jsonify(agents.usage_report(g.user))
