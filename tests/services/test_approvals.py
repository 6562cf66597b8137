"""Requires confirmation (issue 23 point 2): the request (PENDING, slot held, booking.requested and its emails), the
host's confirmation (announced as booking.created), the decline (slot freed, booking.cancelled, the invitee's email
with the reason), expiry at the start, the signed links and the event-type option's rules."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Booking, Contact, EventType, OutboxMessage, Reminder
from app.services import mailer
from app.services.booking import approvals
from app.services.booking import bookings as svc
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.scheduling import event_types as et_service
from app.services.scheduling.event_type_approvals import needs_confirmation
from tests import factories

START = factories.weekday_at(3, hour=10)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="Europe/Berlin")


@pytest.fixture
def gated(host):
    """An event type that requires confirmation of every booking."""
    return factories.new_event_type(host, name="Consult", duration=30, requires_confirmation=True)


def events_named(name):
    rows = OutboxMessage.select().where(OutboxMessage.kind == "event").order_by(OutboxMessage.created_at)
    return [json.loads(r.payload) for r in rows if json.loads(r.payload)["event"] == name]


def emails():
    return [mailer.unseal(json.loads(m.payload))
            for m in OutboxMessage.select().where(OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)]


def request(event_type, start=START, n=0, **kw):
    return factories.booking(EventType.get_by_id(event_type.id), start, email=f"guest{n}@example.com",
                             name=f"Guest {n}", **kw)


# --- the request ---------------------------------------------------------------------------------------------------
def test_a_request_is_pending_holds_the_slot_and_tells_only_of_the_request(gated, host):
    booking = request(gated)
    assert booking.status == "PENDING" and booking.approval == "pending" and booking.contact_id is None
    with pytest.raises(svc.SlotUnavailable):
        request(gated, n=1)                                   # the time is held while the host decides
    assert events_named("booking.created") == []
    [requested] = events_named("booking.requested")
    assert requested["data"]["id"] == booking.id and requested["data"]["status"] == "PENDING"
    assert requested["data"]["approval"] == "pending"
    assert Contact.select().count() == 0 and Reminder.select().count() == 0
    assert AuditLog.select().where(AuditLog.action == "booking.requested").count() == 1
    mails = {m["to"][0]: m for m in emails()}
    assert set(mails) == {"guest0@example.com", "hana@example.com"}
    assert mails["guest0@example.com"]["subject"].startswith("Request received")
    assert "awaiting confirmation" in mails["guest0@example.com"]["text"]
    host_text = mails["hana@example.com"]["text"]
    confirm = next(line.split(": ", 1)[1] for line in host_text.splitlines() if line.startswith("Confirm: "))
    decline = next(line.split(": ", 1)[1] for line in host_text.splitlines() if line.startswith("Decline: "))
    assert approvals.booking_for_link(confirm.rsplit("/", 1)[1]) == (Booking.get_by_id(booking.id), "confirm")
    assert approvals.booking_for_link(decline.rsplit("/", 1)[1])[1] == "decline"
    assert not any("Confirmed:" in m["subject"] for m in emails())


def test_a_repeated_request_returns_the_same_pending_booking(gated):
    first = request(gated)
    again = svc.create_booking(EventType.get_by_id(gated.id),
                               factories.booking_request(START, email="guest0@example.com", name="Guest 0"))
    assert again.created is False and again.booking.id == first.id
    assert len(events_named("booking.requested")) == 1


def test_the_threshold_asks_only_for_bookings_made_close_to_their_start(host):
    event_type = factories.new_event_type(host, name="Late", requires_confirmation=True,
                                          confirmation_threshold_hours=24)
    assert needs_confirmation(event_type, START, START - timedelta(hours=23, minutes=59))
    assert not needs_confirmation(event_type, START, START - timedelta(hours=24))
    far = request(event_type, now=START - timedelta(days=2))
    assert far.status == "CONFIRMED" and far.approval is None
    near = request(event_type, start=START + timedelta(hours=2), n=1, now=START - timedelta(hours=3))
    assert near.status == "PENDING"


def test_an_event_type_without_the_option_books_at_once(host, event_type):
    assert request(event_type).status == "CONFIRMED"
    assert events_named("booking.requested") == []


# --- confirming ----------------------------------------------------------------------------------------------------
def test_confirming_announces_the_booking_as_created_once(gated, host):
    booking = request(gated)
    confirmed = approvals.confirm_request(booking.id, user_id=host.id, actor=host)
    stored = Booking.get_by_id(booking.id)
    assert confirmed.status == stored.status == "CONFIRMED" and stored.approval == "confirmed"
    [created] = events_named("booking.created")
    assert created["data"]["status"] == "CONFIRMED" and created["data"]["approval"] == "confirmed"
    assert Contact.get(Contact.email == "guest0@example.com").id == stored.contact_id
    assert Reminder.select().where(Reminder.booking == booking.id).count() >= 1
    assert {m["subject"].split(":")[0] for m in emails()} >= {"Confirmed", "New booking"}
    with pytest.raises(Conflict, match="already confirmed"):
        approvals.confirm_request(booking.id, user_id=host.id)
    with pytest.raises(Conflict):
        approvals.decline_request(booking.id, reason=None, user_id=host.id)
    assert len(events_named("booking.created")) == 1


def test_another_host_can_neither_confirm_nor_decline(gated, make_user):
    booking = request(gated)
    other = make_user("otto")
    with pytest.raises(NotFound):
        approvals.confirm_request(booking.id, user_id=other.id)
    with pytest.raises(NotFound):
        approvals.decline_request(booking.id, reason="no", user_id=other.id)
    assert Booking.get_by_id(booking.id).status == "PENDING"


def test_a_request_cannot_be_confirmed_after_its_start(gated, host):
    booking = request(gated)
    with pytest.raises(approvals.LinkExpired):
        approvals.confirm_request(booking.id, user_id=host.id, now=START)
    assert Booking.get_by_id(booking.id).status == "PENDING"


# --- declining -----------------------------------------------------------------------------------------------------
def test_declining_frees_the_slot_and_tells_the_invitee_with_the_reason(gated, host):
    booking = request(gated)
    approvals.decline_request(booking.id, reason="  Fully booked that day  ", user_id=host.id, actor=host)
    stored = Booking.get_by_id(booking.id)
    assert (stored.status, stored.approval, stored.cancelled_by) == ("CANCELLED", "declined", "host")
    assert stored.cancel_reason == "Fully booked that day"
    [cancelled] = events_named("booking.cancelled")
    assert cancelled["data"]["cancelReason"] == "Fully booked that day"
    assert cancelled["data"]["approval"] == "declined" and cancelled["data"]["status"] == "CANCELLED"
    assert events_named("booking.created") == []
    declined = [m for m in emails() if m["subject"].startswith("Declined")]
    assert [m["to"] for m in declined] == [["guest0@example.com"]]
    assert "Reason: Fully booked that day" in declined[0]["text"]
    assert not any(m["subject"].startswith("Cancelled") for m in emails())   # not the ordinary cancellation
    assert request(gated, n=2).status == "PENDING"                          # the time is free again


def test_the_invitee_may_withdraw_a_request_which_frees_the_slot(gated):
    booking = request(gated)
    svc.cancel_booking(Booking.get_by_id(booking.id), reason="Found another time", by="invitee")
    assert Booking.get_by_id(booking.id).status == "CANCELLED"
    assert request(gated, n=3).status == "PENDING"


def test_a_pending_request_cannot_be_rescheduled(gated):
    booking = request(gated)
    with pytest.raises(ValidationFailed, match="confirmation"):
        svc.reschedule_booking(Booking.get_by_id(booking.id), START + timedelta(hours=1), reason=None, by="invitee")


# --- expiry ----------------------------------------------------------------------------------------------------
def test_requests_unanswered_at_their_start_expire_and_the_invitee_is_told(gated, host):
    early = request(gated)
    later = request(gated, start=START + timedelta(days=7), n=1)
    assert approvals.expire_requests(START - timedelta(seconds=1)) == 0
    assert approvals.expire_requests(START) == 1
    stored = Booking.get_by_id(early.id)
    assert (stored.status, stored.approval, stored.cancelled_by) == ("CANCELLED", "expired", "system")
    assert stored.cancel_reason == approvals.EXPIRED_REASON
    assert Booking.get_by_id(later.id).status == "PENDING"
    told = [m for m in emails() if m["subject"].startswith("Not confirmed")]
    assert [m["to"] for m in told] == [["guest0@example.com"]]
    assert "did not confirm your request" in told[0]["text"]
    [cancelled] = events_named("booking.cancelled")
    assert cancelled["data"]["approval"] == "expired"
    assert approvals.expire_requests(START + timedelta(minutes=1)) == 0        # once


def test_the_periodic_task_expires_past_requests_in_its_own_thread(gated):
    """As the consumer runs it: in a thread that opens the app's context and a connection itself."""
    from concurrent.futures import ThreadPoolExecutor

    from huey.api import PeriodicTask

    from tasks.approvals import expire_unanswered_requests

    past = factories.booking_row(gated, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
                                 status="PENDING", approval="pending")
    upcoming = request(gated)
    assert isinstance(expire_unanswered_requests.task_class(), PeriodicTask)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(expire_unanswered_requests.call_local).result(timeout=60) == 1
    assert Booking.get_by_id(past.id).approval == "expired"
    assert Booking.get_by_id(upcoming.id).status == "PENDING"


# --- signed links -----------------------------------------------------------------------------------------------
def test_links_are_for_one_action_of_one_booking_until_its_start(gated, app):
    booking = request(gated)
    token = approvals.action_token(booking, "decline")
    assert approvals.booking_for_link(token) == (booking, "decline")
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "nonsense",
                   token.replace(".", "x", 1)):
        with pytest.raises(NotFound):
            approvals.booking_for_link(forged)
    tampered = approvals._serializer().dumps({"b": booking.id, "u": "someone-elses-uid", "a": "confirm",
                                              "e": int(START.timestamp())})
    with pytest.raises(NotFound):
        approvals.booking_for_link(tampered)
    with pytest.raises(approvals.LinkExpired):
        approvals.booking_for_link(token, now=START)
    other_key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another-secret-key-for-this-test"
    try:
        with pytest.raises(NotFound):
            approvals.booking_for_link(token)
    finally:
        app.config["SECRET_KEY"] = other_key


# --- the option ------------------------------------------------------------------------------------------------
def test_the_option_is_refused_on_paid_and_repeating_event_types(host):
    with pytest.raises(ValidationFailed) as paid:
        factories.new_event_type(host, name="Paid", requires_confirmation=True, price="50",
                                 price_currency="usd", payment_providers=[])
    assert "paid event type" in paid.value.errors["requires_confirmation"]
    with pytest.raises(ValidationFailed) as repeats:
        factories.new_event_type(host, name="Weekly", requires_confirmation=True,
                                 recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4})
    assert "repeating" in repeats.value.errors["requires_confirmation"]


def test_the_threshold_is_whole_hours_in_range_and_empty_means_always(host, gated):
    for bad in ("0", "-3", "abc", str(24 * 365 + 1)):
        with pytest.raises(ValidationFailed) as exc:
            et_service.update_event_type(gated, et_service.EventTypeInput(confirmation_threshold_hours=bad))
        assert "confirmation_threshold_hours" in exc.value.errors
    updated = et_service.update_event_type(gated, et_service.EventTypeInput(confirmation_threshold_hours="12"))
    assert updated.confirmation_threshold_hours == 12
    cleared = et_service.update_event_type(updated, et_service.EventTypeInput(confirmation_threshold_hours=""))
    assert cleared.confirmation_threshold_hours is None and cleared.requires_confirmation


def test_team_event_types_refuse_the_option(host, make_user):
    member = make_user("mia")
    team = factories.team(host, [member])
    with pytest.raises(ValidationFailed) as exc:
        et_service.validate(host, et_service.EventTypeInput(name="Intro", requires_confirmation=True), team=team)
    assert "Team event types" in exc.value.errors["requires_confirmation"]


def test_the_option_is_copied_with_a_duplicate(gated):
    copy = et_service.duplicate_event_type(gated)
    assert copy.requires_confirmation is True
