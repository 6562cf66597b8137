"""connections.credentials: stored secrets that cannot be decrypted any more (ENCRYPTION_KEY rotated without the
old key, a damaged value) are treated as none, logged without the value, and the connection says to reconnect."""
from __future__ import annotations

import logging

import pytest

from app.models import Integration
from app.security import Encryptor
from app.services.integrations import connections
from tests import factories
from tests.web.conftest import data

OTHER_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXkhISE="      # 32 bytes, not the app's key


def _feed(user, credentials: str | None) -> Integration:
    return factories.connection(user, provider="ics", label="Feed", server_url="https://example.com/…",
                                credentials=credentials)


def test_readable_credentials_come_back_as_stored(app, make_user):
    user = make_user()
    with data(app):
        row = _feed(user, connections.sealed({"url": "https://example.com/private.ics"}))
        assert connections.credentials(row) == {"url": "https://example.com/private.ics"}
        assert connections.credentials(_feed(user, None)) == {}
        assert Integration.get_by_id(row.id).status == "connected"


@pytest.mark.parametrize("kind", ["garbage", "other key", "not json", "not an object"])
def test_unreadable_credentials_are_none_logged_without_the_value_and_marked(app, make_user, kind, caplog):
    user = make_user()
    with data(app):
        value = {"garbage": "v1:nokey:AAAA", "other key": Encryptor(OTHER_KEY).encrypt('{"url": "x"}'),
                 "not json": connections._encryptor().encrypt("not json"),
                 "not an object": connections._encryptor().encrypt('["x"]')}[kind]
        row = _feed(user, value)
        caplog.set_level(logging.WARNING)
        assert connections.read_credentials(row) is None
        assert Integration.get_by_id(row.id).status == "connected"          # reading alone changes nothing
        assert connections.credentials(row) == {}
        assert connections.credentials(row).get("url") is None              # calendars.connect_ics's duplicate check
        stored = Integration.get_by_id(row.id)
        assert stored.status == "error" and stored.last_error == connections.UNREADABLE_MESSAGE
        assert stored.credentials == value                                  # kept: a restored key reads it again
    messages = [r.getMessage() for r in caplog.records]
    assert any("cannot be read" in m and row.id in m for m in messages)
    assert all(value not in m and value.split(":")[-1] not in m for m in messages)


def test_a_revoked_connection_is_not_marked(app, make_user):
    user = make_user()
    with data(app):
        row = _feed(user, "garbage")
        Integration.update(status="revoked").where(Integration.id == row.id).execute()
        assert connections.credentials(Integration.get_by_id(row.id)) == {}
        assert Integration.get_by_id(row.id).status == "revoked"


@pytest.mark.parametrize("provider", ["ics", "caldav"])
def test_busy_read_with_unreadable_credentials_says_so_and_asks_nothing(app, make_user, feed_server, provider):
    from datetime import UTC, datetime

    from app.models import CalendarBusyCache
    from app.services.integrations import calendars

    user = make_user()
    with data(app):
        row = factories.connection(user, provider=provider, label="Cal", server_url=feed_server.url,
                                   credentials="v1:nokey:AAAA")
        cal = factories.connection_calendar(row, remote_id="/alice/cal/", name="Cal", check_conflicts=True)
        window = calendars.windows(datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 1, 7, tzinfo=UTC))
        calendars.fetch_windows(row, [cal], window)
        [cached] = CalendarBusyCache.select().where(CalendarBusyCache.calendar == cal)
        assert cached.error == connections.UNREADABLE_MESSAGE and cached.fetched_at is None
        stored = Integration.get_by_id(row.id)
        assert stored.status == "error" and stored.last_error == connections.UNREADABLE_MESSAGE
    assert feed_server.requests == []          # no empty login, no feed read
