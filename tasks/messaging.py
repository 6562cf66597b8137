"""Messaging agents (issue 22): the reply to one inbound text, produced off the webhook (a slow model never meets
Twilio's 15-second limit). Retried on a transient failure (Twilio's 429/5xx/timeouts, or a model error the engine
raises): a retry sends only the texts still pending and never asks the model twice (``inbound.reply``)."""
from __future__ import annotations

from app.services.messaging import inbound
from tasks.base import app_task

REPLY_RETRIES = 5
REPLY_RETRY_DELAY = 20          # seconds


@app_task(retries=REPLY_RETRIES, retry_delay=REPLY_RETRY_DELAY)
def reply_to_message(message_id: str) -> None:
    inbound.reply(message_id)
