"""Active hours of a voice agent (spec page 10): a 7-day schedule in the agent's zone, or around the clock.

Stored on ``VoiceAgent.active_hours`` as ``{"enabled", "timezone", "afterHoursBehavior", "afterHoursMessage",
"schedule": [{"day": "monday", "start": "09:00", "end": "18:00"}, ...]}``; a day missing from the schedule is
closed. An end of "24:00" runs to midnight; an end before its start is refused.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.models.voice import AFTER_HOURS
from app.timezones import is_valid_timezone

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
MAX_MESSAGE = 500


class InvalidHours(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse(body, default_timezone: str) -> dict:
    """Validate an active-hours request body (the PATCH …/active-hours shape); returns what is stored."""
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        raise InvalidHours({"body": "Send a JSON object."})
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "Must be true or false."
    zone = body.get("timezone") or default_timezone
    if not isinstance(zone, str) or not is_valid_timezone(zone):
        errors["timezone"] = "Unknown time zone."
    behavior = body.get("afterHoursBehavior", "voicemail")
    if behavior not in AFTER_HOURS:
        errors["afterHoursBehavior"] = f"Choose one of {', '.join(AFTER_HOURS)}."
    message = body.get("afterHoursMessage")
    if message is not None and (not isinstance(message, str) or len(message) > MAX_MESSAGE):
        errors["afterHoursMessage"] = f"At most {MAX_MESSAGE} characters."
    if behavior == "message" and not (isinstance(message, str) and message.strip()):
        errors["afterHoursMessage"] = "Write the message callers hear after hours."
    schedule = body.get("schedule", [])
    days: list[dict] = []
    if not isinstance(schedule, list):
        errors["schedule"] = "Must be a list of {day, start, end}."
    else:
        seen = set()
        for index, item in enumerate(schedule):
            key = f"schedule[{index}]"
            if not isinstance(item, dict):
                errors[key] = "Must be an object {day, start, end}."
                continue
            day, start, end = item.get("day"), item.get("start"), item.get("end")
            if not isinstance(day, str) or day.lower() not in DAYS:
                errors[key] = f"day must be one of {', '.join(DAYS)}."
            elif day.lower() in seen:
                errors[key] = f"{day} appears twice."
            elif not (isinstance(start, str) and isinstance(end, str) and _HHMM.match(start) and _HHMM.match(end)):
                errors[key] = "start and end are HH:MM (24-hour)."
            elif _minutes(end) <= _minutes(start):
                errors[key] = "end must be after start."
            else:
                seen.add(day.lower())
                days.append({"day": day.lower(), "start": start, "end": end})
    if errors:
        raise InvalidHours(errors)
    days.sort(key=lambda d: DAYS.index(d["day"]))
    return {"enabled": enabled, "timezone": zone, "afterHoursBehavior": behavior,
            "afterHoursMessage": (message or "").strip() or None, "schedule": days}


def is_open(active_hours: dict | None, at: datetime | None = None) -> bool:
    """Whether the agent answers at ``at`` (now by default): always when active hours are off or unset."""
    if not active_hours or not active_hours.get("enabled"):
        return True
    local = (at or datetime.now(UTC)).astimezone(ZoneInfo(active_hours.get("timezone") or "UTC"))
    day = DAYS[local.weekday()]
    minute = local.hour * 60 + local.minute
    for item in active_hours.get("schedule") or ():
        if item["day"] == day and _minutes(item["start"]) <= minute < _minutes(item["end"]):
            return True
    return False


def opening_text(active_hours: dict | None) -> str:
    """The schedule in words for the after-hours message: "Monday 09:00-18:00, Tuesday ..."."""
    if not active_hours or not active_hours.get("enabled"):
        return "around the clock"
    parts = [f"{d['day'].capitalize()} {d['start']}-{d['end']}" for d in active_hours.get("schedule") or ()]
    return ", ".join(parts) if parts else "no hours at present"

