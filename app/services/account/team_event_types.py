"""Creating, editing and deleting team event types (issue 15): OWNER or ADMIN of the team's organization.

Validation is the personal event type's (:func:`app.services.scheduling.event_types.validate`, with the URL unique
within the team), plus the scheduling type and the hosts, who must be members of the team.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import peewee

from app.db import transaction
from app.models import EventType, EventTypeHost, Team, TeamMember, User
from app.models.base import utcnow
from app.models.scheduling import SCHEDULING_TYPES
from app.services import audit
from app.services.account.organizations import MANAGERS, require_member
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling import event_types as personal

MAX_WEIGHT = 100


@dataclass(frozen=True)
class HostInput:
    user_id: str
    is_fixed: bool = False
    weight: int = 1


def get_for_manager(actor: User, event_type_id: str) -> EventType:
    """A team event type that ``actor`` may manage (NotFound outside the organization, Forbidden for a MEMBER)."""
    event_type = EventType.get_or_none((EventType.id == event_type_id) & EventType.team.is_null(False))
    if event_type is None:
        raise NotFound("Event type not found")
    require_member(event_type.team.organization_id, actor, *MANAGERS)
    return event_type


def _team_for_manager(actor: User, team_id: str) -> Team:
    team = Team.get_or_none(Team.id == team_id)
    if team is None:
        raise NotFound("Team not found")
    require_member(team.organization_id, actor, *MANAGERS)
    return team


def _check_hosts(team: Team, hosts: Sequence[HostInput], errors: dict[str, str]) -> list[HostInput]:
    members = {row.user_id for row in TeamMember.select(TeamMember.user).where(TeamMember.team == team)}
    seen: dict[str, HostInput] = {}
    for host in hosts:
        if host.user_id not in members:
            errors["hosts"] = "Choose hosts among the team's members."
            continue
        if isinstance(host.weight, bool) or not isinstance(host.weight, int) or not 1 <= host.weight <= MAX_WEIGHT:
            errors["hosts"] = f"Give each host a weight from 1 to {MAX_WEIGHT}."
            continue
        seen[host.user_id] = host
    if not seen and "hosts" not in errors:
        errors["hosts"] = "Choose at least one host."
    return list(seen.values())


def _slug_taken(team: Team, slug: str, exclude_id: str | None) -> bool:
    query = EventType.select().where((EventType.team == team) & (EventType.slug == slug))
    if exclude_id:
        query = query.where(EventType.id != exclude_id)
    return query.exists()


def _validate(actor: User, team: Team, data: personal.EventTypeInput, scheduling_type: str | None,
              hosts: Sequence[HostInput] | None, current: EventType | None) -> tuple[dict, list[HostInput] | None]:
    errors: dict[str, str] = {}
    try:
        changes = personal.validate(actor, data, current=current, team=team)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        changes = {}
    if scheduling_type is not None or current is None:
        if scheduling_type not in SCHEDULING_TYPES:
            errors["scheduling_type"] = "Choose collective or round robin."
        changes["scheduling_type"] = scheduling_type
    checked = _check_hosts(team, hosts, errors) if hosts is not None else None
    if errors:
        raise ValidationFailed(errors)
    return changes, checked


def _set_hosts(event_type: EventType, hosts: Sequence[HostInput]) -> None:
    EventTypeHost.delete().where(EventTypeHost.event_type == event_type).execute()
    for host in hosts:
        EventTypeHost.create(event_type=event_type, user=host.user_id, is_fixed=host.is_fixed, weight=host.weight)


def create_team_event_type(actor: User, team_id: str, data: personal.EventTypeInput, *, scheduling_type: str,
                           hosts: Sequence[HostInput], ip: str | None = None) -> EventType:
    team = _team_for_manager(actor, team_id)
    changes, checked = _validate(actor, team, data, scheduling_type, hosts, None)
    try:
        with transaction():
            position = (EventType.select(peewee.fn.MAX(EventType.position)).where(EventType.team == team)
                        .scalar() or 0) + 1
            event_type = EventType.create(user=actor, team=team, position=position, **changes)
            _set_hosts(event_type, checked or [])
            audit.record("event_type.created", resource="event_type", resource_id=event_type.id, user=actor,
                         actor=actor, ip=ip, organization=team.organization,
                         details={"name": event_type.name, "team": team.name})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "The team already has an event type with this URL."}) from exc
    return event_type


def update_team_event_type(actor: User, event_type: EventType, data: personal.EventTypeInput, *,
                           scheduling_type: str | None = None, hosts: Sequence[HostInput] | None = None,
                           ip: str | None = None) -> EventType:
    team = event_type.team
    require_member(team.organization_id, actor, *MANAGERS)
    changes, checked = _validate(actor, team, data, scheduling_type, hosts, event_type)
    try:
        with transaction():
            for key, value in changes.items():
                setattr(event_type, key, value)
            event_type.updated_at = utcnow()
            event_type.save()
            if checked is not None:
                _set_hosts(event_type, checked)
            audit.record("event_type.updated", resource="event_type", resource_id=event_type.id, user=actor,
                         actor=actor, ip=ip, organization=team.organization,
                         details={"name": event_type.name, "team": team.name})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"slug": "The team already has an event type with this URL."}) from exc
    return event_type


def delete_team_event_type(actor: User, event_type: EventType, *, ip: str | None = None) -> None:
    team = event_type.team
    require_member(team.organization_id, actor, *MANAGERS)
    with transaction():
        audit.record("event_type.deleted", resource="event_type", resource_id=event_type.id, user=actor,
                     actor=actor, ip=ip, organization=team.organization,
                     details={"name": event_type.name, "team": team.name})
        event_type.delete_instance()


