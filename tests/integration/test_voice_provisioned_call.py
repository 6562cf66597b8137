"""A voice agent as a host makes it, then called (issue 21 acceptance): the agents service provisions it against the
ElevenLabs and Twilio fakes (agent with its four tools, a number bought and bound), and the ElevenLabs fake plays an
inbound call through the tools stored at the fake, so the tool definitions LinkTime sends and the webhooks that answer
them are proven to fit. Then the host releases the number: held for 30 days, then given back to Twilio."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import db
from app.models import Booking, CallLog, PhoneNumber
from app.models.voice import VoiceAgent
from app.services.voice import agents, numbers
from tests import factories
from tests.agent_fixtures import SIGNING_SECRET, servers, voice_settings
from tests.fakes.elevenlabs import WEBHOOK_SECRET
from tests.live import serve_live

CALLER = "+14155551234"


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def last(results, name):
    return [r for r in results if r.name == name][-1].result


def test_a_provisioned_agent_answers_a_call_and_books_then_its_number_is_held_and_released(app_factory):
    with servers() as fakes:
        app = app_factory(**voice_settings(fakes))
        with serve_live(app, own_base_url=True) as live:
            def make():
                host = factories.user("emmanuel", timezone="UTC", name="Emmanuel Vidal", plan="PRO")
                return agents.create_agent(host, {"agentName": "Sarah", "businessContext": "A design studio."},
                                           country="US")
            agent = in_db(app, make)
            number = in_db(app, lambda: PhoneNumber.get_by_id(agent.phone_number_id))
            remote = fakes.eleven.agents[agent.elevenlabs_agent_id]
            assert remote["name"] == "Sarah"
            assert [n["phone_number"] for n in fakes.eleven.phone_numbers.values()] == [number.e164]
            assert number.twilio_sid in fakes.twilio.numbers

            day = factories.weekday_at(1, hour=10)
            call = fakes.eleven.simulate_inbound_call(
                personalization_url=f"{live.url}/api/voice/webhook/personalization",
                post_call_url=f"{live.url}/api/voice/webhook/call-status",
                agent_id=agent.elevenlabs_agent_id, caller=CALLER, called=number.e164,
                webhook_secret=WEBHOOK_SECRET, signing_secret=SIGNING_SECRET, duration_secs=61,
                tool_calls=[("list_event_types", {}),
                            ("get_available_slots", {"event_type_slug": "30-min", "date": day.date().isoformat(),
                                                     "timezone": "Europe/Paris"}),
                            ("create_booking", lambda results: {
                                "event_type_slug": "30-min", "invitee_name": "Ann Lee",
                                "invitee_email": "ann@example.com", "timezone": "Europe/Paris",
                                "start_time": last(results, "get_available_slots")["slots"][0]["start_time"]})])
            assert call.personalization_status == 200
            first = call.personalization["conversation_config_override"]["agent"]["first_message"]
            assert "Sarah" in first and "AI" in first
            assert [r.status for r in call.tool_results] == [200, 200, 200]
            assert not any(r.result.get("error") for r in call.tool_results), call.tool_results
            assert {r.params["user_id"] for r in call.tool_results} == {agent.user_id}
            [booked] = in_db(app, lambda: list(Booking.select()))
            assert (booked.source, booked.invitee_email) == ("voice", "ann@example.com")
            log = in_db(app, CallLog.get)
            assert (log.agent_id, log.status, log.outcome, log.booking_id, log.duration_seconds) == (
                agent.id, "COMPLETED", "booking_created", booked.id, 61)

            # the host deletes the agent: the number leaves ElevenLabs and is held, callers reach the held line
            def delete():
                agents.delete_agent(VoiceAgent.get_by_id(agent.id).user, agent.id)
                return PhoneNumber.get_by_id(number.id)
            held = in_db(app, delete)
            assert held.status == "held" and held.hold_until > datetime.now(UTC) + timedelta(days=29)
            assert fakes.eleven.phone_numbers == {}
            assert fakes.twilio.numbers[number.twilio_sid]["voice_url"].endswith("/api/voice/held-line")

            # 30 days later the daily task gives it back to Twilio
            assert in_db(app, numbers.release_due_numbers, datetime.now(UTC) + timedelta(days=31)) == 1
            assert in_db(app, lambda: PhoneNumber.get_by_id(number.id).status) == "released"
            assert number.twilio_sid not in fakes.twilio.numbers
