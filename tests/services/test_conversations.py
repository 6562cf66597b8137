"""Conversations: the list and its filters (phone in any spelling, channel, agent, state, dates, paging), one
account's only, the API's shape with the most recent 50 messages in time order, and the daily deletion of messages
after MESSAGING_RETENTION_DAYS (the content is emptied; the message row, the conversation and its booking stay)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Conversation, ConversationMessage
from app.services.errors import NotFound
from app.services.messaging import conversations
from app.services.messaging.conversations import ConversationFilter
from tests import factories
from tests.conversation_fixtures import conversation, message, messaging_agent

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(app):
    from app.db import db

    with app.app_context(), db.connection_context():
        yield app


def test_the_list_filters_and_pages_one_accounts_conversations(ctx, make_user):
    host, other = make_user("hana", plan="PRO"), make_user("olga", plan="PRO")
    sarah = messaging_agent(host, "Sarah")
    walt = messaging_agent(host, "Walt", channel="whatsapp")
    a = conversation(host, NOW - timedelta(days=3), agent=sarah, state="booked")
    b = conversation(host, NOW - timedelta(days=2), agent=walt, channel="whatsapp", contact_phone="+447911123456")
    c = conversation(host, NOW - timedelta(days=1), agent=sarah, contact_phone="+14155559876", state="datetime")
    theirs = conversation(other, NOW, contact_phone="+14155551234")
    ids = lambda f, **kw: [row.id for row in conversations.list_conversations(host, f, **kw)[1]]  # noqa: E731
    assert ids(ConversationFilter()) == [c.id, b.id, a.id]
    assert ids(ConversationFilter(phone="+14155551234")) == [a.id]
    assert ids(ConversationFilter(channel="whatsapp")) == [b.id]
    assert ids(ConversationFilter(agent_id=sarah.id)) == [c.id, a.id]
    assert ids(ConversationFilter(state="booked")) == [a.id]
    assert ids(ConversationFilter(start=NOW - timedelta(days=2), end=NOW - timedelta(days=1))) == [b.id]
    assert ids(ConversationFilter(), page=2, limit=2) == [a.id]
    assert conversations.list_conversations(host, ConversationFilter(), page=2, limit=2)[0] == 3
    assert conversations.get_conversation(host, a.id).id == a.id
    with pytest.raises(NotFound):
        conversations.get_conversation(host, theirs.id)
    with pytest.raises(NotFound):
        conversations.get_conversation(other, a.id)


@pytest.mark.parametrize("typed, e164", [
    ("+14155551234", "+14155551234"), ("(415) 555-1234", "+14155551234"), ("+1 415-555-1234", "+14155551234"),
    (" 447911123456", "+447911123456"),             # "+447911123456" sent unencoded in a query string
    ("whatsapp:+447911123456", "+447911123456"),
    ("12", None), ("not a number", None), ("", None), (None, None),
])
def test_phones_are_normalised_to_e164(typed, e164):
    assert conversations.parse_phone(typed) == e164


def test_the_api_shape_is_page_23s_with_the_latest_50_messages_in_time_order(ctx, make_user):
    host = make_user("hana", plan="PRO")
    long = conversation(host, NOW, messages=60)
    short = conversation(host, NOW - timedelta(hours=1), channel="whatsapp", messages=[
        ("inbound", "Hi, can I book for Tuesday?", NOW - timedelta(hours=1, minutes=2)),
        ("outbound", "Sure! Which meeting?", NOW - timedelta(hours=1))])
    recent = conversations.recent_messages([long, short])
    assert [m.content for m in recent[long.id]] == [f"Message {n}" for n in range(11, 61)]
    body = conversations.conversation_json(short, recent[short.id])
    assert body == {"id": short.id, "contactPhone": "+14155551234", "channel": "whatsapp", "messages": [
        {"content": "Hi, can I book for Tuesday?", "direction": "inbound", "timestamp": "2026-06-01T10:58:00.000Z"},
        {"content": "Sure! Which meeting?", "direction": "outbound", "timestamp": "2026-06-01T11:00:00.000Z"}]}
    assert len(conversations.conversation_json(long, recent[long.id])["messages"]) == 50
    assert conversations.recent_messages([]) == {}


def test_deleted_messages_are_left_out_of_the_api_but_kept_for_the_thread(ctx, make_user):
    host = make_user("hana", plan="PRO")
    row = conversation(host, NOW, messages=[("inbound", None, NOW - timedelta(days=100)),
                                            ("outbound", None, NOW - timedelta(days=100)),
                                            ("inbound", "Still there?", NOW)])
    assert [m.content for m in conversations.recent_messages([row])[row.id]] == ["Still there?"]
    assert len(conversations.recent_messages([row], with_deleted=True)[row.id]) == 3
    assert [m.content for m in conversations.messages_of(row)] == [None, None, "Still there?"]
    assert conversations.message_counts([row]) == {row.id: 3}


def test_messages_older_than_the_retention_are_emptied_and_the_rest_stays(ctx, make_user):
    host = make_user("hana", plan="PRO")
    booking = factories.booking_row(factories.event_type(host), NOW + timedelta(days=2))
    row = conversation(host, NOW - timedelta(days=89), state="booked", booking=booking, data={"name": "Ivan"},
                       messages=[("inbound", "Book me", NOW - timedelta(days=91)),
                                 ("outbound", "Booked!", NOW - timedelta(days=90, seconds=1)),
                                 ("inbound", "Thanks", NOW - timedelta(days=89, hours=23))])
    old_in, old_out, edge = conversations.messages_of(row)
    ConversationMessage.update(cost_micros=1234).where(ConversationMessage.id == old_out.id).execute()
    assert conversations.delete_old_messages(NOW) == 2
    old_in, old_out, edge = (ConversationMessage.get_by_id(m.id) for m in (old_in, old_out, edge))
    assert old_in.content is None and old_out.content is None and edge.content == "Thanks"
    assert old_out.by_agent and old_out.cost_micros == 1234 and old_out.direction == "outbound"   # rows stay
    kept = Conversation.get_by_id(row.id)
    assert kept.booking_id == booking.id and kept.state == "booked" and kept.data == {"name": "Ivan"}
    assert conversations.delete_old_messages(NOW) == 0                         # running twice changes nothing


def test_the_retention_is_a_setting(app_factory, make_user):
    from app.db import db

    app = app_factory(MESSAGING_RETENTION_DAYS=7)
    with app.app_context(), db.connection_context():
        host = make_user("hana", plan="PRO")
        row = conversation(host, NOW - timedelta(days=8), messages=1)
        assert conversations.delete_old_messages(NOW) == 1
        assert conversations.messages_of(row)[0].content is None


def test_deletion_goes_in_batches(ctx, make_user, monkeypatch):
    monkeypatch.setattr(conversations, "DELETE_BATCH", 3)
    host = make_user("hana", plan="PRO")
    row = conversation(host, NOW - timedelta(days=200), messages=7)
    message(row, "inbound", "New", NOW)
    assert conversations.delete_old_messages(NOW) == 7
    assert [m.content for m in conversations.messages_of(row)] == [None] * 7 + ["New"]


def test_the_task_is_daily_and_registered(app):
    import tasks
    from tasks.conversation_retention import delete_old_conversation_messages

    tasks.load_all()
    assert "tasks.conversation_retention.delete_old_conversation_messages" in {
        type(task).__module__ + "." + type(task).__name__ for task in tasks.huey._registry.periodic_tasks}
    runs = [(hour, minute) for hour in range(24) for minute in range(60)
            if delete_old_conversation_messages.task_class().validate_datetime(datetime(2026, 12, 7, hour, minute))]
    assert len(runs) == 1


def test_the_task_runs_in_its_own_thread(app, make_user):
    """As the consumer runs it: in a thread that opens the app's context and a connection itself."""
    from concurrent.futures import ThreadPoolExecutor

    from app.db import db
    from tasks.conversation_retention import delete_old_conversation_messages

    host = make_user("hana", plan="PRO")
    with app.app_context(), db.connection_context():
        row = conversation(host, datetime.now(UTC) - timedelta(days=120), messages=2)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(delete_old_conversation_messages.call_local).result(timeout=60) == 2
    with app.app_context(), db.connection_context():
        assert [m.content for m in conversations.messages_of(row)] == [None, None]


def test_the_dialogue_facts_read_as_labels(ctx, make_user):
    host = make_user("hana", plan="PRO")
    row = conversation(host, NOW, data={"event_type_name": "Consultation", "date": "2026-06-02", "email": "",
                                        "name": "Ivan", "extra_thing": ["a", "b"], "nothing": None})
    assert conversations.dialogue_facts(row) == [("Date", "2026-06-02"), ("Meeting type", "Consultation"),
                                                 ("Extra thing", "a, b"), ("Name", "Ivan")]
