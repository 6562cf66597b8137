"""The workflow editor's AI Voice Call action: offered only on Pro and above with an active voice agent that has a
phone number (otherwise shown disabled with the reason, and absent without the ElevenLabs settings); its row's
fields; saving stores the spec's AI_CALL config; the run history names it."""
from __future__ import annotations

import re

import pytest

from app.models import WorkflowAction
from app.services.voice import outbound
from tests.conftest import login
from tests.outbound_fixtures import calling_agent, fake_elevenlabs, voice_settings
from tests.web.conftest import data as in_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def elevenlabs_fake():
    yield from fake_elevenlabs()


@pytest.fixture
def app(app_factory, elevenlabs_fake):
    return app_factory(**voice_settings(elevenlabs_fake))


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in_as(app, make_user, *, plan="PRO", agent=True, **agent_options):
    user = make_user("hana", plan=plan, timezone="America/New_York")
    if agent:
        with in_db(app):
            calling_agent(user, **agent_options)
    client = app.test_client()
    login(client, user)
    return client, user


def add_option(page: str) -> str:
    return re.search(r'<option value="ai_call"[^>]*>[^<]*</option>', page).group(0)


def base_form(**fields) -> dict:
    values = {"name": "Call before", "trigger": "before_meeting", "offset": "60", "offset_custom": "",
              "offset_unit": "minutes", "event_types": "all", "enabled": "1", "actions-0-kind": "ai_call",
              "actions-0-recipient": "invitee", "actions-0-call_type": "reminder", "actions-0-body": ""}
    values.update(fields)
    return values


def test_offered_on_pro_with_an_agent_that_has_a_number(app, make_user):
    client, _ = signed_in_as(app, make_user)
    page = text(client.get("/dashboard/workflows/new"))
    assert add_option(page) == '<option value="ai_call" >AI Voice Call</option>'


@pytest.mark.parametrize("plan, agent, options, reason", [
    ("FREE", True, {}, "AI Voice Calls need the Pro plan or higher (you are on Free)."),
    ("PRO", False, {}, outbound.NO_AGENT),
    ("PRO", True, {"phone": False}, outbound.NO_AGENT),
    ("PRO", True, {"active": False}, outbound.NO_AGENT),
])
def test_not_offered_without_the_plan_or_a_calling_agent(app, make_user, plan, agent, options, reason):
    client, _ = signed_in_as(app, make_user, plan=plan, agent=agent, **options)
    page = text(client.get("/dashboard/workflows/new"))
    assert add_option(page) == '<option value="ai_call" disabled>AI Voice Call (not available)</option>'
    assert f'<p class="hint wf-note">{reason}</p>' in page


def test_absent_without_the_elevenlabs_settings(app_factory, make_user):
    app = app_factory(ELEVENLABS_API_KEY="", ELEVENLABS_WEBHOOK_SECRET="", ELEVENLABS_SIGNING_SECRET="")
    user = make_user("hana", plan="PRO")
    client = app.test_client()
    login(client, user)
    page = text(client.get("/dashboard/workflows/new"))
    assert 'value="ai_call"' not in page


def test_adding_the_row_shows_its_fields_with_the_services_choices(app, make_user):
    client, _ = signed_in_as(app, make_user)
    form = {**base_form(), "actions-0-kind": "email", "actions-0-subject": "Hi", "actions-0-body": "Hello",
            "new_kind": "ai_call", "add_action": "1"}
    page = text(client.post("/dashboard/workflows/actions", data=form, headers=HTMX))
    assert "2. AI Voice Call" in page
    targets = re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]+)</option>',
                         page.split('id="a-1-recipient"')[1].split("</select>")[0])
    assert dict(targets) == outbound.TARGETS
    types = re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]+)</option>',
                       page.split('id="a-1-call_type"')[1].split("</select>")[0])
    assert dict(types) == outbound.CALL_TYPES
    assert re.search(r'data-wf-recipient-part="host custom" data-inactive', page)
    assert 'name="actions-1-body"' in page
    assert 'id="a-1-recipient" name="actions-1-recipient" data-wf-recipient autofocus' in page


def test_saving_stores_the_ai_call_config(app, make_user):
    client, user = signed_in_as(app, make_user)
    response = client.post("/dashboard/workflows", data=base_form(**{
        "actions-0-recipient": "custom", "actions-0-phone": "+1 415 555 0188", "actions-0-call_type": "custom",
        "actions-0-body": "Your documents are ready."}))
    assert response.status_code == 302, text(response)[:3000]
    with in_db(app):
        action = WorkflowAction.get()
    assert (action.kind, action.config) == ("ai_call", {"to": "custom", "customPhone": "+14155550188",
                                                        "callType": "custom",
                                                        "customMessage": "Your documents are ready."})
    page = text(client.get(response.headers["Location"]))
    assert "1. AI Voice Call" in page and 'value="+14155550188"' in page
    assert re.search(r'<option value="custom" selected>Custom message</option>', page)
    assert "Your documents are ready.</textarea>" in page
    assert "AI Voice Call" in text(client.get("/dashboard/workflows"))


def test_errors_show_on_the_row(app, make_user):
    client, _ = signed_in_as(app, make_user)
    response = client.post("/dashboard/workflows", data=base_form(**{
        "actions-0-recipient": "host", "actions-0-phone": "12", "actions-0-call_type": "custom"}))
    assert response.status_code == 422
    page = text(response)
    assert 'href="#a-0-phone"' in page and 'id="e-actions-0-phone"' in page
    assert 'href="#a-0-body"' in page and "Write what the agent should say." in page


def test_a_free_account_cannot_save_one(app, make_user):
    client, _ = signed_in_as(app, make_user, plan="FREE")
    response = client.post("/dashboard/workflows", data=base_form())
    assert response.status_code == 422
    assert "Free plan does not include AI voice calls" in text(response)
