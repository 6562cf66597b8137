"""Fixtures of the webhook tests (a pytest plugin registered in tests/conftest.py, so test modules need not import
fixtures from each other, which ruff reports as redefinitions)."""
from __future__ import annotations

import pytest

from tests.fakes.webhooks import ManualQueue, WebhookReceiver


@pytest.fixture
def receiver():
    """A real webhook receiver on loopback that records and verifies what arrives (``tests.fakes.webhooks``)."""
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def queue(monkeypatch):
    """The queue switched off: outbox rows run only when the test runs them (``ManualQueue.run_due``)."""
    return ManualQueue(monkeypatch)
