"""Voice minutes (spec page 10): a monthly pool per account shared by all its agents, by calendar month in UTC.

Minutes used are the month's call seconds rounded up to whole minutes. Free has 5, Pro 60, Business and
Organization unlimited (``plans.LIMITS[...].voice_minutes``, ``None`` = unlimited). Before a call the
personalization webhook checks ``remaining``: under one minute left, the caller is sent to the booking page.
Calls are never cut: a call may go past the limit, and afterwards the account's agents are switched off until
the period resets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from app.models import CallLog
from app.services import plans


@dataclass(frozen=True)
class Usage:
    seconds: int
    calls: int
    limit: int | None            # minutes; None = unlimited

    @property
    def minutes_used(self) -> int:
        return math.ceil(self.seconds / 60)

    @property
    def remaining(self) -> int | None:
        """Whole minutes left (never negative); None when unlimited."""
        if self.limit is None:
            return None
        return max(0, self.limit - self.minutes_used)

    @property
    def seconds_left(self) -> float:
        if self.limit is None:
            return math.inf
        return self.limit * 60 - self.seconds

    @property
    def exhausted(self) -> bool:
        """Less than one minute left: no new call is taken (the personalization override)."""
        return self.seconds_left < 60

    @property
    def exceeded(self) -> bool:
        """The month's minutes are used up (the agents switch off after the call)."""
        return self.limit is not None and self.seconds >= self.limit * 60


def period_start(now: datetime | None = None) -> datetime:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_key(now: datetime | None = None) -> str:
    return period_start(now).strftime("%Y-%m")


def usage_for(user, now: datetime | None = None) -> Usage:
    start = period_start(now)
    seconds, calls = (CallLog.select(peewee.fn.COALESCE(peewee.fn.SUM(CallLog.duration_seconds), 0),
                                     peewee.fn.COUNT(CallLog.id))
                      .where(CallLog.user == user.id, CallLog.started_at >= start).scalar(as_tuple=True))
    return Usage(seconds=int(seconds or 0), calls=int(calls or 0), limit=plans.limits_for(user).voice_minutes)


def usage_json(usage: Usage) -> dict:
    """``{"minutesUsed", "minuteLimit", "remaining"}`` as spec page 10 shows them (null when unlimited)."""
    return {"minutesUsed": usage.minutes_used, "minuteLimit": usage.limit, "remaining": usage.remaining}
