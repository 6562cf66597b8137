"""Single-use links and one-off meetings (issue 23, point 7): a link books once, expires, is used up inside the
booking's transaction (also when bookings race), and a one-off meeting offers only its proposed times."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, BookingActivity
from app.models.one_time_links import OneTimeLink
from app.services.booking import bookings as svc
from app.services.booking import one_time_links as links
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import event_types as et
from tests import factories
from tests.factories import weekday_at
from tests.races import race


def _request(link, start, email="ivan@example.com", **kw):
    return factories.booking_request(start, email=email, one_time_link=link.id, **kw)


def _book(link, start, email="ivan@example.com", **kw):
    event_type = links.meeting_event_type(links.find(link.token))
    return svc.create_booking(event_type, _request(link, start, email, **kw)).booking


def test_a_single_use_link_books_once_and_records_the_booking(host, event_type, db_conn):
    link = links.create_single_use(host, event_type.id)
    assert len(link.token) >= 40 and links.state_of(link) == "active"
    booking = _book(link, weekday_at(1))
    fresh = OneTimeLink.get_by_id(link.id)
    assert fresh.booking_id == booking.id and fresh.used_at is not None and links.state_of(fresh) == "used"
    assert booking.event_type_id == event_type.id and booking.status == "CONFIRMED"
    assert BookingActivity.select().where((BookingActivity.booking == booking)
                                          & (BookingActivity.kind == "link")).count() == 1
    with pytest.raises(links.LinkUsed):
        _book(link, weekday_at(2), email="other@example.com")
    assert Booking.select().count() == 1
    # the event type's own page is not affected
    factories.booking(event_type, weekday_at(2), email="other@example.com")
    assert Booking.select().count() == 2


def test_a_cancelled_booking_does_not_revive_its_link(host, event_type, db_conn):
    link = links.create_single_use(host, event_type.id)
    booking = _book(link, weekday_at(1))
    svc.cancel_booking(booking, reason=None, by="invitee")
    assert links.state_of(OneTimeLink.get_by_id(link.id)) == "used"
    with pytest.raises(links.LinkUsed):
        _book(link, weekday_at(1), email="other@example.com")


def test_an_expired_link_books_nothing(host, event_type, db_conn):
    link = links.create_single_use(host, event_type.id, expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert links.state_of(link) == "active"
    OneTimeLink.update(expires_at=datetime.now(UTC) - timedelta(seconds=1)).where(OneTimeLink.id == link.id).execute()
    assert links.state_of(OneTimeLink.get_by_id(link.id)) == "expired"
    with pytest.raises(links.LinkExpired):
        _book(link, weekday_at(1))
    assert Booking.select().count() == 0 and OneTimeLink.get_by_id(link.id).used_at is None
    with pytest.raises(ValidationFailed) as caught:
        links.create_single_use(host, event_type.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert "expires_at" in caught.value.errors


def test_secret_event_types_can_be_booked_by_link_and_recurrence_is_one_meeting(host, db_conn):
    secret = factories.new_event_type(host, name="Secret", is_secret=True,
                                      recurrence={"frequency": "weekly", "interval": 1, "maxOccurrences": 4})
    link = links.create_single_use(host, secret.id)
    meeting = links.meeting_event_type(links.find(link.token))
    assert meeting.recurrence is None and meeting.id == secret.id
    with pytest.raises(ValidationFailed):
        svc.create_booking(meeting, _request(link, weekday_at(1), occurrences=2))
    booking = _book(link, weekday_at(1))
    assert booking.event_type_id == secret.id and booking.recurring_group_id is None


def test_links_only_for_the_hosts_own_active_free_event_types(host, event_type, make_user, db_conn):
    other = make_user("otto")
    with pytest.raises(NotFound):
        links.create_single_use(other, event_type.id)
    et.set_status(event_type, False)
    with pytest.raises(ValidationFailed) as caught:
        links.create_single_use(host, event_type.id)
    assert "event_type" in caught.value.errors


def test_revoking_is_for_the_owner_and_stops_the_link(host, event_type, make_user, db_conn):
    link = links.create_single_use(host, event_type.id)
    other = make_user("otto")
    with pytest.raises(NotFound):
        links.revoke(other, link.id)
    links.revoke(host, link.id)
    assert links.find(link.token) is None and links.active_links(host) == []
    with pytest.raises(NotFound):
        svc.create_booking(event_type, _request(link, weekday_at(1)))
    assert Booking.select().count() == 0


def test_a_link_of_another_event_type_cannot_be_used_here(host, event_type, db_conn):
    other_type = factories.new_event_type(host, name="Other")
    link = links.create_single_use(host, other_type.id)
    with pytest.raises(NotFound):
        svc.create_booking(event_type, _request(link, weekday_at(1)))


def _one_off(host, event_type, times, **kw):
    data = links.OneOffInput(event_type_id=event_type.id, name=kw.pop("name", "Contract review"),
                             duration=kw.pop("duration", 45), times=times, **kw)
    return links.create_one_off(host, data)


def test_a_one_off_meeting_books_one_of_its_proposed_times_with_its_own_details(host, event_type, db_conn):
    times = [weekday_at(1, 9) + timedelta(minutes=15), weekday_at(2, 13)]
    link = _one_off(host, event_type, times, location_type="in_person", location_detail="Main St 1")
    assert links.proposed_times(link) == times
    meeting = links.meeting_event_type(links.find(link.token))
    assert (meeting.name, meeting.duration, meeting.location_type) == ("Contract review", 45, "in_person")
    assert links.offered_times(link, meeting) == times
    with pytest.raises(svc.SlotUnavailable):      # not proposed, though the host is free
        svc.create_booking(meeting, _request(link, weekday_at(1, 11), duration=45))
    booking = _book(link, times[0], duration=45)
    assert (booking.event_name, booking.location, booking.end_at - booking.start_at) == \
        ("Contract review", "Main St 1", timedelta(minutes=45))
    assert booking.event_type_id == event_type.id
    with pytest.raises(links.LinkUsed):
        _book(link, times[1], email="other@example.com", duration=45)


def test_a_one_off_meeting_hides_a_proposed_time_the_host_is_no_longer_free_at(host, event_type, db_conn):
    times = [weekday_at(1, 9), weekday_at(1, 12)]
    link = _one_off(host, event_type, times, duration=30)
    factories.booking(event_type, weekday_at(1, 12), email="someone@example.com")
    meeting = links.meeting_event_type(links.find(link.token))
    assert links.offered_times(link, meeting) == [times[0]]
    with pytest.raises(svc.SlotUnavailable):
        _book(link, times[1])
    assert OneTimeLink.get_by_id(link.id).used_at is None


def test_one_off_input_is_checked(host, event_type, db_conn):
    saturday = weekday_at(1, 10)
    while saturday.weekday() != 5:
        saturday += timedelta(days=1)
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ValidationFailed) as caught:
        _one_off(host, event_type, [past, weekday_at(1, 10) + timedelta(minutes=7), None,
                                    weekday_at(2, 10), weekday_at(2, 10)], duration=3)
    assert set(caught.value.errors) == {"time_1", "time_2", "time_3", "time_5", "duration"}
    with pytest.raises(ValidationFailed) as caught:      # the host does not work on Saturdays
        _one_off(host, event_type, [weekday_at(1, 10), saturday])
    assert set(caught.value.errors) == {"time_2"}
    with pytest.raises(ValidationFailed) as caught:
        _one_off(host, event_type, [], location_type="custom_link", location_detail="not a link")
    assert set(caught.value.errors) == {"time_1", "location_detail"}
    assert OneTimeLink.select().count() == 0


def _race(app, link_id, starts):
    """One create_booking per start at once, each on its own thread and connection, all through one link."""
    def book(n):
        link = OneTimeLink.get_by_id(link_id)
        meeting = links.meeting_event_type(links.find(link.token))
        svc.create_booking(meeting, _request(link, starts[n], email=f"guest{n}@example.com"))
    return race(app, len(starts), book, {links.LinkUsed: "used"})


def test_racing_bookings_through_one_link_make_exactly_one_booking(app, host, event_type, db_conn):
    link = links.create_single_use(host, event_type.id)
    starts = [weekday_at(n // 4 + 1, 8 + n % 4) for n in range(12)]     # 12 different free slots
    outcomes = _race(app, link.id, starts)
    assert outcomes.count("created") == 1, outcomes
    assert outcomes.count("used") == 11, outcomes
    assert Booking.select().count() == 1
    assert OneTimeLink.get_by_id(link.id).booking_id == Booking.get().id
