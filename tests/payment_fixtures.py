"""Fixtures of the paid-booking tests (a pytest plugin of tests/conftest.py): the local Stripe and PayPal fakes,
one per test module, and the time the tests book."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.paypal import PayPalFake
from tests.fakes.stripe import StripeFake

BERLIN = ZoneInfo("Europe/Berlin")


def next_tuesday(hour: int = 10) -> datetime:
    """Tuesday of next week at ``hour`` in Berlin (the hosts' zone), as UTC: inside every default window."""
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour), BERLIN).astimezone(UTC)


@pytest.fixture(scope="module")
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def paypal_fake():
    fake = PayPalFake()
    fake.start()
    yield fake
    fake.stop()
