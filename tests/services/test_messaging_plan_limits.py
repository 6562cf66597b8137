"""Page 11's plan limits, table-tested (issue 22 acceptance): messaging agents per channel (Free 0, Pro 2, Business
10, Organization 50, each channel counted on its own) and the one monthly message pool shared by SMS and WhatsApp
(Free 0, Pro 100, Business 500, Organization unlimited). Only the agents' own replies count: the booking URL sent
instead of the agent and WhatsApp booking notices do not."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent
from app.services.messaging import agents, notices
from app.services.messaging.pool import pool_for
from app.services.plans import PlanLimitReached
from tests import factories

TABLE = [("FREE", 0, 0), ("PRO", 2, 100), ("BUSINESS", 10, 500), ("ORGANIZATION", 50, None)]


@pytest.fixture
def ctx(app):
    from app.db import db

    with app.app_context(), db.connection_context():
        yield app


@pytest.mark.parametrize(("plan", "per_channel", "_pool"), TABLE)
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_agents_per_channel(ctx, plan, per_channel, _pool, channel):
    user = factories.user("hana", plan=plan)
    other = "whatsapp" if channel == "sms" else "sms"
    for index in range(per_channel):
        if index == per_channel - 1:
            agents.check_limit(user, channel)                 # the last place is still free
        MessagingAgent.create(user=user, name=f"Agent {index}", channel=channel, is_active=False)
    with pytest.raises(PlanLimitReached) as refused:
        agents.check_limit(user, channel)
    assert f"allows {per_channel} {agents.CHANNEL_LABELS[channel]} messaging agents" in str(refused.value)
    if per_channel:
        agents.check_limit(user, other)                       # the other channel has its own places
    deleted = MessagingAgent.select().where(MessagingAgent.user == user.id).first()
    if deleted is not None:                                   # a deleted agent frees its place
        MessagingAgent.update(deleted_at=utcnow()).where(MessagingAgent.id == deleted.id).execute()
        agents.check_limit(user, channel)


@pytest.mark.parametrize(("plan", "_per_channel", "pool"), TABLE)
def test_one_monthly_pool_shared_by_sms_and_whatsapp(ctx, plan, _per_channel, pool):
    user = factories.user("hana", plan=plan)
    for channel, replies in (("sms", 3), ("whatsapp", 2)):
        agent = MessagingAgent.create(user=user, name=channel, channel=channel, is_active=False)
        convo = Conversation.create(user=user, agent=agent, channel=channel, contact_phone="+14155550123",
                                    agent_phone="+14155550100")
        for _ in range(replies):
            ConversationMessage.create(conversation=convo, direction="outbound", content="reply", by_agent=True,
                                       status="sent")
        ConversationMessage.create(conversation=convo, direction="outbound", content="the booking URL",
                                   by_agent=False, status="sent")
        ConversationMessage.create(conversation=convo, direction="outbound", content="a booking notice",
                                   by_agent=False, status=notices.QUEUED)
        ConversationMessage.create(conversation=convo, direction="outbound", content="last month", by_agent=True,
                                   status="sent", created_at=utcnow().replace(day=1) - timedelta(days=1))
        ConversationMessage.create(conversation=convo, direction="inbound", content="hi", status="answered")
    used = pool_for(user)
    assert (used.used, used.limit) == (5, pool)
    assert used.exhausted is (pool is not None and pool <= 5)
    assert used.remaining == (None if pool is None else max(0, pool - 5))
