"""The monthly message pool (spec page 11): the replies an account's messaging agents send in a calendar month (UTC),
shared by SMS and WhatsApp; Free 0, Pro 100, Business 500, Organization unlimited (``plans.monthly_messages``,
None = unlimited). An exhausted pool answers customers with the booking URL instead of the agent."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import Conversation, ConversationMessage
from app.services import plans
from app.services.voice.usage import period_key, period_start

__all__ = ["Pool", "period_key", "pool_for"]


@dataclass(frozen=True)
class Pool:
    used: int
    limit: int | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def pool_for(user, now: datetime | None = None) -> Pool:
    used = (ConversationMessage.select().join(Conversation)
            .where(Conversation.user == user.id, ConversationMessage.by_agent,
                   ConversationMessage.direction == "outbound",
                   ConversationMessage.created_at >= period_start(now)).count())
    return Pool(used=used, limit=plans.limits_for(user).monthly_messages)
