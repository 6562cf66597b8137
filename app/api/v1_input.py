"""Request parsing of the REST API v1: JSON bodies, query parameters, dates, and the 400 error shape.

Parsers collect every problem into ``errors`` (field -> message) or raise ``ApiError``; the blueprint turns
``ApiError`` into ``{"error": msg}`` or ``{"error": "Invalid request data", "details": {...}}``. Strings are
checked to be storable (no NUL, valid UTF-8) so bad input is a 400, never a database error.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta

from flask import jsonify, request

from app.api.json_input import BadJson, parse_json
from app.services import validation

DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE = 20, 100, 1_000_000
MIN_YEAR, MAX_YEAR = validation.MIN_YEAR, validation.MAX_YEAR
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # ids and slugs


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


def invalid(details: dict[str, str]) -> ApiError:
    return ApiError(400, "Invalid request data", details)


# --- input parsing -------------------------------------------------------------------------------------
def clean_text(value: str, field: str, errors: dict[str, str]) -> str | None:
    """Strings the databases can store: no NUL characters, valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        errors[field] = "Must not contain NUL characters."
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors[field] = "Must be valid Unicode text."
        return None
    return value


def _check_strings(value, path: str, errors: dict[str, str]) -> None:
    if isinstance(value, str):
        clean_text(value, path or "body", errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, path or "body", errors)
            _check_strings(item, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]", errors)


def json_body(*, optional: bool = False) -> dict:
    """The request body as a JSON object (an empty body is ``{}`` when ``optional``)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise invalid({"body": "Send a JSON object with Content-Type: application/json."})
    try:
        body = parse_json(raw)
    except BadJson as exc:
        raise invalid({"body": str(exc)}) from None
    if not isinstance(body, dict):
        raise invalid({"body": "Send a JSON object."})
    errors: dict[str, str] = {}
    _check_strings(body, "", errors)
    if errors:
        raise invalid(errors)
    return body


def body_fields(body: dict, required: tuple[str, ...] = (), strings: tuple[str, ...] = (),
                ints: tuple[str, ...] = (), objects: tuple[str, ...] = ()) -> dict:
    """Type-check the named fields; ``None`` stands for absent. Raises the 400 with every problem."""
    errors: dict[str, str] = {}
    values: dict = {}
    for name in (*required, *strings, *ints, *objects):
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip() and name in required):
            if name in required:
                errors[name] = "Required."
            values[name] = None
        elif name in ints:
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = "Must be a whole number."
            values[name] = value
        elif name in objects:
            if not isinstance(value, dict):
                errors[name] = "Must be an object."
            values[name] = value
        elif not isinstance(value, str):
            errors[name] = "Must be a string."
        else:
            values[name] = value
    if errors:
        raise invalid(errors)
    return values


def arg(name: str, errors: dict[str, str]) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    return clean_text(value, name, errors)


def int_arg(name: str, default: int, low: int, high: int, errors: dict[str, str]) -> int:
    raw = arg(name, errors)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        errors[name] = "Must be a whole number."
        return default
    if not low <= value <= high:
        errors[name] = f"Must be between {low} and {high}."
    return value


def page_args(errors: dict[str, str]) -> tuple[int, int]:
    return (int_arg("page", 1, 1, MAX_PAGE, errors),
            int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT, errors))


def in_range(value: datetime | date, field: str, errors: dict[str, str]):
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors[field] = f"Use a date between the years {MIN_YEAR} and {MAX_YEAR}."
        return None
    return value


def parse_instant(value: str | None, field: str, errors: dict[str, str]) -> datetime | None:
    """An ISO 8601 instant with a UTC offset (``2026-03-01T14:00:00.000Z``)."""
    if value is None:
        return None
    parsed = validation.parse_instant(value)
    if parsed is None:
        errors[field] = ("Give an ISO 8601 date-time with a time zone, e.g. 2026-03-01T14:00:00.000Z, "
                         f"between the years {MIN_YEAR} and {MAX_YEAR}.")
    return parsed


def parse_day_or_instant(value: str | None, field: str, errors: dict[str, str], *, tz) -> tuple:
    """``(date, None)`` for ``2026-03-01``, ``(None, instant)`` for a date-time (no offset: in ``tz``)."""
    if value is None:
        return None, None
    text = value.strip()
    try:
        if len(text) == 10:
            return in_range(date.fromisoformat(text), field, errors), None
        parsed = datetime.fromisoformat(text)
    except ValueError:
        errors[field] = "Give an ISO 8601 date (2026-03-01) or date-time (2026-03-01T14:00:00Z)."
        return None, None
    if in_range(parsed, field, errors) is None:
        return None, None
    return None, (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def paginated(items: list, total: int, page: int, limit: int):
    return jsonify({"data": items, "pagination": {"page": page, "limit": limit, "total": total,
                                                  "totalPages": math.ceil(total / limit)}})


def valid_id(value: str, message: str) -> str:
    if not ID_RE.match(value):
        raise ApiError(404, message)
    return value


def utc_range(errors: dict[str, str]) -> tuple:
    """The ``from`` / ``to`` query of a list as UTC bounds ``[start, end)``: a date covers its whole day, a date-time
    is an exact bound (``to`` includes that instant); ``to`` before ``from`` is an error."""
    first_day, start = parse_day_or_instant(arg("from", errors), "from", errors, tz=UTC)
    last_day, end = parse_day_or_instant(arg("to", errors), "to", errors, tz=UTC)
    if first_day:
        start = datetime.combine(first_day, time(0), UTC)
    if last_day:
        end = datetime.combine(last_day + timedelta(days=1), time(0), UTC)
    elif end is not None:
        end = end + timedelta(microseconds=1)
    if start and end and end <= start:
        errors["to"] = "Must not be before from."
    return start, end
