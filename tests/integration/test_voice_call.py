"""Inbound voice calls end to end (issue 21 acceptance): LinkTime served over real HTTP, the ElevenLabs fake playing
the call as ElevenLabs does (personalization webhook with the secret header, the agent's stored tool URLs, the signed
post-call webhook), the tests' SMTP server and a webhook receiver."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import requests

from app.db import db
from app.models import Booking, CallLog
from app.models.voice import VoiceAgent, VoiceToolBooking
from app.services.developer import webhooks
from app.services.voice import lifecycle, usage
from tests import call_fixtures, factories
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.live import serve_live

CALLER = "+14155551234"
NUMBER = "+12125550100"


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def urls(live) -> dict[str, str]:
    return {"personalization_url": f"{live.url}/api/voice/webhook/personalization",
            "post_call_url": f"{live.url}/api/voice/webhook/call-status"}


def last(results, name):
    return [r for r in results if r.name == name][-1].result


def test_an_inbound_call_books_a_meeting_with_its_emails_webhooks_and_call_log(app_factory, smtp_server, receiver):
    with ElevenLabsFake() as fake:
        app = app_factory(**call_fixtures.voice_settings(fake), SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
        with serve_live(app, own_base_url=True) as live:
            def setup():
                host = factories.user("emmanuel", timezone="UTC", name="Emmanuel Vidal", plan="PRO")
                webhooks.create_webhook(host, receiver.url(), ["booking.created"])
                number = call_fixtures.phone_number(host, NUMBER)
                return call_fixtures.agent(host, number=number, fake=fake, base_url=live.url)
            agent = in_db(app, setup)
            assert set(fake.tool_urls(agent.elevenlabs_agent_id)) == {
                "list_event_types", "get_available_slots", "create_booking", "get_booking_details"}
            day = factories.weekday_at(1, hour=10)

            def booking(results):
                return {"event_type_slug": "30-min", "invitee_name": "John Doe", "invitee_email": "john@example.com",
                        "start_time": last(results, "get_available_slots")["slots"][0]["start_time"],
                        "timezone": "America/New_York", "notes": "Wants to discuss Q3 plan",
                        "invitee_phone": CALLER}
            call = fake.simulate_inbound_call(
                **urls(live), agent_id=agent.elevenlabs_agent_id, caller=CALLER, called=NUMBER,
                webhook_secret=call_fixtures.TOOL_SECRET, duration_secs=142,
                tool_calls=[("list_event_types", {}),
                            ("get_available_slots", {"event_type_slug": "30-min", "date": day.date().isoformat(),
                                                     "timezone": "America/New_York"}),
                            ("create_booking", booking),
                            ("create_booking", booking),          # the model repeats itself: still one booking
                            ("get_booking_details",
                             lambda results: {"booking_id": last(results, "create_booking")["booking"]["id"]})])

            assert call.personalization_status == 200
            assert call.personalization["dynamic_variables"]["agent_id"] == agent.id
            assert "AI scheduling assistant" in call.personalization["conversation_config_override"]["agent"][
                "first_message"]
            assert [r.status for r in call.tool_results] == [200] * 5
            assert not any(r.result.get("error") for r in call.tool_results), call.tool_results
            assert last(call.tool_results, "list_event_types")["event_types"][0]["slug"] == "30-min"
            first_slot = last(call.tool_results, "get_available_slots")["slots"][0]
            assert first_slot["start_time"].endswith("Z") and first_slot["time"].endswith(("AM", "PM"))
            made = [r.result for r in call.tool_results if r.name == "create_booking"]
            assert made[0] == made[1] and made[0]["success"] is True
            assert made[0]["booking"]["confirmation_message"].startswith("Your 30 Minute Meeting with Emmanuel is "
                                                                         "booked for ")
            assert last(call.tool_results, "get_booking_details")["booking"]["status"] == "CONFIRMED"
            # every tool call carried the agent's account and the conversation, filled from dynamic variables
            assert {r.params["user_id"] for r in call.tool_results} == {agent.user_id}
            assert {r.params["conversation_id"] for r in call.tool_results} == {call.conversation_id}

            [booked] = in_db(app, lambda: list(Booking.select()))
            assert (booked.source, booked.invitee_email, booked.status) == ("voice", "john@example.com", "CONFIRMED")
            assert in_db(app, VoiceToolBooking.select().count) == 1
            mails = smtp_server.wait_for(2)
            assert sorted(r for m in mails[:2] for r in m.envelope_rcpt) == ["emmanuel@example.com",
                                                                           "john@example.com"]
            [hook] = receiver.wait_for(1)
            assert b'"booking.created"' in hook.body and booked.id.encode() in hook.body

            assert call.post_call_status == 200
            log_row = in_db(app, CallLog.get)
            assert (log_row.direction, log_row.status, log_row.outcome, log_row.booking_id) == (
                "inbound", "COMPLETED", "booking_created", booked.id)
            assert (log_row.conversation_id, log_row.call_sid, log_row.caller_phone, log_row.agent_phone) == (
                call.conversation_id, call.call_sid, CALLER, NUMBER)
            assert (log_row.duration_seconds, log_row.cost_cents) == (142, 30)
            assert "Caller: I'd like to book a meeting." in log_row.transcript


def test_a_call_with_the_wrong_secret_reaches_nothing(app_factory):
    with ElevenLabsFake() as fake:
        app = app_factory(**call_fixtures.voice_settings(fake))
        with serve_live(app, own_base_url=True) as live:
            def setup():
                host = factories.user("emmanuel", timezone="UTC", plan="PRO")
                return call_fixtures.agent(host, number=call_fixtures.phone_number(host, NUMBER), fake=fake,
                                           base_url=live.url)
            agent = in_db(app, setup)
            call = fake.simulate_inbound_call(**urls(live), agent_id=agent.elevenlabs_agent_id, caller=CALLER,
                                              called=NUMBER, webhook_secret="guessed", tool_secret="old",
                                              post_call=False,
                                              tool_calls=[("list_event_types", {})])
            assert call.personalization_status == 401
            assert [r.status for r in call.tool_results] == [401]
            assert in_db(app, CallLog.select().count) == 0


def test_over_the_limit_after_hours_and_the_monthly_reset(app_factory, smtp_server):
    with ElevenLabsFake() as fake:
        app = app_factory(**call_fixtures.voice_settings(fake), SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
        with serve_live(app, own_base_url=True) as live:
            def setup():
                host = factories.user("fred", timezone="UTC", name="Fred Free")       # Free: 5 minutes
                made = call_fixtures.agent(host, number=call_fixtures.phone_number(host, NUMBER), fake=fake,
                                           base_url=live.url)
                CallLog.create(user=host, agent=made, conversation_id="conv_earlier", status="COMPLETED",
                               duration_seconds=200)
                return made
            agent = in_db(app, setup)
            common = {**urls(live), "agent_id": agent.elevenlabs_agent_id, "caller": CALLER, "called": NUMBER,
                      "webhook_secret": call_fixtures.TOOL_SECRET}
            # after hours (closed every day): the voicemail greeting, and still a call log
            closed = {"enabled": True, "timezone": "UTC", "afterHoursBehavior": "voicemail",
                      "afterHoursMessage": None, "schedule": []}
            in_db(app, lambda: VoiceAgent.update(active_hours=closed).where(VoiceAgent.id == agent.id).execute())
            after = fake.simulate_inbound_call(**common, post_call=False)
            assert "We're closed right now" in after.personalization["conversation_config_override"]["agent"][
                "first_message"]
            assert in_db(app, lambda: CallLog.select().where(CallLog.call_sid == after.call_sid).count()) == 1
            in_db(app, lambda: VoiceAgent.update(active_hours={}).where(VoiceAgent.id == agent.id).execute())
            # 100 s left: a normal call, which goes past the limit (never cut) ...
            call = fake.simulate_inbound_call(**common, duration_secs=130, spec_shape=True,
                                              tool_calls=[("list_event_types", {})])
            assert "dynamic_variables" in call.personalization and call.post_call_status == 200
            assert in_db(app, lambda: CallLog.get(CallLog.conversation_id == call.conversation_id).outcome) == (
                "info_provided")
            # ... so the agent is switched off and Fred told once
            row = in_db(app, VoiceAgent.get_by_id, agent.id)
            assert (row.is_active, row.auto_deactivated) == (False, True)
            [paused] = smtp_server.wait_for(1)
            assert paused["To"] == "fred@example.com" and "paused" in str(paused["Subject"])
            # the next caller hears the "unavailable, book online" override
            over = fake.simulate_inbound_call(**common, duration_secs=20)
            first = over.personalization["conversation_config_override"]["agent"]["first_message"]
            assert first == (f"I'm sorry, Fred's scheduling assistant is currently unavailable. Please visit "
                             f"{live.url.split('://')[1]}/fred to book a meeting online.")
            assert len(smtp_server.messages) == 1
            # the first of next month (UTC): back on, Fred told once
            next_month = usage.period_start(datetime.now(UTC) + timedelta(days=32))
            with app.app_context(), db.connection_context():
                assert lifecycle.reset_period(next_month) == 1
                assert lifecycle.reset_period(next_month + timedelta(hours=1)) == 0
            row = in_db(app, VoiceAgent.get_by_id, agent.id)
            assert (row.is_active, row.auto_deactivated) == (True, False)
            back = smtp_server.wait_for(2)[1]
            assert back["To"] == "fred@example.com" and "back on" in str(back["Subject"])



def test_two_identical_create_booking_calls_at_once_make_one_booking(app_factory):
    app = app_factory(**call_fixtures.voice_settings())
    with serve_live(app, own_base_url=True) as live:
        def setup():
            host = factories.user("emmanuel", timezone="UTC", plan="PRO")
            return call_fixtures.agent(host)
        agent = in_db(app, setup)
        start = factories.weekday_at(2, hour=11).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"user_id": agent.user_id, "conversation_id": "conv_race", "event_type_slug": "30-min",
                "invitee_name": "John Doe", "invitee_email": "john@example.com", "start_time": start,
                "timezone": "Europe/Paris"}
        gate, answers = threading.Barrier(4), []

        def book():
            gate.wait(timeout=10)
            answers.append(requests.post(f"{live.url}/api/voice/tools/create-booking?agent_id={agent.id}",
                                         json=body, headers=call_fixtures.tool_headers(), timeout=30).json())
        threads = [threading.Thread(target=book) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == 4 and all(a.get("success") for a in answers), answers
        assert len({a["booking"]["id"] for a in answers}) == 1
        assert in_db(app, Booking.select().count) == 1
        assert in_db(app, VoiceToolBooking.select().count) == 1
