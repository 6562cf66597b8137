"""Prepared statements (app/statements.py): built once, they give what the Peewee query itself gives."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.models import Booking, BookingActivity, Contact, EventType, User
from app.statements import Param, Statement, create, insert
from tests import factories

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana")


def _booking(host, start, email="ivan@example.com", status="CONFIRMED"):
    return factories.booking_row(EventType.get(EventType.user == host), start, email=email, status=status)


def test_rows_are_those_of_the_query_with_the_values_converted_as_the_fields_convert_them(host):
    for n in range(3):
        _booking(host, START + timedelta(hours=n), status="CANCELLED" if n == 1 else "CONFIRMED")

    def query():
        return (Booking.select().where((Booking.user == Param("user")) & (Booking.status == "CONFIRMED")
                                       & (Booking.start_at >= Param("after"))).order_by(Booking.start_at))
    statement = Statement(query)
    # aware datetimes and model instances, as the fields' own db_value converts them
    got = statement.rows(user=host, after=START.astimezone(timezone(timedelta(hours=5))))
    want = list(Booking.select().where((Booking.user == host) & (Booking.status == "CONFIRMED")
                                       & (Booking.start_at >= START)).order_by(Booking.start_at))
    assert [b.id for b in got] == [b.id for b in want] and len(got) == 2
    assert got[0].start_at == START and got[0].start_at.tzinfo is not None
    # the second run binds new values to the same SQL
    assert [b.start_at for b in statement.rows(user=host.id, after=START + timedelta(minutes=1))] == [
        START + timedelta(hours=2)]
    assert statement.rows(user="nobody", after=START) == []


def test_joined_models_namedtuples_and_first(host):
    by_id = Statement(lambda: EventType.select(EventType, User).join(User).where(EventType.id == Param("id"))
                      .limit(1))
    event_type = EventType.get(EventType.user == host)
    found = by_id.first(id=event_type.id)
    assert found.id == event_type.id and found.__rel__["user"].username == "hana"   # the host came in the join
    assert by_id.first(id="missing") is None
    names = Statement(lambda: User.select(User.username, User.timezone).where(User.id == Param("id")).namedtuples())
    assert names.rows(id=host.id)[0]._asdict() == {"username": "hana", "timezone": "Europe/Berlin"}
    assert Statement(lambda: User.select(User.username).where(User.id == Param("id")).tuples()).scalar(
        id=host.id) == "hana"


def test_writes_count_changed_rows_and_set_values_convert_through_the_given_field(host):
    booking = _booking(host, START)
    move = Statement(lambda: Booking.update(start_at=Param("start", Booking.start_at),
                                            sequence=Booking.sequence + 1).where(Booking.id == Param("id")))
    later = START + timedelta(days=1)
    assert move.execute(id=booking.id, start=later.astimezone(timezone(timedelta(hours=-7)))) == 1
    assert move.execute(id="missing", start=later) == 0
    fresh = Booking.get_by_id(booking.id)
    assert (fresh.start_at, fresh.sequence) == (later, 1)


def test_a_missing_or_unknown_value_is_refused_before_anything_runs(host):
    statement = Statement(lambda: User.select().where((User.id == Param("id")) & (User.email == Param("email"))))
    with pytest.raises(TypeError, match=r"missing \['email'\]"):
        statement.rows(id=host.id)
    with pytest.raises(TypeError, match=r"unexpected \['name'\]"):
        statement.rows(id=host.id, email=host.email, name="x")


def test_create_inserts_the_row_model_create_would(host):
    booking = _booking(host, START)
    contact = create(Contact, user=host, name="Ivan", email="ivan@example.com", source="booking")
    assert contact.id and not contact.is_dirty()
    stored = Contact.get_by_id(contact.id)
    assert (stored.user_id, stored.email, stored.created_at is not None) == (host.id, "ivan@example.com", True)
    # a second instance of the model with other columns set gets its own INSERT
    activity = create(BookingActivity, booking=booking, kind="created", message="Booked")
    other = insert(BookingActivity(booking=booking.id, kind="email", message="Sent", created_at=START))
    rows = {a.id: (a.kind, a.created_at) for a in BookingActivity.select().where(BookingActivity.booking == booking)}
    assert rows[other.id] == ("email", START) and rows[activity.id][0] == "created"
