"""Team event types (issue 15): reading them, and who hosts a booking of one.

A team event type is an ``EventType`` with ``team`` set and a ``scheduling_type``:

* **collective**: every host attends; a start is offered when every host is free;
* **round_robin**: one host is chosen per booking among those free (:mod:`assignment`), plus the hosts marked
  *fixed*, who attend every booking.

Its hosts are ``EventTypeHost`` rows: members of the team (removing someone from the team removes them as a host).
Each host's availability is their own default schedule, their bookings (their own and the team bookings they
attend) and their connected calendars, read through the same busy sources as a personal event type; the team slot
engine (:mod:`team_slots`) combines them (:func:`app.services.scheduling.slots.team_slots`). Creating and editing
them needs OWNER or ADMIN in the organization (:mod:`app.services.account.team_event_types`).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import peewee

from app.models import Booking, EventType, EventTypeHost, Team, TeamMember, User
from app.services.scheduling.assignment import Assignment, assign_round_robin, reassign_on_reschedule
from app.services.scheduling.slots import hosts_of

__all__ = ["ASSIGNMENT_WINDOW_DAYS", "assign", "for_member", "hosts_of", "organizer_of", "public_event_type",
           "team_event_types"]

ASSIGNMENT_WINDOW_DAYS = 30     # round-robin: bookings counted over the last 30 days


# --- reading ----------------------------------------------------------------------------------------------------
def team_event_types(team: Team, *, public_only: bool = False) -> list[EventType]:
    query = EventType.select().where(EventType.team == team)
    if public_only:
        query = query.where((EventType.status == "active") & (EventType.is_secret == False))  # noqa: E712
    return list(query.order_by(EventType.position, EventType.created_at))


def for_member(user: User) -> list[EventType]:
    """The team event types of every team ``user`` is in (the dashboard and ``GET /api/v1/event-types``)."""
    teams = TeamMember.select(TeamMember.team).where(TeamMember.user == user)
    return list(EventType.select(EventType, Team).join(Team)
                .where(EventType.team.in_(teams)).order_by(Team.name, EventType.position, EventType.created_at))


def public_event_type(team_slug: str, slug: str) -> EventType | None:
    return (EventType.select(EventType, Team).join(Team)
            .where((Team.slug == team_slug.lower()) & (EventType.slug == slug.lower())
                   & (EventType.status == "active")).first())


# --- assignment ---------------------------------------------------------------------------------------------------
def _history(event_type: EventType, user_ids: Sequence[str], now: datetime,
             exclude_booking_id: str | None = None) -> tuple[dict[str, int], dict[str, datetime]]:
    """Per host: bookings of this event type assigned to them in the rolling window, and their last one."""
    since = now - timedelta(days=ASSIGNMENT_WINDOW_DAYS)
    query = (Booking.select(Booking.user, peewee.fn.COUNT(Booking.id), peewee.fn.MAX(Booking.created_at))
             .where((Booking.event_type == event_type.id) & (Booking.status == "CONFIRMED")
                    & Booking.user.in_(list(user_ids)) & (Booking.created_at >= since))
             .group_by(Booking.user))
    if exclude_booking_id:
        query = query.where(Booking.id != exclude_booking_id)
    counts: dict[str, int] = {}
    lasts: dict[str, datetime] = {}
    for user_id, count, last in query.tuples():
        counts[user_id] = count
        if last is not None:
            lasts[user_id] = Booking.created_at.python_value(last)
    return counts, lasts


def assign(event_type: EventType, hosts: list[EventTypeHost], free: Sequence[str], now: datetime, *,
           current: str | None = None, exclude_booking_id: str | None = None) -> Assignment:
    """Who hosts a booking of ``event_type`` among the ``free`` hosts (collective: all of them)."""
    if event_type.scheduling_type == "collective":
        ids = tuple(host.user_id for host in hosts)
        return Assignment(ids, None, "collective: every host attends")
    fixed = [host.user_id for host in hosts if host.is_fixed]
    weights = {host.user_id: host.weight for host in hosts}
    counts, lasts = _history(event_type, [host.user_id for host in hosts], now, exclude_booking_id)
    rule = {"fixed": fixed, "weights": weights, "bookings": counts, "last_booked": lasts,
            "window_days": ASSIGNMENT_WINDOW_DAYS}
    if current is not None:
        return reassign_on_reschedule(current, free, **rule)
    return assign_round_robin(free, **rule)


def organizer_of(event_type: EventType, assignment: Assignment) -> str:
    """The host a booking is filed under (``Booking.user``): the chosen round-robin host, else the event type's
    creator when they attend, else the first attendee by id."""
    if assignment.chosen is not None:
        return assignment.chosen
    if event_type.user_id in assignment.attendees:
        return event_type.user_id
    return sorted(assignment.attendees)[0]
