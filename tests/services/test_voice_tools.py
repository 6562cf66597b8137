"""Voice agents' tools (spec page 10 "Tool Webhooks") and the minutes lifecycle: the event types an agent offers,
slots spoken in the caller's zone, bookings through the booking service (idempotent per conversation), booking
details kept to the agent's account, auto-deactivation and the period reset."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, Contact, EventType, OutboxMessage
from app.models.organizations import Membership
from app.models.voice import CallLog, VoiceAgent, VoiceAgentEventType, VoicePeriodNotice, VoiceToolBooking
from app.services.voice import lifecycle, tools
from tests import call_fixtures, factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)       # Monday 08:00 New York
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)      # Tuesday 10:00 New York


@pytest.fixture
def host(make_user, db_conn):
    return make_user("emmanuel", timezone="America/New_York", name="Emmanuel Vidal", plan="PRO")


@pytest.fixture
def agent(host):
    return call_fixtures.agent(host)


def booking_body(**changes):
    body = {"event_type_slug": "30-min", "invitee_name": "John Doe", "invitee_email": "john@example.com",
            "start_time": "2026-06-02T14:00:00Z", "timezone": "America/New_York", "notes": "Wants to discuss Q3 plan",
            "invitee_phone": "+14155551234"}
    body.update(changes)
    return body


def test_agent_offers_active_non_secret_event_types_unless_some_are_linked(host, agent):
    factories.new_event_type(host, name="Consultation", slug="consultation", duration=60,
                             description="In-depth session")
    factories.new_event_type(host, name="Hidden", slug="hidden", is_secret=True)
    draft = factories.new_event_type(host, name="Draft", slug="draft")
    EventType.update(status="draft").where(EventType.id == draft.id).execute()
    assert sorted(et.slug for et in tools.agent_event_types(agent)) == ["30-min", "consultation"]
    items = sorted(tools.list_event_types(agent)["event_types"], key=lambda i: i["slug"])
    assert items == [
        {"slug": "30-min", "name": "30 Minute Meeting", "duration_minutes": 30,
         "description": EventType.get(EventType.slug == "30-min").description},
        {"slug": "consultation", "name": "Consultation", "duration_minutes": 60, "description": "In-depth session"}]
    VoiceAgentEventType.create(agent=agent, event_type=EventType.get(EventType.slug == "consultation"))
    assert [et.slug for et in tools.agent_event_types(agent)] == ["consultation"]
    with pytest.raises(tools.ToolError) as refused:
        tools.get_available_slots(agent, {"event_type_slug": "30-min", "date": "2026-06-02"}, now=NOW)
    assert refused.value.message == tools.UNKNOWN_TYPE


def test_list_event_types_answers_the_spec_shape(host, agent):
    [item] = tools.list_event_types(agent)["event_types"]
    assert set(item) == {"slug", "name", "duration_minutes", "description"}
    assert (item["slug"], item["duration_minutes"]) == ("30-min", 30)


def test_organization_agent_lists_every_members_types_with_their_names(host, make_user):
    from app.services.account import organizations

    member = make_user("maria", timezone="Europe/Madrid", name="Maria Lopez")
    org = organizations.create_organization(host, name="Studio", slug="studio")
    Membership.create(organization=org, user=member, role="MEMBER")
    factories.new_event_type(member, name="Portfolio review", slug="review", duration=45)
    org_agent = call_fixtures.agent(host, organization=org)
    items = tools.list_event_types(org_agent)["event_types"]
    by_slug = {i["slug"]: i for i in items}
    # both have a "30-min": told apart by username; the review is unique
    assert set(by_slug) == {"emmanuel/30-min", "maria/30-min", "review"}
    assert by_slug["review"]["host_name"] == "Maria Lopez"
    assert by_slug["emmanuel/30-min"]["host_name"] == "Emmanuel Vidal"
    slots = tools.get_available_slots(org_agent, {"event_type_slug": "maria/30-min", "date": "2026-06-02",
                                                  "timezone": "Europe/Madrid"}, now=NOW)
    assert slots["slots"][0]["time"] == "9:00 AM"          # Maria's hours, in Madrid


def test_slots_are_spoken_in_the_callers_zone_with_utc_instants(host, agent):
    answer = tools.get_available_slots(agent, {"event_type_slug": "30-min", "date": "2026-06-02",
                                               "timezone": "America/New_York"}, now=NOW)
    assert answer["date"] == "2026-06-02"
    assert answer["slots"][0] == {"time": "9:00 AM", "start_time": "2026-06-02T13:00:00Z"}
    assert answer["slots"][-1] == {"time": "4:30 PM", "start_time": "2026-06-02T20:30:00Z"}
    in_london = tools.get_available_slots(agent, {"event_type_slug": "30-min", "date": "2026-06-02",
                                                  "timezone": "Europe/London"}, now=NOW)
    assert in_london["slots"][0] == {"time": "2:00 PM", "start_time": "2026-06-02T13:00:00Z"}
    with pytest.raises(tools.ToolError) as bad:
        tools.get_available_slots(agent, {"event_type_slug": "30-min", "date": "next tuesday"}, now=NOW)
    assert bad.value.message == tools.BAD_DATE


def test_create_booking_books_through_the_booking_service_and_says_the_confirmation(host, agent):
    answer = tools.create_booking(agent, booking_body(), conversation_id="conv_1", now=NOW)
    booking = Booking.get()
    assert answer == {"success": True, "booking": {
        "id": booking.id, "event_name": "30 Minute Meeting", "date": "Tuesday, June 2, 2026", "time": "10:00 AM EDT",
        "confirmation_message": "Your 30 Minute Meeting with Emmanuel is booked for Tuesday, June 2 at 10:00 AM EDT. "
                                "A confirmation email is on its way to john@example.com."}}
    assert (booking.status, booking.source, booking.invitee_phone) == ("CONFIRMED", "voice", "+14155551234")
    assert booking.notes == "Wants to discuss Q3 plan"
    contact = Contact.get(Contact.user == host)
    assert (contact.email, contact.phone) == ("john@example.com", "+14155551234")
    assert any('"booking.created"' in m.payload for m in OutboxMessage.select().where(OutboxMessage.kind == "event"))


def test_the_same_create_booking_twice_in_a_conversation_makes_one_booking(host, agent):
    first = tools.create_booking(agent, booking_body(), conversation_id="conv_1", now=NOW)
    again = tools.create_booking(agent, booking_body(), conversation_id="conv_1", now=NOW)
    assert first == again
    assert Booking.select().count() == 1 and VoiceToolBooking.select().count() == 1


def test_a_taken_time_is_said_so(host, agent):
    tools.create_booking(agent, booking_body(), conversation_id="conv_1", now=NOW)
    with pytest.raises(tools.ToolError) as taken:
        tools.create_booking(agent, booking_body(invitee_email="eve@example.com", invitee_name="Eve"),
                             conversation_id="conv_2", now=NOW)
    assert taken.value.message == tools.TAKEN
    assert Booking.select().count() == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"invitee_email": "john at example"}, tools.BAD_EMAIL),
    ({"invitee_name": " "}, tools.BAD_NAME),
    ({"event_type_slug": "golf"}, tools.UNKNOWN_TYPE),
    ({"start_time": "tomorrow"}, tools.BAD_TIME),
    ({"timezone": "Mars/Olympus"}, tools.BAD_ZONE),
    ({"invitee_phone": "call me"}, tools.BAD_PHONE),
])
def test_bad_booking_requests_get_a_spoken_message_and_book_nothing(host, agent, changes, message):
    with pytest.raises(tools.ToolError) as refused:
        tools.create_booking(agent, booking_body(**changes), conversation_id="conv_1", now=NOW)
    assert refused.value.message == message and refused.value.status == 200
    assert Booking.select().count() == 0


def test_booking_details_only_of_the_agents_account(host, agent, make_user):
    tools.create_booking(agent, booking_body(), conversation_id="conv_1", now=NOW)
    booking = Booking.get()
    details = tools.get_booking_details(agent, {"booking_id": booking.id})["booking"]
    assert details == {"id": booking.id, "event_name": "30 Minute Meeting", "invitee_name": "John Doe",
                       "invitee_email": "john@example.com", "date": "Tuesday, June 2, 2026", "time": "10:00 AM EDT",
                       "status": "CONFIRMED", "meeting_link": None, "notes": "Wants to discuss Q3 plan"}
    other = make_user("olga", timezone="America/New_York")
    other_agent = call_fixtures.agent(other)
    with pytest.raises(tools.ToolError) as hidden:
        tools.get_booking_details(other_agent, {"booking_id": booking.id})
    assert hidden.value.message == tools.BOOKING_NOT_FOUND


def test_a_foreign_user_id_is_refused_and_an_inactive_agent_is_unavailable(host, agent, make_user):
    other = make_user("olga")
    with pytest.raises(tools.ToolRefused) as refused:
        tools.run_tool("event-types", agent.id, {"user_id": other.id})
    assert refused.value.status == 403
    assert tools.run_tool("event-types", agent.id, {"user_id": host.id})["event_types"]
    VoiceAgent.update(is_active=False).where(VoiceAgent.id == agent.id).execute()
    with pytest.raises(tools.ToolError) as off:
        tools.run_tool("event-types", agent.id, {})
    assert off.value.message == tools.AGENT_UNAVAILABLE
    with pytest.raises(tools.ToolError):
        tools.run_tool("event-types", "nope", {})


# --- minutes --------------------------------------------------------------------------------------------------
def _used(host, agent, seconds, started=NOW):
    return CallLog.create(user=host, agent=agent, agent_name=agent.name, conversation_id=f"conv_{seconds}",
                          status="COMPLETED", duration_seconds=seconds, started_at=started)


def test_exceeding_the_minutes_switches_the_agents_off_and_tells_the_host_once(host, agent):
    second = call_fixtures.agent(host, name="Support")
    _used(host, agent, 61 * 60)                         # Pro: 60 minutes
    assert lifecycle.deactivate_for_minutes(host, now=NOW) == 2
    assert lifecycle.deactivate_for_minutes(host, now=NOW + timedelta(minutes=5)) == 0
    for row in (agent, second):
        row = VoiceAgent.get_by_id(row.id)
        assert (row.is_active, row.auto_deactivated) == (False, True)
    [notice] = VoicePeriodNotice.select()
    assert (notice.period, notice.reactivated_at) == ("2026-06", None)
    assert OutboxMessage.select().where(OutboxMessage.kind == "email").count() == 1


def test_the_period_reset_reactivates_on_the_first_and_tells_the_host_once(host, agent):
    kept_off = call_fixtures.agent(host, name="Off by hand", is_active=False)
    _used(host, agent, 61 * 60)
    lifecycle.deactivate_for_minutes(host, now=NOW)
    assert lifecycle.reset_period(NOW + timedelta(days=10)) == 0          # still June: nothing
    assert not VoiceAgent.get_by_id(agent.id).is_active
    july = datetime(2026, 7, 1, 0, 7, tzinfo=UTC)
    assert lifecycle.reset_period(july) == 1
    assert lifecycle.reset_period(july + timedelta(hours=1)) == 0         # again: nothing more
    row = VoiceAgent.get_by_id(agent.id)
    assert (row.is_active, row.auto_deactivated) == (True, False)
    assert not VoiceAgent.get_by_id(kept_off.id).is_active                   # the host's own choice stays
    assert VoicePeriodNotice.get().reactivated_at is not None
    assert OutboxMessage.select().where(OutboxMessage.kind == "email").count() == 2


def test_call_status_counts_minutes_cost_and_outcome(host, agent):
    row = lifecycle.record_call_status({"conversation_id": "conv_flat", "agent_id": "", "status": "completed",
                                       "transcript": "Agent: Hi", "duration_secs": 142, "tool_calls": []})
    assert row is None                       # no log and no agent: ignored
    log_row = CallLog.create(user=host, agent=agent, agent_name=agent.name, conversation_id="conv_flat")
    row = lifecycle.record_call_status({"conversation_id": "conv_flat", "status": "completed",
                                       "transcript": "Agent: Hi", "duration_secs": 142,
                                       "tool_calls": [{"name": "list_event_types", "result": "..."}]})
    assert row.id == log_row.id
    row = CallLog.get_by_id(log_row.id)
    assert (row.status, row.duration_seconds, row.cost_cents, row.outcome) == ("COMPLETED", 142, 30, "info_provided")
    assert row.transcript == "Agent: Hi" and row.ended_at is not None


def test_outcomes_and_statuses_from_both_payload_shapes():
    from tests.fakes.elevenlabs import transcription_payload

    booked = transcription_payload("agent_1", "conv_1", tool_names=("list_event_types", "create_booking"))
    call = lifecycle.parse_call(booked)
    assert (call["status"], call["duration"]) == ("COMPLETED", 142)
    assert lifecycle.outcome_of(call["tools"], booked=False) == "booking_created"
    failed = transcription_payload("agent_1", "conv_2", tool_names=("create_booking",))
    failed["data"]["transcript"][-1]["tool_results"][0]["result_value"] = '{"error": true, "message": "taken"}'
    assert lifecycle.outcome_of(lifecycle.parse_call(failed)["tools"], booked=False) == "info_provided"
    quiet = lifecycle.parse_call({"conversation_id": "c", "status": "failed", "duration_secs": 3})
    assert (quiet["status"], lifecycle.outcome_of(quiet["tools"], booked=False)) == ("FAILED", "no_action")
    unanswered = lifecycle.parse_call({"type": "call_initiation_failure",
                                       "data": {"agent_id": "a", "conversation_id": "c", "failure_reason": "busy"}})
    assert unanswered["status"] == "NO_ANSWER"
    assert lifecycle.parse_call({"type": "post_call_audio", "data": {}}) is None
