"""``GET /api/v1/conversations`` (spec page 23): the SMS and WhatsApp threads of the API key's account, the latest
message first, each with its most recent messages (at most 50, in time order).

The route is added to the ``/api/v1`` blueprint (``app.api.v1.bp``), so it shares that blueprint's API-key
authentication, rate limits, plan check, error shape and ``Cache-Control: no-store``; ``register_api`` imports this
module before registering the blueprint. Query: ``phone`` (the customer's number in E.164; other ways of writing a
valid number are normalised, an invalid one is a 400), ``from`` / ``to`` (ISO date, whole UTC days, or date-time
bounds on the conversation's last message), ``page``, ``limit`` (default 20, at most 50: a larger one is a 400 as
the other lists answer one above their maximum).
"""
from __future__ import annotations

from flask import g

from app.api.v1 import bp
from app.api.v1_input import DEFAULT_LIMIT, MAX_PAGE, arg, int_arg, invalid, paginated, utc_range
from app.services.messaging import conversations

MAX_CONVERSATIONS_LIMIT = 50
PHONE_ERROR = "Give a phone number in E.164, e.g. +14155551234."


@bp.get("/conversations")
def conversations_list():
    errors: dict[str, str] = {}
    page = int_arg("page", 1, 1, MAX_PAGE, errors)
    limit = int_arg("limit", DEFAULT_LIMIT, 1, MAX_CONVERSATIONS_LIMIT, errors)
    raw_phone = arg("phone", errors)
    phone = None
    if raw_phone is not None and "phone" not in errors:
        phone = conversations.parse_phone(raw_phone)
        if phone is None:
            errors["phone"] = PHONE_ERROR
    start, end = utc_range(errors)
    if errors:
        raise invalid(errors)
    total, rows = conversations.list_conversations(
        g.api_user, conversations.ConversationFilter(phone=phone, start=start, end=end), page=page, limit=limit)
    messages = conversations.recent_messages(rows)
    return paginated([conversations.conversation_json(c, messages[c.id]) for c in rows], total, page, limit)
