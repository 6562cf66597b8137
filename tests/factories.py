"""Factories shared by every test: plain functions that create the rows a test starts from.

Call them inside an app context with a database connection (``db_conn``, ``data(app)`` or a test's own
``ctx``), as one calls a service. ``tests/conftest.py`` wraps the common ones in fixtures (``make_user``,
``host``, ``event_type``). Where the row is what a test is about, the factory goes through the service that
makes it in the app (accounts, event types, schedules, bookings, contacts); ``booking_row`` inserts a booking
directly for tests that only need one to exist (analytics, statements), and ``connection`` stores a calendar
connection the way the calendar tests need one without a server behind it.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

PASSWORD = "correct horse battery"
INVITEE = {"name": "Ivan Invitee", "email": "ivan@example.com", "timezone": "Europe/Berlin"}


# --- people ----------------------------------------------------------------------------------------------------
def user(username: str = "alice", *, email: str | None = None, password: str = PASSWORD,
         timezone: str = "Europe/Berlin", plan: str = "FREE", name: str | None = None):
    """An account through the accounts service (with its default schedule and "30-min" event type)."""
    from app.services.account import accounts

    return accounts.signup(
        accounts.SignupData(name=name or username.title(), email=email or f"{username}@example.com",
                            username=username, password=password, timezone=timezone),
        default_plan=plan)


def contact(owner, name: str = "Jane Doe", email: str = "jane@example.com", *, source: str = "manual", **extra):
    """A contact of ``owner`` through the contacts service (``extra``: phone, company, notes)."""
    from app.services.booking import contacts

    return contacts.create_contact(owner, {"name": name, "email": email, **extra}, source=source)


# --- scheduling ------------------------------------------------------------------------------------------------
def event_type(owner, slug: str = "30-min"):
    """One of ``owner``'s event types by slug; the default is the one every new account gets."""
    from app.models import EventType

    return EventType.get((EventType.user == owner) & (EventType.slug == slug))


def new_event_type(owner, *, name: str = "Coaching", slug: str | None = None, duration: int = 60, **fields):
    """A further event type through the event types service (``fields``: any of ``EventTypeInput``)."""
    from app.services.scheduling import event_types

    return event_types.create_event_type(owner, event_types.EventTypeInput(
        name=name, slug=slug or name.lower().replace(" ", "-"), duration=duration, **fields))


def schedule(owner, name: str = "Evenings", *, timezone: str | None = None, weekly: dict | None = None):
    """A further schedule through the schedules service; ``weekly`` replaces the default hours."""
    from app.services.scheduling import schedules

    made = schedules.create_schedule(owner, name, timezone or owner.timezone)
    if weekly is not None:
        made = schedules.update_schedule(made, weekly=weekly)
    return made


# --- bookings --------------------------------------------------------------------------------------------------
def next_week(weekday: int = 1, hour: int = 10, minute: int = 0, tz: str = "Europe/Berlin") -> datetime:
    """``weekday`` (0 = Monday) of the week after this one at ``hour``:``minute`` in ``tz``, as UTC: inside a default
    schedule's hours and past any notice."""
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(tz)).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(hour, minute), ZoneInfo(tz)).astimezone(UTC)


def weekday_at(n: int, hour: int = 10) -> datetime:
    """The n-th weekday (Monday to Friday) after the next two days, at `hour`:00 UTC.

    Distinct n give distinct days whatever weekday today is, so a test that books
    weekday_at(1), weekday_at(2) and weekday_at(3) never books one slot twice."""
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=hour, minute=0, second=0, microsecond=0)
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def booking_request(start: datetime, *, name: str = INVITEE["name"], email: str = INVITEE["email"],
                    timezone: str = INVITEE["timezone"], **fields):
    """What the booking page sends (``fields``: notes, answers, duration, occurrences, source, ...)."""
    from app.services.booking import bookings

    return bookings.BookingRequest(start=start, invitee_name=name, invitee_email=email, invitee_timezone=timezone,
                                   **fields)


def booking(event_type, start: datetime, *, now: datetime | None = None, **request):
    """A booking through the booking service, as an invitee makes it (events, email, calendar sync and all);
    ``request``: what ``booking_request`` takes. ``now`` defaults to the real clock, as in the service."""
    from app.services.booking import bookings

    return bookings.create_booking(event_type, booking_request(start, **request), now=now).booking


def booking_row(event_type, start: datetime, *, minutes: int = 30, name: str = "Ivan",
                email: str = "ivan@example.com", timezone: str = "UTC", status: str = "CONFIRMED",
                source: str = "page", **fields):
    """A booking row inserted directly: no availability check, events or email. For tests that only need
    bookings to exist (``fields``: any other column, e.g. ``created_at``, ``recurring_group_id``)."""
    from app.models import Booking

    return Booking.create(user=event_type.user_id, event_type=event_type, start_at=start,
                          end_at=start + timedelta(minutes=minutes), event_name=event_type.name, invitee_name=name,
                          invitee_email=email, invitee_timezone=timezone, status=status, source=source, **fields)


# --- connected calendars ---------------------------------------------------------------------------------------
def connection(owner, *, provider: str = "caldav", label: str = "Calendar", account_email: str | None = None,
               server_url: str | None = None, credentials: dict | str | None = None, calendars=(), **fields):
    """A connection stored directly, as if its account had been connected: an ``integrations`` row with the
    credentials encrypted (a dict is sealed; a string is stored as it is, e.g. an unreadable value) and one
    ``integration_calendars`` row per mapping in ``calendars`` (the keyword arguments of ``connection_calendar``).
    """
    from app.models import Integration
    from app.services.integrations import connections

    if isinstance(credentials, dict):
        credentials = connections.sealed(credentials)
    integration = Integration.create(user=owner, provider=provider, label=label, account_email=account_email,
                                     server_url=server_url, credentials=credentials, **fields)
    for values in calendars:
        connection_calendar(integration, **values)
    return integration


def connection_calendar(integration, remote_id: str = "/alice/cal/", name: str = "Cal", **fields):
    """One calendar of a stored connection (``fields``: writable, check_conflicts, is_destination, ...)."""
    from app.models import IntegrationCalendar

    return IntegrationCalendar.create(integration=integration, user=integration.user_id, remote_id=remote_id,
                                      name=name, **fields)


# --- organizations and teams -----------------------------------------------------------------------------------
def team(owner, members, *, org_slug: str = "acme", slug: str = "sales", name: str = "Sales"):
    """An organization of ``owner`` (OWNER) with ``members`` (MEMBER) and a team of all of them (owner included)."""
    from app.models import Membership
    from app.services.account import organizations

    org = organizations.create_organization(owner, name=org_slug.title(), slug=org_slug)
    for person in members:
        Membership.create(organization=org, user=person, role="MEMBER")
    made = organizations.create_team(owner, org.id, name=name, slug=slug)
    for person in [owner, *members]:
        organizations.add_team_member(owner, made.id, person.id)
    return made


def team_event_type(owner, team_row, hosts, *, kind: str = "round_robin", name: str = "Intro call",
                    slug: str | None = None, duration: int = 30, fixed=(), weights=None, **fields):
    """A team event type through its service: ``hosts`` (users) host it, ``fixed`` of them always attend."""
    from app.services.account import team_event_types
    from app.services.scheduling import event_types

    weights = weights or {}
    fixed_ids = {person.id for person in fixed}
    return team_event_types.create_team_event_type(
        owner, team_row.id,
        event_types.EventTypeInput(name=name, slug=slug or name.lower().replace(" ", "-"), duration=duration,
                                   **fields),
        scheduling_type=kind,
        hosts=[team_event_types.HostInput(person.id, person.id in fixed_ids, weights.get(person.id, 1))
               for person in hosts])
