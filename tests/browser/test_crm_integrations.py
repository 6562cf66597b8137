"""HubSpot in a real browser: connect it from Settings → Integrations → CRM through the OAuth redirect (a local
fake of HubSpot's OAuth server), see the portal on the card, and disconnect it with the htmx confirmation."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import in_db
from tests.browser.test_integrations import _sign_up
from tests.fakes.hubspot import HubSpotFake

pytestmark = pytest.mark.browser


@pytest.fixture
def hubspot():
    with HubSpotFake(redirect_uris=()) as fake:
        yield fake


@pytest.fixture
def live_server(app_factory, hubspot):
    from tests.live import serve_live

    app = app_factory(WTF_CSRF_ENABLED=True, HUBSPOT_CLIENT_ID=hubspot.client_id,
                      HUBSPOT_CLIENT_SECRET=hubspot.client_secret, HUBSPOT_API_BASE=hubspot.url,
                      HUBSPOT_APP_BASE=hubspot.url)
    with serve_live(app, own_base_url=True) as server:
        hubspot.redirect_uris = (server.url + "/settings/integrations/hubspot/callback",)
        yield server


def test_connect_hubspot_see_the_portal_and_disconnect(page, live_server, hubspot):
    from app.models import Integration, User

    base = live_server.url
    _sign_up(page, base, "dana")
    page.goto(base + "/settings/integrations")
    card = page.locator("#crm-hubspot")
    expect(card).to_contain_text("Free plan does not include CRM integrations")   # a new account is on Free
    expect(page.get_by_role("link", name="Connect HubSpot")).to_have_count(0)

    in_db(live_server.app, lambda: User.update(plan="PRO").where(User.username == "dana").execute())
    page.reload()
    expect(page.get_by_role("heading", name="CRM", exact=True)).to_be_visible()
    page.get_by_role("link", name="Connect HubSpot").click()        # to HubSpot (the fake approves) and back
    expect(page).to_have_url(re.compile(r"/settings/integrations$"))
    expect(page.locator(".flash-success")).to_contain_text("Connected HubSpot “Portal 62515”")
    card = page.locator("[data-crm=hubspot]")
    expect(card.locator(".status-connected")).to_have_text("Connected")
    expect(card.locator("#crm-label-hubspot")).to_have_text("Portal 62515")

    card.get_by_role("link", name="Disconnect").click()
    expect(page.locator(".is-confirming")).to_contain_text("Nothing already in HubSpot is deleted")
    page.locator("#confirm-disconnect").click()
    expect(page.locator("#integrations-notice")).to_contain_text("everything already in HubSpot stays there")
    expect(page.get_by_role("link", name="Connect HubSpot")).to_be_visible()
    assert in_db(live_server.app, lambda: Integration.select().count()) == 0
    assert len(hubspot.calls("POST", "/oauth/2026-03/token/revoke")) == 1
