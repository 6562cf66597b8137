"""Dashboard → Conversations: the threads on the viewer's clock (customer phone, channel, agent, state, message
count, booking link), its filters as an htmx partial and as a plain GET, a thread's page with its messages (a
deleted one says after how many days), the booking dialogue's state and the booking it led to; another account's
conversation is a 404 and never listed."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.models import MessagingAgent
from tests import factories
from tests.conftest import login
from tests.conversation_fixtures import conversation, messaging_agent
from tests.web.conftest import data as in_db

HTMX = {"HX-Request": "true", "HX-Target": "conversation-results"}
T0 = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)         # 17:30 in New York, 23:30 in Berlin


@pytest.fixture
def host(make_user):
    return make_user("hana", plan="PRO", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


@pytest.fixture
def seeded(app, host, make_user):
    other = make_user("olga", plan="PRO")
    with in_db(app):
        sarah = messaging_agent(host, "Sarah")
        walt = messaging_agent(host, "Walt", channel="whatsapp")
        booking = factories.booking_row(factories.event_type(host), T0 + timedelta(days=5), name="Ivan Invitee")
        rows = {
            "booked": conversation(host, T0, agent=sarah, state="booked", booking=booking,
                                   data={"event_type_name": "30 Minute Meeting", "name": "Ivan Invitee",
                                         "email": "ivan@example.com"},
                                   messages=[("inbound", "Hi, can I book a call?", T0 - timedelta(minutes=5)),
                                             ("outbound", "Sure! I'm Sarah, an AI assistant.", T0)]),
            "whatsapp": conversation(host, T0 + timedelta(days=1), agent=walt, channel="whatsapp",
                                     contact_phone="+447911123456", state="datetime"),
            "old": conversation(host, T0 - timedelta(days=100), agent=sarah, contact_phone="+14155550123",
                                state="closed", messages=[("inbound", None, T0 - timedelta(days=101)),
                                                          ("outbound", None, T0 - timedelta(days=100))]),
        }
        theirs = messaging_agent(other, "Olga Agent")
        rows["theirs"] = conversation(other, T0, agent=theirs, contact_phone="+14155559999",
                                      messages=[("inbound", "Olga's secret", T0)])
    return rows, booking


def text(response) -> str:
    return response.get_data(as_text=True)


def listed(page: str) -> list[str]:
    return re.findall(r'<tr id="conversation-([^"]+)"', page)


def test_the_page_needs_a_signed_in_user(client):
    response = client.get("/dashboard/conversations")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_list_shows_the_accounts_threads_latest_first_on_the_viewers_clock(signed_in, seeded):
    rows, booking = seeded
    page = text(signed_in.get("/dashboard/conversations"))
    assert re.search(r'<a href="/dashboard/conversations" aria-current="page">Conversations</a>', page)
    assert listed(page) == [rows[k].id for k in ("whatsapp", "booked", "old")]
    assert rows["theirs"].id not in page and "Olga Agent" not in page and "+14155559999" not in page
    row = page.split(f'id="conversation-{rows["booked"].id}"')[1].split("</tr>")[0]
    assert "17:30" in row and "2 Mar" in row                     # New York time, not UTC
    assert "+14155551234" in row and "SMS" in row and "Sarah" in row and "Booked" in row
    assert f'href="/dashboard/bookings/{booking.id}"' in row
    assert f'href="/dashboard/conversations/{rows["booked"].id}"' in row
    whatsapp = page.split(f'id="conversation-{rows["whatsapp"].id}"')[1].split("</tr>")[0]
    assert "WhatsApp" in whatsapp and "Walt" in whatsapp and "Choosing a time" in whatsapp
    assert "+447911123456" in whatsapp


@pytest.mark.parametrize("query, expected", [
    ("channel=whatsapp", ["whatsapp"]),
    ("state=booked", ["booked"]),
    ("phone=%2B14155550123", ["old"]),
    ("phone=(415)+555-0123", ["old"]),                    # typed as people write it
    ("phone=%2B44+7911+123456", ["whatsapp"]),
    ("from=2026-03-03&to=2026-03-03", ["whatsapp"]),      # New York days: the 3rd is 05:00 UTC 3rd - 05:00 4th
    ("to=2026-03-02", ["booked", "old"]),
    ("from=2026-03-02", ["whatsapp", "booked"]),
])
def test_filters_work_as_a_plain_get_and_as_an_htmx_partial(signed_in, seeded, query, expected):
    rows, _ = seeded
    full = text(signed_in.get(f"/dashboard/conversations?{query}"))
    assert "<html" in full and listed(full) == [rows[k].id for k in expected]
    partial = signed_in.get(f"/dashboard/conversations?{query}", headers=HTMX)
    body = text(partial)
    assert "<html" not in body and body.lstrip().startswith('<div id="conversation-results">')
    assert listed(body) == [rows[k].id for k in expected]
    assert "HX-Request" in partial.headers["Vary"]


def test_the_agent_filter_lists_the_accounts_agents_only(signed_in, seeded, app):
    rows, _ = seeded
    with in_db(app):
        walt = MessagingAgent.get(MessagingAgent.name == "Walt")
        theirs = MessagingAgent.get(MessagingAgent.name == "Olga Agent")
    page = text(signed_in.get(f"/dashboard/conversations?agent={walt.id}"))
    assert listed(page) == [rows["whatsapp"].id]
    assert f'value="{theirs.id}"' not in page
    assert len(listed(text(signed_in.get(f"/dashboard/conversations?agent={theirs.id}")))) == 3    # ignored


def test_bad_input_says_so_and_filters_nothing(signed_in, seeded):
    page = text(signed_in.get("/dashboard/conversations?from=03/02/2026"))
    assert "Enter a date such as 2026-03-01." in page and len(listed(page)) == 3
    page = text(signed_in.get("/dashboard/conversations?from=2026-03-05&to=2026-03-01"))
    assert "The end date is before the start date." in page
    page = text(signed_in.get("/dashboard/conversations?phone=call-me"))
    assert "Enter a phone number such as +14155551234." in page and 'aria-invalid="true"' in page
    assert len(listed(page)) == 3


def test_no_conversations_says_so(signed_in):
    page = text(signed_in.get("/dashboard/conversations"))
    assert 'id="no-conversations"' in page and "No conversations yet" in page
    assert "No conversations match these filters" in text(signed_in.get("/dashboard/conversations?state=booked"))


def test_paging(signed_in, app, host):
    with in_db(app):
        for n in range(27):
            conversation(host, T0 + timedelta(minutes=n), contact_phone=f"+1415555{n:04d}", messages=1)
    first = text(signed_in.get("/dashboard/conversations?channel=sms"))
    assert len(listed(first)) == 25 and "Page 1 of 2" in first
    assert 'href="/dashboard/conversations?page=2&amp;channel=sms"' in first
    assert len(listed(text(signed_in.get("/dashboard/conversations?page=2&channel=sms")))) == 2
    assert len(listed(text(signed_in.get("/dashboard/conversations?page=9")))) == 2      # past the end: the last


def test_the_thread_shows_its_messages_state_and_booking(signed_in, seeded):
    rows, booking = seeded
    page = text(signed_in.get(f"/dashboard/conversations/{rows['booked'].id}"))
    assert "Hi, can I book a call?" in page and "Sure! I&#39;m Sarah, an AI assistant." in page
    assert page.index("Hi, can I book a call?") < page.index("Sure! I&#39;m Sarah")        # time order
    assert "17:25" in page and "17:30" in page                                            # New York time
    assert 'aria-current="step"><strong>Booked</strong>' in page
    facts = page.split('id="dialogue-facts"')[1].split("</dl>")[0]
    assert "Meeting type" in facts and "30 Minute Meeting" in facts and "ivan@example.com" in facts
    booking_cell = page.split('id="conversation-booking"')[1].split("</dd>")[0]
    assert f'href="/dashboard/bookings/{booking.id}"' in booking_cell and "Ivan Invitee" in booking_cell
    assert "Sarah" in page and "+14155551234" in page and "SMS" in page


def test_deleted_messages_say_after_how_many_days(signed_in, seeded, app):
    rows, _ = seeded
    page = text(signed_in.get(f"/dashboard/conversations/{rows['old'].id}"))
    assert page.count(f"Deleted after {app.config['MESSAGING_RETENTION_DAYS']} days.") == 2
    assert "None yet" in page and "Closed" in page and 'id="dialogue-closed"' in page


def test_another_accounts_conversation_is_a_404(signed_in, seeded):
    rows, _ = seeded
    response = signed_in.get(f"/dashboard/conversations/{rows['theirs'].id}")
    assert response.status_code == 404 and "Olga&#39;s secret" not in text(response)
    assert signed_in.get("/dashboard/conversations/nope").status_code == 404
