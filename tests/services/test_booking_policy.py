"""Cancellation and reschedule policy (issue 23 point 4): the event type's options are validated, and the booking
service refuses an invitee's cancel or reschedule past the cut-off (exactly N hours before the start still counts),
or always under "never"; a required reason is required of the invitee only; the host is never limited; the refund
rules of paid bookings stay their own."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.datetimes import format_datetime
from app.models import Booking, EventType, Refund
from app.services.booking import bookings as svc
from app.services.booking import policy
from app.services.errors import ValidationFailed
from app.services.scheduling import event_types as et_service
from tests import factories
from tests.payment_fixtures import next_tuesday

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host", timezone="Europe/Berlin")


def set_policy(event_type, **fields) -> EventType:
    EventType.update(**fields).where(EventType.id == event_type.id).execute()
    return EventType.get_by_id(event_type.id)


def fresh(booking) -> Booking:
    return Booking.get_by_id(booking.id)


@pytest.fixture
def booked(host, event_type):
    """A booking ten days ahead (a weekday, 10:00 UTC) of the host's 30-min event type."""
    start = factories.weekday_at(6)
    return factories.booking(event_type, start)


# --- the event type's options -----------------------------------------------------------------------------------
def test_the_options_are_stored_and_copied(host):
    made = factories.new_event_type(host, name="Coaching", invitee_cancel="until", invitee_cancel_hours="48",
                                    invitee_reschedule="never", require_cancel_reason=True)
    assert (made.invitee_cancel, made.invitee_cancel_hours, made.invitee_reschedule,
            made.require_cancel_reason) == ("until", 48, "never", True)
    copy = et_service.duplicate_event_type(made)
    assert (copy.invitee_cancel, copy.invitee_cancel_hours, copy.invitee_reschedule,
            copy.require_cancel_reason) == ("until", 48, "never", True)
    plain = factories.new_event_type(host, name="Plain")
    assert (plain.invitee_cancel, plain.invitee_reschedule, plain.require_cancel_reason) == ("anytime", "anytime",
                                                                                             False)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"invitee_cancel": "sometimes"}, "invitee_cancel", "Choose any time"),
    ({"invitee_reschedule": "until", "invitee_reschedule_hours": "0"}, "invitee_reschedule_hours", "between 1 and"),
    ({"invitee_cancel": "until", "invitee_cancel_hours": "9999"}, "invitee_cancel_hours", "between 1 and 8760"),
    ({"invitee_cancel": "until", "invitee_cancel_hours": "two"}, "invitee_cancel_hours", "whole number"),
    ({"invitee_cancel": "until", "invitee_cancel_hours": ""}, "invitee_cancel_hours", "Enter the number"),
])
def test_bad_options_are_refused_per_field(host, fields, field, message):
    with pytest.raises(ValidationFailed) as caught:
        factories.new_event_type(host, name="Coaching", **fields)
    assert message in caught.value.errors[field]


def test_an_update_that_leaves_the_options_out_keeps_them(host, event_type):
    et_service.update_event_type(event_type, et_service.EventTypeInput(invitee_cancel="until",
                                                                       invitee_cancel_hours=12))
    et_service.update_event_type(EventType.get_by_id(event_type.id), et_service.EventTypeInput(name="Renamed"))
    kept = EventType.get_by_id(event_type.id)
    assert (kept.name, kept.invitee_cancel, kept.invitee_cancel_hours) == ("Renamed", "until", 12)
    # only the mode: the stored hours stay
    et_service.update_event_type(kept, et_service.EventTypeInput(invitee_cancel="never"))
    et_service.update_event_type(EventType.get_by_id(event_type.id), et_service.EventTypeInput(invitee_cancel="until"))
    assert EventType.get_by_id(event_type.id).invitee_cancel_hours == 12


# --- the rule ---------------------------------------------------------------------------------------------------
def test_rule_until_allows_up_to_and_including_the_deadline(event_type, booked):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24)
    booking = fresh(booked)
    deadline = booking.start_at - timedelta(hours=24)
    at = policy.rule(booking, "cancel", deadline)
    assert (at.mode, at.hours, at.deadline, at.allowed, at.hours_text) == ("until", 24, deadline, True, "24 hours")
    assert not policy.rule(booking, "cancel", deadline + timedelta(seconds=1)).allowed
    assert policy.rule(booking, "cancel", deadline - timedelta(days=3)).allowed
    # the other action has its own setting
    assert policy.rule(booking, "reschedule", deadline + timedelta(hours=23)).allowed


def test_rule_never_and_anytime(event_type, booked):
    set_policy(event_type, invitee_reschedule="never")
    booking = fresh(booked)
    long_before = booking.start_at - timedelta(days=9)
    never = policy.rule(booking, "reschedule", long_before)
    assert (never.mode, never.allowed, never.deadline) == ("never", False, None)
    anytime = policy.rule(booking, "cancel", booking.start_at - timedelta(minutes=1))
    assert (anytime.mode, anytime.allowed) == ("anytime", True)


def test_a_booking_whose_event_type_was_deleted_keeps_the_default(event_type, booked):
    set_policy(event_type, invitee_cancel="never")
    Booking.update(event_type=None).where(Booking.id == booked.id).execute()
    assert policy.rule(fresh(booked), "cancel", datetime.now(UTC)).allowed


def _next_spring_forward(after: datetime) -> datetime:
    """The first Berlin day after ``after`` (plus ten days) on which the clocks go forward."""
    day = (after + timedelta(days=10)).astimezone(BERLIN).date()
    while not (datetime.combine(day, time(12), BERLIN).utcoffset()
               > datetime.combine(day - timedelta(days=1), time(12), BERLIN).utcoffset()):
        day += timedelta(days=1)
    return datetime.combine(day, time(10), BERLIN)


def test_the_cut_off_counts_real_hours_across_a_dst_change(event_type):
    """24 hours before 10:00 on the morning the clocks go forward is 09:00 the day before, on Berlin's clock; in
    New York (not yet changed or changed weeks before) the same instant reads as that zone's time."""
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24)
    start = _next_spring_forward(datetime.now(UTC)).astimezone(UTC)
    booking = factories.booking_row(EventType.get_by_id(event_type.id), start)
    rule = policy.rule(booking, "cancel", start - timedelta(days=5))
    assert rule.deadline == start - timedelta(hours=24)
    assert rule.deadline.astimezone(BERLIN).hour == 9
    assert format_datetime(rule.deadline, "Europe/Berlin", style="short").endswith(", 09:00")
    new_york = rule.deadline.astimezone(ZoneInfo("America/New_York"))
    assert format_datetime(rule.deadline, "America/New_York", style="short").endswith(f", {new_york:%H:%M}")


def test_contact_url_is_a_mailto_with_the_subject(host, booked):
    url = policy.contact_url(fresh(booked), "cancel", "Tue 3 Mar 2026, 14:00")
    assert url == ("mailto:hana@example.com?subject=Cancel%3A%2030%20Minute%20Meeting%20on%20Tue%203%20Mar%202026"
                   "%2C%2014%3A00")


# --- the booking service ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("hours_before", "allowed"), [(25, True), (24, True), (23.99, False), (1, False)])
def test_an_invitee_cancel_at_the_boundary(event_type, booked, hours_before, allowed):
    set_policy(event_type, invitee_cancel="until", invitee_cancel_hours=24)
    now = booked.start_at - timedelta(hours=hours_before)
    if allowed:
        svc.cancel_booking(fresh(booked), reason=None, by="invitee", now=now)
        assert fresh(booked).status == "CANCELLED" and fresh(booked).cancelled_by == "invitee"
    else:
        with pytest.raises(policy.PolicyRefused) as caught:
            svc.cancel_booking(fresh(booked), reason=None, by="invitee", now=now)
        assert caught.value.status == 403
        assert str(caught.value) == ("This meeting can no longer be cancelled online: Hana Host allows it until "
                                     "24 hours before the start. Please contact Hana Host.")
        assert fresh(booked).status == "CONFIRMED"


def test_never_refuses_the_invitee_but_not_the_host(host, event_type, booked):
    set_policy(event_type, invitee_cancel="never", invitee_reschedule="never")
    now = booked.start_at - timedelta(days=9)
    with pytest.raises(policy.PolicyRefused, match="cannot be cancelled online"):
        svc.cancel_booking(fresh(booked), reason="x", by="invitee", now=now)
    with pytest.raises(policy.PolicyRefused, match="cannot be rescheduled online"):
        svc.reschedule_booking(fresh(booked), booked.start_at + timedelta(days=1), reason=None, by="invitee",
                               now=now)
    assert fresh(booked).start_at == booked.start_at and fresh(booked).status == "CONFIRMED"
    new_start = factories.weekday_at(7)
    svc.reschedule_booking(fresh(booked), new_start, reason="Moved", by="host", actor=host)
    assert fresh(booked).start_at == new_start
    svc.cancel_booking(fresh(booked), reason="Ill", by="host", actor=host)
    assert fresh(booked).status == "CANCELLED"


@pytest.mark.parametrize(("hours_before", "allowed"), [(48, True), (47.5, False)])
def test_an_invitee_reschedule_at_the_boundary(event_type, booked, hours_before, allowed):
    set_policy(event_type, invitee_reschedule="until", invitee_reschedule_hours=48)
    now = booked.start_at - timedelta(hours=hours_before)
    new_start = factories.weekday_at(7)
    if allowed:
        svc.reschedule_booking(fresh(booked), new_start, reason=None, by="invitee", now=now)
        assert fresh(booked).start_at == new_start
    else:
        with pytest.raises(policy.PolicyRefused, match="until 48 hours before the start"):
            svc.reschedule_booking(fresh(booked), new_start, reason=None, by="invitee", now=now)
        assert fresh(booked).start_at == booked.start_at


def test_a_required_reason_is_asked_of_the_invitee_only(host, event_type, booked):
    set_policy(event_type, require_cancel_reason=True)
    for empty in (None, "", "   "):
        with pytest.raises(ValidationFailed) as caught:
            svc.cancel_booking(fresh(booked), reason=empty, by="invitee")
        assert caught.value.errors == {"reason": policy.REASON_REQUIRED}
    assert fresh(booked).status == "CONFIRMED"
    svc.cancel_booking(fresh(booked), reason="Double-booked", by="invitee")
    assert fresh(booked).cancel_reason == "Double-booked"
    other = factories.booking(EventType.get_by_id(event_type.id), factories.weekday_at(8))
    svc.cancel_booking(other, reason=None, by="host", actor=host)
    assert fresh(other).status == "CANCELLED"


def test_the_policy_is_checked_before_the_reason(event_type, booked):
    set_policy(event_type, invitee_cancel="never", require_cancel_reason=True)
    with pytest.raises(policy.PolicyRefused):
        svc.cancel_booking(fresh(booked), reason="", by="invitee")


# --- paid bookings: the refund rules stay their own ------------------------------------------------------------
def test_a_paid_booking_keeps_its_refund_rule_within_the_cancel_policy(app_factory, stripe_fake, make_user):
    app = app_factory(**stripe_fake.settings(), BASE_URL="http://localhost")
    with app.app_context():
        from tests.services.test_refunds import paid_booking, refunds_at_fake

        host = make_user("hana", timezone="Europe/Berlin")
        event_type = factories.new_event_type(host, name="Coaching", duration=60)
        event_type = set_policy(event_type, price_amount=5000, price_currency="usd", payment_providers=["stripe"],
                                refund_invitee_hours=24, invitee_cancel="until", invitee_cancel_hours=72)
        start = next_tuesday(12)
        booking, payment = paid_booking(app, stripe_fake, event_type, start)
        with pytest.raises(policy.PolicyRefused):     # inside the refund window, outside the cancel policy
            svc.cancel_booking(booking, reason=None, by="invitee", now=start - timedelta(hours=48))
        assert fresh(booking).status == "CONFIRMED" and Refund.select().count() == 0
        svc.cancel_booking(booking, reason=None, by="invitee", now=start - timedelta(hours=80))
        assert fresh(booking).status == "CANCELLED"
        assert refunds_at_fake(stripe_fake, payment) == [5000]
