"""The operator's kill switch of the messaging agents: ``/api/admin/messaging/kill``, ``/resume``, ``/status``
(issue 22), behind ``X-Admin-Secret`` = ``ADMIN_KILL_SECRET``; the state is in the database for every process."""
from __future__ import annotations

import pytest

from app.db import db
from app.models import AuditLog
from app.models.messaging import MessagingCircuit
from app.services.messaging import inbound

SECRET = "kill-secret-0123456789"
KILL, RESUME, STATUS = "/api/admin/messaging/kill", "/api/admin/messaging/resume", "/api/admin/messaging/status"
OK = {"X-Admin-Secret": SECRET}


@pytest.fixture
def app(app_factory):
    return app_factory(ADMIN_KILL_SECRET=SECRET, BASE_URL="https://cal.example.com")


def in_db(app, fn, *args):
    with app.app_context(), db.connection_context():
        return fn(*args)


def test_status_kill_resume(app, client):
    status = client.get(STATUS, headers=OK)
    assert status.status_code == 200
    assert status.json == {"killed": False, "killedAt": None, "settingEnabled": True, "answering": True}

    killed = client.post(KILL, headers=OK)
    assert killed.status_code == 200 and killed.json["killed"] is True and killed.json["answering"] is False
    first_time = killed.json["killedAt"]
    assert first_time and client.post(KILL, headers=OK).json["killedAt"] == first_time     # killing twice
    assert in_db(app, inbound.killed)
    assert client.get(STATUS, headers=OK).json["killed"] is True

    resumed = client.post(RESUME, headers=OK)
    assert resumed.status_code == 200 and resumed.json["killed"] is False and resumed.json["answering"] is True
    assert not in_db(app, inbound.killed)
    actions = in_db(app, lambda: [a.action for a in AuditLog.select().order_by(AuditLog.created_at)])
    assert actions.count("admin.messaging_killed") == 2 and actions.count("admin.messaging_resumed") == 1


def test_the_state_is_in_the_database_for_every_process(app, app_factory, client):
    client.post(KILL, headers=OK)
    row = in_db(app, MessagingCircuit.get_by_id, inbound.KILL_SWITCH_ID)
    assert row.opened_at is not None
    other = app_factory(ADMIN_KILL_SECRET=SECRET)                       # another process's app, same database
    assert other.test_client().get(STATUS, headers=OK).json["killed"] is True


def test_the_setting_off_shows_in_the_status(app_factory):
    client = app_factory(ADMIN_KILL_SECRET=SECRET, MESSAGING_AGENT_ENABLED=False).test_client()
    assert client.get(STATUS, headers=OK).json == {"killed": False, "killedAt": None, "settingEnabled": False,
                                                   "answering": False}


@pytest.mark.parametrize("headers", [{}, {"X-Admin-Secret": ""}, {"X-Admin-Secret": SECRET + "x"},
                                     {"X-Admin-Secret": SECRET[:-1]}, {"Authorization": f"Bearer {SECRET}"}])
def test_a_wrong_or_missing_secret_is_refused(app, client, headers):
    for method, path in (("post", KILL), ("post", RESUME), ("get", STATUS)):
        assert getattr(client, method)(path, headers=headers).status_code == 403
    assert not in_db(app, inbound.killed)


def test_repeated_wrong_secrets_make_the_client_wait(app, client):
    answers = [client.post(KILL, headers={"X-Admin-Secret": "wrong-secret"}).status_code for _ in range(7)]
    assert answers[:5] == [403] * 5 and 429 in answers[5:]
    response = client.post(KILL, headers=OK)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert not in_db(app, inbound.killed)


def test_without_the_setting_the_endpoints_are_absent(app_factory):
    client = app_factory(ADMIN_KILL_SECRET="").test_client()
    for method, path in (("post", KILL), ("post", RESUME), ("get", STATUS)):
        assert getattr(client, method)(path, headers=OK).status_code == 404


def test_no_csrf_token_is_needed(app_factory):
    client = app_factory(ADMIN_KILL_SECRET=SECRET, WTF_CSRF_ENABLED=True).test_client()
    assert client.post(KILL, headers=OK).status_code == 200
    assert client.post(RESUME, headers=OK).status_code == 200
