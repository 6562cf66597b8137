"""Dashboard → Conversations: the messaging agents' SMS and WhatsApp threads with filters, and a thread's page with
its messages (a deleted one says after how many days), where the booking dialogue stands and the booking it led to.

Filters are a GET form (customer phone, channel, agent, state, date range of the last message on the viewer's
calendar): htmx swaps only the results under it, a plain request gets the whole page. Times show on the viewer's
clock. Another account's conversation is a 404.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from app.models.messaging import CHANNELS, CONVERSATION_STATES
from app.services.messaging import conversations as service
from app.web import list_filters
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("conversations", __name__, url_prefix="/dashboard/conversations")

PAGE_SIZE = 25
PHONE_ERROR = "Enter a phone number such as +14155551234."


@bp.context_processor
def _helpers():
    return {"CHANNEL_LABELS": service.CHANNEL_LABELS, "STATE_LABELS": service.STATE_LABELS,
            "DIRECTION_LABELS": service.DIRECTION_LABELS, "contact_phone": service.contact_phone,
            "agent_of": service.agent_of, "retention_days": current_app.config["MESSAGING_RETENTION_DAYS"]}


def _filters() -> tuple[dict, service.ConversationFilter, dict]:
    """The form's values as typed, the filter they make (on the viewer's calendar), and errors for bad input."""
    errors: dict[str, str] = {}
    channel = request.args.get("channel", "")
    agent = request.args.get("agent", "")
    state = request.args.get("state", "")
    agents = {a.id for a in service.agents_of(g.user)}
    values = {"phone": (request.args.get("phone") or "").strip()[:40],
              "channel": channel if channel in CHANNELS else "",
              "agent": agent if agent in agents else "",
              "state": state if state in CONVERSATION_STATES else "",
              **list_filters.typed_range()}
    phone = None
    if values["phone"]:
        phone = service.parse_phone(request.args.get("phone", "")[:64])
        if phone is None:
            errors["phone"] = PHONE_ERROR
    start, end = list_filters.date_range(errors)
    return values, service.ConversationFilter(phone=phone, channel=values["channel"] or None,
                                              agent_id=values["agent"] or None, state=values["state"] or None,
                                              start=start, end=end), errors


@bp.get("")
@login_required
def index():
    values, filters, errors = _filters()
    total, rows, page, pages = list_filters.page_of(
        lambda page: service.list_conversations(g.user, filters, page=page, limit=PAGE_SIZE), PAGE_SIZE)
    query = {key: value for key, value in values.items() if value}
    response = render("conversations/index.html", block="conversation_results", conversations=rows, total=total,
                      page=page, pages=pages, values=values, query=query, errors=errors,
                      counts=service.message_counts(rows), agents=service.agents_of(g.user))
    response.vary.add("HX-Target")
    return response


@bp.get("/<conversation_id>")
@login_required
def detail(conversation_id: str):
    conversation = service.get_conversation(g.user, conversation_id)
    return render("conversations/detail.html", conversation=conversation, messages=service.messages_of(conversation),
                  agent=service.agent_of(conversation), booking=service.booking_of(conversation),
                  facts=service.dialogue_facts(conversation))
