"""The signed-in account's SMS and WhatsApp messaging agents as JSON (spec page 11, "Agent API" → "Messaging
Agents").

``/api/agents/messaging`` GET (``{"agents", "pool": {used, limit, remaining}, "plan"}``; the pool is the month's
shared message pool, ``limit``/``remaining`` null when unlimited) and POST (201 ``{"agent"}``; body as page 11's
example: ``name``, ``greeting``, ``tone``, ``customTone``, ``language``, ``businessContext``, ``phoneNumberId``,
``channel``, ``isActive``, ``eventTypeIds``, ``organizationId``); ``/api/agents/messaging/<id>`` GET (``{"agent"}``),
PUT (the fields sent; ``{"agent"}``) and DELETE (``{"success": true, "agent"}``; the agent is switched off and never
listed again). Session cookie; mutations carry the CSRF token (``X-CSRFToken``) as the dashboard's other calls.

Errors: 400 ``{"error": "Invalid request data", "details"}``; 403 with the plan's sentence; 404 for an agent that is
not the caller's (checked first); 503 ``{"error", "missing"}`` naming the settings the operator must set when
messaging agents are not configured on this server.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api.json_input import BadJson, request_json
from app.auth import session_json_required
from app.services.messaging import agents, pool, settings
from app.services.plans import PlanLimitReached

bp = Blueprint("messaging_agents_api", __name__, url_prefix="/api/agents/messaging")


class NotConfigured(Exception):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("Messaging agents are not configured on this server: set " + ", ".join(missing) + ".")


def _error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@bp.errorhandler(PlanLimitReached)
def _plan(exc):
    return _error(403, str(exc))


@bp.errorhandler(NotConfigured)
def _not_configured(exc):
    return _error(503, str(exc), missing=exc.missing)


@bp.errorhandler(BadJson)
def _bad_json(exc):
    return _error(400, "Invalid request data", details={"body": str(exc)})


def _body() -> dict:
    body = request_json()
    if not isinstance(body, dict):
        raise BadJson("Send a JSON object.")
    return body


def _configured() -> None:
    missing = settings.missing()
    if missing:
        raise NotConfigured(missing)


def pool_json(user) -> dict:
    current = pool.pool_for(user)
    return {"used": current.used, "limit": current.limit, "remaining": current.remaining}


@bp.get("")
@session_json_required
def list_agents():
    _configured()
    return jsonify({"agents": [agents.agent_json(agent) for agent in agents.agents_of(g.user)],
                    "pool": pool_json(g.user), "plan": agents.plan_json(g.user)})


@bp.post("")
@session_json_required
def create_agent():
    _configured()
    agent = agents.create_agent(g.user, _body())
    return jsonify({"agent": agents.agent_json(agent)}), 201


@bp.get("/<agent_id>")
@session_json_required
def get_agent(agent_id: str):
    agent = agents.get_agent(g.user, agent_id)            # 404 before anything else
    _configured()
    return jsonify({"agent": agents.agent_json(agent)})


@bp.put("/<agent_id>")
@session_json_required
def update_agent(agent_id: str):
    agents.get_agent(g.user, agent_id)
    _configured()
    agent = agents.update_agent(g.user, agent_id, _body())
    return jsonify({"agent": agents.agent_json(agent)})


@bp.delete("/<agent_id>")
@session_json_required
def delete_agent(agent_id: str):
    agents.get_agent(g.user, agent_id)
    _configured()
    agent = agents.delete_agent(g.user, agent_id)
    return jsonify({"success": True, "agent": agents.agent_json(agent)})
