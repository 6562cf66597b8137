"""The booking list of ``GET /api/v1/bookings``: one page of a host's bookings read with hand-written SQL into
light records, and their JSON (``booking_json`` is the API's booking representation, also used by the detail).
A page's payments (issue 16) are read in one more query, never one per row."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace

import peewee

from app.db import db
from app.models import Booking, Contact, EventType, Payment, User
from app.models.scheduling import JSONField
from app.services.booking.bookings import booking_payload
from app.services.booking.payments import payment_json
from app.services.events import iso


def booking_json(booking: Booking, host: User, event_type: EventType | None, payment: Payment | None) -> dict:
    """The API's booking; ``payment`` is the booking's payment (``payments_of``), None for a free booking."""
    data = booking_payload(booking, host, event_type)
    data.update(inviteeName=booking.invitee_name, inviteeEmail=booking.invitee_email,
                inviteeTimezone=booking.invitee_timezone, inviteePhone=booking.invitee_phone,
                answers=booking.answers or {}, contactId=booking.contact_id, source=booking.source,
                cancelledAt=iso(booking.cancelled_at), createdAt=iso(booking.created_at),
                updatedAt=iso(booking.updated_at), payment=payment_json(payment))
    return data


def payments_of(booking_ids: list[str]) -> dict[str, Payment]:
    """Booking id -> its payment (the one paid, else the latest started: as ``payments.payment_of``), in one
    query for a whole page."""
    chosen: dict[str, Payment] = {}
    if not booking_ids:
        return chosen
    rows = Payment.select().where(Payment.booking.in_(list(set(booking_ids)))).order_by(Payment.created_at.desc(),
                                                                                        Payment.id.desc())
    for row in rows:
        current = chosen.get(row.booking_id)
        if current is None or (current.paid_at is None and row.paid_at is not None):
            chosen[row.booking_id] = row
    return chosen


def _instant(value):
    """A stored instant as an aware UTC datetime (SQLite gives text, PostgreSQL naive datetimes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def _row_reader(fields: tuple) -> tuple[tuple[str, ...], list[tuple[int, object]]]:
    """Attribute names (the models' column names, e.g. ``event_type_id``) and the converters the columns
    need (instants, JSON); text and numbers come from the database as they are."""
    converters = [(i, _instant if isinstance(f, peewee.DateTimeField) else f.python_value)
                  for i, f in enumerate(fields) if isinstance(f, (peewee.DateTimeField, JSONField))]
    return tuple(f.column_name for f in fields), converters


# What booking_json reads: list pages load only these columns.
LIST_FIELDS = (Booking.id, Booking.user, Booking.assignment_reason, Booking.event_type, Booking.contact,
               Booking.status, Booking.start_at, Booking.end_at,
               Booking.invitee_name, Booking.invitee_email, Booking.invitee_timezone, Booking.invitee_phone,
               Booking.notes, Booking.answers, Booking.location_type, Booking.location, Booking.meeting_link,
               Booking.recurring_group_id, Booking.previous_start_at, Booking.previous_end_at, Booking.cancel_reason,
               Booking.cancelled_at, Booking.source, Booking.created_at, Booking.updated_at,
               Booking.routing_response_id, Booking.no_show, Booking.no_show_at, Booking.approval,
               Booking.guest_count, Booking.seated)
EVENT_TYPE_SUMMARY = (EventType.id, EventType.name, EventType.slug, EventType.duration, EventType.team,
                      EventType.scheduling_type)
BOOKING_READER = _row_reader(LIST_FIELDS)
EVENT_TYPE_READER = _row_reader(EVENT_TYPE_SUMMARY)


@lru_cache(maxsize=64)
def _page_sql(columns: tuple[tuple[str, str], ...], param: str) -> tuple[str, str, str]:
    """(count SQL, page SQL, merged page SQL) of a host's bookings for the filter ``columns`` ((column, operator)
    pairs).

    Written out once per filter shape: building this query with the ORM on every request cost more than
    running it. A host's bookings are the ones filed under them (``user_id``: their own and the team bookings
    they organize) and the team bookings they attend under another organizer (``booking_hosts``); the count
    gives both numbers. The page's own ids come in order from the (user_id, start_at, id) index (migration
    0005), newest start first; then those rows are loaded with their event types in one join. The merged page,
    used only when the host attends such team bookings, takes the first ``offset + limit`` ids of each part and
    cuts the page from the two. Parameters: see :func:`booking_page`.
    """
    filters = "".join(f' AND b."{column}" {op} {param}' for column, op in columns)
    own = f'FROM "bookings" AS b WHERE b."user_id" = {param}{filters}'
    attended = (f'FROM "booking_hosts" AS h JOIN "bookings" AS b ON b."id" = h."booking_id" '
                f'WHERE h."user_id" = {param} AND b."user_id" <> {param}{filters}')
    order = 'ORDER BY b."start_at" DESC, b."id" DESC'
    own_ids = f'SELECT b."id" {own} {order} LIMIT {param} OFFSET {param}'
    merged_ids = (f'SELECT u."id" FROM ('
                  f'SELECT * FROM (SELECT b."id", b."start_at" {own} {order} LIMIT {param}) AS o UNION ALL '
                  f'SELECT * FROM (SELECT b."id", b."start_at" {attended} {order} LIMIT {param}) AS a) AS u '
                  f'ORDER BY u."start_at" DESC, u."id" DESC LIMIT {param} OFFSET {param}')
    selected = ", ".join([*(f'b."{f.column_name}"' for f in LIST_FIELDS),
                          *(f'e."{f.column_name}"' for f in EVENT_TYPE_SUMMARY)])
    page = (f'SELECT {selected} FROM "bookings" AS b LEFT OUTER JOIN "event_types" AS e '
            f'ON e."id" = b."event_type_id" WHERE b."id" IN ({{ids}}) {order}')
    return (f'SELECT (SELECT COUNT(*) {own}), (SELECT COUNT(*) {attended})', page.format(ids=own_ids),
            page.format(ids=merged_ids))


def _read(row, names: tuple[str, ...], converters: list) -> SimpleNamespace:
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index])
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


def booking_page(host: User, conditions: list[tuple], page: int,
                  limit: int) -> tuple[int, list[tuple]]:
    """The number of the host's bookings (see :func:`_page_sql`) matching ``conditions`` and one page of
    (booking, event type).

    The rows are read-only records with the models' attribute names (what ``booking_json`` reads), not
    model instances: building 40 models per request cost more than the queries.
    """
    count_sql, own_sql, merged_sql = _page_sql(tuple((field.column_name, op) for field, op, _ in conditions),
                                               db.param)
    values = [field.db_value(value) for field, _, value in conditions]
    own, attended = [host.id, *values], [host.id, host.id, *values]
    own_total, attended_total = db.execute_sql(count_sql, [*own, *attended]).fetchone()
    offset = (page - 1) * limit
    if attended_total:
        cursor = db.execute_sql(merged_sql, [*own, offset + limit, *attended, offset + limit, limit, offset])
    else:
        cursor = db.execute_sql(own_sql, [*own, limit, offset])
    split = len(LIST_FIELDS)
    pairs = []
    for row in cursor.fetchall():
        booking = _read(row[:split], *BOOKING_READER)
        event_type = _read(row[split:], *EVENT_TYPE_READER) if row[split] is not None else None
        pairs.append((booking, event_type))
    return own_total + attended_total, pairs


def page_json(host: User, rows: list[tuple]) -> list[dict]:
    """A page of (booking, event type) as JSON. A team booking another host organizes shows that organizer as
    ``host`` and, as ``contactId``, the key user's own contact for the invitee (each attending host has one)."""
    others = {b.user_id for b, _ in rows if b.user_id != host.id}
    organizers = {host.id: host}
    contacts: dict[str, str] = {}
    if others:
        organizers.update((u.id, u) for u in User.select(User.id, User.name, User.email)
                          .where(User.id.in_(list(others))))
        emails = list({b.invitee_email for b, _ in rows if b.user_id != host.id})
        contacts = dict(Contact.select(Contact.email, Contact.id)
                        .where((Contact.user == host) & Contact.email.in_(emails)).tuples())
    paid = payments_of([b.id for b, _ in rows])
    items = []
    for booking, event_type in rows:
        data = booking_json(booking, organizers[booking.user_id], event_type, paid.get(booking.id))
        if booking.user_id != host.id:
            data["contactId"] = contacts.get(booking.invitee_email)
        items.append(data)
    return items
