"""Dashboard → Voice Agents in a real browser, against the ElevenLabs and Twilio fakes: a template with a country
creates the agent (Active, with its number; the fakes hold the remote agent and the bought number); on its page the
settings form answers an inline error in place (htmx, no page load), a valid change reaches ElevenLabs as a PATCH,
event types are linked, the 7-day active-hours editor saves, and the in-page confirmation deletes the agent (it
leaves the list, its number is held). Without the ElevenLabs settings the page names what to configure. axe-core
finds no serious violation on the list and the agent's page.

A marker set on ``window`` survives only while no full page load happens, so each step proves it was in place.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models.voice import PhoneNumber, VoiceAgent
from app.services.voice import agents as agent_service
from tests import agent_fixtures, factories
from tests.browser.helpers import in_db
from tests.browser.test_accessibility import AXE, _problems
from tests.live import serve_live

pytestmark = pytest.mark.browser

MARK = "window.__voiceMarker"


@pytest.fixture
def fakes():
    with agent_fixtures.servers() as both:
        yield both


@pytest.fixture
def live_server(app_factory, fakes):
    with serve_live(app_factory(WTF_CSRF_ENABLED=True, **agent_fixtures.voice_settings(fakes))) as server:
        yield server


def _sign_in(page, user) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def test_create_configure_and_delete_an_agent(live_server, page, fakes):
    app = live_server.app
    user = in_db(app, lambda: factories.user("vera", plan="PRO"))
    event_type = in_db(app, lambda: factories.event_type(user))
    _sign_in(page, user)

    page.get_by_role("link", name="Voice Agents").click()
    expect(page.locator("#no-agents")).to_be_visible()
    assert _problems(AXE.run(page)) == []                    # the list with the template form
    page.locator("label[for=template-sales]").click()
    page.get_by_label("Country of the phone number").select_option("GB")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(re.compile(r".*/dashboard/voice-agents/\w+$"))
    expect(page.locator("#flashes")).to_contain_text("“Sales Assistant” is live. Callers reach it on +442071838750.")
    expect(page.locator("#agent-number")).to_have_text("+442071838750")
    agent = in_db(app, lambda: VoiceAgent.get(VoiceAgent.user == user.id))
    assert list(fakes.eleven.agents) == [agent.elevenlabs_agent_id]
    assert [n["phone_number"] for n in fakes.twilio.numbers.values()] == ["+442071838750"]
    assert [n["phone_number"] for n in fakes.eleven.phone_numbers.values()] == ["+442071838750"]

    page.get_by_role("link", name="← Voice Agents").click()
    row = page.locator(f"#agent-{agent.id}")
    expect(row.locator(".va-status")).to_have_text("Active")
    expect(row.locator(".va-phone")).to_have_text("+442071838750")

    # Settings: an inline error in place, then a valid change that ElevenLabs receives.
    page.get_by_role("link", name="Settings of Sales Assistant").click()
    page.wait_for_url(re.compile(rf".*/dashboard/voice-agents/{agent.id}$"))
    assert _problems(AXE.run(page)) == []                    # the agent's page
    _mark(page)
    page.locator("#f-greeting").evaluate("el => el.removeAttribute('maxlength')")   # as a script could send
    page.locator("#f-greeting").fill("Hello! " * 80)
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#e-greeting")).to_contain_text("500")
    expect(page.locator(".htmx-request")).to_have_count(0)
    expect(page.locator("#f-greeting")).to_have_value(re.compile(r"^(Hello! ){79}Hello!"))
    assert _same_document(page)
    patches_before = [r for r in fakes.eleven.requests if r.method == "PATCH"]
    page.locator("#f-greeting").fill("Hi, I'm Alex, an AI assistant. How can I help?")
    page.get_by_label("Agent name").fill("Alex")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-notice")).to_have_text("Settings saved and sent to ElevenLabs.")
    expect(page.locator("#e-greeting")).to_have_count(0)
    assert _same_document(page)
    patches = [r for r in fakes.eleven.requests if r.method == "PATCH"][len(patches_before):]
    assert [r.path for r in patches] == [f"/v1/convai/agents/{agent.elevenlabs_agent_id}"]
    remote = fakes.eleven.agents[agent.elevenlabs_agent_id]
    assert remote["name"] == "Alex"
    assert remote["conversation_config"]["agent"]["first_message"] == "Hi, I'm Alex, an AI assistant. How can I help?"

    # Event types it may book.
    page.locator(f"label[for=et-{event_type.id}]").click()
    page.get_by_role("button", name="Save event types").click()
    expect(page.locator("#event-types-notice")).to_have_text(f"Linked {event_type.name}.")
    expect(page.locator(f"#et-{event_type.id}")).to_be_checked()
    assert _same_document(page)
    linked = in_db(app, lambda: [et.id for et in agent_service.linked_event_types(VoiceAgent.get_by_id(agent.id))])
    assert linked == [event_type.id]

    # Active hours: the 7-day editor, first with a day ending before it starts, then right.
    hours = page.locator("#agent-hours")
    hours.get_by_label("Answer only during these hours").check()
    hours.locator("#f-hours-timezone").select_option("America/New_York")
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        box = hours.locator(f"#f-{day}-open")
        if day in ("monday", "tuesday", "saturday"):
            box.check()
        else:
            box.uncheck()
    hours.get_by_label("Monday from").fill("09:00")
    hours.get_by_label("Monday to").fill("18:00")
    hours.get_by_label("Tuesday from").fill("17:00")
    hours.get_by_label("Tuesday to").fill("09:00")
    hours.get_by_label("Saturday from").fill("10:00")
    hours.get_by_label("Saturday to").fill("13:00")
    hours.get_by_role("radio", name="Say a message of mine").check()
    hours.get_by_role("textbox", name=re.compile(r"^After-hours message")).fill("We are closed now.")
    hours.get_by_role("button", name="Save active hours").click()
    expect(page.locator("#hours-tuesday")).to_have_class(re.compile(r"has-error"))
    expect(page.locator("#e-tuesday")).to_be_visible()
    expect(page.locator("#agent-hours").get_by_label("Tuesday from")).to_have_value("17:00")
    assert _same_document(page)
    page.locator("#agent-hours").get_by_label("Tuesday from").fill("08:00")
    page.locator("#agent-hours").get_by_role("button", name="Save active hours").click()
    expect(page.locator("#hours-notice")).to_have_text("Active hours saved.")
    assert _same_document(page)
    stored = in_db(app, lambda: VoiceAgent.get_by_id(agent.id).active_hours)
    assert stored["enabled"] is True and stored["timezone"] == "America/New_York"
    assert stored["schedule"] == [{"day": "monday", "start": "09:00", "end": "18:00"},
                                  {"day": "tuesday", "start": "08:00", "end": "09:00"},
                                  {"day": "saturday", "start": "10:00", "end": "13:00"}]
    assert (stored["afterHoursBehavior"], stored["afterHoursMessage"]) == ("message", "We are closed now.")

    # Delete, confirmed in the page: "Keep it" first changes nothing. The rename reached the title and the
    # confirmation without a reload.
    expect(page.locator("#agent-title")).to_have_text("Alex")
    page.get_by_role("button", name="Delete agent").click()
    confirm = page.locator("dialog#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Delete “Alex”? It stops answering at once and its number goes on a 30-day hold.")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    assert _same_document(page)
    assert in_db(app, lambda: VoiceAgent.get_by_id(agent.id).deleted_at) is None
    page.get_by_role("button", name="Delete agent").click()
    confirm.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(re.compile(r".*/dashboard/voice-agents$"))
    expect(page.locator("#flashes")).to_contain_text("Deleted “Alex”. Its number is on hold for 30 days.")
    expect(page.locator(f"#agent-{agent.id}")).to_have_count(0)
    expect(page.locator("#no-agents")).to_be_visible()
    number = in_db(app, lambda: PhoneNumber.get(PhoneNumber.e164 == "+442071838750"))
    assert number.status == "held" and number.hold_until is not None
    assert agent.elevenlabs_agent_id not in fakes.eleven.agents


def test_without_settings_the_page_names_what_to_configure(app_factory, chromium):
    app = app_factory(WTF_CSRF_ENABLED=True, ELEVENLABS_API_KEY="", ELEVENLABS_WEBHOOK_SECRET="set",
                      ELEVENLABS_SIGNING_SECRET="")
    with serve_live(app) as server:
        user = in_db(app, lambda: factories.user("wim", plan="PRO"))
        context = chromium.new_context(base_url=server.url, locale="en-US")
        try:
            page = context.new_page()
            _sign_in(page, user)
            page.get_by_role("link", name="Voice Agents").click()
            setup = page.locator("#voice-setup")
            expect(setup).to_contain_text("Voice agents are not set up on this server")
            expect(page.locator("#voice-missing-settings li")).to_have_text(
                ["ELEVENLABS_API_KEY", "ELEVENLABS_SIGNING_SECRET"])
            expect(page.get_by_role("button", name="Create agent")).to_have_count(0)
            assert _problems(AXE.run(page)) == []
        finally:
            context.close()
