"""Dashboard → Calls: the list on the viewer's clock (agent, direction, caller, duration, status, outcome,
booking link), its filters as an htmx partial and as a plain GET, a call's detail with its transcript (or when it
was deleted) and booking; another account's call is a 404 and never listed."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.models import VoiceAgent
from tests import factories
from tests.conftest import login
from tests.outbound_fixtures import call_log
from tests.web.conftest import data as in_db

HTMX = {"HX-Request": "true", "HX-Target": "call-results"}
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
        sales = VoiceAgent.create(user=host, name="Sales Agent", elevenlabs_agent_id="agent_sales")
        support = VoiceAgent.create(user=host, name="Support Desk", elevenlabs_agent_id="agent_support")
        booking = factories.booking_row(factories.event_type(host), T0 + timedelta(days=5), name="Ivan Invitee")
        calls = {
            "booked": call_log(host, T0, agent=sales, outcome="booking_created", booking=booking, duration=142),
            "failed": call_log(host, T0 + timedelta(days=1), agent=support, status="FAILED", outcome=None,
                               duration=0, transcript=None),
            "reminder": call_log(host, T0 + timedelta(days=2), agent=sales, direction="outbound",
                                 status="NO_ANSWER", outcome="no_action", call_type="reminder",
                                 caller_phone="+14155550123", booking=booking, duration=0),
            "old": call_log(host, T0 - timedelta(days=100), agent=sales, transcript=None,
                            transcript_deleted_at=T0),
        }
        theirs = VoiceAgent.create(user=other, name="Olga Agent", elevenlabs_agent_id="agent_olga")
        calls["theirs"] = call_log(other, T0, agent=theirs, caller_phone="+14155559999")
    return calls, booking


def text(response) -> str:
    return response.get_data(as_text=True)


def listed(page: str) -> list[str]:
    return re.findall(r'<tr id="call-([^"]+)"', page)


def test_the_page_needs_a_signed_in_user(client):
    response = client.get("/dashboard/calls")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_list_shows_the_accounts_calls_newest_first_on_the_viewers_clock(signed_in, seeded):
    calls, booking = seeded
    page = text(signed_in.get("/dashboard/calls"))
    assert re.search(r'<a href="/dashboard/calls" aria-current="page">Calls</a>', page)
    assert listed(page) == [calls[k].id for k in ("reminder", "failed", "booked", "old")]
    assert calls["theirs"].id not in page and "Olga Agent" not in page and "+14155559999" not in page
    row = page.split(f'id="call-{calls["booked"].id}"')[1].split("</tr>")[0]
    assert "17:30" in row and "2 Mar" in row                     # New York time, not UTC
    assert "Sales Agent" in row and "Inbound" in row and "+14155551234" in row and "2:22" in row
    assert "Completed" in row and "Booking created" in row
    assert f'href="/dashboard/bookings/{booking.id}"' in row
    reminder = page.split(f'id="call-{calls["reminder"].id}"')[1].split("</tr>")[0]
    assert "Outbound" in reminder and "reminder" in reminder and "No answer" in reminder


@pytest.mark.parametrize("query, expected", [
    ("status=FAILED", ["failed"]),
    ("status=COMPLETED", ["booked", "old"]),
    ("outcome=no_action", ["reminder"]),
    ("from=2026-03-03&to=2026-03-03", ["failed"]),          # New York days: the 3rd is 05:00 UTC 3rd - 05:00 4th
    ("from=2026-03-02", ["reminder", "failed", "booked"]),
])
def test_filters_work_as_a_plain_get_and_as_an_htmx_partial(signed_in, seeded, query, expected):
    calls, _ = seeded
    full = text(signed_in.get(f"/dashboard/calls?{query}"))
    assert "<html" in full and listed(full) == [calls[k].id for k in expected]
    partial = signed_in.get(f"/dashboard/calls?{query}", headers=HTMX)
    body = text(partial)
    assert "<html" not in body and body.lstrip().startswith('<div id="call-results">')
    assert listed(body) == [calls[k].id for k in expected]
    assert "HX-Request" in partial.headers["Vary"]


def test_the_agent_filter_lists_the_accounts_agents_only(signed_in, seeded, app, host):
    calls, _ = seeded
    with in_db(app):
        support = VoiceAgent.get(VoiceAgent.name == "Support Desk")
        theirs = VoiceAgent.get(VoiceAgent.name == "Olga Agent")
    page = text(signed_in.get(f"/dashboard/calls?agent={support.id}"))
    assert listed(page) == [calls["failed"].id]
    assert f'value="{theirs.id}"' not in page
    assert len(listed(text(signed_in.get(f"/dashboard/calls?agent={theirs.id}")))) == 4    # ignored: all calls


def test_a_bad_date_says_so_and_filters_nothing(signed_in, seeded):
    page = text(signed_in.get("/dashboard/calls?from=03/02/2026"))
    assert "Enter a date such as 2026-03-01." in page and len(listed(page)) == 4
    page = text(signed_in.get("/dashboard/calls?from=2026-03-05&to=2026-03-01"))
    assert "The end date is before the start date." in page


def test_no_calls_says_so(signed_in):
    page = text(signed_in.get("/dashboard/calls"))
    assert 'id="no-calls"' in page and "No calls yet" in page
    assert "No calls match these filters" in text(signed_in.get("/dashboard/calls?status=FAILED"))


def test_paging(signed_in, app, host):
    with in_db(app):
        for n in range(27):
            call_log(host, T0 + timedelta(minutes=n))
    first = text(signed_in.get("/dashboard/calls?status=COMPLETED"))
    assert len(listed(first)) == 25 and "Page 1 of 2" in first
    assert 'href="/dashboard/calls?page=2&amp;status=COMPLETED"' in first
    assert len(listed(text(signed_in.get("/dashboard/calls?page=2&status=COMPLETED")))) == 2
    assert len(listed(text(signed_in.get("/dashboard/calls?page=9")))) == 2              # past the end: the last


def test_the_detail_shows_the_transcript_and_the_booking(signed_in, seeded):
    calls, booking = seeded
    page = text(signed_in.get(f"/dashboard/calls/{calls['booked'].id}"))
    assert "Agent: Hi! I&#39;m an AI assistant." in page and "Caller: I&#39;d like to book." in page
    assert f'href="/dashboard/bookings/{booking.id}"' in page and "Ivan Invitee" in page
    assert "Booking created" in page and "2:22" in page and "Sales Agent" in page
    assert "17:30" in page


def test_a_deleted_transcript_says_after_how_many_days(signed_in, seeded, app):
    calls, _ = seeded
    page = text(signed_in.get(f"/dashboard/calls/{calls['old'].id}"))
    assert 'id="transcript-deleted"' in page
    assert f"Deleted after {app.config['VOICE_TRANSCRIPT_RETENTION_DAYS']} days" in page
    assert "No transcript was recorded" in text(signed_in.get(f"/dashboard/calls/{calls['failed'].id}"))


def test_another_accounts_call_is_a_404(signed_in, seeded):
    calls, _ = seeded
    assert signed_in.get(f"/dashboard/calls/{calls['theirs'].id}").status_code == 404
    assert signed_in.get("/dashboard/calls/nope").status_code == 404
