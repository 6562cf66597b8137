"""Messaging agents (issue 22): the reply to one inbound text, produced off the webhook (a slow model never meets
Twilio's 15-second limit). Retried on a transient failure (Twilio's 429/5xx/timeouts, or a model error the engine
raises): a retry sends only the texts still pending and never asks the model twice (``inbound.reply``).

The task runs on the agents lane (``app/queue.py``, "linktime-agents", AGENT_WORKERS threads): it waits on the model,
which can take 10 s or more, or hang until its timeout, so a burst of customers texting a slow model holds only agent
workers, never the main lane's workers that send everybody's email, calendar writes and meetings. The texts it
produces are sent by the same task (``replies.deliver_pending``, right after the model's answer and on its retries):
one task per inbound message keeps "never ask the model twice, never text twice" in one place."""
from __future__ import annotations

from app.queue import enqueue, huey
from app.services.messaging import inbound
from tasks.base import app_task

REPLY_RETRIES = 5
REPLY_RETRY_DELAY = 20          # seconds


@app_task(lane="agents", retries=REPLY_RETRIES, retry_delay=REPLY_RETRY_DELAY)
def reply_to_message(message_id: str) -> None:
    inbound.reply(message_id)


@huey.task(name=inbound.REPLY_TASK)
def reply_queued_on_the_main_lane(message_id: str) -> None:
    """A reply queued on the main lane by a version before the agents lane: handed to the agents lane (not
    answered here), so an upgrade with replies still queued loses none and never asks the model on the main lane."""
    enqueue(inbound.REPLY_TASK, message_id)
