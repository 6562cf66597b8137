"""Which video providers a user can use: the event-type form offers only their locations, and the meeting step
(``app.services.integrations.meetings``) makes a location's meetings through the oldest connection of its provider.

It depends on the registry (``app.integrations.video``) and the ``integrations`` rows only, so event types can ask
without importing the meeting service (and through it the booking and calendar services), and calendar_sync reaches
the meeting service through ``conference_recreated`` without importing it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.integrations.video import VIDEO_PROVIDERS
from app.models import Booking, Integration, User

# event-type location -> the provider whose connection creates its meetings, and its name for people
VIDEO_LOCATIONS = {location: adapter.connection for location, adapter in VIDEO_PROVIDERS.items()}
LOCATION_NAMES = {location: adapter.name for location, adapter in VIDEO_PROVIDERS.items()}


def usable(query):
    return query.where(Integration.credentials.is_null(False) & (Integration.status != "revoked"))


def connection(user_id: str, location: str) -> Integration | None:
    """The connection that creates meetings for ``location`` (the oldest one of its provider)."""
    provider = VIDEO_LOCATIONS.get(location)
    if provider is None:
        return None
    return usable(Integration.select().where((Integration.user == user_id) & (Integration.provider == provider))
                  ).order_by(Integration.created_at).first()


def available_locations(user: User | str) -> set[str]:
    """Video locations the user can choose for an event type: those whose provider is connected."""
    user_id = user if isinstance(user, str) else user.id
    providers = {row.provider for row in usable(Integration.select(Integration.provider).where(
        (Integration.user == user_id) & Integration.provider.in_(list(VIDEO_LOCATIONS.values()))))}
    return {location for location, provider in VIDEO_LOCATIONS.items() if provider in providers}


Relinker = Callable[[Booking, Integration, Any], bool]
_RELINKERS: list[Relinker] = []


def relinker(fn: Relinker) -> Relinker:
    """Register the handler of ``conference_recreated`` (``app.services.integrations.meetings``)."""
    _RELINKERS.append(fn)
    return fn


def conference_recreated(booking: Booking, integration: Integration, event: Any) -> bool:
    """The calendar event of a booking whose meeting is its conference (Google Meet) was made again with a new
    conference (it had been deleted in the calendar): the meeting service records the new link and tells both
    sides. True when the link changed, so the caller rewrites the event with it."""
    return any(fn(booking, integration, event) for fn in _RELINKERS)
