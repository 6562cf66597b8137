"""Numbers that texted STOP (spec pages 11 and 12): never texted, never called by an AI agent, until they text
START. Shared by the workflows' SMS action, the voice agents' outbound calls and texts, and the messaging agents."""
from __future__ import annotations

from app.db import transaction
from app.models.base import utcnow
from app.models.workflows import SmsOptOut
from app.statements import Param, Statement

_OPTED_OUT = Statement(lambda: SmsOptOut.select(SmsOptOut.phone).where(SmsOptOut.phone == Param("phone")).limit(1))


def opted_out(phone: str) -> bool:
    return _OPTED_OUT.scalar(phone=phone) is not None


def opt_out(phone: str) -> None:
    """Record that ``phone`` (E.164) texted STOP; doing it again changes nothing."""
    with transaction():
        SmsOptOut.insert(phone=phone, opted_out_at=utcnow()).on_conflict_ignore().execute()


def opt_in(phone: str) -> None:
    """``phone`` texted START: it may be texted again (nothing happens if it never opted out)."""
    with transaction():
        SmsOptOut.delete().where(SmsOptOut.phone == phone).execute()
