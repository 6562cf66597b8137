"""No-shows (issue 23, point 5): the rules of ``mark_no_show``, its audit entry, event and payload fields."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Booking, BookingActivity, OutboxMessage
from app.services.booking import bookings as svc
from app.services.booking import no_shows
from app.services.errors import Conflict, NotFound
from tests import factories

START = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def booking(event_type):
    return factories.booking_row(event_type, START)


def _events(name="booking.no_show"):
    rows = OutboxMessage.select().where(OutboxMessage.kind == "event").order_by(OutboxMessage.created_at)
    return [json.loads(r.payload) for r in rows if json.loads(r.payload)["event"] == name]


def test_marking_after_the_start_sets_the_flag_time_activity_audit_and_event(host, booking):
    now = START + timedelta(minutes=10)
    marked = no_shows.mark_no_show(host, booking.id, True, now, ip="203.0.113.5")
    stored = Booking.get_by_id(booking.id)
    assert marked.no_show and stored.no_show and stored.no_show_at == now
    assert BookingActivity.select().where((BookingActivity.booking == booking.id)
                                          & (BookingActivity.kind == "no_show")).count() == 1
    [entry] = AuditLog.select().where(AuditLog.action == "booking.no_show")
    assert entry.resource == "booking" and entry.resource_id == booking.id and entry.actor_id == host.id
    details = json.loads(entry.details)
    assert details["noShow"] is True and details["inviteeEmail"] == "ivan@example.com"
    [event] = _events()
    assert event["data"]["id"] == booking.id and event["data"]["noShow"] is True
    assert event["data"]["noShowMarkedAt"] == "2026-06-02T14:10:00.000Z"
    assert event["data"]["status"] == "CONFIRMED" and event["data"]["invitee"]["email"] == "ivan@example.com"


def test_at_the_start_instant_it_may_be_marked(host, booking):
    assert no_shows.mark_no_show(host, booking.id, True, START).no_show


def test_before_the_start_it_is_refused_and_nothing_is_written(host, booking):
    with pytest.raises(Conflict, match="not started"):
        no_shows.mark_no_show(host, booking.id, True, START - timedelta(seconds=1))
    assert not Booking.get_by_id(booking.id).no_show
    assert _events() == [] and AuditLog.select().where(AuditLog.action == "booking.no_show").count() == 0


@pytest.mark.parametrize("status", ["CANCELLED", "PENDING_PAYMENT"])
def test_a_booking_that_is_not_confirmed_cannot_be_a_no_show(host, event_type, status):
    row = factories.booking_row(event_type, START, status=status)
    with pytest.raises(Conflict):
        no_shows.mark_no_show(host, row.id, True, START + timedelta(hours=1))


def test_another_hosts_booking_is_not_found(make_user, host, booking):
    other = make_user("otto")
    with pytest.raises(NotFound):
        no_shows.mark_no_show(other, booking.id, True, START + timedelta(hours=1))
    with pytest.raises(NotFound):
        no_shows.mark_no_show(host, "nosuchbooking", True, START + timedelta(hours=1))
    assert not Booking.get_by_id(booking.id).no_show


def test_undo_clears_both_fields_and_tells_receivers_with_no_show_false(host, booking):
    no_shows.mark_no_show(host, booking.id, True, START + timedelta(minutes=5))
    undone = no_shows.mark_no_show(host, booking.id, False, START + timedelta(minutes=7))
    stored = Booking.get_by_id(booking.id)
    assert not undone.no_show and not stored.no_show and stored.no_show_at is None
    assert [e["data"]["noShow"] for e in _events()] == [True, False]
    assert AuditLog.select().where(AuditLog.action == "booking.no_show").count() == 2


def test_setting_what_is_set_changes_nothing_and_emits_nothing(host, booking):
    no_shows.mark_no_show(host, booking.id, False, START + timedelta(minutes=5))      # not marked: nothing to undo
    assert _events() == []
    no_shows.mark_no_show(host, booking.id, True, START + timedelta(minutes=5))
    no_shows.mark_no_show(host, booking.id, True, START + timedelta(minutes=9))
    assert len(_events()) == 1
    assert Booking.get_by_id(booking.id).no_show_at == START + timedelta(minutes=5)


def test_every_booking_payload_carries_no_show_fields(host, event_type, booking):
    data = svc.booking_payload(Booking.get_by_id(booking.id), host, event_type)
    assert data["noShow"] is False and data["noShowMarkedAt"] is None


def test_can_mark_only_confirmed_started_bookings(event_type, booking):
    assert not no_shows.can_mark(booking, START - timedelta(minutes=1))
    assert no_shows.can_mark(booking, START)
    cancelled = factories.booking_row(event_type, START + timedelta(hours=2), status="CANCELLED")
    assert not no_shows.can_mark(cancelled, START + timedelta(hours=3))
