"""Bookings in HubSpot, Attio and Salesforce (issue 19): the records each fake ends up with, failures kept to their
CRM, retries, and a crash that still syncs exactly once."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, BookingCrmSync, EventType, Integration, OutboxMessage
from app.services import outbox
from app.services.booking import bookings
from app.services.integrations import crm_sync, oauth_connections
from tests import factories
from tests.crm_fixtures import connect_crm, crm_settings

TIMEOUT = 2          # INTEGRATION_HTTP_TIMEOUT: long enough for a loaded machine, short for the hang tests


@pytest.fixture
def app(app_factory, crm_fakes):
    return app_factory(**crm_settings(crm_fakes, timeout=TIMEOUT))


@pytest.fixture
def fakes(crm_fakes):
    return crm_fakes


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", plan="PRO", timezone="Europe/Berlin", name="Hana Host")


def _event_type(host) -> EventType:
    return EventType.get((EventType.user == host) & (EventType.slug == "30-min"))


def book(host, n=1, *, name="Bo Ek", email="bo@example.com", **fields) -> Booking:
    return bookings.create_booking(_event_type(host), factories.booking_request(
        factories.weekday_at(n), name=name, email=email, **fields)).booking


def run(queue, kinds=("event", "lifecycle", "crm_sync"), now=None) -> list[str]:
    """Run what is due now (or at ``now``): the booking's events fan out, then each CRM's row."""
    results = []
    for kind in kinds:
        results += queue.run_due(now or datetime.now(UTC), kinds=(kind,))
    return results


def sync_of(booking, provider) -> BookingCrmSync:
    return BookingCrmSync.get((BookingCrmSync.booking == booking.id) & (BookingCrmSync.provider == provider))


def crm_rows() -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.kind == crm_sync.KIND))


def berlin(moment: datetime) -> str:
    from app.timezones import zone
    local = moment.astimezone(zone("Europe/Berlin"))
    return f"{local:%a %d %b %Y, %H:%M}"


# --- HubSpot --------------------------------------------------------------------------------------------------
def test_hubspot_create_reschedule_cancel_keeps_one_contact_and_one_meeting(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    client = oauth_connections.oauth_client("hubspot")
    existing = client.upsert_contact(oauth_connections.oauth_access_token(Integration.get()), "BO@example.com",
                                     "Old", "Name")
    booking = book(host, name="Bo Ek", email="bo@example.com", notes="Wants to talk pricing")
    run(queue)

    hub = fakes.hubspot
    assert len(hub.contacts) == 1                                   # dedup by email: the existing contact
    contact = hub.contacts["bo@example.com"]
    assert contact["id"] == existing
    assert contact["properties"]["firstname"] == "Bo" and contact["properties"]["lastname"] == "Ek"
    [(meeting_id, meeting)] = hub.meetings.items()
    props = meeting["properties"]
    assert props["hs_meeting_title"] == "30 Minute Meeting with Bo Ek"
    assert props["hs_meeting_body"] == "Wants to talk pricing"
    assert props["hs_meeting_outcome"] == "SCHEDULED"
    assert props["hs_meeting_start_time"] == booking.start_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert props["hs_meeting_end_time"] == booking.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meeting["associations"] == [{"to": existing, "type": 200}]
    row = sync_of(booking, "hubspot")
    assert (row.status, row.remote_ids, row.changes) == ("synced", {"contact": existing, "meeting": meeting_id}, [])

    moved = bookings.reschedule_booking(booking, factories.weekday_at(2), reason=None, by="host", actor=host)
    run(queue)
    props = hub.meetings[meeting_id]["properties"]
    assert props["hs_meeting_outcome"] == "RESCHEDULED"
    assert props["hs_meeting_start_time"] == moved.start_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert props["hs_meeting_end_time"] == moved.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    bookings.cancel_booking(Booking.get_by_id(booking.id), reason="Budget cut", by="invitee")
    run(queue)
    assert list(hub.meetings) == [meeting_id]                      # the meeting is kept
    assert hub.meetings[meeting_id]["properties"]["hs_meeting_outcome"] == "CANCELED"
    assert len(hub.contacts) == 1 and len(hub.calls("POST", "/crm/v3/objects/meetings")) == 1
    assert sync_of(booking, "hubspot").status == "synced"


# --- Attio ----------------------------------------------------------------------------------------------------
def test_attio_create_reschedule_cancel_adds_one_note_per_change_to_one_person(app, host, fakes, queue):
    connect_crm(app, host, "attio")
    booking = book(host, name="Anna Maria Berg", email="anna@example.com", invitee_phone="+46701234567")
    run(queue)
    att = fakes.attio
    [person] = att.people.values()
    assert person["values"]["email_addresses"] == ["anna@example.com"]
    assert person["values"]["name"] == [{"first_name": "Anna Maria", "last_name": "Berg",
                                         "full_name": "Anna Maria Berg"}]
    assert person["values"]["phone_numbers"] == [{"original_phone_number": "+46701234567"}]
    [created] = att.notes.values()
    first = booking.start_at
    assert created["parent_record_id"] == person["record_id"]
    assert created["title"] == "30 Minute Meeting with Anna Maria Berg"
    assert created["content_plaintext"] == (f"Time: {berlin(first)}–{berlin(booking.end_at)[-5:]} (Europe/Berlin)"
                                            "\n\nBooked via LinkTime")

    moved = bookings.reschedule_booking(booking, factories.weekday_at(3), reason=None, by="invitee")
    run(queue)
    notes = sorted(att.notes.values(), key=lambda n: n["created_at"])
    assert len(notes) == 2 and notes[1]["title"] == "[RESCHEDULED] 30 Minute Meeting with Anna Maria Berg"
    text = notes[1]["content_plaintext"]
    assert f"New time: {berlin(moved.start_at)}" in text and f"Previous time: {berlin(first)}" in text

    bookings.cancel_booking(Booking.get_by_id(booking.id), reason="Found another vendor", by="invitee")
    run(queue)
    notes = sorted(att.notes.values(), key=lambda n: n["created_at"])
    assert len(notes) == 3 and notes[2]["title"] == "[CANCELLED] 30 Minute Meeting with Anna Maria Berg"
    assert "Reason: Found another vendor" in notes[2]["content_plaintext"]
    assert len(att.people) == 1
    assert not any("http" in n["content_plaintext"] for n in notes)        # no meeting links in Attio notes
    row = sync_of(booking, "attio")
    assert row.status == "synced" and row.remote_ids["person"] == person["record_id"]
    assert sorted(row.remote_ids["notes"].values()) == sorted(att.notes)


def test_attio_note_never_carries_the_meeting_link(app, host, fakes, queue):
    connect_crm(app, host, "attio")
    event_type = _event_type(host)
    EventType.update(location_type="custom_link", location_detail="https://meet.example.com/hana").where(
        EventType.id == event_type.id).execute()
    booking = book(host, name="Cher", email="cher@example.com")
    run(queue)
    [note] = fakes.attio.notes.values()
    assert "meet.example.com" not in note["content_plaintext"] + note["title"]
    [person] = fakes.attio.people.values()
    assert person["values"]["name"] == [{"first_name": "", "last_name": "Cher", "full_name": "Cher"}]
    assert sync_of(booking, "attio").status == "synced"


# --- Salesforce -----------------------------------------------------------------------------------------------
def test_salesforce_create_reschedule_cancel_with_an_existing_contact(app, host, fakes, queue):
    connect_crm(app, host, "salesforce")
    sf = fakes.salesforce
    sf.contacts["003EXISTING0000AAA"] = {"Id": "003EXISTING0000AAA", "Email": "lee@example.com",
                                         "FirstName": "L.", "LastName": "Original"}
    event_type = _event_type(host)
    EventType.update(questions=[{"id": "tel", "type": "phone", "label": "Phone", "required": False}]).where(
        EventType.id == event_type.id).execute()
    booking = book(host, name="Lee Park", email="lee@example.com", answers={"tel": "+1 555 0100"})
    run(queue)
    assert sf.contacts == {"003EXISTING0000AAA": {"Id": "003EXISTING0000AAA", "Email": "lee@example.com",
                                                  "FirstName": "Lee", "LastName": "Original",
                                                  "Phone": "+1 555 0100"}}    # LastName preserved
    [(event_id, event)] = sf.events.items()
    assert event == {"Id": event_id, "Subject": "30 Minute Meeting with Lee Park",
                     "StartDateTime": booking.start_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "EndDateTime": booking.end_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "Description": "Booked via LinkTime", "WhoId": "003EXISTING0000AAA"}

    moved = bookings.reschedule_booking(booking, factories.weekday_at(2), reason=None, by="host", actor=host)
    run(queue)
    event = sf.events[event_id]
    assert event["StartDateTime"] == moved.start_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["EndDateTime"] == moved.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["Description"] == (f"Booked via LinkTime\n\nRescheduled: previously {berlin(booking.start_at)}–"
                                    f"{berlin(booking.end_at)[-5:]} (Europe/Berlin).")

    bookings.cancel_booking(Booking.get_by_id(booking.id), reason=None, by="host", actor=host)
    run(queue)
    assert list(sf.events) == [event_id]
    assert sf.events[event_id]["Subject"] == "[Cancelled] 30 Minute Meeting with Lee Park"
    assert len(sf.contacts) == 1
    assert sync_of(booking, "salesforce").remote_ids == {"contact": "003EXISTING0000AAA", "event": event_id}


def test_salesforce_new_contact_one_word_name_and_an_email_with_a_quote(app, host, fakes, queue):
    connect_crm(app, host, "salesforce")
    sf = fakes.salesforce
    booking = book(host, name="Cher", email="o'hara@example.com", notes="Call me after 3")
    run(queue)
    assert sf.queries[-1] == "SELECT Id, FirstName, LastName FROM Contact WHERE Email = 'o\\'hara@example.com' LIMIT 1"
    [(contact_id, contact)] = sf.contacts.items()
    assert contact == {"Id": contact_id, "Email": "o'hara@example.com", "LastName": "Cher"}   # one word: LastName
    [event] = sf.events.values()
    assert event["WhoId"] == contact_id and event["Description"] == "Call me after 3"
    assert sync_of(booking, "salesforce").status == "synced"


def test_a_three_word_name_splits_into_two_first_names_everywhere(app, host, fakes, queue):
    for provider in ("hubspot", "attio", "salesforce"):
        connect_crm(app, host, provider)
    book(host, name="Jean Claude Van", email="jcv@example.com")
    run(queue)
    hub = fakes.hubspot.contacts["jcv@example.com"]["properties"]
    assert (hub["firstname"], hub["lastname"]) == ("Jean Claude", "Van")
    [person] = fakes.attio.people.values()
    assert person["values"]["name"][0]["first_name"] == "Jean Claude"
    [contact] = fakes.salesforce.contacts.values()
    assert (contact["FirstName"], contact["LastName"]) == ("Jean Claude", "Van")


# --- failures, each CRM on its own ----------------------------------------------------------------------------
def test_crm_rows_run_on_the_webhook_lane_never_the_email_lane():
    assert outbox.lane_of(crm_sync.KIND) == "webhooks" and outbox.lane_of("email") == "default"


def test_a_crm_answering_500_leaves_the_booking_its_emails_and_the_other_crms_alone(app, host, fakes, queue):
    for provider in ("hubspot", "attio", "salesforce"):
        connect_crm(app, host, provider)
    fakes.hubspot.fail(500, times=100, path="/crm/")
    booking = book(host)
    results = run(queue, kinds=("event", "lifecycle", "crm_sync", "email"))
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    assert not queue.pending("email")                                   # the confirmation emails went out
    assert results.count("retry") == 1
    assert sync_of(booking, "attio").status == "synced" and sync_of(booking, "salesforce").status == "synced"
    row = sync_of(booking, "hubspot")
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error == "HubSpot had a temporary problem (HTTP 500). LinkTime will try again."
    assert "will try again" in row.last_error and row.next_attempt_at > datetime.now(UTC)
    # later attempts fail too, until LinkTime gives up: the failure is on the booking and the connection's card
    for _ in crm_sync.RETRY_DELAYS:
        run(queue, kinds=("crm_sync",), now=BookingCrmSync.get_by_id(row.id).next_attempt_at)
    row = sync_of(booking, "hubspot")
    assert row.status == "failed" and "Retry sync" in row.last_error and not fakes.hubspot.meetings
    hubspot = Integration.get(Integration.provider == "hubspot")
    assert hubspot.status == "connected" and hubspot.last_error and hubspot.last_error_at is not None

    fakes.hubspot.fail(500, times=0)
    fakes.hubspot._injections.clear()
    assert crm_sync.retry(booking, host) == 1
    run(queue, kinds=("crm_sync",))
    assert sync_of(booking, "hubspot").status == "synced" and len(fakes.hubspot.meetings) == 1
    hubspot = Integration.get(Integration.provider == "hubspot")
    assert hubspot.last_error is None and hubspot.last_error_at is None


def test_a_hanging_crm_times_out_and_the_others_sync(app, host, fakes, queue):
    for provider in ("hubspot", "attio", "salesforce"):
        connect_crm(app, host, provider)
    fakes.attio.slow(TIMEOUT + 3, times=1, path="/v2/")
    booking = book(host)
    run(queue, kinds=("event", "lifecycle", "crm_sync", "email"))
    assert not queue.pending("email")
    assert sync_of(booking, "hubspot").status == "synced" and sync_of(booking, "salesforce").status == "synced"
    row = sync_of(booking, "attio")
    assert row.status == "pending" and f"did not answer within {TIMEOUT} s" in row.last_error
    run(queue, kinds=("crm_sync",), now=row.next_attempt_at)
    assert sync_of(booking, "attio").status == "synced" and len(fakes.attio.people) == 1


def test_rate_limit_retry_after_is_honoured(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    fakes.hubspot.rate_limit("120", times=1, path="/crm/")
    booking = book(host)
    before = datetime.now(UTC)
    run(queue)
    row = sync_of(booking, "hubspot")
    assert row.status == "pending" and row.next_attempt_at >= before + timedelta(seconds=120)
    assert run(queue, kinds=("crm_sync",)) == ["skipped"]                # not before Retry-After
    run(queue, kinds=("crm_sync",), now=row.next_attempt_at)
    assert sync_of(booking, "hubspot").status == "synced"


def test_a_salesforce_validation_rule_fails_with_what_to_fix(app, host, fakes, queue):
    connect_crm(app, host, "salesforce")
    fakes.salesforce.reject("FIELD_CUSTOM_VALIDATION_EXCEPTION", path="/services/data/v60.0/sobjects/Event")
    booking = book(host)
    run(queue)
    row = sync_of(booking, "salesforce")
    assert row.status == "failed" and "Validation Rules" in row.last_error
    assert "contact" in row.remote_ids and "event" not in row.remote_ids     # kept: the retry reuses it
    assert "Validation Rules" in Integration.get().last_error
    crm_sync.retry(booking, host)
    run(queue, kinds=("crm_sync",))
    assert sync_of(booking, "salesforce").status == "synced"
    assert len(fakes.salesforce.contacts) == 1 and len(fakes.salesforce.events) == 1


def test_a_revoked_grant_ends_that_crms_sync_and_disconnects_it(app, host, fakes, queue):
    connect_crm(app, host, "salesforce")
    connect_crm(app, host, "hubspot")
    fakes.salesforce.revoke_grants()
    fakes.salesforce.expire_access_tokens()
    booking = book(host)
    run(queue)
    row = sync_of(booking, "salesforce")
    assert row.status == "failed" and "no longer accepts" in row.last_error
    assert Integration.get(Integration.provider == "salesforce").status == "revoked"
    assert sync_of(booking, "hubspot").status == "synced"


def test_changes_run_in_order_behind_a_failed_creation(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    fakes.hubspot.fail(503, times=1, path="/crm/v3/objects/meetings")
    booking = book(host)
    run(queue)
    assert sync_of(booking, "hubspot").status == "pending" and not fakes.hubspot.meetings
    bookings.reschedule_booking(booking, factories.weekday_at(2), reason=None, by="host", actor=host)
    bookings.cancel_booking(Booking.get_by_id(booking.id), reason=None, by="host", actor=host)
    run(queue)
    [meeting] = fakes.hubspot.meetings.values()
    assert meeting["properties"]["hs_meeting_outcome"] == "CANCELED"
    patched = [c.json["properties"].get("hs_meeting_outcome") for c in fakes.hubspot.calls("PATCH")]
    assert patched == ["RESCHEDULED", "CANCELED"]
    assert sync_of(booking, "hubspot").status == "synced" and sync_of(booking, "hubspot").changes == []


def test_each_occurrence_of_a_series_gets_its_own_meeting(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    event_type = _event_type(host)
    EventType.update(recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4}).where(
        EventType.id == event_type.id).execute()
    book(host, occurrences=3)
    run(queue)
    assert len(fakes.hubspot.meetings) == 3 and len(fakes.hubspot.contacts) == 1
    assert BookingCrmSync.select().where(BookingCrmSync.status == "synced").count() == 3


def test_free_plan_hosts_get_no_sync(app, make_user, fakes, queue, db_conn):
    free = make_user("fred", plan="FREE")
    connect_crm(app, free, "hubspot")
    book(free)
    run(queue)
    assert BookingCrmSync.select().count() == 0 and not fakes.hubspot.meetings


# --- crash safety ---------------------------------------------------------------------------------------------
def test_a_crash_between_booking_and_sync_still_syncs_exactly_once(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    booking = book(host)                    # committed; the worker dies before any row runs
    assert crm_rows() == []
    assert outbox.sweep(0) >= 1             # the minute's sweep takes the lost event row again
    run(queue, kinds=("event", "lifecycle"))
    [row] = crm_rows()
    # a worker claims the CRM row, makes the contact and meeting, and is killed before it records the change done
    real_done = crm_sync._done

    def killed(*_args):
        raise SystemExit("worker killed")
    crm_sync._done = killed
    try:
        with pytest.raises(SystemExit):
            queue.process(row.id, datetime.now(UTC))
    finally:
        crm_sync._done = real_done
    assert len(fakes.hubspot.meetings) == 1
    # its lease runs out; the sweep queues the row again and another worker finishes it
    expired = datetime.now(UTC) - timedelta(seconds=1)
    OutboxMessage.update(leased_until=expired, next_attempt_at=expired).where(OutboxMessage.id == row.id).execute()
    BookingCrmSync.update(busy_until=expired).execute()
    queue.enqueued.clear()
    assert outbox.sweep(60) == 1 and queue.enqueued[0][0] == row.id
    assert queue.process(row.id, datetime.now(UTC)) == "done"
    assert len(fakes.hubspot.meetings) == 1 and len(fakes.hubspot.calls("POST", "/crm/v3/objects/meetings")) == 1
    assert sync_of(booking, "hubspot").status == "synced"


def test_two_workers_never_sync_one_row_at_once(app, host, fakes, queue):
    connect_crm(app, host, "hubspot")
    booking = book(host)
    run(queue, kinds=("event", "lifecycle"))
    row = sync_of(booking, "hubspot")
    since = crm_sync._claim(row)
    assert since is not None
    [message] = crm_rows()
    assert queue.process(message.id, datetime.now(UTC)) == "postponed"
    postponed_to = OutboxMessage.get_by_id(message.id).next_attempt_at
    assert postponed_to >= since + timedelta(seconds=crm_sync.LEASE_SECONDS)     # behind the claim, not an attempt
    crm_sync._release(row.id, since)
    run(queue, kinds=("crm_sync",), now=postponed_to)
    assert sync_of(booking, "hubspot").status == "synced" and len(fakes.hubspot.meetings) == 1


def test_a_row_the_queue_gives_up_marks_the_sync_failed_not_pending(app, host, fakes, queue, monkeypatch):
    connect_crm(app, host, "hubspot")
    booking = book(host)
    run(queue, kinds=("event", "lifecycle"))
    [message] = crm_rows()
    real = crm_sync._carry_over

    def broken(*_args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(crm_sync, "_carry_over", broken)
    assert outbox.process(message.id, max_attempts=1, retry_delay=1) == "failed"
    row = sync_of(booking, "hubspot")
    assert row.status == "failed" and "Retry sync" in row.last_error and "disk" not in row.last_error
    monkeypatch.setattr(crm_sync, "_carry_over", real)
    crm_sync.retry(booking, host)
    run(queue, kinds=("crm_sync",))
    assert sync_of(booking, "hubspot").status == "synced"


def test_a_hanging_crm_holds_one_worker_and_never_another_crms_sync(app, host, fakes, queue):
    """While one HubSpot sync hangs in another worker, the next HubSpot sync waits (postponed, not an attempt) instead
    of taking a second worker, and the Attio syncs go on."""
    import threading

    from app.db import db

    connect_crm(app, host, "hubspot")
    connect_crm(app, host, "attio")
    first, second = book(host, 1, email="one@example.com"), book(host, 2, email="two@example.com")
    run(queue, kinds=("event", "lifecycle"))
    rows = {(json.loads(m.payload)["sync_id"]): m.id for m in crm_rows()}
    message = {(b.id, p): rows[sync_of(b, p).id] for b in (first, second) for p in ("hubspot", "attio")}
    fakes.hubspot.slow(TIMEOUT + 3, times=1, path="/crm/")
    results = {}

    def hang():
        with app.app_context(), db.connection_context():
            results["first"] = queue.process(message[(first.id, "hubspot")], datetime.now(UTC))
    worker = threading.Thread(target=hang, daemon=True)
    worker.start()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    upsert = "/crm/v3/objects/contacts/batch/upsert"
    while not fakes.hubspot.calls("POST", upsert) and datetime.now(UTC) < deadline:
        worker.join(0.02)                                   # until the first sync's request is in flight
    assert fakes.hubspot.calls("POST", upsert)
    assert queue.process(message[(second.id, "hubspot")], datetime.now(UTC)) == "postponed"
    assert queue.process(message[(first.id, "attio")], datetime.now(UTC)) == "done"
    assert queue.process(message[(second.id, "attio")], datetime.now(UTC)) == "done"
    worker.join(15)
    assert not worker.is_alive() and results["first"] == "retry"     # timed out: tried again later
    assert {sync_of(b, "attio").status for b in (first, second)} == {"synced"}
    assert OutboxMessage.get_by_id(message[(second.id, "hubspot")]).attempts == 0


def test_a_refused_salesforce_session_is_renewed_once_and_saved(app, host, fakes, queue):
    """Salesforce answers 401 INVALID_SESSION_ID: the token is renewed through the connection service (one renewal,
    saved encrypted) and the sync goes on; the next sync uses the saved token without renewing again."""
    integration = connect_crm(app, host, "salesforce")
    stored = integration.credentials
    fakes.salesforce.expire_access_tokens()
    booking = book(host)
    run(queue)
    assert sync_of(booking, "salesforce").status == "synced" and len(fakes.salesforce.events) == 1
    refreshes = [c for c in fakes.salesforce.calls("POST", "/services/oauth2/token")
                 if c.form.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1
    saved = Integration.get_by_id(integration.id).credentials
    assert saved != stored and "access_token" not in saved          # the new token, sealed
    book(host, 2, email="second@example.com")
    run(queue)
    assert len(fakes.salesforce.events) == 2
    assert len([c for c in fakes.salesforce.calls("POST", "/services/oauth2/token")
                if c.form.get("grant_type") == "refresh_token"]) == 1
