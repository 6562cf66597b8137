"""Dashboard → Workflows: the list with its switches and templates, the editor (inline errors, rows added, removed
and moved without JavaScript, htmx partials), edit, duplicate, delete, the run history and the Test panel;
another user's workflow is a 404 and every post needs the CSRF token."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.models import Workflow, WorkflowAction, WorkflowRun, WorkflowRunAction
from app.services.workflows import definitions
from app.services.workflows.definitions import ActionInput, WorkflowInput
from tests import factories
from tests.conftest import login
from tests.web.conftest import data as in_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def email_row(n: int = 0, **fields) -> dict:
    values = {"kind": "email", "recipient": "invitee", "subject": "Thanks, {{ invitee_name }}",
              "body": "See you {{ start_time }}.", **fields}
    return {f"actions-{n}-{key}": value for key, value in values.items()}


def form(**fields) -> dict:
    values = {"name": "Thank you", "trigger": "booking_created", "offset": "60", "offset_custom": "",
              "offset_unit": "minutes", "event_types": "all", "enabled": "1", **email_row(0)}
    values.update(fields)
    return values


def make_workflow(app, user, name="Reminder", *, trigger="booking_created", enabled=True, actions=None):
    data = WorkflowInput(name=name, trigger=trigger, offset_minutes=60, enabled=enabled,
                         actions=actions or [ActionInput(kind="email", recipient="invitee", subject="Hi",
                                                         body="Hello {{ invitee_name }}")])
    with in_db(app):
        return definitions.create_workflow(user, data)


def stored(app, workflow_id):
    with in_db(app):
        workflow = Workflow.get_or_none(Workflow.id == workflow_id)
        actions = list(WorkflowAction.select().where(WorkflowAction.workflow == workflow_id)
                       .order_by(WorkflowAction.position)) if workflow else []
        return workflow, actions


def all_workflows(app):
    with in_db(app):
        return list(Workflow.select().order_by(Workflow.created_at))


# --- the list ---------------------------------------------------------------------------------------------------
def test_the_pages_need_a_signed_in_user(client):
    response = client.get("/dashboard/workflows")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_list_offers_the_six_templates_and_the_nav_marks_the_page(signed_in):
    page = text(signed_in.get("/dashboard/workflows"))
    assert re.search(r'<a href="/dashboard/workflows" aria-current="page">Workflows</a>', page)
    assert 'id="no-workflows"' in page and "Create workflow" in page
    for key in ("thank_you_email", "meeting_reminder", "team_notification", "payment_confirmation",
                "cancellation_follow_up", "post_meeting_survey"):
        assert f'href="/dashboard/workflows/new?template={key}"' in page
    assert "Before Meeting · 1 hour" in page and "After Meeting · 1 hour" in page


def test_the_list_shows_trigger_actions_event_types_and_the_paused_note(app, signed_in, host):
    workflow = make_workflow(app, host, "Survey", trigger="after_meeting", enabled=False)
    with in_db(app):
        Workflow.update(paused_note="Paused: your Free plan allows 3 active workflows.").where(
            Workflow.id == workflow.id).execute()
    page = text(signed_in.get("/dashboard/workflows"))
    assert "Survey" in page and "After Meeting · 1 hour" in page and "Send Email" in page
    assert "All event types" in page and "Paused: your Free plan allows 3 active workflows." in page
    assert re.search(rf'id="toggle-{workflow.id}" role="switch" aria-checked="false"', page)
    assert 'id="no-workflows"' not in page


# --- create ------------------------------------------------------------------------------------------------------
def test_creating_a_workflow_redirects_to_its_page_with_a_flash(app, signed_in, host):
    response = signed_in.post("/dashboard/workflows", data=form(
        name="Before call", trigger="before_meeting", offset="custom", offset_custom="2", offset_unit="hours"))
    assert response.status_code == 302, text(response)[:2000]
    [workflow] = all_workflows(app)
    assert response.headers["Location"].endswith(f"/dashboard/workflows/{workflow.id}")
    assert (workflow.name, workflow.trigger, workflow.offset_minutes, workflow.enabled, workflow.user_id) == (
        "Before call", "before_meeting", 120, True, host.id)
    page = text(signed_in.get(response.headers["Location"]))
    assert "Created “Before call”." in page
    assert 'value="custom" selected' in page and 'name="offset_custom" type="number"' in page
    assert re.search(r'id="f-offset_custom"[^>]*value="2"', page)
    assert "Before Meeting · 2 hours" in text(signed_in.get("/dashboard/workflows"))


def test_saving_through_htmx_answers_with_a_redirect_header(app, signed_in):
    response = signed_in.post("/dashboard/workflows", data=form(), headers=HTMX)
    [workflow] = all_workflows(app)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/dashboard/workflows/{workflow.id}"


def test_chosen_event_types_are_stored(app, signed_in, host):
    with in_db(app):
        et = factories.event_type(host)
    response = signed_in.post("/dashboard/workflows", data=form(event_types="chosen", event_type_ids=[et.id]))
    assert response.status_code == 302
    [workflow] = all_workflows(app)
    assert workflow.all_event_types is False
    assert f'<span class="wf-event-types">{et.name}</span>' in text(signed_in.get("/dashboard/workflows"))
    assert re.search(rf'value="{et.id}" checked', text(signed_in.get(f"/dashboard/workflows/{workflow.id}")))


def test_errors_show_inline_with_a_summary_and_keep_what_was_typed(app, signed_in):
    response = signed_in.post("/dashboard/workflows", data=form(
        name="", **email_row(0, recipient="address", address="not-an-address", subject="Typed subject")))
    assert response.status_code == 422
    page = text(response)
    assert 'class="error-summary"' in page and "Nothing was saved." in page
    assert 'id="e-name"' in page and "Give the workflow a name." in page
    assert 'id="e-actions-0-address"' in page and "Enter the email address to send to." in page
    assert 'href="#a-0-address"' in page and 'href="#f-name"' in page
    assert 'value="not-an-address"' in page and 'value="Typed subject"' in page
    assert re.search(r'id="a-0-address"[^>]*aria-invalid="true"', page)
    assert all_workflows(app) == []


def test_errors_through_htmx_answer_the_form_alone(signed_in):
    response = signed_in.post("/dashboard/workflows", data=form(name=""), headers=HTMX)
    page = text(response)
    assert response.status_code == 422 and page.lstrip().startswith("<form") and "<html" not in page
    assert 'id="e-name"' in page


def test_six_actions_get_the_plan_message(app, signed_in):
    rows = {}
    for n in range(6):
        rows.update(email_row(n))
    response = signed_in.post("/dashboard/workflows", data=form(**rows))
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-plan"' in page and "allows 5 actions per workflow" in page
    assert all_workflows(app) == []


def test_a_fourth_active_workflow_on_free_gets_the_plan_message(app, signed_in, host):
    for n in range(3):
        make_workflow(app, host, f"WF {n}")
    response = signed_in.post("/dashboard/workflows", data=form(name="Fourth"))
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-plan"' in page and "3 active workflows" in page
    assert 'value="Fourth"' in page
    assert len(all_workflows(app)) == 3


def test_a_template_fills_the_editor(signed_in):
    page = text(signed_in.get("/dashboard/workflows/new?template=post_meeting_survey"))
    assert 'value="Post-Meeting Survey"' in page
    assert 'value="after_meeting" selected' in page and 'value="60" selected' in page
    assert 'value="How was {{ event_name }}?"' in page
    unknown = text(signed_in.get("/dashboard/workflows/new?template=nope"))
    assert re.search(r'id="f-name"[^>]*value=""', unknown) and 'name="actions-0-kind" value="email"' in unknown


def test_the_editor_lists_the_variables(signed_in):
    page = text(signed_in.get("/dashboard/workflows/new"))
    assert 'data-wf-insert="{{ invitee_name }}"' in page and "The invitee&#39;s name" in page


# --- rows without JavaScript and through htmx ----------------------------------------------------------------------
def test_add_remove_and_move_rows_without_javascript_keep_what_was_typed(app, signed_in):
    response = signed_in.post("/dashboard/workflows", data={
        **form(name="Kept"), "new_kind": "webhook", "add_action": "1"})
    page = text(response)
    assert response.status_code == 200 and 'name="actions-1-kind" value="webhook"' in page
    assert 'value="Kept"' in page and 'autofocus' in page
    assert all_workflows(app) == []

    two = {**form(name="Kept"), **email_row(1, subject="Second")}
    page = text(signed_in.post("/dashboard/workflows", data={**two, "op": "up:1"}))
    assert page.index('value="Second"') < page.index('value="Thanks, {{ invitee_name }}"')
    page = text(signed_in.post("/dashboard/workflows", data={**two, "op": "remove:0"}))
    assert 'value="Second"' in page and 'value="Thanks, {{ invitee_name }}"' not in page
    assert 'name="actions-1-kind"' not in page
    assert all_workflows(app) == []


def test_add_action_through_htmx_answers_the_action_rows(signed_in):
    response = signed_in.post("/dashboard/workflows/actions", data={**form(), "new_kind": "webhook",
                                                                     "add_action": "1"}, headers=HTMX)
    page = text(response)
    assert response.status_code == 200 and page.lstrip().startswith('<fieldset id="actions"')
    assert 'name="actions-0-kind" value="email"' in page and 'name="actions-1-kind" value="webhook"' in page
    assert re.search(r'id="a-1-url"[^>]*autofocus', page)


def test_five_rows_offer_no_sixth(signed_in):
    rows = {}
    for n in range(5):
        rows.update(email_row(n))
    page = text(signed_in.post("/dashboard/workflows/actions", data={**form(**rows), "new_kind": "email",
                                                                      "add_action": "1"}, headers=HTMX))
    assert 'name="actions-4-kind"' in page and 'name="actions-5-kind"' not in page
    assert "at most 5 actions" in page and 'id="add-action"' not in page


# --- edit, history, test -----------------------------------------------------------------------------------------
def test_editing_a_workflow(app, signed_in, host):
    workflow = make_workflow(app, host, "Old name")
    page = text(signed_in.get(f"/dashboard/workflows/{workflow.id}"))
    assert 'value="Old name"' in page and "Save changes" in page and "Run history" in page
    [action] = stored(app, workflow.id)[1]
    assert f'name="actions-0-id" value="{action.id}"' in page
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}", data=form(
        name="New name", trigger="before_meeting", offset="1440", **email_row(0, id=action.id, body="Changed")))
    assert response.status_code == 302 and response.headers["Location"].endswith(workflow.id)
    saved, [saved_action] = stored(app, workflow.id)
    assert (saved.name, saved.trigger, saved.offset_minutes) == ("New name", "before_meeting", 1440)
    assert saved_action.id == action.id and saved_action.config["body"] == "Changed"
    assert "Changes saved." in text(signed_in.get(response.headers["Location"]))


def test_a_webhook_action_shows_its_signing_secret_on_the_edit_page(app, signed_in, host):
    workflow = make_workflow(app, host, actions=[ActionInput(kind="webhook", url="https://hooks.example.com/lt")])
    with in_db(app):
        [action] = definitions.actions_of(workflow)
        secret = definitions.webhook_secret(action)
    assert secret and secret in text(signed_in.get(f"/dashboard/workflows/{workflow.id}"))


def test_the_history_shows_a_run_in_plain_words(app, signed_in, host):
    workflow = make_workflow(app, host)
    with in_db(app):
        booking = factories.booking_row(factories.event_type(host), datetime(2026, 7, 1, 14, 0, tzinfo=UTC),
                                        name="Ivy Invitee")
        [action] = definitions.actions_of(workflow)
        run = WorkflowRun.create(workflow=workflow, booking=booking, due_key="created", status="fired",
                                 due_at=datetime(2026, 6, 30, 12, 0, tzinfo=UTC))
        WorkflowRunAction.create(run=run, action=action, kind="email", status="failed",
                                 error="The mail server refused the address.",
                                 finished_at=datetime(2026, 6, 30, 16, 5, tzinfo=UTC))
        WorkflowRun.create(workflow=workflow, booking=booking, due_key="later", status="scheduled",
                           due_at=datetime(2026, 7, 1, 13, 0, tzinfo=UTC))
    page = text(signed_in.get(f"/dashboard/workflows/{workflow.id}"))
    assert f'href="/dashboard/bookings/{booking.id}"' in page and "Ivy Invitee" in page
    assert "The mail server refused the address." in page and "Failed" in page
    assert "12:05" in page or "12:05 PM" in page        # 16:05 UTC on the host's New York clock
    assert "1 scheduled run is waiting." in page


def test_the_test_panel_shows_each_result(app, signed_in, host):
    from app.models import OutboxMessage

    workflow = make_workflow(app, host)
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}/test", data={"phone": "+1 415 555 0100"},
                              headers=HTMX)
    page = text(response)
    assert page.lstrip().startswith('<section id="test-panel"')
    assert f"Email queued to {host.email} (a test goes to you)" in page and "Sent" in page
    with in_db(app):
        assert OutboxMessage.select().where(OutboxMessage.kind == "email").count() >= 1
    full = text(signed_in.post(f"/dashboard/workflows/{workflow.id}/test", data={"phone": ""}))
    assert "<html" in full and f"Email queued to {host.email}" in full


# --- toggle, duplicate, delete ------------------------------------------------------------------------------------
def test_toggle_in_place_with_htmx_and_as_a_plain_post(app, signed_in, host):
    workflow = make_workflow(app, host)
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}/toggle", data={"enabled": "0"}, headers=HTMX)
    page = text(response)
    assert page.lstrip().startswith(f'<article class="et-row wf-row is-draft" id="wf-{workflow.id}"')
    assert 'aria-checked="false"' in page and stored(app, workflow.id)[0].enabled is False
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}/toggle", data={"enabled": "1"})
    assert response.status_code == 302 and stored(app, workflow.id)[0].enabled is True


def test_toggling_on_over_the_plan_limit_says_why_in_the_row(app, signed_in, host):
    for n in range(3):
        make_workflow(app, host, f"WF {n}")
    off = make_workflow(app, host, "Off", enabled=False)
    page = text(signed_in.post(f"/dashboard/workflows/{off.id}/toggle", data={"enabled": "1"}, headers=HTMX))
    assert "3 active workflows" in page and 'role="alert"' in page and 'aria-checked="false"' in page
    assert stored(app, off.id)[0].enabled is False


def test_duplicate_and_delete(app, signed_in, host):
    workflow = make_workflow(app, host, "Original")
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}/duplicate")
    assert response.status_code == 302
    copy = [w for w in all_workflows(app) if w.id != workflow.id][0]
    assert (copy.name, copy.enabled) == ("Original (copy)", False)
    page = text(signed_in.post(f"/dashboard/workflows/{copy.id}/duplicate", headers=HTMX))
    assert page.lstrip().startswith('<section id="workflow-list"') and "Original (copy) (copy)" in page

    confirm = text(signed_in.get(f"/dashboard/workflows/{workflow.id}/delete"))
    assert "Delete “Original”?" in confirm and 'method="post"' in confirm
    response = signed_in.post(f"/dashboard/workflows/{workflow.id}/delete")
    assert response.status_code == 302 and stored(app, workflow.id)[0] is None
    page = text(signed_in.post(f"/dashboard/workflows/{copy.id}/delete", headers=HTMX))
    assert "Deleted “Original (copy)”." in page and stored(app, copy.id)[0] is None


# --- isolation and CSRF ------------------------------------------------------------------------------------------
def test_another_users_workflow_is_a_404_everywhere(app, signed_in, make_user):
    other = make_user("otto")
    workflow = make_workflow(app, other, "Otto's")
    base = f"/dashboard/workflows/{workflow.id}"
    assert signed_in.get(base).status_code == 404
    assert signed_in.get(base + "/delete").status_code == 404
    for path, fields in ((base, form()), (base + "/toggle", {"enabled": "0"}), (base + "/duplicate", {}),
                         (base + "/delete", {}), (base + "/test", {}),
                         ("/dashboard/workflows/actions", {**form(), "workflow_id": workflow.id, "add_action": "1"})):
        assert signed_in.post(path, data=fields, headers=HTMX).status_code == 404, path
    saved, actions = stored(app, workflow.id)
    assert saved.name == "Otto's" and saved.enabled and len(all_workflows(app)) == 1 and len(actions) == 1


def test_posts_need_the_csrf_token(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    user = make_user("carla")
    client = app.test_client()
    page = text(client.get("/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    assert client.post("/dashboard/workflows", data=form()).status_code == 400
    page = text(client.get("/dashboard/workflows/new"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/dashboard/workflows", data={**form(), "csrf_token": token}).status_code == 302
    assert client.post("/dashboard/workflows", data=form(name="Via htmx"), headers={
        **HTMX, "X-CSRFToken": token}).headers.get("HX-Redirect")


# --- what the editor offers ---------------------------------------------------------------------------------------
TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token", "TWILIO_FROM_NUMBER": "+14155550100"}


def test_without_twilio_sms_is_absent_with_one_line_saying_why(signed_in):
    page = text(signed_in.get("/dashboard/workflows/new"))
    assert '<option value="sms"' not in page and 'id="sms-note"' in page and "TWILIO_ACCOUNT_SID" in page


def test_with_twilio_sms_on_free_shows_the_plan_note(app_factory, make_user):
    app = app_factory(**TWILIO)
    client = app.test_client()
    login(client, make_user("fred"))
    page = text(client.get("/dashboard/workflows/new"))
    assert re.search(r'<option value="sms" disabled>', page) and "SMS actions need the Pro plan" in page
    assert 'id="sms-note"' not in page
    login(pro := app.test_client(), make_user("petra", plan="PRO"))
    page = text(pro.get("/dashboard/workflows/new"))
    assert '<option value="sms" >' in page and "SMS actions need the Pro plan" not in page
