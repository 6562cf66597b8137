"""Booking and rescheduling a team event type (issue 15).

The same transaction as a personal booking (:mod:`bookings`), with every host who could attend locked first, in
id order: SQLite's ``BEGIN IMMEDIATE`` already serializes writers; on PostgreSQL each host's row is locked by the
``pages_version`` update (the lock a personal booking of that host takes too), and a fixed order means two team
bookings never wait on each other in a cycle. Under those locks the start is checked again with the team slot
engine, the hosts are chosen (collective: all; round-robin: the fixed hosts and one chosen by the assignment rule),
and the booking is written under its organizer (``Booking.user``) with a ``BookingHost`` row for every attendee.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee

from app.db import transaction
from app.ids import new_id
from app.models import Booking, BookingHost, EventType, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services import audit, events
from app.services.booking import bookings as core
from app.services.booking import lifecycle
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import team_event_types as teams
from app.services.scheduling.assignment import Assignment
from app.services.scheduling.event_types import effective_schedule
from app.services.scheduling.slots import fresh_busy, team_slots
from app.statements import create
from app.timezones import zone


def _lock_hosts(user_ids: list[str]) -> None:
    for user_id in sorted(user_ids):
        bump_pages_version(user_id)


def _existing(event_type: EventType, req: core.BookingRequest, length: int) -> list[Booking] | None:
    """An earlier identical request's bookings (as :func:`bookings._existing`), found by event type: the host a
    request would get is not known before it is assigned."""
    query = Booking.select().where(Booking.event_type == event_type.id)
    if req.idempotency_key:
        found = query.where(Booking.idempotency_key == req.idempotency_key).first()
        if found is not None:
            series = core._with_series(found)
            if not core._same_request(found, event_type, req, length) or len(series) != max(req.occurrences, 1):
                raise core.IdempotencyMismatch()
            return series
    found = query.where((Booking.start_at == req.start) & (Booking.invitee_email == req.invitee_email.strip().lower())
                        & (Booking.status == "CONFIRMED")).first()
    if found is None:
        return None
    series = core._with_series(found)
    if not core._same_request(found, event_type, req, length) or len(series) != max(req.occurrences, 1):
        return None
    return series


def _choose(event_type: EventType, hosts, starts: list[datetime], length: int, now: datetime, tz_name: str, *,
            current: str | None = None, exclude_booking_id: str | None = None) -> Assignment:
    """Check every start with the team engine and choose the hosts free at all of them."""
    free: set[str] | None = None
    conflicts = []
    for start in starts:
        found = team_slots(event_type, start, start + timedelta(minutes=length), now=now, duration=length,
                                 exclude_booking_id=exclude_booking_id, hosts=hosts)
        here = set(found.free_at(start))
        if not here:
            conflicts.append(start)
        free = here if free is None else free & here
    if conflicts:
        if len(starts) == 1:
            raise core.SlotUnavailable()
        names = [c.astimezone(zone(tz_name)).strftime("%a %d %b %Y %H:%M") for c in conflicts]
        raise core.SlotUnavailable("These dates are not available: " + "; ".join(names) +
                                   ". Choose another time or fewer occurrences.", conflicts=names)
    try:
        return teams.assign(event_type, hosts, sorted(free or ()), now, current=current,
                            exclude_booking_id=exclude_booking_id)
    except ValueError:      # no host is free at every date of the series (or a fixed host is not)
        raise core.SlotUnavailable("No host is free at every one of these dates. Choose another time or fewer "
                                   "occurrences.") from None


def _write_hosts(booking: Booking, assignment: Assignment, fixed: set[str]) -> None:
    for user_id in assignment.attendees:
        create(BookingHost, booking=booking, user=user_id, is_fixed=user_id in fixed)


def hosts_of_booking(booking: Booking) -> list[User]:
    """Every host attending a booking (the organizer first); a personal booking's host alone."""
    rows = list(User.select().join(BookingHost, on=(BookingHost.user == User.id))
                .where(BookingHost.booking == booking.id).order_by(User.name))
    if not rows:
        return [booking.user]
    rows.sort(key=lambda user: user.id != booking.user_id)
    return rows


def create_team_booking(event_type: EventType, req: core.BookingRequest, *, ip: str | None = None,
                        now: datetime | None = None) -> core.BookingResult:
    now = now or datetime.now(UTC)
    if event_type.status != "active":
        raise NotFound("Event type not found")
    length, answers = core.validate_request(event_type, req)
    req.start = req.start.astimezone(UTC)
    email = req.invitee_email.strip().lower()
    hosts = teams.hosts_of(event_type)
    if not hosts:
        raise core.SlotUnavailable()
    ids = [host.user_id for host in hosts]
    fixed = {host.user_id for host in hosts if host.is_fixed}
    window = effective_schedule(event_type)
    tz_name = window.timezone if window else "UTC"
    starts = core.occurrence_starts(event_type, req.start, req.occurrences, tz_name)
    try:
        with fresh_busy(event_type, starts[0], starts[-1] + timedelta(minutes=length), hosts=ids), \
                transaction(immediate=True):
            _lock_hosts(ids)
            existing = _existing(event_type, req, length)
            if existing:
                return core.BookingResult(existing, created=False)
            assignment = _choose(event_type, hosts, starts, length, now, tz_name)
            organizer_id = teams.organizer_of(event_type, assignment)
            users = {host.user_id: host.user for host in hosts}
            organizer = users[organizer_id]
            reason = assignment.reason if event_type.scheduling_type == "round_robin" else None
            new_contacts = []
            contact = None
            for user_id in assignment.attendees:
                row, new = core._upsert_contact(users[user_id], req.invitee_name.strip(), email, req.invitee_phone)
                if user_id == organizer_id:
                    contact = row
                if new:
                    new_contacts.append((user_id, row))
            group = new_id() if len(starts) > 1 else None
            created = []
            for index, start in enumerate(starts):
                booking = core.new_booking(event_type, req, host=organizer, contact=contact, start=start,
                                           length=length, answers=answers, group=group, first=index == 0,
                                           assignment_reason=reason)
                _write_hosts(booking, assignment, fixed)
                names = ", ".join(users[uid].name for uid in assignment.attendees)
                core._activity(booking, "created", f"Booked by {booking.invitee_name} <{email}> ({req.source}); "
                               f"hosts: {names}" + (f" (assigned: {reason})" if reason else ""))
                core._schedule_reminders(booking, event_type.reminders, now, new=True)
                audit.record("booking.created", resource="booking", resource_id=booking.id, user=organizer, ip=ip,
                             details={"inviteeEmail": email, "eventType": event_type.name,
                                      "startTime": events.iso(start), "team": event_type.team.name,
                                      "hosts": [users[uid].email for uid in assignment.attendees]})
                events.emit("booking.created", core.booking_payload(booking, organizer, event_type),
                            user_id=organizer.id)
                created.append(booking)
            for user_id, row in new_contacts:
                events.emit("contact.created", core.contact_payload(row), user_id=user_id)
    except peewee.IntegrityError:
        existing = _existing(event_type, req, length)
        if existing:
            return core.BookingResult(existing, created=False)
        raise
    return core.BookingResult(created, created=True)


def reschedule_team_booking(booking: Booking, new_start: datetime, *, reason: str | None, by: str,
                            actor: User | None = None, ip: str | None = None,
                            now: datetime | None = None) -> Booking:
    """Move a team booking. Round-robin: the host keeps it when still free, else it is assigned again by the
    same rule; collective: every host must be free at the new time."""
    now = now or datetime.now(UTC)
    event_type = booking.event_type
    length = int((booking.end_at - booking.start_at).total_seconds() // 60)
    hosts = teams.hosts_of(event_type)
    ids = sorted({host.user_id for host in hosts} | {booking.user_id})
    fixed = {host.user_id for host in hosts if host.is_fixed}
    window = effective_schedule(event_type)
    tz_name = window.timezone if window else "UTC"
    with fresh_busy(event_type, new_start, new_start + timedelta(minutes=length), hosts=ids), \
            transaction(immediate=True):
        _lock_hosts(ids)
        fresh = Booking.get_by_id(booking.id)
        if fresh.status == "CANCELLED":
            raise ValidationFailed({"booking": "This booking was cancelled and cannot be rescheduled."})
        if fresh.start_at == new_start:
            return fresh
        if not hosts:
            raise core.SlotUnavailable()
        current = fresh.user_id if event_type.scheduling_type == "round_robin" else None
        assignment = _choose(event_type, hosts, [new_start], length, now, tz_name, current=current,
                             exclude_booking_id=fresh.id)
        organizer_id = teams.organizer_of(event_type, assignment)
        previous_host = fresh.user
        fresh.previous_start_at, fresh.previous_end_at = fresh.start_at, fresh.end_at
        fresh.start_at, fresh.end_at = new_start, new_start + timedelta(minutes=length)
        fresh.sequence += 1
        fresh.updated_at = utcnow()
        fresh.user = organizer_id
        if event_type.scheduling_type == "round_robin":
            fresh.assignment_reason = assignment.reason
        fresh.save()
        before = {row.user_id for row in BookingHost.select(BookingHost.user).where(BookingHost.booking == fresh.id)}
        BookingHost.delete().where(BookingHost.booking == fresh.id).execute()
        _write_hosts(fresh, assignment, fixed)
        if before - set(assignment.attendees):      # hosts who lost it hear so (the others get the reschedule)
            lifecycle.updated(fresh, lifecycle.HOSTS_CHANGED, added=[],
                              removed=sorted(before - set(assignment.attendees)))
        core._schedule_reminders(fresh, event_type.reminders, now)
        who = "the host" if by == "host" else "the invitee"
        reason = (reason or "").strip()[:1000] or None
        message = f"Rescheduled by {who} from {events.iso(fresh.previous_start_at)}" + (f": {reason}" if reason else "")
        if organizer_id != previous_host.id:
            message += f"; reassigned from {previous_host.name} ({assignment.reason})"
        core._activity(fresh, "rescheduled", message)
        host = User.get_by_id(organizer_id)
        audit.record("booking.rescheduled", resource="booking", resource_id=fresh.id, user=host, actor=actor, ip=ip,
                     details={"inviteeEmail": fresh.invitee_email, "eventType": fresh.event_name,
                              "startTime": events.iso(new_start),
                              "previousStartTime": events.iso(fresh.previous_start_at)})
        events.emit("booking.rescheduled", core.booking_payload(fresh, host, event_type), user_id=host.id)
    return fresh


core.TEAM_BOOKINGS.update(create=create_team_booking, reschedule=reschedule_team_booking)
