"""WhatsApp senders (app.services.messaging.whatsapp, spec page 11) against the Twilio fake's Senders API: page 11's
display-name rules and status table, registration, the live refresh, the webhook and the poll, the host's emails
(once per change), error 21656's admin message, deregistration and the release of the number."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from app.integrations import twilio_senders
from app.models.base import utcnow
from app.models.messaging import WhatsAppSender
from app.models.outbox import OutboxMessage
from app.services import mailer
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.messaging import whatsapp
from app.services.voice import numbers
from tests import factories

pytest_plugins = ["tests.number_fixtures"]
BASE = "https://cal.example.com"


@pytest.fixture
def pro(in_app):
    return factories.user("hana", plan="PRO")


@pytest.fixture
def number(pro, twilio_fake):
    return numbers.provision_number(pro, "US", label="Main office")


def emails() -> list[dict]:
    return [mailer.unseal(json.loads(m.payload))
            for m in OutboxMessage.select().where(OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)]


def sender_requests(twilio_fake, method: str | None = None) -> list:
    return [r for r in twilio_fake.requests if r.path.startswith("/v2/Channels/Senders")
            and (method is None or r.method == method)]


def fresh(row) -> WhatsAppSender:
    return WhatsAppSender.get_by_id(row.id)


# --- page 11's display-name rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Dr. Smith Dental", "Acme Corp", "Main Street Salon", "Café Lumière",
                                  "Smith and Sons Plumbing", "3M Dental Care", "Joe-Bikes", "A" * 256, "Abc"])
def test_valid_display_names_pass(name):
    assert whatsapp.display_name_problem(name) is None


@pytest.mark.parametrize(("name", "rule"), [
    ("WhatsApp Business", "meta"),                 # page 11's invalid examples
    ("Official Store", "official"),
    ("test@company", "special"),
    ("ab", "length"),
    ("  ab  ", "length"),
    ("A" * 257, "length"),
    ("", "length"),
    (None, "length"),
    ("123 456", "letter"),
    ("--- ...", "letter"),
    ("Acme!", "special"),
    ("Smith & Sons", "special"),
    ("Smith's Dental", "special"),
    ("Acme (US)", "special"),
    ("Acme, Inc", "special"),
    ("Acme_Corp", "special"),
    ("Acme/Corp", "special"),
    ("https://acme.example", "url"),
    ("www.acme.org", "url"),
    ("acme.com Dental", "url"),
    ("Shop at acme.io", "url"),
    ("Facebook Fans", "meta"),
    ("Instagram Shop", "meta"),
    ("Messenger Couriers", "meta"),
    ("Whats App Helpers", "meta"),
    ("Verified Dental", "official"),
    ("Acme official", "official"),
    ("Store", "generic"),
    ("Business", "generic"),
    ("The Store", "generic"),
    ("Online Shop", "generic"),
])
def test_invalid_display_names_say_which_rule(name, rule):
    problem = whatsapp.display_name_problem(name)
    expected = whatsapp.RULES[rule]
    if rule == "special":
        assert problem is not None and problem.startswith("The display name cannot contain special characters")
    else:
        assert problem == expected


@pytest.mark.parametrize("char", list(whatsapp.SPECIAL))
def test_every_listed_special_character_is_refused(char):
    problem = whatsapp.display_name_problem(f"Acme{char}Dental")
    assert problem is not None


# --- page 11's status table --------------------------------------------------------------------------------------
SID = "XE" + "0" * 32


@pytest.mark.parametrize(("twilio", "ours"), [
    ("CREATING", "pending"), ("PENDING_VERIFICATION", "pending"), ("VERIFYING", "pending"),
    ("TWILIO_REVIEW", "pending"), ("DRAFT", "pending"), ("STUBBED", "pending"),
    ("ONLINE", "approved"), ("ONLINE:UPDATING", "approved"), ("OFFLINE", "rejected"),
])
def test_every_twilio_status_is_mapped_as_page_11s_table(twilio, ours):
    assert whatsapp.map_status(twilio, SID) == ours
    assert whatsapp.enabled(ours) is (twilio in ("ONLINE", "ONLINE:UPDATING"))


def test_the_table_covers_every_status_twilio_documents():
    assert set(twilio_senders.STATUSES) == set(whatsapp.STATUS_MAP) | {"OFFLINE"}


def test_outside_the_table():
    assert whatsapp.map_status("OFFLINE", None) == "failed"      # OFFLINE without a sender SID
    assert whatsapp.map_status("SOMETHING_NEW", SID) == "pending"
    assert whatsapp.map_status("online", SID) == "approved"


# --- registration ------------------------------------------------------------------------------------------------
def test_register_creates_the_sender_at_twilio_pending(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "  Dr.  Smith Dental ")
    assert (row.status, row.twilio_status, row.display_name) == ("pending", "CREATING", "Dr. Smith Dental")
    [remote] = twilio_fake.senders.values()
    assert remote["sid"] == row.sender_sid and remote["sender_id"] == f"whatsapp:{number.e164}"
    assert remote["profile"] == {"name": "Dr. Smith Dental"}
    assert remote["webhook"] == {"callback_url": BASE + "/api/webhooks/twilio/inbound", "callback_method": "POST",
                                 "status_callback_url": BASE + "/api/webhooks/twilio/whatsapp-sender-status",
                                 "status_callback_method": "POST"}
    [request] = sender_requests(twilio_fake, "POST")
    assert request.headers["Content-Type"] == "application/json"
    assert whatsapp.sender_json(row)["whatsappEnabled"] is False and not whatsapp.number_enabled(number)
    assert emails() == []


def test_a_broken_rule_sends_nothing_to_twilio(pro, number, twilio_fake):
    with pytest.raises(ValidationFailed) as caught:
        whatsapp.register(pro, number.id, "WhatsApp Business")
    assert caught.value.errors == {"displayName": whatsapp.RULES["meta"]}
    assert sender_requests(twilio_fake) == [] and WhatsAppSender.select().count() == 0


def test_another_accounts_number_is_not_found(pro, number, twilio_fake):
    other = factories.user("otto", plan="PRO")
    for call in (lambda: whatsapp.register(other, number.id, "Acme Corp"), lambda: whatsapp.status(other, number.id),
                 lambda: whatsapp.deregister(other, number.id)):
        with pytest.raises(NotFound):
            call()
    assert sender_requests(twilio_fake) == []


def test_a_pending_sender_is_not_registered_twice(pro, number, twilio_fake):
    whatsapp.register(pro, number.id, "Acme Corp")
    with pytest.raises(Conflict):
        whatsapp.register(pro, number.id, "Acme Dental")
    assert len(twilio_fake.senders) == 1


def test_error_21656_is_page_11s_admin_message_and_kept_on_the_row(pro, number, twilio_fake):
    twilio_fake.refuse_senders(21656)
    with pytest.raises(whatsapp.WhatsAppFailed) as caught:
        whatsapp.register(pro, number.id, "Acme Corp")
    assert caught.value.code == 21656
    assert str(caught.value) == twilio_senders.WHATSAPP_API_UNAVAILABLE
    assert str(caught.value).startswith("WhatsApp API not yet available") and "Twilio Console" in str(caught.value)
    row = whatsapp.status(pro, number.id)
    assert (row.status, row.error_code, row.sender_sid) == ("failed", "21656", None)
    assert whatsapp.sender_json(row)["error"] == {"code": 21656, "message": twilio_senders.WHATSAPP_API_UNAVAILABLE}
    twilio_fake.refuse_senders(None)                     # the operator registered one sender in the Console
    again = whatsapp.register(pro, number.id, "Acme Corp")
    assert again.id == row.id and again.status == "pending" and again.error_message is None


def test_a_name_twilio_refuses_is_21656_too(pro, number, twilio_fake):
    twilio_fake.bad_display_names.add("Acme Corp")
    with pytest.raises(whatsapp.WhatsAppFailed) as caught:
        whatsapp.register(pro, number.id, "Acme Corp")
    assert caught.value.code == 21656 and fresh(whatsapp.status(pro, number.id)).status == "failed"


def test_twilio_down_stores_nothing(pro, number, twilio_fake):
    twilio_fake.fail(503, times=5)
    with pytest.raises(whatsapp.WhatsAppFailed) as caught:
        whatsapp.register(pro, number.id, "Acme Corp")
    assert caught.value.transient and WhatsAppSender.select().count() == 0


# --- status: refresh, webhook, poll; the emails --------------------------------------------------------------------
def test_refresh_asks_twilio_and_approval_emails_the_host_once(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
    assert whatsapp.status(pro, number.id).status == "pending"             # no refresh: the stored status
    refreshed = whatsapp.status(pro, number.id, refresh=True)
    assert (refreshed.status, refreshed.twilio_status, refreshed.notified_status) == ("approved", "ONLINE",
                                                                                      "approved")
    assert whatsapp.sender_json(refreshed)["whatsappEnabled"] is True and whatsapp.number_enabled(number)
    [mail] = emails()
    assert mail["to"] == [pro.email] and mail["subject"] == f"WhatsApp is ready on {number.e164}"
    assert "Acme Corp" in mail["text"] and BASE + "/dashboard/phone-numbers" in mail["text"]
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE:UPDATING", notify=False)
    assert whatsapp.status(pro, number.id, refresh=True).status == "approved"
    whatsapp.status(pro, number.id, refresh=True)
    assert len(emails()) == 1


def test_the_webhook_updates_the_status_and_a_rejection_emails_once(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    callback = twilio_fake.set_sender_status(row.sender_sid, "OFFLINE", offline_reasons=["Display name rejected"])
    assert callback.url == BASE + "/api/webhooks/twilio/whatsapp-sender-status"
    assert whatsapp.handle_status_callback(callback.params) is True
    stored = fresh(row)
    assert (stored.status, stored.twilio_status) == ("rejected", "OFFLINE")
    assert "Display name rejected" in stored.error_message
    whatsapp.handle_status_callback(callback.params)                       # Twilio repeats it
    [mail] = emails()
    assert mail["subject"] == f"Meta did not approve the WhatsApp name for {number.e164}"
    assert "Display name rejected" in mail["text"] and "Try again" in mail["text"]


def test_a_callback_about_no_sender_of_ours_changes_nothing(pro, number):
    assert whatsapp.handle_status_callback({"SenderSid": SID, "Status": "ONLINE"}) is False
    assert whatsapp.handle_status_callback({"MessageSid": "SM" + "0" * 32, "MessageStatus": "sent"}) is False


def test_a_callback_without_a_status_asks_twilio(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
    assert whatsapp.handle_status_callback({"SenderSid": row.sender_sid}) is True
    assert fresh(row).status == "approved"


def test_the_poll_asks_about_pending_senders_every_5_minutes_and_approved_ones_hourly(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    now = utcnow()
    assert whatsapp.poll_due(now + timedelta(minutes=4)) == 0                # checked at registration
    twilio_fake.set_sender_status(row.sender_sid, "VERIFYING", notify=False)
    assert whatsapp.poll_due(now + timedelta(minutes=5, seconds=1)) == 1
    assert fresh(row).twilio_status == "VERIFYING" and fresh(row).status == "pending"
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
    WhatsAppSender.update(last_checked_at=now - timedelta(minutes=6)).where(WhatsAppSender.id == row.id).execute()
    assert whatsapp.poll_due() == 1 and fresh(row).status == "approved"
    assert len(emails()) == 1
    checked = fresh(row).last_checked_at
    assert whatsapp.poll_due(checked + timedelta(minutes=59)) == 0          # approved: hourly
    twilio_fake.set_sender_status(row.sender_sid, "OFFLINE", notify=False, offline_reasons=["Policy violation"])
    assert whatsapp.poll_due(checked + timedelta(minutes=61)) == 1
    revoked = fresh(row)
    assert revoked.status == "rejected" and "turned off" in revoked.error_message
    assert [m["subject"] for m in emails()] == [f"WhatsApp is ready on {number.e164}",
                                                f"WhatsApp was turned off on {number.e164}"]


def test_the_poll_leaves_rejected_senders_alone_and_survives_twilio_errors(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.fail(500, times=1)
    assert whatsapp.poll_due(utcnow() + timedelta(minutes=10)) == 0
    assert fresh(row).status == "pending"
    twilio_fake.set_sender_status(row.sender_sid, "OFFLINE", notify=False)
    assert whatsapp.poll_due(utcnow() + timedelta(minutes=10)) == 1 and fresh(row).status == "rejected"
    before = len(sender_requests(twilio_fake, "GET"))
    assert whatsapp.poll_due(utcnow() + timedelta(days=2)) == 0
    assert len(sender_requests(twilio_fake, "GET")) == before


def test_a_sender_twilio_lost_is_failed(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.senders.clear()
    assert whatsapp.status(pro, number.id, refresh=True).status == "failed"
    assert "no longer has" in fresh(row).error_message


def test_try_again_after_a_rejection_replaces_the_sender(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.set_sender_status(row.sender_sid, "OFFLINE", notify=False)
    whatsapp.status(pro, number.id, refresh=True)
    again = whatsapp.register(pro, number.id, "Acme Dental Clinic")
    assert again.id == row.id and again.sender_sid != row.sender_sid and again.status == "pending"
    assert again.notified_status is None
    assert [s["sid"] for s in twilio_fake.deleted_senders] == [row.sender_sid]
    assert [s["profile"]["name"] for s in twilio_fake.senders.values()] == ["Acme Dental Clinic"]


# --- deregistration ----------------------------------------------------------------------------------------------
def test_deregister_deletes_the_sender_at_twilio_and_here(pro, number, twilio_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    whatsapp.deregister(pro, number.id)
    assert [s["sid"] for s in twilio_fake.deleted_senders] == [row.sender_sid] and twilio_fake.senders == {}
    assert whatsapp.status(pro, number.id) is None
    whatsapp.deregister(pro, number.id)                                      # nothing left: nothing to do
    assert len(sender_requests(twilio_fake, "DELETE")) == 1


def test_releasing_the_number_deregisters_its_sender(pro, number, twilio_fake, elevenlabs_fake):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    numbers.hold_number(number)
    assert number.status == "held"
    assert [s["sid"] for s in twilio_fake.deleted_senders] == [row.sender_sid]
    assert WhatsAppSender.select().count() == 0


def test_a_release_twilio_refuses_is_retried_by_the_poll(pro, number, twilio_fake, monkeypatch):
    row = whatsapp.register(pro, number.id, "Acme Corp")
    delete = twilio_senders.delete_sender
    monkeypatch.setattr(twilio_senders, "delete_sender", lambda sid: (_ for _ in ()).throw(
        twilio_senders.SenderError("refused", status=400)))
    numbers.hold_number(number)
    assert number.status == "held" and "Deregistration pending" in fresh(row).error_message
    monkeypatch.setattr(twilio_senders, "delete_sender", delete)
    whatsapp.poll_due()
    assert WhatsAppSender.select().count() == 0 and twilio_fake.senders == {}


def test_the_poll_task_runs_every_5_minutes_and_polls(pro, number, twilio_fake):
    from datetime import datetime

    from tasks import whatsapp as whatsapp_tasks

    task = whatsapp_tasks.poll_whatsapp_senders
    due = task.task_class().validate_datetime
    assert due(datetime(2026, 3, 2, 10, 5)) and due(datetime(2026, 3, 2, 10, 0)) and due(datetime(2026, 3, 2, 3, 55))
    assert not due(datetime(2026, 3, 2, 10, 7))
    row = whatsapp.register(pro, number.id, "Acme Corp")
    twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
    WhatsAppSender.update(last_checked_at=utcnow() - timedelta(minutes=6)).where(WhatsAppSender.id == row.id).execute()
    with ThreadPoolExecutor(1) as pool:         # the task opens its own app context and connection, as a worker
        assert pool.submit(task.call_local).result(timeout=60) == 1
    assert fresh(row).status == "approved"


def test_an_organization_number_is_managed_by_its_owners_and_admins(pro, twilio_fake):
    from app.models import Membership
    from app.services.account import organizations

    org = organizations.create_organization(pro, name="Acme", slug="acme")
    member = factories.user("mia", plan="PRO")
    Membership.create(organization=org, user=member, role="MEMBER")
    shared = numbers.provision_number(pro, "US", organization=org.id)
    with pytest.raises(Forbidden):
        whatsapp.register(member, shared.id, "Acme Corp")
    row = whatsapp.register(pro, shared.id, "Acme Corp")
    assert whatsapp.status(member, shared.id).id == row.id                  # members see it
    with pytest.raises(Forbidden):
        whatsapp.deregister(member, shared.id)


def test_a_held_number_cannot_enable_whatsapp(pro, number, twilio_fake, elevenlabs_fake):
    numbers.hold_number(number)
    with pytest.raises(Conflict):
        whatsapp.register(pro, number.id, "Acme Corp")
    assert twilio_fake.senders == {}
