"""Twilio's signed requests: inbound STOP / START / HELP and delivery status callbacks (issue 17)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from app.db import db
from app.models.workflows import SmsOptOut, Workflow, WorkflowAction, WorkflowRun, WorkflowRunAction
from app.services import opt_outs
from tests import factories
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, inbound_params, signed_inbound

BASE = "https://cal.example.com"
INBOUND = "/api/webhooks/twilio/inbound"
STATUS = "/api/webhooks/twilio/status"
PHONE = "+14155550123"
TWILIO = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
          "BASE_URL": BASE}


@pytest.fixture
def app(app_factory):
    return app_factory(**TWILIO)


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def post_signed(client, path, params, *, token=AUTH_TOKEN, signed_url=None, query=""):
    url = signed_url or BASE + path + (f"?{query}" if query else "")
    return client.post(path + (f"?{query}" if query else ""), data=params,
                       headers=signed_inbound(url, params, token))


def text(client, body, phone=PHONE):
    return post_signed(client, INBOUND, inbound_params(phone, body))


def reply(response) -> str | None:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


def opted_out(app, phone=PHONE) -> bool:
    return in_db(app, opt_outs.opted_out, phone)


# --- inbound ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("word", ["STOP", "stop", "  Stop \n", "STOPALL", "unsubscribe", "CANCEL", "End", "QUIT"])
def test_a_stop_word_records_the_opt_out_and_answers_unsubscribed(app, client, word):
    assert reply(text(client, word)) == "You've been unsubscribed."
    assert opted_out(app)


def test_stop_twice_keeps_one_opt_out(app, client):
    text(client, "STOP")
    assert reply(text(client, "STOP")) == "You've been unsubscribed."
    assert in_db(app, lambda: SmsOptOut.select().where(SmsOptOut.phone == PHONE).count()) == 1


def test_start_resubscribes(app, client):
    text(client, "STOP")
    answer = reply(text(client, " start"))
    assert "resubscribed" in answer and "STOP" in answer
    assert not opted_out(app)
    assert reply(text(client, "UNSTOP")) and not opted_out(app)


def test_help_names_the_instance_and_how_to_stop(app, client):
    for word in ("HELP", "info"):
        answer = reply(text(client, word))
        assert "cal.example.com" in answer and "Reply STOP" in answer
    assert not opted_out(app)


def test_other_texts_get_an_empty_response_and_change_nothing(app, client):
    response = text(client, "stop sending me these please")
    assert reply(response) is None and b"<Response/>" in response.data
    assert not opted_out(app)


def test_a_national_sender_number_is_stored_in_e164(app, client):
    text(client, "STOP", phone="(415) 555-0123")
    assert opted_out(app, PHONE)


def test_the_reply_is_escaped(app):
    with app.test_request_context():
        from app.api.twilio_webhooks import twiml
        body = twiml("<b> & 'you'").get_data(as_text=True)
    assert "<b>" not in body and "&lt;b&gt; &amp;" in body


@pytest.mark.parametrize("forgery", ["missing", "other_token", "other_url", "tampered"])
def test_a_forged_inbound_request_is_refused_and_records_nothing(app, client, forgery):
    params = inbound_params(PHONE, "STOP")
    if forgery == "missing":
        response = client.post(INBOUND, data=params)
    elif forgery == "other_token":
        response = post_signed(client, INBOUND, params, token="0" * 32)
    elif forgery == "other_url":
        response = post_signed(client, INBOUND, params, signed_url="https://evil.example/api/webhooks/twilio/inbound")
    else:
        headers = signed_inbound(BASE + INBOUND, {**params, "Body": "HELP"})
        response = client.post(INBOUND, data=params, headers=headers)
    assert response.status_code == 403
    assert not opted_out(app)


def test_the_query_string_is_part_of_the_signed_url(app, client):
    params = inbound_params(PHONE, "STOP")
    assert post_signed(client, INBOUND, params, query="source=twilio").status_code == 200
    headers = signed_inbound(BASE + INBOUND, params)              # signed without the query it was sent with
    assert client.post(INBOUND + "?source=twilio", data=params, headers=headers).status_code == 403


def test_without_twilio_settings_both_endpoints_are_absent(app_factory):
    client = app_factory(BASE_URL=BASE).test_client()
    params = inbound_params(PHONE, "STOP")
    assert post_signed(client, INBOUND, params).status_code == 404
    assert post_signed(client, STATUS, {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}).status_code \
        == 404


def test_the_endpoints_need_no_csrf_token(app_factory):
    client = app_factory(**TWILIO, WTF_CSRF_ENABLED=True).test_client()
    assert reply(text(client, "HELP"))


# --- status callbacks ------------------------------------------------------------------------------------------
def _sms_action(app, sid: str, status: str = "sent") -> int:
    def make():
        user = factories.user("hana")
        event_type = factories.event_type(user)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        booking = factories.booking_row(event_type, start)
        workflow = Workflow.create(user=user, name="Reminder", trigger="before_meeting", offset_minutes=60,
                                   enabled=True)
        action = WorkflowAction.create(workflow=workflow, kind="sms", config={"recipient": "invitee"})
        run = WorkflowRun.create(workflow=workflow, booking=booking, due_key=start.isoformat(),
                                 due_at=start - timedelta(hours=1), status="fired")
        return WorkflowRunAction.create(run=run, action=action, kind="sms", status=status, remote_id=sid).id
    return in_db(app, make)


def _row(app, row_id) -> WorkflowRunAction:
    return in_db(app, WorkflowRunAction.get_by_id, row_id)


def callback(client, sid, status, code=None):
    params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
              "MessageStatus": status, "SmsStatus": status, "To": PHONE, "From": FROM_NUMBER}
    if code is not None:
        params["ErrorCode"] = str(code)
    return post_signed(client, STATUS, params)


SID = "SM" + "ab" * 16


def test_delivered_marks_the_action_delivered(app, client):
    row_id = _sms_action(app, SID)
    assert callback(client, SID, "sent").status_code == 204
    assert _row(app, row_id).status == "sent"
    assert callback(client, SID, "delivered").status_code == 204
    row = _row(app, row_id)
    assert row.status == "delivered" and row.error is None and row.finished_at is not None


@pytest.mark.parametrize(("status", "code", "words"), [("undelivered", 30006, "landline"),
                                                       ("failed", 21610, "STOP"),
                                                       ("undelivered", 30007, "spam")])
def test_failed_and_undelivered_mark_the_action_failed_in_plain_words(app, client, status, code, words):
    row_id = _sms_action(app, SID)
    assert callback(client, SID, status, code).status_code == 204
    row = _row(app, row_id)
    assert row.status == "failed" and words in row.error and str(code) in row.error


def test_a_late_or_repeated_callback_never_moves_a_finished_action_back(app, client):
    row_id = _sms_action(app, SID)
    callback(client, SID, "delivered")
    for status in ("sent", "queued", "failed", "delivered"):
        callback(client, SID, status, 30008 if status == "failed" else None)
    assert _row(app, row_id).status == "delivered"


def test_a_failed_action_stays_failed(app, client):
    row_id = _sms_action(app, SID)
    callback(client, SID, "undelivered", 30003)
    callback(client, SID, "delivered")
    row = _row(app, row_id)
    assert row.status == "failed" and "30003" in row.error


def test_an_unknown_sid_is_accepted_and_ignored(app, client):
    row_id = _sms_action(app, SID)
    assert callback(client, "SM" + "ef" * 16, "delivered").status_code == 204
    assert _row(app, row_id).status == "sent"


def test_a_forged_status_callback_is_refused(app, client):
    row_id = _sms_action(app, SID)
    params = {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "30007"}
    assert client.post(STATUS, data=params).status_code == 403
    assert post_signed(client, STATUS, params, token="f" * 32).status_code == 403
    assert _row(app, row_id).status == "sent"
