"""Fixtures of the CRM sync tests (a pytest plugin registered in tests/conftest.py): the HubSpot, Attio and Salesforce
fakes on loopback, an app pointed at them, and CRM connections stored as crm-connect stores them."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.fakes.attio import AttioFake
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.salesforce import SalesforceFake

LABELS = {"hubspot": "Portal 62515", "attio": "Example Ltd", "salesforce": "Acme Widgets"}


@pytest.fixture
def crm_fakes():
    with HubSpotFake() as hub, AttioFake() as att, SalesforceFake() as sf:
        yield SimpleNamespace(hubspot=hub, attio=att, salesforce=sf)


def crm_settings(fakes, timeout: float = 2) -> dict:
    """The app settings that point the three CRM clients at the fakes."""
    return {"HUBSPOT_CLIENT_ID": fakes.hubspot.client_id, "HUBSPOT_CLIENT_SECRET": fakes.hubspot.client_secret,
            "HUBSPOT_API_BASE": fakes.hubspot.url, "HUBSPOT_APP_BASE": fakes.hubspot.url,
            "ATTIO_CLIENT_ID": fakes.attio.client_id, "ATTIO_CLIENT_SECRET": fakes.attio.client_secret,
            "ATTIO_API_BASE": fakes.attio.url, "ATTIO_APP_BASE": fakes.attio.url,
            "SALESFORCE_CLIENT_ID": fakes.salesforce.client_id,
            "SALESFORCE_CLIENT_SECRET": fakes.salesforce.client_secret,
            "SALESFORCE_LOGIN_URL": fakes.salesforce.url, "INTEGRATION_HTTP_TIMEOUT": timeout}


def connect_crm(app, user, provider: str):
    """A CRM connection of ``user`` as crm-connect stores it: the token from the fake's whole authorization-code
    flow, sealed in ``credentials``; category "crm", status "connected". Call inside an app context."""
    from app.integrations import oauth
    from tests import factories
    from tests.providers.conftest import connect

    client = oauth.client_for(provider, oauth.config_from_settings(app.config, provider))
    token = connect(client)
    return factories.connection(user, provider=provider, category="crm", label=LABELS[provider],
                                credentials={"token": token.to_dict()})
