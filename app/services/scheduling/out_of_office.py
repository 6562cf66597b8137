"""Out-of-office (issue 23, point 8): ranges of days a host cannot be booked, and what the booking page says then.

An entry covers whole days, from the first day's midnight to the midnight after the last day, in the zone kept on
the entry (the host's profile zone when it was made), so a DST change inside the range moves nothing. The slot
engine sees each entry as busy time of its host (a registered busy source, one query per request): every event
type of the host, personal or team, offers nothing then, and round robin never picks a member who is away because
only members free at a start are candidates. A host on a team may name a teammate (a member of one of the same
teams) the booking page sends invitees to. A host's entries never overlap; another user's entry is not found.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.db import transaction
from app.models import EventType, TeamMember, User
from app.models.accounts import bump_pages_version
from app.models.out_of_office import REASONS, OutOfOffice
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.scheduling.slots import busy_source
from app.timezones import zone

__all__ = ["REASONS", "Away", "EntryInput", "add_entry", "away_between", "delete_entry", "entries", "get_entry",
           "interval", "redirect_url_parts", "teammates"]

MAX_DAYS = 366
MAX_NOTE = 500


@dataclass
class EntryInput:
    start_date: str | date | None
    end_date: str | date | None
    reason: str = "vacation"
    note: str = ""
    show_reason: bool = True
    redirect_to: str | None = None      # a teammate's user id


def interval(entry: OutOfOffice) -> tuple[datetime, datetime]:
    """The UTC instants an entry covers: the first day's midnight to the midnight after the last day."""
    tz = zone(entry.timezone)
    return (datetime.combine(entry.start_date, time(0), tz).astimezone(UTC),
            datetime.combine(entry.end_date + timedelta(days=1), time(0), tz).astimezone(UTC))


def teammates(user: User) -> list[User]:
    """Enabled members of the teams ``user`` is in, other than ``user``, by name."""
    teams = TeamMember.select(TeamMember.team).where(TeamMember.user == user.id)
    members = TeamMember.select(TeamMember.user).where(TeamMember.team.in_(teams))
    return list(User.select().where(User.id.in_(members) & (User.id != user.id)
                                    & (User.is_disabled == False))  # noqa: E712
                .order_by(User.name, User.username))


def entries(user: User, *, include_past: bool = False, today: date | None = None) -> list[OutOfOffice]:
    """The host's entries by first day; without ``include_past`` only those not over yet (in the host's zone)."""
    query = OutOfOffice.select().where(OutOfOffice.user == user.id)
    if not include_past:
        today = today or datetime.now(zone(user.timezone)).date()
        query = query.where(OutOfOffice.end_date >= today)
    return list(query.order_by(OutOfOffice.start_date))


def get_entry(user: User, entry_id: str) -> OutOfOffice:
    entry_id = str(entry_id)
    entry = None if len(entry_id) > 32 else OutOfOffice.get_or_none((OutOfOffice.id == entry_id)
                                                                    & (OutOfOffice.user == user.id))
    if entry is None:
        raise NotFound("Out-of-office entry not found")
    return entry


def _day(value, field: str, errors: dict[str, str]) -> date | None:
    if isinstance(value, date):
        return value
    try:
        day = date.fromisoformat((value or "").strip())
    except (ValueError, AttributeError, TypeError):
        errors[field] = "Enter a date (YYYY-MM-DD)."
        return None
    if not 2000 <= day.year < 2200:
        errors[field] = "Enter a date between the years 2000 and 2199."
        return None
    return day


def _validate(user: User, data: EntryInput, today: date) -> tuple[date, date, str, str | None, str | None]:
    errors: dict[str, str] = {}
    first = _day(data.start_date, "start_date", errors)
    last = _day(data.end_date, "end_date", errors)
    if first and last:
        if last < first:
            errors["end_date"] = "The last day must be on or after the first day."
        elif last < today:
            errors["end_date"] = "The last day is in the past."
        elif (last - first).days >= MAX_DAYS:
            errors["end_date"] = f"An entry covers at most {MAX_DAYS} days."
    if data.reason not in REASONS:
        errors["reason"] = "Choose one of: " + ", ".join(REASONS.values()) + "."
    note = (data.note or "").strip()
    if len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    redirect = (data.redirect_to or "").strip() or None
    if redirect is not None and redirect not in {mate.id for mate in teammates(user)}:
        errors["redirect_to"] = "Choose a member of one of your teams."
    if errors:
        raise ValidationFailed(errors)
    return first, last, data.reason, note or None, redirect


def _range_text(entry: OutOfOffice) -> str:
    if entry.start_date == entry.end_date:
        return entry.start_date.isoformat()
    return f"{entry.start_date.isoformat()} to {entry.end_date.isoformat()}"


def add_entry(user: User, data: EntryInput, *, ip: str | None = None, today: date | None = None) -> OutOfOffice:
    """A new entry of ``user``; ValidationFailed for bad input or one that overlaps another of their entries."""
    today = today or datetime.now(zone(user.timezone)).date()
    first, last, reason, note, redirect = _validate(user, data, today)
    with transaction(immediate=True):
        bump_pages_version(user.id)     # the booking pages change; on PostgreSQL this locks the host's row
        clash = (OutOfOffice.select().where((OutOfOffice.user == user.id) & (OutOfOffice.start_date <= last)
                                            & (OutOfOffice.end_date >= first))
                 .order_by(OutOfOffice.start_date).first())
        if clash is not None:
            raise ValidationFailed({"start_date": f"These dates overlap your entry {_range_text(clash)} "
                                                  f"({clash.reason_label}). Change or delete that one first."})
        entry = OutOfOffice.create(user=user.id, start_date=first, end_date=last, timezone=user.timezone,
                                   reason=reason, note=note, show_reason=bool(data.show_reason), redirect_to=redirect)
        audit.record("settings.updated", resource="out_of_office", resource_id=entry.id, user=user, actor=user,
                     ip=ip, details={"added": _range_text(entry), "reason": reason})
    return entry


def delete_entry(user: User, entry_id: str, *, ip: str | None = None) -> None:
    with transaction(immediate=True):
        entry = get_entry(user, entry_id)
        bump_pages_version(user.id)
        entry.delete_instance()
        audit.record("settings.updated", resource="out_of_office", resource_id=entry.id, user=user, actor=user,
                     ip=ip, details={"deleted": _range_text(entry)})


# --- the slot engine ------------------------------------------------------------------------------------------
def _overlapping(hosts: Sequence[str], start: datetime, end: datetime):
    """Entries of ``hosts`` that may cover part of [start, end): compared by date a day wider on each side, as
    no zone is more than a day from UTC; the caller checks the exact instants."""
    return (OutOfOffice.select().where(OutOfOffice.user.in_(list(hosts))
                                       & (OutOfOffice.start_date <= (end + timedelta(days=1)).date())
                                       & (OutOfOffice.end_date >= (start - timedelta(days=1)).date()))
            .order_by(OutOfOffice.start_date))


@busy_source
def _out_of_office_busy(event_type: EventType, hosts: Sequence[str], start: datetime, end: datetime,
                        exclude_booking_id: str | None) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each host's out-of-office days as busy time, for every event type (one query for all hosts)."""
    busy: dict[str, list[tuple[datetime, datetime]]] = {host: [] for host in hosts}
    for entry in _overlapping(hosts, start, end):
        lo, hi = interval(entry)
        if lo < end and hi > start:
            busy[entry.user_id].append((lo, hi))
    return busy


# --- the booking page ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Away:
    """A stretch of days a host is away, as the booking page tells it: adjacent entries joined."""
    start: datetime                 # UTC: the first entry's first midnight
    end: datetime                   # UTC: the midnight after the last day of the stretch
    until: date                     # the last day away, in the host's zone
    reason: str | None              # the reason's label, when the host shows it
    note: str | None
    redirect: User | None           # the teammate to book instead (enabled, still on a team with the host), if any

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start < end and self.end > start


def away_between(host: User, start: datetime, end: datetime) -> list[Away]:
    """The host's stretches away that overlap [start, end), each extended over the entries that follow it day
    after day (so "away until" names the day before they are back). Two queries: entries, teammates."""
    rows = list(OutOfOffice.select().where((OutOfOffice.user == host.id)
                                           & (OutOfOffice.end_date >= (start - timedelta(days=1)).date()))
                .order_by(OutOfOffice.start_date))
    stretches: list[list[OutOfOffice]] = []
    for row in rows:
        if stretches and row.start_date <= stretches[-1][-1].end_date + timedelta(days=1):
            stretches[-1].append(row)
        else:
            stretches.append([row])
    found = []
    for stretch in stretches:
        lo, hi = interval(stretch[0])[0], interval(stretch[-1])[1]
        if lo < end and hi > start:
            found.append(stretch)
    ids = {row.redirect_to_id for stretch in found for row in stretch if row.redirect_to_id}
    users = {}
    if ids:     # still a teammate (one query): someone who left the team is no longer offered
        users = {u.id: u for u in teammates(host) if u.id in ids}
    out = []
    for stretch in found:
        first = stretch[0]
        redirect = next((users[row.redirect_to_id] for row in stretch if row.redirect_to_id in users), None)
        out.append(Away(interval(first)[0], interval(stretch[-1])[1], stretch[-1].end_date,
                        first.reason_label if first.show_reason else None, first.note, redirect))
    return out


def redirect_url_parts(away: Away, slug: str) -> tuple[str, str | None]:
    """(the teammate's username, ``slug`` when they have an active public personal event type of that slug)."""
    mate = away.redirect
    has = (EventType.select(EventType.id)
           .where((EventType.user == mate.id) & (EventType.slug == slug) & (EventType.status == "active")
                  & (EventType.is_secret == False) & EventType.personal()).exists())  # noqa: E712
    return mate.username, slug if has else None
