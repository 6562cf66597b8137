"""Removing an organization member who attends upcoming team bookings (issue 15).

Before a member leaves, each confirmed future booking of the organization's team event types that they attend
(a ``BookingHost`` row) is, as the person removing them chooses:

* **reassign**:
  - a round-robin booking whose assigned (not fixed) host is the member goes to another host free at that start,
    chosen by the same rule as a new booking (:func:`team_event_types.assign` over who the team slot engine
    finds free, the booking itself left out); the time does not change, so no public event is emitted: the
    booking's history says who took it over and why. When nobody else is free it is cancelled with notice;
  - a collective booking, or one the member attends as a fixed host, goes ahead without them; when they were
    its organizer (``Booking.user``) another attending host becomes it. A booking left with no host is cancelled;
* **cancel**: every one is cancelled by the host with the reason, so the invitee gets the cancellation email.

Then :func:`organizations.remove_member` removes them, under its rules (roles, the last owner), all in one
transaction with every affected host locked in id order first, as a team booking does.
"""
from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from app.db import transaction
from app.models import Booking, BookingHost, EventType, EventTypeHost, Organization, Team, User
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.services import events
from app.services.account import organizations
from app.services.booking import bookings as core
from app.services.booking import lifecycle
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.scheduling import team_event_types as teams
from app.services.scheduling.slots import fresh_busy, team_slots
from app.statements import create

CHOICES = ("reassign", "cancel")


def _team_event_types(org: Organization):
    return EventType.select(EventType.id).where(
        EventType.team.in_(Team.select(Team.id).where(Team.organization == org)))


def upcoming_team_bookings(org: Organization, member_id: str, now: datetime | None = None) -> list[Booking]:
    """Confirmed bookings of ``org``'s team event types that start after ``now`` and ``member_id`` attends."""
    now = now or datetime.now(UTC)
    return list(Booking.select(Booking, EventType).join(EventType)
                .switch(Booking).join(BookingHost, on=(BookingHost.booking == Booking.id))
                .where((BookingHost.user == member_id) & Booking.event_type.in_(_team_event_types(org))
                       & (Booking.status == "CONFIRMED") & (Booking.start_at > now))
                .order_by(Booking.start_at, Booking.id))


def check_removal(actor: User, org_id: str, member_id: str):
    """The organization and the leaving membership, when ``actor`` may remove ``member_id`` (the rules of
    :func:`organizations.remove_member`): NotFound, Forbidden or Conflict otherwise."""
    leaving = member_id == actor.id
    org, mine = organizations.require_member(org_id, actor, *(organizations.ROLES if leaving
                                                               else organizations.MANAGERS))
    row = organizations._member_row(org, member_id)
    if row.role == "OWNER" and not leaving and mine.role != "OWNER":
        raise Forbidden(organizations.NEEDS_OWNER)
    if row.role == "OWNER" and organizations._owners(org) <= 1:
        raise Conflict(organizations.LAST_OWNER)
    return org, row


def _hosts_to_lock(org: Organization, member_id: str, found: list[Booking]) -> set[str]:
    candidates = EventTypeHost.select(EventTypeHost.user).where(EventTypeHost.event_type.in_(_team_event_types(org)))
    ids = {row.user_id for row in candidates} | {member_id}
    if found:
        attending = BookingHost.select(BookingHost.user).where(BookingHost.booking.in_([b.id for b in found]))
        ids |= {row.user_id for row in attending}
    return ids


def remove_member_with(actor: User, org_id: str, member_id: str, *, bookings: str = "reassign",
                       reason: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Handle ``member_id``'s upcoming team bookings as ``bookings`` says, then remove them from the
    organization. Answers how many bookings were reassigned, went ahead without them, and were cancelled."""
    if bookings not in CHOICES:
        raise ValidationFailed({"bookings": "Choose whether to reassign or cancel the bookings."})
    return _handle_and_remove(lambda: check_removal(actor, org_id, member_id), actor, member_id, bookings=bookings,
                              reason=reason, now=now,
                              remove=lambda org, row: organizations.remove_member(actor, org_id, member_id))


def check_deprovision(org_id: str, member_id: str):
    """The organization and membership its identity provider removes (no role rules, but the last owner stays)."""
    org = Organization.get_or_none(Organization.id == org_id)
    if org is None:
        raise NotFound("Organization not found")
    row = organizations._member_row(org, member_id)
    if row.role == "OWNER" and organizations._owners(org) <= 1:
        raise Conflict(organizations.LAST_OWNER)
    return org, row


def deprovision(org_id: str, member_id: str, *, reason: str | None = None,
                now: datetime | None = None) -> dict[str, int]:
    """The organization's identity provider removes a member (SCIM DELETE): their upcoming team bookings of the
    organization are cancelled with the usual notice to the invitees, then they leave it and its teams."""
    return _handle_and_remove(lambda: check_deprovision(org_id, member_id), None, member_id, bookings="cancel",
                              reason=reason, now=now,
                              remove=lambda org, row: organizations.remove_row(org, row, None, via="scim"))


def _handle_and_remove(check, actor: User | None, member_id: str, *, bookings: str, reason: str | None,
                       now: datetime | None, remove) -> dict[str, int]:
    now = now or datetime.now(UTC)
    reason = (reason or "").strip()[:1000] or None
    org, _row = check()
    before = upcoming_team_bookings(org, member_id, now)
    counts = {"reassigned": 0, "without": 0, "cancelled": 0}
    with ExitStack() as stack:
        if bookings == "reassign":
            for booking in before:      # calendar caches read fresh before the write lock, as for a booking
                stack.enter_context(fresh_busy(booking.event_type, booking.start_at, booking.end_at))
        with transaction(immediate=True):
            locked = sorted(_hosts_to_lock(org, member_id, before))
            for user_id in locked:
                bump_pages_version(user_id)
            org, member = check()      # again, under the locks
            found = upcoming_team_bookings(org, member_id, now)
            for user_id in sorted(_hosts_to_lock(org, member_id, found) - set(locked)):
                bump_pages_version(user_id)
            for booking in found:
                if bookings == "cancel":
                    _cancel(booking, actor, reason or f"{member.user.name} is no longer with {org.name}.")
                    counts["cancelled"] += 1
                else:
                    counts[_reassign(booking, org, member.user, actor, reason, now)] += 1
            remove(org, member)
    return counts


def _cancel(booking: Booking, actor: User | None, reason: str) -> None:
    core.cancel_booking(Booking.get_by_id(booking.id), reason=reason, by="host", actor=actor)


def _left_reason(member: User, org: Organization, reason: str | None) -> str:
    said = f"{member.name} has left {org.name} and no other host is free at this time."
    return f"{said} {reason}" if reason else said


def _reassign(booking: Booking, org: Organization, member: User, actor: User, reason: str | None,
              now: datetime) -> str:
    event_type = booking.event_type
    rows = list(BookingHost.select().where(BookingHost.booking == booking.id).order_by(BookingHost.user))
    mine = next(row for row in rows if row.user_id == member.id)
    if (event_type.scheduling_type == "round_robin" and booking.user_id == member.id and not mine.is_fixed):
        return _choose_another(booking, org, member, actor, reason, now, rows)
    others = [row.user_id for row in rows if row.user_id != member.id]
    if not others:
        _cancel(booking, actor, _left_reason(member, org, reason))
        return "cancelled"
    mine.delete_instance()
    lifecycle.updated(booking, lifecycle.HOSTS_CHANGED, added=[], removed=[member.id])
    message = f"{member.name} left {org.name}: the meeting goes ahead with the other hosts"
    if booking.user_id == member.id:
        organizer = event_type.user_id if event_type.user_id in others else others[0]
        booking.user = organizer
        booking.contact = _contact_of(User.get_by_id(organizer), booking)
        message += f"; {booking.user.name} is now its organizer"
    booking.updated_at = utcnow()
    booking.save()
    core._activity(booking, "host_removed", message)
    return "without"


def _choose_another(booking: Booking, org: Organization, member: User, actor: User, reason: str | None,
                    now: datetime, rows: list[BookingHost]) -> str:
    event_type = booking.event_type
    hosts = [host for host in teams.hosts_of(event_type) if host.user_id != member.id]
    length = int((booking.end_at - booking.start_at).total_seconds() // 60)
    free: set[str] = set()
    if hosts:
        found = team_slots(event_type, booking.start_at, booking.start_at + timedelta(minutes=length), now=now,
                           duration=length, exclude_booking_id=booking.id, hosts=hosts)
        free = set(found.free_at(booking.start_at)) - {member.id}
    assignment = None
    if free:
        try:
            assignment = teams.assign(event_type, hosts, sorted(free), now, exclude_booking_id=booking.id)
        except ValueError:      # a fixed host is not free
            assignment = None
    if assignment is None or assignment.chosen is None:
        _cancel(booking, actor, _left_reason(member, org, reason))
        return "cancelled"
    chosen = User.get_by_id(assignment.chosen)
    fixed = {host.user_id for host in hosts if host.is_fixed}
    before = {row.user_id for row in rows}
    BookingHost.delete().where(BookingHost.booking == booking.id).execute()
    for user_id in assignment.attendees:
        create(BookingHost, booking=booking, user=user_id, is_fixed=user_id in fixed)
    lifecycle.updated(booking, lifecycle.HOSTS_CHANGED, added=sorted(set(assignment.attendees) - before),
                      removed=sorted(before - set(assignment.attendees)))
    booking.user = chosen
    booking.contact = _contact_of(chosen, booking)
    booking.assignment_reason = assignment.reason
    booking.updated_at = utcnow()
    booking.save()
    core._activity(booking, "reassigned", f"Reassigned from {member.name} to {chosen.name}: {member.name} left "
                                          f"{org.name} ({assignment.reason})")
    return "reassigned"


def _contact_of(host: User, booking: Booking):
    """The new organizer's contact for the invitee (made as a booking makes one)."""
    row, new = core._upsert_contact(host, booking.invitee_name, booking.invitee_email, booking.invitee_phone)
    if new:
        events.emit("contact.created", core.contact_payload(row), user_id=host.id)
    return row
