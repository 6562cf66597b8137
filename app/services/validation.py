"""Input checks shared by every way in (booking page, public API, REST API v1, contacts, accounts).

One definition each of: a single email address, a one-line name (no line breaks or other control
characters: names end up in email headers and calendar files), and an ISO 8601 instant. A check that
passes here can be stored, put in an email header and computed with (no OverflowError later).
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

# Exactly one addr-spec: a dot-atom local part (letters, digits and ! # $ % & ' * + / = ? ^ _ ` { | } ~ - .)
# and a dotted domain. No comma, semicolon, space, quote, angle bracket or parenthesis, so a value can never
# name a second recipient or a display name ("postmaster,attacker@evil.test" is refused).
EMAIL_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]{0,61}[^\W_]")
MAX_EMAIL = 254
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# in free text (notes, answers): the same, except tab, line feed and carriage return
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MIN_YEAR, MAX_YEAR = 1900, 2999

NAME_CONTROL = "Must not contain line breaks, tabs or other control characters."
TEXT_CONTROL = "Must not contain control characters (NUL, escape ...)."
INSTANT_HELP = "Give the start time as an ISO 8601 instant, e.g. 2026-03-01T14:00:00Z."


def is_email(value: str | None) -> bool:
    """One email address, nothing more (no list, no display name)."""
    return bool(value) and len(value) <= MAX_EMAIL and EMAIL_RE.fullmatch(value) is not None


def has_control(value: str | None) -> bool:
    return bool(value) and CONTROL_RE.search(value) is not None


def has_text_control(value: str | None) -> bool:
    """Control characters other than tab and line breaks (PostgreSQL cannot even store a NUL)."""
    return bool(value) and TEXT_CONTROL_RE.search(value) is not None


def single_line(value: str) -> str:
    """``value`` with every control character turned into a space (for text bound for an email header)."""
    return CONTROL_RE.sub(" ", value)


def parse_date(value: str | None) -> date | None:
    """``YYYY-MM-DD`` as a date; None for anything else."""
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def parse_month(value: str | None) -> date | None:
    """``YYYY-MM`` as the first of that month; None for anything else."""
    try:
        return datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset, as an aware UTC datetime; None for anything else: no offset
    (ambiguous), not a date-time, or outside the years 1900-2999 (``0001-01-01T00:00:00+14:00`` cannot even
    be converted to UTC)."""
    text = (value or "").strip()
    if len(text) <= 10:  # a date alone is not an instant
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if MIN_YEAR <= moment.year <= MAX_YEAR else None
