"""Dashboard → Phone Numbers in a real browser, against the Twilio and ElevenLabs fakes: a number provisioned in a
chosen country (a local one, then toll-free in a country whose stock has only toll-free numbers), its label edited in
place, its release confirmed in the page (then held until a date), and "Enable WhatsApp" answering a broken
display-name rule inline, then Pending. Every step is an htmx update (a ``window`` marker survives it); axe-core
finds no serious violation on the page.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models.voice import PhoneNumber
from tests import factories
from tests.browser.helpers import in_db
from tests.browser.test_accessibility import AXE, _problems
from tests.live import serve_live

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.number_fixtures"]

MARK = "window.__numbersMarker"


@pytest.fixture
def live_server(app_factory, twilio_fake, elevenlabs_fake, number_settings):
    app = app_factory(WTF_CSRF_ENABLED=True, **number_settings(twilio_fake, elevenlabs_fake))
    with serve_live(app) as server:
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


def _number(app, e164: str) -> PhoneNumber:
    return in_db(app, lambda: PhoneNumber.get(PhoneNumber.e164 == e164))


def test_provision_label_release_and_whatsapp(live_server, page, twilio_fake):
    app = live_server.app
    user = in_db(app, lambda: factories.user("nora", plan="BUSINESS"))
    _sign_in(page, user)
    page.get_by_role("link", name="Phone Numbers").click()
    expect(page.locator("#no-numbers")).to_be_visible()
    expect(page.locator("#allowance")).to_contain_text("0 of 5 numbers")
    _mark(page)

    # A local number in the United States.
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Label").fill("Front desk")
    page.get_by_role("button", name="Get a number").click()
    expect(page.locator("#phone-numbers .flash-success")).to_have_text("Your new number +14155550100 is ready.")
    us = _number(app, "+14155550100")
    row = page.locator(f"#number-{us.id}")
    expect(row).to_contain_text("United States")
    expect(row).not_to_contain_text("toll-free")
    expect(row.get_by_label("Label of +14155550100", exact=True)).to_have_value("Front desk")
    expect(row.locator(".badge-ok")).to_have_text("Active")
    expect(page.locator("#allowance")).to_contain_text("1 of 5 numbers")
    assert (us.country, us.number_type) == ("US", "local")
    assert [n["phone_number"] for n in twilio_fake.numbers.values()] == ["+14155550100"]
    assert _same_document(page)

    # The United Arab Emirates: the fake's stock there is toll-free only.
    page.get_by_label("Country").select_option("AE")
    page.get_by_role("button", name="Get a number").click()
    expect(page.locator("#phone-numbers .flash-success")).to_have_text("Your new number +97180012345 is ready.")
    ae = _number(app, "+97180012345")
    expect(page.locator(f"#number-{ae.id}")).to_contain_text("toll-free")
    assert ae.number_type == "toll_free"
    assert _same_document(page)
    assert _problems(AXE.run(page)) == []                    # the list with two numbers and the form

    # The label, edited in place: only the row changes.
    label = page.get_by_label("Label of +97180012345", exact=True)
    label.fill("Dubai line")
    page.get_by_role("button", name="Save the label of +97180012345").click()
    expect(page.locator(f"#number-{ae.id} [role=status]")).to_have_text("Saved")
    assert _same_document(page)
    assert _number(app, "+97180012345").label == "Dubai line"

    # WhatsApp on the US number: a broken display-name rule inline, then a valid name → Pending.
    row = page.locator(f"#number-{us.id}")
    row.get_by_label("WhatsApp business display name for +14155550100").fill("Official Store")
    row.get_by_role("button", name="Enable WhatsApp").click()
    error = page.locator(f"#whatsapp-{us.id}-error")
    expect(error).to_have_text('The display name cannot contain "Official" or "Verified".')
    expect(page.get_by_label("WhatsApp business display name for +14155550100")).to_have_attribute(
        "aria-invalid", "true")
    expect(page.get_by_label("WhatsApp business display name for +14155550100")).to_have_value("Official Store")
    assert twilio_fake.senders == {}
    assert _same_document(page)
    page.get_by_label("WhatsApp business display name for +14155550100").fill("Nora Dental Care")
    page.locator(f"#enable-whatsapp-{us.id}").click()
    expect(page.locator(f"#whatsapp-{us.id}-status")).to_have_text("WhatsApp: Pending")
    expect(page.locator(f"#whatsapp-{us.id}")).to_contain_text("Meta reviews the name")
    expect(page.locator(f"#whatsapp-{us.id}-error")).to_have_count(0)
    assert len(twilio_fake.senders) == 1
    assert _same_document(page)
    assert _problems(AXE.run(page)) == []                    # a row with its WhatsApp status

    # Release, confirmed in the page ("Keep it" first changes nothing); then held until a date.
    page.get_by_role("button", name="Release +97180012345").click()
    confirm = page.locator("dialog#confirm-dialog")
    expect(confirm).to_contain_text("Release +97180012345?")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    assert _number(app, "+97180012345").status == "active"
    page.get_by_role("button", name="Release +97180012345").click()
    confirm.get_by_role("button", name="Release", exact=True).click()
    expect(page.locator("#phone-numbers .flash-success")).to_contain_text("Released +97180012345")
    held = page.locator(f"#number-{ae.id}")
    expect(held.locator(".badge-warn")).to_have_text("Held")
    expect(held).to_contain_text("until")
    expect(held.get_by_role("button", name="Release +97180012345")).to_have_count(0)
    stored = _number(app, "+97180012345")
    assert stored.status == "held" and stored.hold_until is not None
    expect(held.locator("time")).to_have_attribute("datetime", stored.hold_until.isoformat())
    expect(page.locator(f"#number-{us.id} .badge-ok")).to_have_text("Active")
    assert _same_document(page)
