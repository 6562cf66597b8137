"""Reading a JSON request body, for every API blueprint (public bookings, REST v1, Zapier).

``json.loads`` on ``[[[[...]]]]`` nested a few thousand deep raises RecursionError (not ValueError), which
Flask's ``get_json`` lets through as a 500. Here any body that is not JSON, or is nested deeper than
``MAX_DEPTH``, is a ``BadJson`` with a message for the API's 400 answer.
"""
from __future__ import annotations

import json

from flask import request

MAX_DEPTH = 32  # no payload of the API nests more than a few levels


class BadJson(ValueError):
    """The body is not JSON the API accepts; ``str(exc)`` is the message for the client."""


def _depth_ok(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH):
    """The parsed value of ``raw``; raises BadJson for invalid JSON or nesting deeper than ``max_depth``."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadJson(f"The JSON is nested too deeply (at most {max_depth} levels).") from None
    except ValueError:  # includes UnicodeDecodeError
        raise BadJson("The body is not valid JSON.") from None
    if not _depth_ok(value, max_depth):
        raise BadJson(f"The JSON is nested too deeply (at most {max_depth} levels).")
    return value


def request_json():
    """The body of a JSON request (``Content-Type: application/json``), or None for another content type.
    Raises BadJson as ``parse_json``."""
    if not request.is_json:
        return None
    return parse_json(request.get_data(cache=True))
