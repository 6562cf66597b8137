"""Call logs: the list and its filters, and the daily deletion of transcripts after
VOICE_TRANSCRIPT_RETENTION_DAYS (the call stays, ``transcript_deleted_at`` says when)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import CallLog, VoiceAgent
from app.services.errors import NotFound
from app.services.voice import call_logs
from app.services.voice.call_logs import CallFilter
from tests.outbound_fixtures import call_log

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(app):
    from app.db import db

    with app.app_context(), db.connection_context():
        yield app


def test_transcripts_older_than_the_retention_are_deleted(ctx, make_user):
    host = make_user("hana", plan="PRO")
    old = call_log(host, NOW - timedelta(days=91))
    edge = call_log(host, NOW - timedelta(days=89, hours=23))
    gone_already = call_log(host, NOW - timedelta(days=200), transcript=None)
    assert call_logs.delete_old_transcripts(NOW) == 1
    old, edge, gone_already = (CallLog.get_by_id(c.id) for c in (old, edge, gone_already))
    assert old.transcript is None and old.transcript_deleted_at == NOW
    assert old.duration_seconds == 142 and old.status == "COMPLETED"           # the call itself stays
    assert edge.transcript and edge.transcript_deleted_at is None
    assert gone_already.transcript_deleted_at is None
    assert call_logs.delete_old_transcripts(NOW) == 0                          # running twice changes nothing


def test_the_retention_is_a_setting(app_factory, make_user):
    from app.db import db

    app = app_factory(VOICE_TRANSCRIPT_RETENTION_DAYS=7)
    with app.app_context(), db.connection_context():
        host = make_user("hana", plan="PRO")
        week_old = call_log(host, NOW - timedelta(days=8))
        assert call_logs.delete_old_transcripts(NOW) == 1
        assert CallLog.get_by_id(week_old.id).transcript is None


def test_the_task_is_daily_and_registered(app):
    import tasks
    from tasks.call_logs import delete_old_call_transcripts

    tasks.load_all()
    runs = [(hour, minute) for hour in range(24) for minute in range(60)
            if delete_old_call_transcripts.task_class().validate_datetime(datetime(2026, 12, 7, hour, minute))]
    assert len(runs) == 1


def test_the_task_runs_in_its_own_thread(app, make_user):
    """As the consumer runs it: in a thread that opens the app's context and a connection itself."""
    from concurrent.futures import ThreadPoolExecutor

    from app.db import db
    from tasks.call_logs import delete_old_call_transcripts

    host = make_user("hana", plan="PRO")
    with app.app_context(), db.connection_context():
        old = call_log(host, datetime.now(UTC) - timedelta(days=120))
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(delete_old_call_transcripts.call_local).result(timeout=60) == 1
    with app.app_context(), db.connection_context():
        assert CallLog.get_by_id(old.id).transcript_deleted_at is not None


def test_the_list_filters_and_pages_one_accounts_calls(ctx, make_user):
    host, other = make_user("hana", plan="PRO"), make_user("olga", plan="PRO")
    sales = VoiceAgent.create(user=host, name="Sales", elevenlabs_agent_id="agent_s")
    support = VoiceAgent.create(user=host, name="Support", elevenlabs_agent_id="agent_t")
    a = call_log(host, NOW - timedelta(days=3), agent=sales, outcome="booking_created")
    b = call_log(host, NOW - timedelta(days=2), agent=support, status="FAILED", outcome=None)
    c = call_log(host, NOW - timedelta(days=1), agent=sales, direction="outbound", status="NO_ANSWER",
                 outcome="no_action")
    call_log(other, NOW, agent=None)
    ids = lambda f, **kw: [row.id for row in call_logs.list_calls(host, f, **kw)[1]]  # noqa: E731
    assert ids(CallFilter()) == [c.id, b.id, a.id]
    assert ids(CallFilter(status="FAILED")) == [b.id]
    assert ids(CallFilter(outcome="booking_created")) == [a.id]
    assert ids(CallFilter(agent_id=sales.id)) == [c.id, a.id]
    assert ids(CallFilter(direction="outbound")) == [c.id]
    assert ids(CallFilter(start=NOW - timedelta(days=2), end=NOW - timedelta(days=1))) == [b.id]
    assert ids(CallFilter(), page=2, limit=2) == [a.id]
    assert call_logs.list_calls(host, CallFilter(), page=2, limit=2)[0] == 3
    with pytest.raises(NotFound):
        call_logs.get_call(other, a.id)


def test_durations_read_as_minutes_and_seconds():
    assert [call_logs.duration_text(s) for s in (0, 59, 142, 3723)] == ["0:00", "0:59", "2:22", "1:02:03"]
