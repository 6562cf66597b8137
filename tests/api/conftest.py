"""Shared helpers of the JSON API tests: API keys, authenticated calls, seeded bookings and contacts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import EventType
from app.services.developer import api_keys
from app.services.scheduling import event_types as et_service
from app.services.scheduling.slots import available_slots
from tests import factories


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def new_key(app, user, name="test") -> str:
    return in_db(app, api_keys.create_api_key, user, name)[1]


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def event_type_of(app, user, slug="30-min") -> EventType:
    return in_db(app, EventType.get, (EventType.user == user) & (EventType.slug == slug))


def future_slots(app, event_type, count: int, days: int = 21, now: datetime | None = None) -> list[datetime]:
    """The next ``count`` bookable starts of the event type after ``now`` (default: the real clock, which
    the API uses). Pass a ``now`` in the past to make bookings that are over by today."""
    def find():
        clock = now or datetime.now(UTC)
        return available_slots(EventType.get_by_id(event_type.id), clock + timedelta(hours=2),
                               clock + timedelta(days=days), now=clock)
    slots = in_db(app, find)
    assert len(slots) >= count, "the default schedule offers too few slots"
    return slots[:count]


def book(app, event_type, start, email="ivan@example.com", name="Ivan Invitee", now=None):
    return in_db(app, lambda: factories.booking(EventType.get_by_id(event_type.id), start, email=email, name=name,
                                                now=now))


def add_contact(app, user, name, email, **extra):
    return in_db(app, factories.contact, user, name, email, **extra)


def add_event_type(app, user, **fields):
    return in_db(app, et_service.create_event_type, user, et_service.EventTypeInput(**fields))


@pytest.fixture
def pro_host(make_user):
    return make_user("hana", plan="PRO", timezone="America/New_York")


@pytest.fixture
def pro_key(app, pro_host):
    return new_key(app, pro_host)


@pytest.fixture
def api(client, pro_key):
    """``api.get(path, ...)`` etc. with the Pro host's key."""
    class Api:
        key = pro_key

        def __getattr__(self, method):
            def call(path, headers=None, **kwargs):
                return getattr(client, method)(path, headers={**bearer(pro_key), **(headers or {})}, **kwargs)
            return call
    return Api()
