"""WhatsApp from activation to agent in a real browser, against the Twilio fake (spec page 11): a WhatsApp agent
cannot be switched on before the number's sender is approved (inline error); "Enable WhatsApp" on Dashboard →
Phone Numbers shows Pending; Meta's approval arrives as Twilio's signed sender-status webhook (the fake posts it to
the live server) and the page shows Approved; then the WhatsApp agent is created on the number. The Phone Numbers
and Messaging Agents steps are htmx updates (a ``window`` marker survives them); axe-core finds no serious violation.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from app.models import OutboxMessage
from app.models.messaging import MessagingAgent, WhatsAppSender
from app.services import mailer
from app.services.voice import numbers
from tests import factories
from tests.browser.helpers import in_db
from tests.browser.test_accessibility import AXE, _problems
from tests.live import serve_live

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.number_fixtures"]

MARK = "window.__whatsappMarker"
NAME_LABEL = "WhatsApp business display name for +14155550100"


@pytest.fixture
def live_server(app_factory, twilio_fake, elevenlabs_fake, number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, ANTHROPIC_API_KEY="sk-ant-test",
                      **number_settings(twilio_fake, elevenlabs_fake))
    with serve_live(app, own_base_url=True) as server:    # the fake's signed callbacks reach this server
        yield server


def _mark(page) -> None:
    page.evaluate(f"() => {{ {MARK} = 'same document'; }}")


def _same_document(page) -> bool:
    return page.evaluate(f"() => {MARK} === 'same document'")


def _sign_in(page, user) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/dashboard$"))


def _subjects() -> list[str]:
    return [mailer.unseal(json.loads(m.payload))["subject"]
            for m in OutboxMessage.select().where(OutboxMessage.kind == "email")]


def _fill_agent(page, number_id: str) -> None:
    page.get_by_label("Agent name").fill("Sarah")
    page.get_by_label("Channel").select_option("whatsapp")
    page.get_by_label("Phone number").select_option(value=number_id)


def test_enable_whatsapp_approval_by_webhook_then_a_whatsapp_agent(live_server, page, twilio_fake):
    app = live_server.app
    user = in_db(app, lambda: factories.user("wanda", plan="PRO"))
    number = in_db(app, lambda: numbers.provision_number(user, "US"))
    assert number.e164 == "+14155550100"
    _sign_in(page, user)

    # Before WhatsApp is enabled, a WhatsApp agent cannot be switched on: the form says why, in place.
    page.get_by_role("link", name="Messaging Agents").click()
    _mark(page)
    _fill_agent(page, number.id)
    page.get_by_role("button", name="Create agent").click()
    expect(page.locator("#e-isActive")).to_contain_text("WhatsApp is not enabled on it")
    expect(page.locator("#f-isActive")).to_have_attribute("aria-invalid", "true")
    assert _same_document(page)
    assert in_db(app, lambda: MessagingAgent.select().count()) == 0

    # Enable WhatsApp on the number: the sender is created at Twilio and shows Pending.
    page.get_by_role("link", name="Phone Numbers").click()
    _mark(page)
    row = page.locator(f"#number-{number.id}")
    row.get_by_label(NAME_LABEL).fill("Wanda Dental Care")
    page.locator(f"#enable-whatsapp-{number.id}").click()
    status = page.locator(f"#whatsapp-{number.id}-status")
    expect(status).to_have_text("WhatsApp: Pending")
    expect(page.locator(f"#whatsapp-{number.id}")).to_contain_text("Meta reviews the name")
    assert _same_document(page)
    [sid] = twilio_fake.senders
    assert twilio_fake.senders[sid]["profile"]["name"] == "Wanda Dental Care"
    assert twilio_fake.senders[sid]["webhook"]["status_callback_url"] == (
        live_server.url + "/api/webhooks/twilio/whatsapp-sender-status")

    # "Refresh Status" while Meta still reviews: still Pending (asked at Twilio, in place).
    twilio_fake.set_sender_status(sid, "TWILIO_REVIEW", notify=False)
    page.get_by_role("button", name="Refresh the WhatsApp status of +14155550100").click()
    expect(page.locator(f"#whatsapp-{number.id}")).to_contain_text("WhatsApp status: pending.")
    expect(status).to_have_text("WhatsApp: Pending")
    assert in_db(app, lambda: WhatsAppSender.get(WhatsAppSender.sender_sid == sid).twilio_status) == "TWILIO_REVIEW"
    assert _same_document(page)

    # Meta approves: Twilio's signed status webhook reaches the server, the host is emailed, the page says Approved.
    callback = twilio_fake.set_sender_status(sid, "ONLINE")
    assert callback is not None and callback.status == 204
    assert in_db(app, lambda: WhatsAppSender.get(WhatsAppSender.sender_sid == sid).status) == "approved"
    assert in_db(app, _subjects).count("WhatsApp is ready on +14155550100") == 1
    page.get_by_role("link", name="Phone Numbers").click()
    expect(page.locator(f"#whatsapp-{number.id}-status")).to_have_text("WhatsApp: Approved")
    expect(page.locator(f"#whatsapp-{number.id}-status")).to_have_class(re.compile(r"badge-ok"))
    assert _problems(AXE.run(page)) == []                    # the number with its approved WhatsApp

    # Now the WhatsApp agent is created on the number, switched on.
    page.get_by_role("link", name="Messaging Agents").click()
    _fill_agent(page, number.id)
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(re.compile(r".*/dashboard/messaging-agents/\w+$"))
    expect(page.locator("#flashes")).to_contain_text("Created “Sarah”: it answers WhatsApp texts on +14155550100.")
    assert _problems(AXE.run(page)) == []                    # the agent's page
    agent = in_db(app, lambda: MessagingAgent.get(MessagingAgent.user == user.id))
    assert (agent.channel, agent.phone_number_id, agent.is_active) == ("whatsapp", number.id, True)
